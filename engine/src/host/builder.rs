//! [`WorkerHostBuilder`]: collects the workers and host-wide options, and validates everything
//! at [`build`](WorkerHostBuilder::build), before anything runs.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::actors::{GiveUpHook, GiveUpReason};
use crate::config::{ConfigSources, ServerOptions};
use crate::host::placement::ProcessCommand;
use crate::host::{HostError, Placement, WorkerHost};
use crate::model::TaskResult;
use crate::worker::WorkerSpec;

/// The most result posts in flight per worker, by default.
const DEFAULT_UPDATE_CONCURRENCY: usize = 16;

/// Builds a [`WorkerHost`].
#[derive(Debug, Default)]
#[must_use]
pub struct WorkerHostBuilder {
    workers: Vec<WorkerSpec>,
    server: ServerOptions,
    sources: Option<ConfigSources>,
    arbiters: Option<usize>,
    update_concurrency: Option<usize>,
    update_v2: Option<bool>,
    on_give_up: Option<GiveUpHook>,
    placement: Placement,
    process_command: Option<ProcessCommand>,
}

impl WorkerHostBuilder {
    /// The most arbiter threads a host may have.
    pub const MAX_ARBITERS: usize = 1024;

    /// The most result posts a worker may have in flight.
    pub const MAX_UPDATE_CONCURRENCY: usize = 1024;

    /// Adds a worker. Adding the same worker type several times runs several independent
    /// pipelines, each with its own slots.
    pub fn worker(mut self, worker: impl Into<WorkerSpec>) -> Self {
        self.workers.push(worker.into());
        self
    }

    /// The server's API URL, e.g. `http://localhost:8080/api` (`/api` is added if missing).
    /// `CONDUCTOR_SERVER_URL` overrides it.
    pub fn server_url(mut self, url: impl Into<String>) -> Self {
        self.server.url = Some(url.into());
        self
    }

    /// The Orkes key id and secret. `CONDUCTOR_AUTH_KEY` / `CONDUCTOR_AUTH_SECRET` override them.
    pub fn auth(mut self, key: impl Into<String>, secret: impl Into<String>) -> Self {
        self.server.auth_key = Some(key.into());
        self.server.auth_secret = Some(secret.into());
        self
    }

    /// Serves the operations endpoint on `addr` (`127.0.0.1:0` picks a free port; see
    /// [`HostHandle::ops_addr`](crate::HostHandle::ops_addr)): `GET /metrics` (Prometheus),
    /// `/status` (JSON) and `/health` (503 naming a stuck worker). `CONDUCTOR_METRICS_ADDR`
    /// overrides it. Off unless set.
    pub fn metrics_addr(mut self, addr: std::net::SocketAddr) -> Self {
        self.server.metrics_addr = Some(addr);
        self
    }

    /// The deadline of every HTTP call but polls (a request body adds 1000 ms per MB; a
    /// poll's deadline is its long-poll timeout plus `CONDUCTOR_POLL_DEADLINE_MARGIN_MS`).
    /// `CONDUCTOR_HTTP_TIMEOUT_MS` overrides it.
    pub fn http_timeout(mut self, timeout: Duration) -> Self {
        self.server.http_timeout = Some(timeout);
        self
    }

    /// Trusts the CA certificates of this PEM file beside the system's roots, for an
    /// `https://` server signed by a private CA. `CONDUCTOR_TLS_CA_FILE` overrides it. An
    /// unreadable or invalid file is an error at `build()`.
    pub fn tls_ca_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.server.tls_ca_file = Some(path.into());
        self
    }

    /// Presents this client certificate (PEM chain) and key (PEM) for mutual TLS.
    /// `CONDUCTOR_TLS_CLIENT_CERT` + `CONDUCTOR_TLS_CLIENT_KEY` override them.
    pub fn tls_client_identity(
        mut self,
        cert: impl Into<std::path::PathBuf>,
        key: impl Into<std::path::PathBuf>,
    ) -> Self {
        self.server.tls_client_cert = Some(cert.into());
        self.server.tls_client_key = Some(key.into());
        self
    }

    /// The largest answer body read from the server (default 256 MiB; 1024 bytes to
    /// 4 GiB − 1). A poll answer over it is counted and logged, and the poll count is halved
    /// until 100 answers fit. `CONDUCTOR_HTTP_MAX_RESPONSE_BYTES` overrides it.
    pub fn max_response_bytes(mut self, bytes: u64) -> Self {
        self.server.max_response_bytes = Some(bytes);
        self
    }

    /// The largest task output posted as is (default 10 MiB, the server's limit; 0: no
    /// limit). A larger output is posted as FAILED_WITH_TERMINAL_ERROR with its size in the
    /// reason. `CONDUCTOR_MAX_OUTPUT_BYTES` overrides it.
    pub fn max_output_bytes(mut self, bytes: u64) -> Self {
        self.server.max_output_bytes = Some(bytes);
        self
    }

    /// Where configuration comes from. Default: the process environment and `./worker.ini`
    /// (or `$CONDUCTOR_WORKER_CONFIG`), read when the host is built. Unknown keys in the file
    /// and unknown `conductor_worker_*` variables are logged as warnings when they are read.
    pub fn config_sources(mut self, sources: ConfigSources) -> Self {
        self.sources = Some(sources);
        self
    }

    /// How many arbiter threads run the actors: 1 to
    /// [`MAX_ARBITERS`](Self::MAX_ARBITERS) (1024); anything else makes
    /// [`build`](Self::build) fail with [`HostError::Arbiters`]. Default: the number of cores.
    /// No more arbiters than workers are started.
    pub fn arbiters(mut self, arbiters: usize) -> Self {
        self.arbiters = Some(arbiters);
        self
    }

    /// The most result posts in flight per worker: 1 to
    /// [`MAX_UPDATE_CONCURRENCY`](Self::MAX_UPDATE_CONCURRENCY) (1024); anything else makes
    /// [`build`](Self::build) fail with [`HostError::UpdateConcurrency`]. Default 16; a worker
    /// never has more in flight than its concurrency.
    pub fn update_concurrency(mut self, posts: usize) -> Self {
        self.update_concurrency = Some(posts);
        self
    }

    /// Where the workers run: on this process's threads (default) or one OS process each.
    pub fn placement(mut self, placement: Placement) -> Self {
        self.placement = placement;
        self
    }

    /// The program (and its arguments) that [`Placement::Processes`] runs for each worker
    /// process, instead of this executable with this process's arguments. For programs whose
    /// executable is an interpreter that must be started another way (a Python virtualenv's
    /// `python`, whose resolved executable is the base interpreter): the child must build the
    /// same host, and is told its worker by `BATON_WORKER_PROCESS` as usual.
    pub fn process_command<A: Into<std::ffi::OsString>>(
        mut self,
        program: impl Into<std::path::PathBuf>,
        args: impl IntoIterator<Item = A>,
    ) -> Self {
        self.process_command = Some(ProcessCommand {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
        });
        self
    }

    /// Whether to post results with update-v2, which answers with the next task (default:
    /// on). Baton falls back to v1 for good when the server lacks it.
    pub fn update_v2(mut self, enabled: bool) -> Self {
        self.update_v2 = Some(enabled);
        self
    }

    /// Called (on the worker's arbiter thread, or the thread that dropped the result; keep
    /// it quick) with every result that is given up, and why: the server refused it for
    /// good, its retries ran out (the task's lease, the retry budget or `update_retries`), or
    /// the host stopped first ([`GiveUpReason`]). Such results are also logged at error level
    /// with their ids and counted. A panic in the hook is caught and logged.
    pub fn on_result_given_up(
        mut self,
        hook: impl Fn(&TaskResult, &GiveUpReason) + Send + Sync + 'static,
    ) -> Self {
        self.on_give_up = Some(GiveUpHook(Arc::new(hook)));
        self
    }

    /// Validates the builder's arguments and resolves every worker's configuration. Errors
    /// here, never mid-run.
    pub fn build(self) -> Result<WorkerHost, HostError> {
        if self.workers.is_empty() {
            return Err(HostError::NoWorkers);
        }
        if let Some(arbiters) = self.arbiters
            && !(1..=Self::MAX_ARBITERS).contains(&arbiters)
        {
            return Err(HostError::Arbiters {
                arbiters,
                max: Self::MAX_ARBITERS,
            });
        }
        if let Some(posts) = self.update_concurrency
            && !(1..=Self::MAX_UPDATE_CONCURRENCY).contains(&posts)
        {
            return Err(HostError::UpdateConcurrency {
                posts,
                max: Self::MAX_UPDATE_CONCURRENCY,
            });
        }
        let sources = match self.sources {
            Some(sources) => sources,
            None => ConfigSources::from_process()?,
        };
        let server = sources.resolve_server(&self.server)?;
        let mut workers = Vec::with_capacity(self.workers.len());
        for spec in self.workers {
            let settings = sources.resolve_worker(&spec.task_type, &spec.options)?;
            workers.push((Arc::new(spec), settings));
        }
        let arbiters = self
            .arbiters
            .unwrap_or_else(|| thread::available_parallelism().map_or(1, |n| n.get()))
            .clamp(1, Self::MAX_ARBITERS)
            .min(workers.len());
        let tls = crate::client::tls::client_config(&server.tls)?;
        Ok(WorkerHost {
            workers,
            tls,
            server,
            arbiters,
            update_concurrency: self
                .update_concurrency
                .unwrap_or(DEFAULT_UPDATE_CONCURRENCY),
            update_v2: self.update_v2.unwrap_or(true),
            on_give_up: self.on_give_up,
            placement: self.placement,
            process_command: self.process_command,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FnWorker;
    use crate::model::Task;

    fn builder() -> WorkerHostBuilder {
        let sources = ConfigSources::new(Vec::<(String, String)>::new(), None);
        WorkerHost::builder()
            .config_sources(sources.unwrap_or_else(|err| panic!("empty config: {err}")))
            .worker(FnWorker::blocking("t", |_: Task| serde_json::json!({})))
    }

    #[test]
    fn arbiters_out_of_bounds_fail_the_build() {
        for arbiters in [0, WorkerHostBuilder::MAX_ARBITERS + 1] {
            match builder().arbiters(arbiters).build() {
                Err(err @ HostError::Arbiters { .. }) => {
                    let message = err.to_string();
                    assert!(message.contains("arbiters"), "{message}");
                    assert!(message.contains(&arbiters.to_string()), "{message}");
                }
                other => panic!("arbiters({arbiters}) built: {other:?}"),
            }
        }
        for arbiters in [1, WorkerHostBuilder::MAX_ARBITERS] {
            assert!(builder().arbiters(arbiters).build().is_ok());
        }
    }

    #[test]
    fn update_concurrency_out_of_bounds_fails_the_build() {
        for posts in [0, WorkerHostBuilder::MAX_UPDATE_CONCURRENCY + 1] {
            match builder().update_concurrency(posts).build() {
                Err(err @ HostError::UpdateConcurrency { .. }) => {
                    let message = err.to_string();
                    assert!(message.contains("update_concurrency"), "{message}");
                    assert!(message.contains(&posts.to_string()), "{message}");
                }
                other => panic!("update_concurrency({posts}) built: {other:?}"),
            }
        }
        for posts in [1, WorkerHostBuilder::MAX_UPDATE_CONCURRENCY] {
            assert!(builder().update_concurrency(posts).build().is_ok());
        }
    }

    #[test]
    fn a_host_without_workers_fails_before_its_arguments_are_checked() {
        assert!(matches!(
            WorkerHost::builder().arbiters(0).build(),
            Err(HostError::NoWorkers)
        ));
    }
}
