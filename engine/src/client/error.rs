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
    /// The request could not be built (e.g. a bad URL).
    #[error("invalid request: {0}")]
    Request(String),
}

impl ClientError {
    /// Whether the same call may succeed later: timeouts, broken connections, 5xx, 429 and
    /// undecodable answers are retryable; other 4xx and encoding errors are not.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Timeout(_) | Self::Transport(_) | Self::Decode(_) => true,
            Self::Status { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            Self::Encode(_) | Self::Request(_) => false,
        }
    }

    /// Whether the server lacks the endpoint (404 or 405): how update-v2 falls back to v1.
    pub fn is_unsupported(&self) -> bool {
        matches!(
            self,
            Self::Status {
                status: 404 | 405,
                ..
            }
        )
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
