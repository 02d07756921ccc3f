//! How fast the operations endpoint answers while the worker runs flat out: `noop_worker` at
//! concurrency 1024 (default settings, `CONDUCTOR_METRICS_ADDR` on) against a `baton-mock` whose
//! queue is kept full, scraped `--scrapes` times (`GET /metrics`, a new connection each, one
//! every 25 ms) after a warm-up; prints p50, p99 and the slowest, and the worker's rate.
//!
//! ```text
//! cargo build --release -p baton-mock -p baton-bench --bins --example noop_worker -p baton
//! target/release/scrape_latency [--scrapes 200] [--concurrency 1024]
//! ```

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use baton_bench::BenchError;
use baton_bench::admin::AdminClient;
use baton_bench::processes::{signal, start_mock, wait_exit};
use clap::Parser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(about = "Measures /metrics latency while noop_worker runs at full rate")]
struct Args {
    /// The baton-mock binary.
    #[arg(long, default_value = "target/release/baton-mock")]
    mock: PathBuf,
    /// The noop_worker example binary.
    #[arg(long, default_value = "target/release/examples/noop_worker")]
    noop: PathBuf,
    /// noop_worker's concurrency.
    #[arg(long, default_value_t = 1024)]
    concurrency: usize,
    /// Scrapes measured.
    #[arg(long, default_value_t = 200)]
    scrapes: usize,
}

const TASK_TYPE: &str = "scrape_noop";

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("scrape_latency: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("scrape_latency: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args) -> Result<(), BenchError> {
    let (mut mock, url) = start_mock(&args.mock)?;
    let admin = AdminClient::new(&url);
    let outcome = measure(args, &url, &admin).await;
    signal(mock.id(), "TERM");
    let _ = mock.wait();
    outcome
}

async fn measure(args: &Args, url: &str, admin: &AdminClient) -> Result<(), BenchError> {
    let input = serde_json::json!({});
    admin.enqueue(TASK_TYPE, 400_000, &input).await?;
    let ops = free_addr()?;
    let mut worker = Command::new(&args.noop)
        .args([
            "--task-type",
            TASK_TYPE,
            "--concurrency",
            &args.concurrency.to_string(),
        ])
        .env("CONDUCTOR_SERVER_URL", url)
        .env("CONDUCTOR_METRICS_ADDR", ops.to_string())
        .env("RUST_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|source| BenchError::Spawn {
            what: args.noop.display().to_string(),
            source,
        })?;
    tokio::time::sleep(Duration::from_secs(3)).await; // warm-up
    let before = admin.ledger().await?.completed;
    let started = Instant::now();
    let mut times = Vec::with_capacity(args.scrapes);
    let mut failures = 0;
    for _ in 0..args.scrapes {
        if admin.ledger().await?.queued < 100_000 {
            admin.enqueue(TASK_TYPE, 200_000, &input).await?;
        }
        let begun = Instant::now();
        match scrape(ops).await {
            Ok(()) => times.push(begun.elapsed()),
            Err(_) => failures += 1,
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let rate = (admin.ledger().await?.completed - before) as f64 / started.elapsed().as_secs_f64();
    signal(worker.id(), "TERM");
    if wait_exit(&mut worker, Duration::from_secs(60))
        .await
        .is_none()
    {
        let _ = worker.kill();
        let _ = worker.wait();
    }
    times.sort_unstable();
    let at = |q: f64| {
        times
            .get(((times.len() as f64 - 1.0) * q).round() as usize)
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "scrapes {} (failed {failures}) at concurrency {}, worker at {rate:.0} tasks/s: \
         p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        times.len(),
        args.concurrency,
        at(0.5),
        at(0.99),
        at(1.0)
    );
    Ok(())
}

/// One `GET /metrics` over a new connection, read to the end.
async fn scrape(addr: SocketAddr) -> std::io::Result<()> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: ops\r\n\r\n")
        .await?;
    let mut answer = Vec::with_capacity(32 * 1024);
    stream.read_to_end(&mut answer).await?;
    if answer.starts_with(b"HTTP/1.0 200") || answer.starts_with(b"HTTP/1.1 200") {
        Ok(())
    } else {
        Err(std::io::Error::other("not a 200"))
    }
}

/// A loopback address with a port free right now.
fn free_addr() -> Result<SocketAddr, BenchError> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map_err(|err| BenchError::Transport(err.to_string()))
}
