//! [`WorkerHostBuilder`]: collects the workers and host-wide options, and resolves their
//! configuration at [`build`](WorkerHostBuilder::build), before anything runs.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::actors::GiveUpHook;
use crate::client::ClientError;
use crate::config::{ConfigSources, ServerOptions};
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
}

impl WorkerHostBuilder {
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

    /// The deadline of every HTTP call (a poll adds its long-poll timeout).
    /// `CONDUCTOR_HTTP_TIMEOUT_MS` overrides it.
    pub fn http_timeout(mut self, timeout: Duration) -> Self {
        self.server.http_timeout = Some(timeout);
        self
    }

    /// Where configuration comes from. Default: the process environment and `./worker.ini`
    /// (or `$CONDUCTOR_WORKER_CONFIG`), read when the host is built. Unknown keys in the file
    /// and unknown `conductor_worker_*` variables are logged as warnings when they are read.
    pub fn config_sources(mut self, sources: ConfigSources) -> Self {
        self.sources = Some(sources);
        self
    }

    /// How many arbiter threads run the actors. Default: the number of cores.
    pub fn arbiters(mut self, arbiters: usize) -> Self {
        self.arbiters = Some(arbiters.max(1));
        self
    }

    /// The most result posts in flight per worker (default 16, never more than its
    /// concurrency).
    pub fn update_concurrency(mut self, posts: usize) -> Self {
        self.update_concurrency = Some(posts.max(1));
        self
    }

    /// Where the workers run: on this process's threads (default) or one OS process each.
    pub fn placement(mut self, placement: Placement) -> Self {
        self.placement = placement;
        self
    }

    /// Whether to post results with update-v2, which answers with the next task (default:
    /// on). Baton falls back to v1 for good when the server lacks it.
    pub fn update_v2(mut self, enabled: bool) -> Self {
        self.update_v2 = Some(enabled);
        self
    }

    /// Called (on the worker's arbiter thread; keep it quick) with every result that could
    /// not be delivered after its retries, or that the server refused for good, and the last
    /// error. Such results are also logged at error level and counted.
    pub fn on_result_given_up(
        mut self,
        hook: impl Fn(&TaskResult, &ClientError) + Send + Sync + 'static,
    ) -> Self {
        self.on_give_up = Some(GiveUpHook(Arc::new(hook)));
        self
    }

    /// Resolves and validates every worker's configuration. Errors here, never mid-run.
    pub fn build(self) -> Result<WorkerHost, HostError> {
        if self.workers.is_empty() {
            return Err(HostError::NoWorkers);
        }
        let sources = match self.sources {
            Some(sources) => sources,
            None => ConfigSources::from_process()?,
        };
        let server = sources.resolve_server(&self.server)?;
        let mut workers = Vec::with_capacity(self.workers.len());
        for spec in self.workers {
            let settings = sources.resolve_worker(&spec.task_type, &spec.options)?;
            server.check_worker(&settings)?;
            workers.push((Arc::new(spec), settings));
        }
        let arbiters = self
            .arbiters
            .unwrap_or_else(|| thread::available_parallelism().map_or(1, |n| n.get()))
            .min(workers.len());
        Ok(WorkerHost {
            workers,
            server,
            arbiters,
            update_concurrency: self
                .update_concurrency
                .unwrap_or(DEFAULT_UPDATE_CONCURRENCY),
            update_v2: self.update_v2.unwrap_or(true),
            on_give_up: self.on_give_up,
            placement: self.placement,
        })
    }
}
