//! [`HostError`]: why a host could not be built or started.

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
    /// The server URL does not make valid request URIs.
    #[error("invalid server URL: {0}")]
    ServerUrl(#[source] ClientError),
    /// A thread could not be started.
    #[error("could not start the host's threads: {0}")]
    Start(#[source] std::io::Error),
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
