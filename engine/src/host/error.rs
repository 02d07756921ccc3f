//! [`HostError`]: why a host could not be built or started, one variant per cause.

use crate::client::ClientError;
use crate::config::ConfigError;

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
    /// [`WorkerHostBuilder::arbiters`](crate::WorkerHostBuilder::arbiters) was given a count
    /// outside `1..=max`.
    #[error("arbiters must be between 1 and {max}, got {arbiters}")]
    Arbiters {
        /// The count given.
        arbiters: usize,
        /// The largest count allowed.
        max: usize,
    },
    /// [`WorkerHostBuilder::update_concurrency`](crate::WorkerHostBuilder::update_concurrency)
    /// was given a count outside `1..=max`.
    #[error("update_concurrency must be between 1 and {max}, got {posts}")]
    UpdateConcurrency {
        /// The count given.
        posts: usize,
        /// The largest count allowed.
        max: usize,
    },
    /// The server URL does not make valid request URIs.
    #[error("invalid server URL: {0}")]
    ServerUrl(#[source] ClientError),
    /// A thread the host needs (its actix System, a blocking worker's pool, the process
    /// supervisor, a child's parent watch) could not be started.
    #[error("could not start the {thread} thread: {source}")]
    Thread {
        /// Which thread.
        thread: String,
        /// The operating system's answer.
        #[source]
        source: std::io::Error,
    },
    /// [`WorkerHost::run`](crate::WorkerHost::run) could not build its runtime.
    #[error("could not start the runtime that waits for shutdown signals: {0}")]
    Runtime(#[source] std::io::Error),
    /// Signal handlers could not be installed.
    #[error("could not listen for shutdown signals: {0}")]
    Signals(#[source] std::io::Error),
    /// `run()` was called from inside an async runtime, where it would block a runtime thread.
    #[error(
        "WorkerHost::run blocks and cannot be called inside an async runtime; \
         use start(), ShutdownSignal and HostHandle::shutdown_async instead"
    )]
    InsideRuntime,
    /// [`HostHandle::shutdown`](crate::HostHandle::shutdown) blocks, and was called inside an
    /// async runtime, where it would block a runtime thread.
    #[error(
        "HostHandle::shutdown blocks and cannot be called inside an async runtime; \
         use HostHandle::shutdown_async instead"
    )]
    ShutdownInsideRuntime,
    /// A second SIGINT or SIGTERM arrived while the host drained: undelivered results were
    /// given up at once (each logged and passed to the hook). A program should exit with
    /// [`HostError::exit_code`].
    #[error("interrupted by a second {signal} while draining; undelivered results were given up")]
    Interrupted {
        /// The signal's name: `SIGINT` or `SIGTERM` (`Ctrl-C` where there is no SIGTERM).
        signal: &'static str,
    },
    /// The operations endpoint (`CONDUCTOR_METRICS_ADDR`) could not listen on its address.
    #[error("the operations endpoint could not listen on {addr}: {source}")]
    OpsAddr {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// The operating system's answer.
        #[source]
        source: std::io::Error,
    },
    /// `set_concurrency` was given a value outside `1..=10000`.
    #[error("concurrency must be between 1 and {max}, got {concurrency}")]
    Concurrency {
        /// The value given.
        concurrency: usize,
        /// The largest value allowed.
        max: usize,
    },
    /// `BATON_WORKER_PROCESS` (set by a process-placed host for its children) is not a worker
    /// index.
    #[error("{variable}={value:?} is not a worker index")]
    WorkerProcessVariable {
        /// The variable's name.
        variable: &'static str,
        /// Its value (lossily decoded).
        value: String,
    },
    /// `BATON_WORKER_PROCESS` names a worker the host does not have: the child built a
    /// different host than its parent.
    #[error("{variable}={index} but the host has {workers} workers")]
    WorkerProcessIndex {
        /// The variable's name.
        variable: &'static str,
        /// The index it holds.
        index: usize,
        /// How many workers the host has.
        workers: usize,
    },
    /// A worker process could not use its link to the parent (its stdin).
    #[error("a worker process cannot reach its parent through stdin: {0}")]
    ParentLink(#[source] std::io::Error),
    /// A worker asks for more than one process (`processes`) on a host that runs its
    /// workers on threads.
    #[error(
        "worker {task_type:?} asks for {processes} processes, but the host runs its workers on \
         threads: use Placement::Processes, or set processes to 1"
    )]
    ProcessesNeedPlacement {
        /// The worker's task type.
        task_type: String,
        /// Its `processes`.
        processes: usize,
    },
}

impl HostError {
    /// A thread named `thread` could not be started.
    pub(crate) fn thread(thread: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let thread = thread.into();
        move |source| Self::Thread { thread, source }
    }
}

impl HostError {
    /// The exit status a program should end with for this error: 128 + the signal's number
    /// for [`HostError::Interrupted`] (130 for SIGINT, 143 for SIGTERM), as shells report a
    /// process a signal stopped; 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Interrupted { signal: "SIGTERM" } => 128 + 15,
            Self::Interrupted { .. } => 128 + 2,
            _ => 1,
        }
    }
}
