//! Logging for programs built on Baton. The library only emits `tracing` events and spans (a
//! span per task: task id, task type, workflow id, poll count; debug events for each poll,
//! execution and post with their durations); [`init_logging`] is the one-line set-up for a
//! program that has none of its own: text or JSON lines on stderr.

use tracing_subscriber::EnvFilter;

/// The variable that picks the log format: `text` (the default) or `json`.
pub const LOG_FORMAT_VAR: &str = "CONDUCTOR_LOG_FORMAT";

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (with the task span's fields), for log pipelines.
    Json,
}

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoggingError {
    /// `CONDUCTOR_LOG_FORMAT` is neither `text` nor `json`.
    #[error("invalid value {0:?} for CONDUCTOR_LOG_FORMAT: expected text or json")]
    Format(String),
    /// The program already set a global subscriber.
    #[error("a global tracing subscriber is already set")]
    AlreadySet,
}

impl LogFormat {
    /// The format `CONDUCTOR_LOG_FORMAT` names (unset or empty: text).
    pub fn from_env() -> Result<Self, LoggingError> {
        match std::env::var(LOG_FORMAT_VAR) {
            Err(_) => Ok(Self::Text),
            Ok(value) => Self::parse(&value),
        }
    }

    fn parse(value: &str) -> Result<Self, LoggingError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            _ => Err(LoggingError::Format(value.to_owned())),
        }
    }
}

/// Logs to stderr in `format`, filtered by `RUST_LOG` (default `info`). Use
/// `LogFormat::from_env()` to let `CONDUCTOR_LOG_FORMAT` choose.
pub fn init_logging(format: LogFormat) -> Result<(), LoggingError> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().with_current_span(true).try_init(),
    };
    installed.map_err(|_| LoggingError::AlreadySet)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_and_bad_ones_are_named() {
        assert_eq!(LogFormat::parse("JSON").unwrap(), LogFormat::Json);
        assert_eq!(LogFormat::parse("").unwrap(), LogFormat::Text);
        let err = LogFormat::parse("yaml").unwrap_err();
        assert!(err.to_string().contains("\"yaml\""), "{err}");
    }
}
