//! [`WorkerHost`]: runs a list of workers, each as a Poller → Executor → Updater pipeline of
//! actix actors, until it is shut down.
//!
//! The host runs its own actix System on a thread of its own, with `arbiters` worker threads
//! (default: one per core); each worker's three actors share one arbiter and workers are spread
//! over the arbiters round-robin. So a host works the same from `fn main()` and from inside a
//! user's tokio runtime, and it never exits the process: errors come back as [`HostError`].

mod process;
mod signal;
mod status;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::Duration;

use actix::{Arbiter, System};
use std::sync::Mutex;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::actors::{self, GiveUpHook, Pipeline, PipelineParts};
use crate::client::{ClientError, ClientSettings, ConductorClient, TokenSource};
use crate::config::{ConfigError, ConfigSources, ServerOptions, ServerSettings, WorkerSettings};
use crate::model::TaskResult;
use crate::pool::BlockingPool;
use crate::worker::WorkerSpec;

pub use signal::ShutdownSignal;
pub use status::{HostStatus, ProcessStatus, ShutdownReport, WorkerStatus};

/// The most result posts in flight per worker, by default.
const DEFAULT_UPDATE_CONCURRENCY: usize = 16;

/// Why a host could not be built or started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// A configuration value is invalid (the error names the key and its source).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The host has no workers.
    #[error("the host has no workers")]
    NoWorkers,
    /// A thread could not be started.
    #[error("could not start the host's threads: {0}")]
    Start(#[source] std::io::Error),
    /// The server URL does not make valid request URIs.
    #[error("invalid server URL: {0}")]
    ServerUrl(#[source] ClientError),
    /// Signal handlers could not be installed.
    #[error("could not listen for shutdown signals: {0}")]
    Signals(#[source] std::io::Error),
    /// `run()` was called from inside an async runtime, where it would block a runtime thread.
    #[error(
        "WorkerHost::run blocks and cannot be called inside an async runtime; \
         use start(), ShutdownSignal and HostHandle::shutdown_async instead"
    )]
    InsideRuntime,
}

/// Where a host runs its workers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Placement {
    /// All workers in this process, their actors on arbiter threads (the default).
    #[default]
    Threads,
    /// Each worker in an OS process of its own, supervised by this one: the program is run
    /// again once per worker (so it must build the same host on every run), the child runs
    /// only its worker, and a child that dies is restarted with backoff.
    Processes,
}

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

/// A configured set of workers, ready to run.
///
/// ```no_run
/// use baton::{FnWorker, WorkerHost, model::Task};
///
/// fn main() -> Result<(), baton::HostError> {
///     let host = WorkerHost::builder()
///         .server_url("http://localhost:8080/api")
///         .worker(FnWorker::blocking("hello", |task: Task| {
///             serde_json::json!({"greeting": format!("hello {}", task.task_id)})
///         }))
///         .build()?;
///     host.run()?; // until SIGINT or SIGTERM, then drains
///     Ok(())
/// }
/// ```
#[derive(Debug)]
pub struct WorkerHost {
    workers: Vec<(Arc<WorkerSpec>, WorkerSettings)>,
    server: ServerSettings,
    arbiters: usize,
    update_concurrency: usize,
    update_v2: bool,
    on_give_up: Option<GiveUpHook>,
    placement: Placement,
}

impl WorkerHost {
    /// Starts building a host.
    pub fn builder() -> WorkerHostBuilder {
        WorkerHostBuilder::default()
    }

    /// Every worker's effective configuration, with the source of each value.
    pub fn worker_settings(&self) -> impl Iterator<Item = &WorkerSettings> {
        self.workers.iter().map(|(_, settings)| settings)
    }

    /// The effective server connection settings.
    pub fn server_settings(&self) -> &ServerSettings {
        &self.server
    }

    /// Runs until SIGINT or SIGTERM, then drains (stops polling, finishes the tasks in hand,
    /// posts their results) within the longest `shutdown_grace` of its workers. Blocks; for
    /// use from `fn main()`. Inside an async runtime use [`WorkerHost::start`] instead.
    pub fn run(self) -> Result<ShutdownReport, HostError> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(HostError::InsideRuntime);
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(HostError::Start)?;
        runtime.block_on(async move {
            let mut signals = ShutdownSignal::new().map_err(HostError::Signals)?;
            let handle = self.start()?;
            let stopping = handle.shutdown.clone();
            tokio::select! {
                signal = signals.recv() => {
                    tracing::info!(signal, "shutting down: draining in-flight tasks");
                }
                _ = stopping.cancelled() => {}
            }
            Ok(handle.shutdown_async().await)
        })
    }

    /// Starts the workers and returns a handle to watch and stop them.
    ///
    /// With [`Placement::Processes`] this starts one child process per worker and supervises
    /// them; in such a child (run with `BATON_WORKER_PROCESS` set), it runs only its worker.
    pub fn start(mut self) -> Result<HostHandle, HostError> {
        let shutdown = CancellationToken::new();
        if let Some(index) = process::child_index()? {
            if index >= self.workers.len() {
                return Err(HostError::Start(std::io::Error::other(format!(
                    "{}={index} but the host has {} workers",
                    process::CHILD_ENV,
                    self.workers.len()
                ))));
            }
            let worker = self.workers.swap_remove(index);
            self.workers = vec![worker];
            self.arbiters = 1;
            process::watch_parent(shutdown.clone())?;
            return self.start_threads(shutdown);
        }
        match self.placement {
            Placement::Threads => self.start_threads(shutdown),
            Placement::Processes => {
                let task_types = self.workers.iter().map(|(spec, _)| spec.task_type.clone());
                let children =
                    process::start_children(task_types.collect(), self.grace(), shutdown.clone())?;
                Ok(HostHandle {
                    pipelines: Vec::new(),
                    processes: Some(children.status),
                    shutdown,
                    done: Some(children.done),
                    thread: Some(children.thread),
                })
            }
        }
    }

    /// The longest shutdown grace period of the workers.
    fn grace(&self) -> Duration {
        self.workers
            .iter()
            .map(|(_, settings)| settings.shutdown_grace)
            .max()
            .unwrap_or_default()
    }

    /// Runs every worker in this process.
    fn start_threads(self, shutdown: CancellationToken) -> Result<HostHandle, HostError> {
        let stop_polling = CancellationToken::new();
        let grace = self.grace();
        let pipelines: Vec<Arc<Pipeline>> = self
            .workers
            .iter()
            .map(|(_, settings)| {
                Arc::new(Pipeline::new(
                    settings.clone(),
                    stop_polling.child_token(),
                    self.on_give_up.clone(),
                    self.update_v2,
                ))
            })
            .collect();
        let mut pools = Vec::with_capacity(self.workers.len());
        for ((spec, settings), _) in self.workers.iter().zip(&pipelines) {
            let pool = if spec.blocking {
                let pool = BlockingPool::start(&settings.task_type, settings.concurrency)
                    .map_err(HostError::Start)?;
                Some(Arc::new(pool))
            } else {
                None
            };
            pools.push(pool);
        }
        let plan = ArbiterPlan::plan(&self, &pipelines, pools)?;

        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = oneshot::channel::<ShutdownReport>();
        let shutdown_requested = shutdown.clone();
        let drained = pipelines.clone();
        let thread = thread::Builder::new()
            .name("baton-host".into())
            .spawn(move || {
                let system = System::new();
                let arbiters = system.block_on(async move {
                    let arbiters = plan.start();
                    let _ = started_tx.send(());
                    // Wait for a shutdown request (or the handle being dropped).
                    shutdown_requested.cancelled().await;
                    stop_polling.cancel();
                    let report = drain(&drained, grace).await;
                    let _ = done_tx.send(report);
                    arbiters
                });
                for arbiter in arbiters {
                    arbiter.stop();
                    let _ = arbiter.join();
                }
            })
            .map_err(HostError::Start)?;
        // The plan starts within milliseconds; waiting keeps `status()` meaningful at once.
        let _ = started_rx.recv();
        Ok(HostHandle {
            pipelines,
            processes: None,
            shutdown,
            done: Some(done_rx),
            thread: Some(thread),
        })
    }
}

/// Which arbiter runs which worker, and with which client.
struct ArbiterPlan {
    arbiters: usize,
    /// Every worker's actor parts; worker `i` runs on arbiter `i % arbiters`.
    workers: Vec<PipelineParts>,
}

impl ArbiterPlan {
    /// Spreads the workers round-robin over the arbiters; one connection pool per arbiter,
    /// sized to keep every connection its workers use at once.
    fn plan(
        host: &WorkerHost,
        pipelines: &[Arc<Pipeline>],
        pools: Vec<Option<Arc<BlockingPool>>>,
    ) -> Result<Self, HostError> {
        let arbiters = host.arbiters;
        // Each worker uses one connection to poll and one per post in flight.
        let posts: Vec<usize> = host
            .workers
            .iter()
            .map(|(_, settings)| host.update_concurrency.min(settings.concurrency))
            .collect();
        let mut connections = vec![0usize; arbiters];
        for (index, posts) in posts.iter().enumerate() {
            connections[index % arbiters] += 1 + posts;
        }
        // One token for the whole host.
        let auth = host
            .server
            .auth
            .as_ref()
            .map(|(key, secret)| Arc::new(TokenSource::new(key.clone(), secret.clone())));
        let clients: Vec<ConductorClient> = connections
            .into_iter()
            .map(|max_idle_connections| {
                ConductorClient::new(&ClientSettings {
                    base_url: host.server.base_url.clone(),
                    http_timeout: host.server.http_timeout,
                    max_idle_connections,
                    auth: auth.clone(),
                })
            })
            .collect::<Result<_, _>>()
            .map_err(HostError::ServerUrl)?;
        let workers = host
            .workers
            .iter()
            .zip(pipelines)
            .zip(pools)
            .zip(posts)
            .enumerate()
            .map(
                |(index, ((((spec, _), pipeline), pool), posts))| PipelineParts {
                    spec: Arc::clone(spec),
                    pipeline: Arc::clone(pipeline),
                    pool,
                    client: clients[index % arbiters].clone(),
                    posts,
                },
            )
            .collect();
        Ok(Self { arbiters, workers })
    }

    /// Starts the arbiters and every worker's actors on them. Must run inside the System.
    fn start(self) -> Vec<Arbiter> {
        let arbiters: Vec<Arbiter> = (0..self.arbiters).map(|_| Arbiter::new()).collect();
        for (index, parts) in self.workers.into_iter().enumerate() {
            let arbiter = &arbiters[index % self.arbiters];
            if !arbiter.spawn_fn(move || actors::start(parts)) {
                tracing::error!(index, "an arbiter stopped before its worker could start");
            }
        }
        arbiters
    }
}

/// Waits until every worker has finished its tasks and delivered its results, or `grace` has
/// passed; reports what was left.
async fn drain(pipelines: &[Arc<Pipeline>], grace: Duration) -> ShutdownReport {
    let all_settled = async {
        for pipeline in pipelines {
            let concurrency = pipeline.settings.concurrency as u32;
            // Every execution slot back means every task's result reached the updater;
            // every queue slot back means every result was posted or given up.
            let _ = pipeline.slots.acquire_many(concurrency).await;
            let _ = pipeline
                .queue_slots
                .acquire_many(pipeline.queue_capacity as u32)
                .await;
        }
    };
    let clean = tokio::time::timeout(grace, all_settled).await.is_ok();
    let workers: Vec<WorkerStatus> = pipelines.iter().map(|p| WorkerStatus::of(p)).collect();
    if clean {
        tracing::info!("drained: every result delivered");
    } else {
        for worker in workers.iter().filter(|w| w.executing + w.unposted > 0) {
            tracing::warn!(
                task_type = %worker.task_type,
                executing = worker.executing,
                unposted = worker.unposted,
                ?grace,
                "shutdown grace period over; left to the server's response timeout"
            );
        }
    }
    ShutdownReport { clean, workers }
}

/// Controls a running host. Dropping it shuts the host down (without waiting).
#[derive(Debug)]
pub struct HostHandle {
    pipelines: Vec<Arc<Pipeline>>,
    /// With process placement: the children, as the supervisor last saw them.
    processes: Option<Arc<Mutex<Vec<ProcessStatus>>>>,
    shutdown: CancellationToken,
    done: Option<oneshot::Receiver<ShutdownReport>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl HostHandle {
    /// A snapshot of every worker.
    pub fn status(&self) -> HostStatus {
        let processes = match &self.processes {
            Some(processes) => processes
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
            None => Vec::new(),
        };
        HostStatus {
            workers: self.pipelines.iter().map(|p| WorkerStatus::of(p)).collect(),
            processes,
        }
    }

    /// Pauses polling for every worker of `task_type` in this process (tasks in hand still
    /// finish). Returns
    /// how many workers were paused.
    pub fn pause(&self, task_type: &str) -> usize {
        self.set_paused(task_type, true)
    }

    /// Resumes polling for every worker of `task_type`. Returns how many were resumed.
    pub fn resume(&self, task_type: &str) -> usize {
        self.set_paused(task_type, false)
    }

    fn set_paused(&self, task_type: &str, paused: bool) -> usize {
        self.pipelines
            .iter()
            .filter(|p| p.settings.task_type == task_type)
            .inspect(|p| p.paused.store(paused, Ordering::Relaxed))
            .count()
    }

    /// Drains and stops the host; blocks until done (at most the shutdown grace period, plus
    /// the longest poll in flight).
    pub fn shutdown(mut self) -> ShutdownReport {
        self.request_shutdown();
        let report = match self.done.take().map(oneshot::Receiver::blocking_recv) {
            Some(Ok(report)) => report,
            _ => self.lost_report(),
        };
        self.join();
        report
    }

    /// Drains and stops the host, from async code.
    pub async fn shutdown_async(mut self) -> ShutdownReport {
        self.request_shutdown();
        let report = match self.done.take() {
            Some(done) => done.await.ok(),
            None => None,
        };
        let report = report.unwrap_or_else(|| self.lost_report());
        // The host thread only stops its arbiters now; joining it takes milliseconds.
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        report
    }

    fn request_shutdown(&mut self) {
        self.shutdown.cancel();
    }

    fn join(&mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    /// The report when the host thread died without sending one.
    fn lost_report(&self) -> ShutdownReport {
        ShutdownReport {
            clean: false,
            workers: self.status().workers,
        }
    }
}

impl Drop for HostHandle {
    fn drop(&mut self) {
        self.request_shutdown();
    }
}
