//! [`ClientError`]: why a call to the server failed, and whether retrying can help.

use std::time::Duration;

/// A failed call to the Conductor server.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// No complete answer within the deadline (a stalled server or a half-open connection).
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The connection could not be made, or broke.
    #[error("connection failed: {0}")]
    Transport(String),
    /// The server answered with a non-2xx status.
    #[error("server answered {status}: {message}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The server's message (or the start of its body).
        message: String,
    },
    /// The server's answer could not be decoded.
    #[error("could not decode the server's answer: {0}")]
    Decode(String),
    /// The result could not be encoded.
    #[error("could not encode the request: {0}")]
    Encode(String),
    /// No auth token could be had (minting failed).
    #[error("authentication failed: {0}")]
    Auth(String),
    /// The request could not be built (e.g. a bad URL).
    #[error("invalid request: {0}")]
    Request(String),
}

impl ClientError {
    /// Whether the same call may succeed later: timeouts, broken connections, 5xx, 429 and
    /// undecodable answers are retryable; other 4xx and encoding errors are not.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Timeout(_) | Self::Transport(_) | Self::Decode(_) | Self::Auth(_) => true,
            Self::Status { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            Self::Encode(_) | Self::Request(_) => false,
        }
    }

    /// Whether the server lacks the endpoint (404 or 405): how update-v2 falls back to v1.
    pub fn is_unsupported(&self) -> bool {
        match self {
            Self::Status { status: 405, .. } => true,
            Self::Status {
                status: 404,
                message,
            } => !message.starts_with("No such"),
            _ => false,
        }
    }
}

impl From<hyper_util::client::legacy::Error> for ClientError {
    fn from(err: hyper_util::client::legacy::Error) -> Self {
        let mut message = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        Self::Transport(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16, message: &str) -> ClientError {
        ClientError::Status {
            status,
            message: message.into(),
        }
    }

    #[test]
    fn only_a_missing_route_counts_as_unsupported() {
        assert!(status(405, "Method Not Allowed").is_unsupported());
        assert!(status(404, "No static resource api/tasks/update-v2.").is_unsupported());
        assert!(!status(404, "No such task found by id: t-1").is_unsupported());
        assert!(!status(404, "No such workflow found by id: w-1").is_unsupported());
        assert!(!status(500, "boom").is_unsupported());
    }

    #[test]
    fn retryable_errors_are_the_transient_ones() {
        assert!(ClientError::Timeout(Duration::from_secs(1)).is_retryable());
        assert!(ClientError::Transport("reset".into()).is_retryable());
        assert!(status(503, "").is_retryable());
        assert!(status(429, "").is_retryable());
        assert!(!status(400, "").is_retryable());
        assert!(!status(404, "").is_retryable());
        assert!(!ClientError::Encode("x".into()).is_retryable());
    }
}
