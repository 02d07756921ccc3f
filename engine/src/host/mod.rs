//! [`WorkerHost`]: runs a list of workers, each as a Poller → Executor → Updater pipeline of
//! actix actors, until it is shut down.
//!
//! A host is built by a [`WorkerHostBuilder`] (which validates everything up front), started
//! on threads or as supervised processes according to its [`Placement`], and controlled
//! through the [`HostHandle`] it returns. It works the same from `fn main()` and from inside a
//! user's tokio runtime, and it never exits the process: errors come back as [`HostError`].
//!
//! | module | concern |
//! |---|---|
//! | `builder` | [`WorkerHostBuilder`]: options, bounds, configuration resolution |
//! | `placement` | [`Placement`]: the actix System and its arbiters; `process`: child processes |
//! | `handle` | [`HostHandle`]: status, pause/resume, shutdown |
//! | `shutdown` | the drain, and [`ShutdownSignal`] (SIGINT/SIGTERM) |
//! | `status` | [`HostStatus`], [`WorkerStatus`], [`ProcessStatus`], [`ShutdownReport`] |
//! | `error` | [`HostError`] |

mod builder;
mod error;
mod handle;
mod placement;
mod shutdown;
mod status;

pub use builder::WorkerHostBuilder;
pub use error::HostError;
pub use handle::HostHandle;
pub use placement::Placement;
pub use shutdown::ShutdownSignal;
pub use status::{HostStatus, ProcessStatus, ShutdownReport, WorkerStatus};

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::actors::GiveUpHook;
use crate::config::{ServerSettings, WorkerSettings};
use crate::worker::WorkerSpec;
use placement::process;

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
    /// TLS for `https://` servers, built from `server.tls` at build time.
    tls: Arc<rustls::ClientConfig>,
    /// Arbiter threads: 1 to `WorkerHostBuilder::MAX_ARBITERS`, at most one per worker.
    arbiters: usize,
    /// Result posts in flight per worker: 1 to `WorkerHostBuilder::MAX_UPDATE_CONCURRENCY`.
    update_concurrency: usize,
    update_v2: bool,
    on_give_up: Option<GiveUpHook>,
    placement: Placement,
    /// What process placement runs for a worker process (default: this executable again).
    process_command: Option<placement::ProcessCommand>,
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
    /// posts their results) within the longest `shutdown_grace` of its workers; results still
    /// undelivered when it ends are given up (logged with their ids, counted, passed to the
    /// hook). A second SIGINT or SIGTERM during the drain gives them up at once and returns
    /// [`HostError::Interrupted`] (exit with [`HostError::exit_code`], 128 + the signal's
    /// number, as shells expect). Blocks; for use from `fn main()`. Inside an async runtime
    /// use [`WorkerHost::start`] instead.
    pub fn run(self) -> Result<ShutdownReport, HostError> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(HostError::InsideRuntime);
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(HostError::Runtime)?;
        runtime.block_on(async move {
            let mut signals = ShutdownSignal::new().map_err(HostError::Signals)?;
            let handle = self.start()?;
            let stop = handle.stop();
            tokio::select! {
                signal = signals.recv() => {
                    tracing::info!(signal, "shutting down: draining in-flight tasks");
                }
                _ = stop.requested.cancelled() => {}
            }
            let drained = handle.shutdown_async();
            tokio::pin!(drained);
            tokio::select! {
                report = &mut drained => Ok(report),
                signal = signals.recv() => {
                    tracing::warn!(
                        signal,
                        "second signal: giving up every undelivered result and stopping now"
                    );
                    stop.now.cancel();
                    let _ = drained.await;
                    Err(HostError::Interrupted { signal })
                }
            }
        })
    }

    /// Starts the workers and returns a handle to watch and stop them.
    ///
    /// With [`Placement::Processes`] this starts `processes` child processes per worker
    /// (default 1) and supervises them; in such a child (run with `BATON_WORKER_PROCESS` set),
    /// it runs only its worker. With [`Placement::Threads`], a worker with `processes` above 1
    /// is an error ([`HostError::ProcessesNeedPlacement`]).
    pub fn start(mut self) -> Result<HostHandle, HostError> {
        let stop = Stop::default();
        if let Some(index) = process::child_index()? {
            if index >= self.workers.len() {
                return Err(HostError::WorkerProcessIndex {
                    variable: process::CHILD_ENV,
                    index,
                    workers: self.workers.len(),
                });
            }
            let worker = self.workers.swap_remove(index);
            self.workers = vec![worker];
            self.arbiters = 1;
            return process::start_child(self, stop);
        }
        match self.placement {
            Placement::Threads => {
                if let Some(settings) = self.worker_settings().find(|s| s.processes > 1) {
                    return Err(HostError::ProcessesNeedPlacement {
                        task_type: settings.task_type.clone(),
                        processes: settings.processes,
                    });
                }
                placement::start_threads(self, stop, true, None)
            }
            Placement::Processes => process::start_children(self, stop),
        }
    }

    /// The longest shutdown grace period of the workers.
    pub(crate) fn grace(&self) -> Duration {
        self.workers
            .iter()
            .map(|(_, settings)| settings.shutdown_grace)
            .max()
            .unwrap_or_default()
    }
}

/// How a running host is asked to stop.
#[derive(Debug, Clone, Default)]
pub(crate) struct Stop {
    /// Starts the drain (a shutdown request, a signal, the handle dropped).
    pub(crate) requested: CancellationToken,
    /// Ends the drain at once: what is left is given up (a second signal).
    pub(crate) now: CancellationToken,
}
