//! Logging for programs built on Baton. The library only emits `tracing` events and spans (a
//! span per task: task id, task type, workflow id, poll count; debug events for each poll,
//! execution and post with their durations); [`init_logging`] is the one-line set-up for a
//! program that has none of its own: text or JSON lines on stderr, and with the cargo feature
//! `otel` the task spans exported over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

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
    /// The OTLP exporter could not be built (feature `otel`).
    #[cfg(feature = "otel")]
    #[error("the OTLP exporter could not be built: {0}")]
    Otlp(String),
}

/// Keeps the log set-up alive; dropping it flushes spans not yet exported (feature `otel`).
#[derive(Debug)]
#[must_use = "dropping it at once would stop the OTLP export"]
pub struct Logging {
    #[cfg(feature = "otel")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Drop for Logging {
    fn drop(&mut self) {
        #[cfg(feature = "otel")]
        if let Some(provider) = self.provider.take() {
            let _ = provider.shutdown();
        }
    }
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
/// `LogFormat::from_env()` to let `CONDUCTOR_LOG_FORMAT` choose. With the cargo feature `otel`
/// and `OTEL_EXPORTER_OTLP_ENDPOINT` set (e.g. `http://collector:4318`), spans (one per task)
/// are also exported over OTLP (HTTP/protobuf), service name `baton` unless
/// `OTEL_SERVICE_NAME` says otherwise. Keep the returned guard until the program ends.
pub fn init_logging(format: LogFormat) -> Result<Logging, LoggingError> {
    #[cfg(feature = "otel")]
    let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok();
    #[cfg(not(feature = "otel"))]
    let endpoint = None;
    init(format, endpoint)
}

/// [`init_logging`] exporting spans to `traces_url` (the full URL, e.g.
/// `http://collector:4318/v1/traces`) whatever the environment says (feature `otel`).
#[cfg(feature = "otel")]
pub fn init_logging_with_otlp(
    format: LogFormat,
    traces_url: impl Into<String>,
) -> Result<Logging, LoggingError> {
    init(format, Some(traces_url.into()))
}

fn init(format: LogFormat, endpoint: Option<String>) -> Result<Logging, LoggingError> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = match format {
        LogFormat::Text => fmt.boxed(),
        LogFormat::Json => fmt.json().with_current_span(true).boxed(),
    };
    let registry = tracing_subscriber::registry().with(filter).with(fmt);
    #[cfg(feature = "otel")]
    {
        let (layer, provider) = match endpoint.map(otel::layer).transpose()? {
            Some((layer, provider)) => (Some(layer), Some(provider)),
            None => (None, None),
        };
        registry
            .with(layer)
            .try_init()
            .map_err(|_| LoggingError::AlreadySet)?;
        Ok(Logging { provider })
    }
    #[cfg(not(feature = "otel"))]
    {
        let _: Option<String> = endpoint;
        registry.try_init().map_err(|_| LoggingError::AlreadySet)?;
        Ok(Logging {})
    }
}

#[cfg(feature = "otel")]
mod otel {
    //! The OTLP span export (feature `otel`).

    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::{SpanExporter, WithExportConfig};
    use opentelemetry_sdk::Resource;
    use opentelemetry_sdk::trace::SdkTracerProvider;

    use super::LoggingError;

    /// A layer exporting spans to `endpoint` (the environment's base URL, to which the
    /// exporter adds `/v1/traces`, or a full traces URL), and its provider.
    pub(super) fn layer<S>(
        endpoint: String,
    ) -> Result<
        (
            tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::SdkTracer>,
            SdkTracerProvider,
        ),
        LoggingError,
    >
    where
        S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
    {
        let traces_url = if endpoint.trim_end_matches('/').ends_with("/v1/traces") {
            endpoint
        } else {
            format!("{}/v1/traces", endpoint.trim_end_matches('/'))
        };
        let exporter = SpanExporter::builder()
            .with_http()
            .with_endpoint(traces_url)
            .build()
            .map_err(|err| LoggingError::Otlp(err.to_string()))?;
        let service = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "baton".to_owned());
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(Resource::builder().with_service_name(service).build())
            .build();
        let tracer = provider.tracer("baton");
        Ok((tracing_opentelemetry::layer().with_tracer(tracer), provider))
    }
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
