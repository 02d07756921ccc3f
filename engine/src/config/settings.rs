//! The resolved, validated settings and their provenance: what the host runs with and where
//! each value came from.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value, json};

/// Where a configuration value came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    /// An environment variable, by exact name.
    Env(String),
    /// A section of a worker.ini file.
    File {
        /// The file, as it was named (relative paths stay relative).
        path: PathBuf,
        /// The section: `DEFAULT` or the task type.
        section: String,
    },
    /// A value set in code (`WorkerOptions` / `ServerOptions`).
    Code,
    /// Baton's built-in default.
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Env(name) => write!(f, "env:{name}"),
            Source::File { path, section } => write!(f, "file:{}[{section}]", path.display()),
            Source::Code => f.write_str("code"),
            Source::Default => f.write_str("default"),
        }
    }
}

/// The source of every worker property, one field per property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    /// Source of `polling_interval`.
    pub polling_interval: Source,
    /// Source of `domain`.
    pub domain: Source,
    /// Source of `worker_id`.
    pub worker_id: Source,
    /// Source of `concurrency`.
    pub concurrency: Source,
    /// Source of `batch_size` (`default` when it follows `concurrency`).
    pub batch_size: Source,
    /// Source of `poll_timeout`.
    pub poll_timeout: Source,
    /// Source of `paused`.
    pub paused: Source,
    /// Source of `update_retries`.
    pub update_retries: Source,
    /// Source of `update_retry_backoff`.
    pub update_retry_backoff: Source,
    /// Source of `shutdown_grace`.
    pub shutdown_grace: Source,
    /// Source of `lease_extend_enabled`.
    pub lease_extend_enabled: Source,
}

impl Provenance {
    /// `(canonical property name, source)` pairs in documentation order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &Source)> {
        [
            ("polling_interval", &self.polling_interval),
            ("domain", &self.domain),
            ("worker_id", &self.worker_id),
            ("concurrency", &self.concurrency),
            ("batch_size", &self.batch_size),
            ("poll_timeout", &self.poll_timeout),
            ("paused", &self.paused),
            ("update_retries", &self.update_retries),
            ("update_retry_backoff", &self.update_retry_backoff),
            ("shutdown_grace", &self.shutdown_grace),
            ("lease_extend_enabled", &self.lease_extend_enabled),
        ]
        .into_iter()
    }

    /// The source of one property by canonical name.
    pub fn get(&self, property: &str) -> Option<&Source> {
        self.iter()
            .find(|(name, _)| *name == property)
            .map(|(_, s)| s)
    }

    /// A JSON object mapping each property to its source's display form.
    pub fn to_json(&self) -> Value {
        let map: Map<String, Value> = self
            .iter()
            .map(|(name, source)| (name.to_owned(), Value::String(source.to_string())))
            .collect();
        Value::Object(map)
    }
}

/// One worker's effective configuration, resolved from every source and validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerSettings {
    /// The task definition name this worker polls.
    pub task_type: String,
    /// Pause between polls when a poll returned nothing.
    pub polling_interval: Duration,
    /// The task domain polled, `None` for no domain.
    pub domain: Option<String>,
    /// The worker id sent with each poll.
    pub worker_id: String,
    /// How many tasks may run at once (at least 1).
    pub concurrency: usize,
    /// Most tasks asked for in one poll (at least 1).
    pub batch_size: usize,
    /// Long-poll timeout sent to the server (at most 5 s).
    pub poll_timeout: Duration,
    /// Whether the worker starts paused (polls nothing).
    pub paused: bool,
    /// Extra attempts to post a result after the first one fails.
    pub update_retries: u32,
    /// Delay before the first retry of a result update.
    pub update_retry_backoff: Duration,
    /// How long shutdown waits for running tasks.
    pub shutdown_grace: Duration,
    /// Whether running tasks' leases are extended (every 0.8 × their response timeout).
    pub lease_extend_enabled: bool,
    /// Which source gave each property.
    pub sources: Provenance,
}

impl WorkerSettings {
    /// The `print_config` line: `task_type`, every property by canonical name (durations as
    /// integer milliseconds, `domain` a string or null) and a `sources` object.
    pub fn to_json(&self) -> Value {
        json!({
            "task_type": self.task_type,
            "polling_interval": millis(self.polling_interval),
            "domain": self.domain,
            "worker_id": self.worker_id,
            "concurrency": self.concurrency,
            "batch_size": self.batch_size,
            "poll_timeout": millis(self.poll_timeout),
            "paused": self.paused,
            "update_retries": self.update_retries,
            "update_retry_backoff": millis(self.update_retry_backoff),
            "shutdown_grace": millis(self.shutdown_grace),
            "lease_extend_enabled": self.lease_extend_enabled,
            "sources": self.sources.to_json(),
        })
    }
}

/// Whole milliseconds of a duration, saturating (every configured duration is whole ms).
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The source of every server setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerProvenance {
    /// Source of the base URL.
    pub url: Source,
    /// Source of the key/secret pair (`default` when there is none).
    pub auth: Source,
    /// Source of the HTTP timeout.
    pub http_timeout: Source,
}

/// The Conductor server connection, resolved and validated.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerSettings {
    /// The API base URL: `http(s)://host[:port][/prefix]/api`, never with a trailing slash.
    pub base_url: String,
    /// Key id and secret for token auth, when both are given.
    pub auth: Option<(String, String)>,
    /// Timeout of each HTTP request.
    pub http_timeout: Duration,
    /// Which source gave each setting.
    pub sources: ServerProvenance,
}

impl ServerSettings {
    /// Checks that a worker's long poll fits in one HTTP request (`http_timeout` must exceed
    /// `poll_timeout`), so the host can refuse to start instead of timing out every poll.
    pub fn check_worker(&self, worker: &WorkerSettings) -> Result<(), super::ConfigError> {
        if self.http_timeout > worker.poll_timeout {
            return Ok(());
        }
        Err(super::ConfigError::HttpTimeoutTooShort {
            http_timeout_ms: millis(self.http_timeout),
            http_origin: Box::new(self.sources.http_timeout.clone()),
            poll_timeout_ms: millis(worker.poll_timeout),
            poll_origin: Box::new(worker.sources.poll_timeout.clone()),
            task_type: worker.task_type.clone(),
        })
    }
}

impl fmt::Debug for ServerSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerSettings")
            .field("base_url", &self.base_url)
            .field(
                "auth",
                &self.auth.as_ref().map(|(key, _)| (key, "<redacted>")),
            )
            .field("http_timeout", &self.http_timeout)
            .field("sources", &self.sources)
            .finish()
    }
}
