//! [`ClientError`]: why a call to the server failed, and whether retrying can help;
//! [`ErrorBody`]: what the server's error answer said, field by field.
//!
//! Causes are kept as typed [`source`](std::error::Error::source)s (shared, so the error stays
//! `Clone`), never flattened into strings; an error's `Display` is its own message only, and
//! [`ErrorChain`] prints it with its causes for logs. Whether update-v2 is missing is decided
//! from the status and the error body's fields ([`ClientError::is_unsupported`]).

use std::error::Error;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

/// A failed call to the Conductor server.
///
/// `Display` gives this error's own message; causes (the connection or decoding error) are
/// its [`source`](Error::source) chain.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// No complete answer within the deadline (a stalled server or a half-open connection).
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The connection could not be made, or broke.
    #[error("connection failed")]
    Transport(#[source] Arc<dyn Error + Send + Sync>),
    /// The TLS handshake with the server failed: an untrusted, expired or mismatched
    /// certificate, a refused client certificate, no common protocol. Retryable: the worker
    /// backs off and tries again, since the server's certificate may be fixed meanwhile.
    #[error("TLS with {server} failed: {reason}")]
    Tls {
        /// The server's host name, as called.
        server: String,
        /// What TLS said, e.g. `invalid peer certificate: UnknownIssuer`.
        reason: String,
        /// The underlying error.
        #[source]
        source: Arc<dyn Error + Send + Sync>,
    },
    /// The server answered with a non-2xx status.
    #[error("server answered {status}: {body}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The route called, e.g. `/tasks/update-v2` (without the API base).
        route: &'static str,
        /// What the answer's body said.
        body: Box<ErrorBody>,
    },
    /// The answer's body is larger than `CONDUCTOR_HTTP_MAX_RESPONSE_BYTES`; it was not read
    /// to its end (and its connection was closed). Not retryable: the same call would get
    /// the same answer.
    #[error("answer to {route} ({}) is over the limit of {limit} bytes", size_text(*.size, *.limit))]
    TooLarge {
        /// The route called, e.g. `/tasks/poll/batch`.
        route: &'static str,
        /// The answer's HTTP status.
        status: u16,
        /// Its size, when the server declared it (`Content-Length`).
        size: Option<u64>,
        /// The limit.
        limit: u64,
    },
    /// The server's answer could not be decoded.
    #[error("could not decode the server's answer")]
    Decode(#[source] Arc<dyn Error + Send + Sync>),
    /// The result could not be encoded.
    #[error("could not encode the request")]
    Encode(#[source] Arc<dyn Error + Send + Sync>),
    /// No auth token could be had (minting failed).
    #[error("authentication failed: {reason}")]
    Auth {
        /// What went wrong.
        reason: &'static str,
        /// Why, when there is an underlying error (e.g. the token endpoint's answer).
        #[source]
        source: Option<Arc<dyn Error + Send + Sync>>,
    },
    /// The request could not be built (e.g. a URL that is not a valid URI).
    #[error("invalid request to {uri}")]
    Request {
        /// The URI, or what was made of it.
        uri: String,
        /// Why it is invalid.
        #[source]
        source: Arc<dyn Error + Send + Sync>,
    },
}

impl ClientError {
    /// A connection-level failure.
    pub(crate) fn transport(err: impl Error + Send + Sync + 'static) -> Self {
        Self::Transport(Arc::new(err))
    }

    /// An answer that did not decode.
    pub(crate) fn decode(err: impl Error + Send + Sync + 'static) -> Self {
        Self::Decode(Arc::new(err))
    }

    /// A request body that did not encode.
    pub(crate) fn encode(err: impl Error + Send + Sync + 'static) -> Self {
        Self::Encode(Arc::new(err))
    }

    /// A request that could not be built for `uri`.
    pub(crate) fn request(uri: impl Into<String>, err: impl Error + Send + Sync + 'static) -> Self {
        Self::Request {
            uri: uri.into(),
            source: Arc::new(err),
        }
    }

    /// A non-2xx answer to a call of `route`, with its raw body.
    pub(crate) fn status(status: u16, route: &'static str, body: &[u8]) -> Self {
        Self::Status {
            status,
            route,
            body: Box::new(ErrorBody::parse(body)),
        }
    }

    /// Whether the same call may succeed later: timeouts, broken connections, 5xx, 429 and
    /// undecodable answers are retryable; other 4xx and encoding errors are not.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Timeout(_)
            | Self::Transport(_)
            | Self::Tls { .. }
            | Self::Decode(_)
            | Self::Auth { .. } => true,
            Self::Status { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            Self::Encode(_) | Self::Request { .. } | Self::TooLarge { .. } => false,
        }
    }

    /// The error's kind, as the metrics' `exception` label names it: `timeout`,
    /// `connection`, `tls`, `http_<status>`, `too_large`, `decode`, `encode`, `auth` or
    /// `request`.
    pub fn kind(&self) -> std::borrow::Cow<'static, str> {
        match self {
            Self::Timeout(_) => "timeout".into(),
            Self::Transport(_) => "connection".into(),
            Self::Tls { .. } => "tls".into(),
            Self::Status { status, .. } => format!("http_{status}").into(),
            Self::TooLarge { .. } => "too_large".into(),
            Self::Decode(_) => "decode".into(),
            Self::Encode(_) => "encode".into(),
            Self::Auth { .. } => "auth".into(),
            Self::Request { .. } => "request".into(),
        }
    }

    /// Whether the server lacks the route called: how update-v2 falls back to v1. Decided by
    /// the status and the body's fields:
    ///
    /// - 405: the route does not take this method;
    /// - 404 with any body but Conductor's own `ErrorResponse` (which always carries
    ///   `retryable`): Spring's default error (`timestamp`, `error`, `path`), a
    ///   `ProblemDetail`, a proxy's text or nothing, all from before a controller ran;
    /// - 404 with an `ErrorResponse` only when it is about the route itself (Spring's
    ///   `NoResourceFoundException` / `NoHandlerFoundException`, mapped by Conductor): its
    ///   `path`, or else its `message`, names the route called. An unknown task or workflow is
    ///   an `ErrorResponse` about an id, so it is an ordinary refusal.
    pub fn is_unsupported(&self) -> bool {
        match self {
            Self::Status { status: 405, .. } => true,
            Self::Status {
                status: 404,
                route,
                body,
            } => !body.is_conductor() || body.names_route(route),
            _ => false,
        }
    }
}

/// An oversize answer's size as known: declared, or only "more than the limit".
fn size_text(size: Option<u64>, limit: u64) -> String {
    match size {
        Some(size) => format!("{size} bytes"),
        None => format!("more than {limit} bytes"),
    }
}

impl ClientError {
    /// A failed request to `server`: a TLS failure when rustls is somewhere in the cause
    /// chain, else a transport failure.
    pub(crate) fn connection(server: &str, err: hyper_util::client::legacy::Error) -> Self {
        let mut cause: Option<&(dyn Error + 'static)> = Some(&err);
        while let Some(current) = cause {
            if let Some(tls) = current.downcast_ref::<rustls::Error>() {
                return Self::Tls {
                    server: server.to_owned(),
                    reason: tls.to_string(),
                    source: Arc::new(err),
                };
            }
            // io::Error hides its inner error from `source()` behind `get_ref`.
            cause = match current.downcast_ref::<std::io::Error>() {
                Some(io) => io.get_ref().map(|inner| inner as &(dyn Error + 'static)),
                None => current.source(),
            };
        }
        Self::transport(err)
    }
}

/// The body of an error answer, as far as it could be read: Conductor's `ErrorResponse`
/// (`status`, `message`, `retryable`, ...), Spring's default error (`timestamp`, `status`,
/// `error`, `path`), a `ProblemDetail` (`title`, `detail`, `instance`), an Orkes auth error
/// (`error`), or plain text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ErrorBody {
    /// What went wrong: Conductor's `message`, or a `ProblemDetail`'s `detail`.
    pub message: Option<String>,
    /// Spring's reason phrase (`"Not Found"`) or an Orkes error code (`"EXPIRED_TOKEN"`).
    pub error: Option<String>,
    /// The request path, in Spring's default error body.
    pub path: Option<String>,
    /// A machine-readable error code.
    pub code: Option<String>,
    /// Conductor's `retryable` flag: present exactly when the body is Conductor's own
    /// `ErrorResponse`.
    pub retryable: Option<bool>,
    /// The body's start, when it is not a JSON object (empty for an empty body).
    pub text: String,
}

/// How much of a body that is not JSON is kept.
const TEXT_LIMIT: usize = 512;

/// How much of a body is parsed at most.
const BODY_LIMIT: usize = 4096;

impl ErrorBody {
    /// Reads an error answer's body; never fails (what is not JSON is kept as text).
    pub(crate) fn parse(body: &[u8]) -> Self {
        /// Every field any of the known error shapes has.
        #[derive(Deserialize)]
        struct Fields {
            message: Option<String>,
            detail: Option<String>,
            error: Option<String>,
            path: Option<String>,
            code: Option<String>,
            retryable: Option<bool>,
        }
        let body = &body[..body.len().min(BODY_LIMIT)];
        match serde_json::from_slice::<Fields>(body) {
            Ok(fields) => Self {
                message: fields.message.or(fields.detail),
                error: fields.error,
                path: fields.path,
                code: fields.code,
                retryable: fields.retryable,
                text: String::new(),
            },
            Err(_) => {
                let text = String::from_utf8_lossy(&body[..body.len().min(TEXT_LIMIT)]);
                Self {
                    text: text.trim().to_owned(),
                    ..Self::default()
                }
            }
        }
    }

    /// Whether this is Conductor's own `ErrorResponse`, which always carries `retryable`.
    fn is_conductor(&self) -> bool {
        self.retryable.is_some()
    }

    /// Whether the body is about `route` itself (e.g. "No static resource api/tasks/update-v2."):
    /// its `path` field, or else its message, names the route.
    fn names_route(&self, route: &str) -> bool {
        let route = route.trim_start_matches('/');
        match &self.path {
            Some(path) => path.trim_end_matches('/').ends_with(route),
            None => self.message.as_deref().is_some_and(|m| m.contains(route)),
        }
    }
}

impl fmt::Display for ErrorBody {
    /// The most telling field: the message, else the error, else the text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let summary = self
            .message
            .as_deref()
            .or(self.error.as_deref())
            .unwrap_or(&self.text);
        f.write_str(summary)
    }
}

/// Displays an error followed by its causes (`a: b: c`), for logs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ErrorChain<'a>(pub(crate) &'a (dyn Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UPDATE_V2: &str = "/tasks/update-v2";

    fn answer(status: u16, body: &str) -> ClientError {
        ClientError::status(status, UPDATE_V2, body.as_bytes())
    }

    #[test]
    fn only_a_missing_route_counts_as_unsupported() {
        // A method the route does not take.
        assert!(answer(405, "").is_unsupported());
        assert!(
            answer(
                405,
                r#"{"status":405,"message":"Method Not Allowed","retryable":false}"#
            )
            .is_unsupported()
        );
        // Spring's default error body, from before any controller ran.
        assert!(answer(404, r#"{"timestamp":"2026-01-01T00:00:00.000+00:00","status":404,"error":"Not Found","path":"/api/tasks/update-v2"}"#).is_unsupported());
        // Conductor's mapper on Spring's NoResourceFoundException, and the mock's missing route.
        assert!(answer(404, r#"{"status":404,"message":"No static resource api/tasks/update-v2.","instance":"conductor-1","retryable":false}"#).is_unsupported());
        assert!(answer(404, r#"{"status":404,"message":"No endpoint POST /api/tasks/update-v2.","instance":"baton-mock","retryable":false}"#).is_unsupported());
        // A ProblemDetail, a proxy's page, nothing at all.
        assert!(answer(404, r#"{"type":"about:blank","title":"Not Found","status":404,"detail":"No static resource api/tasks/update-v2.","instance":"/api/tasks/update-v2"}"#).is_unsupported());
        assert!(answer(404, "404 page not found").is_unsupported());
        assert!(answer(404, "").is_unsupported());
        // Conductor's answers about the ids in the result: ordinary refusals.
        assert!(!answer(404, r#"{"status":404,"message":"No such task found by id: t-1","instance":"conductor-1","retryable":false}"#).is_unsupported());
        assert!(
            !answer(
                404,
                r#"{"status":404,"message":"No such workflow found by id: w-1","retryable":false}"#
            )
            .is_unsupported()
        );
        // Errors that say nothing about routes.
        assert!(
            !answer(500, r#"{"status":500,"message":"boom","retryable":false}"#).is_unsupported()
        );
        assert!(!answer(400, "").is_unsupported());
        assert!(!ClientError::Timeout(Duration::from_secs(1)).is_unsupported());
    }

    #[test]
    fn a_path_field_decides_over_the_message() {
        let other_route = r#"{"status":404,"message":"tasks/update-v2 is fine","path":"/api/tasks","retryable":false}"#;
        assert!(!answer(404, other_route).is_unsupported());
    }

    #[test]
    fn error_bodies_keep_their_fields() {
        let body = ErrorBody::parse(
            br#"{"timestamp":"t","status":404,"error":"Not Found","path":"/api/tasks/update-v2"}"#,
        );
        assert_eq!(body.error.as_deref(), Some("Not Found"));
        assert_eq!(body.path.as_deref(), Some("/api/tasks/update-v2"));
        assert_eq!((body.message, body.retryable), (None, None));
        let body = ErrorBody::parse(br#"{"status":401,"code":"INVALID_TOKEN","retryable":false}"#);
        assert_eq!(
            (body.code.as_deref(), body.retryable),
            (Some("INVALID_TOKEN"), Some(false))
        );
        let body = ErrorBody::parse(b" upstream down\n");
        assert_eq!(body.text, "upstream down");
        assert_eq!(body.to_string(), "upstream down");
    }

    #[test]
    fn retryable_errors_are_the_transient_ones() {
        assert!(ClientError::Timeout(Duration::from_secs(1)).is_retryable());
        assert!(ClientError::transport(std::io::Error::other("reset")).is_retryable());
        assert!(answer(503, "").is_retryable());
        assert!(answer(429, "").is_retryable());
        assert!(!answer(400, "").is_retryable());
        assert!(!answer(404, "").is_retryable());
        let encode = serde_json::from_str::<u8>("x")
            .err()
            .map(ClientError::encode);
        assert!(encode.is_some_and(|err| !err.is_retryable()));
    }

    #[test]
    fn causes_are_kept_as_sources() {
        let cause = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let err = ClientError::transport(cause);
        assert_eq!(err.to_string(), "connection failed");
        let source = err.source().map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("refused"));
        assert_eq!(ErrorChain(&err).to_string(), "connection failed: refused");
        let cloned = err.clone();
        assert!(cloned.source().is_some());
    }
}
