//! The `baton-mock` binary: runs the mock on a port until Ctrl-C or SIGTERM.
//!
//! The first line on stdout is exactly `baton-mock listening on http://IP:PORT/api` (`https://`
//! with `--tls-cert`), so scripts and harnesses can read the port; logs go to stderr (`RUST_LOG` filters them).

use std::io::Write;
use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

use baton_mock::{
    Credentials, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_IDLE_EVICT, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_POSTPONE, MAX_CONNECTIONS, MAX_HEADER_READ_TIMEOUT, MockServer, TlsIdentity,
};
use clap::Parser;

/// An in-memory stand-in for the Conductor server's worker API.
#[derive(Debug, Parser)]
#[command(name = "baton-mock", version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Runtime worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// Seed for fault probabilities, retry jitter and tokens.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Answer 404 on POST /api/tasks/update-v2, like servers before v3.21.12.
    #[arg(long)]
    no_update_v2: bool,
    /// Require Orkes-style auth: POST /api/token with this key id and secret. Also read from
    /// BATON_MOCK_AUTH, which keeps the secret out of the process list.
    #[arg(
        long,
        value_name = "KEY:SECRET",
        env = "BATON_MOCK_AUTH",
        hide_env_values = true
    )]
    auth: Option<Credentials>,
    /// Serve HTTPS with this PEM certificate chain (give --tls-key too).
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
    /// With TLS: require client certificates that chain to a CA of this PEM file.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_client_ca: Option<std::path::PathBuf>,
    /// Lifetime of minted tokens, in seconds.
    #[arg(long, default_value_t = 3600)]
    token_ttl_secs: u64,
    /// Response-timeout sweeper period, in milliseconds.
    #[arg(long, default_value_t = 100)]
    sweeper_ms: u64,
    /// Output payload limit in bytes (over it: the task ends FAILED_WITH_TERMINAL_ERROR).
    #[arg(long, default_value_t = 10 * 1024 * 1024)]
    max_output_bytes: usize,
    /// Request body limit in bytes (over it: 413).
    #[arg(long, default_value_t = 64 * 1024 * 1024)]
    max_body_bytes: usize,
    /// How recent a poll must be for its task domain to count as active, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    active_domain_window_ms: u64,
    /// How many ended workflows stay readable before eviction.
    #[arg(long, default_value_t = 10_000)]
    keep_workflows: usize,
    /// Seconds a task held back by its concurrentExecLimit or rateLimitPerFrequency stays
    /// postponed (the server's taskExecutionPostponeDuration).
    #[arg(long, default_value_t = DEFAULT_POSTPONE.as_secs())]
    postpone_secs: u64,
    /// Seconds after which an unused task type (empty queues, no push, no poll) is forgotten
    /// with its poll data and logs.
    #[arg(long, default_value_t = DEFAULT_IDLE_EVICT.as_secs())]
    idle_evict_secs: u64,
    /// Answer an empty batch poll with 204 and no body, as servers before v3.21.20 did.
    #[arg(long)]
    empty_batch_204: bool,
    /// Seconds a client may take to send a request's headers (idle keep-alive connections are
    /// closed after it too); 1 to 86400.
    #[arg(long, default_value_t = DEFAULT_HEADER_READ_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=MAX_HEADER_READ_TIMEOUT.as_secs()))]
    header_read_timeout_secs: u64,
    /// Connections served at once; more clients wait in the listen backlog; 1 to 1000000.
    #[arg(long, default_value_t = DEFAULT_MAX_CONNECTIONS,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=MAX_CONNECTIONS as u64))]
    max_connections: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = args.threads {
        runtime.worker_threads(threads.max(1));
    }
    let runtime = match runtime.enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("baton-mock: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(args))
}

async fn run(args: Args) -> ExitCode {
    let mut builder = MockServer::builder()
        .bind(args.bind)
        .port(args.port)
        .seed(args.seed)
        .update_v2(!args.no_update_v2)
        .token_ttl(Duration::from_secs(args.token_ttl_secs))
        .sweeper_period(Duration::from_millis(args.sweeper_ms))
        .max_output_bytes(args.max_output_bytes)
        .max_body_bytes(args.max_body_bytes)
        .active_domain_window(Duration::from_millis(args.active_domain_window_ms))
        .keep_workflows(args.keep_workflows)
        .postpone(Duration::from_secs(args.postpone_secs))
        .idle_evict(Duration::from_secs(args.idle_evict_secs))
        .empty_batch_204(args.empty_batch_204)
        .header_read_timeout(Duration::from_secs(args.header_read_timeout_secs))
        .max_connections(args.max_connections);
    if let Some(credentials) = args.auth {
        builder = builder.auth(credentials);
    }
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        let identity =
            TlsIdentity::from_files(cert, key).and_then(|identity| match &args.tls_client_ca {
                Some(ca) => std::fs::read(ca)
                    .map_err(|source| baton_mock::TlsError::Read {
                        what: "client CA certificate",
                        path: ca.clone(),
                        source,
                    })
                    .and_then(|pem| identity.require_client_certificates(&pem)),
                None => Ok(identity),
            });
        match identity {
            Ok(identity) => builder = builder.tls(identity),
            Err(e) => {
                eprintln!("baton-mock: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let server = match builder.start().await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("baton-mock: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout().lock();
    let announced = writeln!(stdout, "baton-mock listening on {}", server.base_url())
        .and_then(|()| stdout.flush());
    drop(stdout);
    if let Err(e) = announced {
        eprintln!("baton-mock: cannot write to stdout: {e}");
    }
    stop_signal().await;
    tracing::info!("shutting down");
    server.shutdown().await;
    ExitCode::SUCCESS
}

/// Resolves on Ctrl-C (SIGINT) or, on Unix, SIGTERM.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
                return;
            }
            Err(e) => tracing::warn!(error = %e, "cannot listen for SIGTERM"),
        }
    }
    if let Err(e) = tokio::signal::ctrl_c().await {
        tracing::error!(error = %e, "cannot wait for Ctrl-C; stopping");
    }
}
