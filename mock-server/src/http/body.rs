//! The response body type and helpers that build the server's response shapes.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};
use serde::Serialize;

use crate::error::ApiError;

/// Boxed error for a body that ends early.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A response body: the whole payload, or (for the `truncated` fault) a prefix followed by an
/// error, which makes hyper abort the connection mid-body.
#[derive(Debug)]
pub(crate) enum Body {
    /// The full payload (taken on the first poll).
    Full(Option<Bytes>),
    /// A prefix of the payload, then an error.
    Truncated(Option<Bytes>),
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            Self::Full(data) => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            Self::Truncated(data) => Poll::Ready(Some(match data.take() {
                Some(prefix) => Ok(Frame::data(prefix)),
                None => Err("truncated by an injected fault".into()),
            })),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Self::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Full(data) => SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64)),
            Self::Truncated(_) => SizeHint::default(),
        }
    }
}

impl Body {
    /// The whole payload (a truncated body gives its prefix).
    #[cfg_attr(not(feature = "wiremock"), allow(dead_code))]
    pub(crate) fn into_bytes(self) -> Bytes {
        match self {
            Self::Full(Some(bytes)) | Self::Truncated(Some(bytes)) => bytes,
            _ => Bytes::new(),
        }
    }
}

/// The response type of every handler.
pub(crate) type Resp = Response<Body>;

/// A response with `status`, a content type and `body`.
pub(crate) fn with_body(status: StatusCode, content_type: &'static str, body: Bytes) -> Resp {
    let mut response = Response::new(Body::Full(Some(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// 200 with `value` as JSON.
pub(crate) fn json<T: Serialize + ?Sized>(value: &T) -> Resp {
    match serde_json::to_vec(value) {
        Ok(bytes) => with_body(StatusCode::OK, "application/json", Bytes::from(bytes)),
        Err(e) => error(&ApiError::Internal(format!("serialization failed: {e}"))),
    }
}

/// 200 with JSON already serialized (the buffer goes back to the pool once sent).
pub(crate) fn json_bytes(bytes: Vec<u8>) -> Resp {
    with_body(
        StatusCode::OK,
        "application/json",
        crate::buffers::into_bytes(bytes),
    )
}

/// 200 with a `text/plain` body.
pub(crate) fn text(body: impl Into<Bytes>) -> Resp {
    with_body(StatusCode::OK, "text/plain", body.into())
}

/// A bodiless answer with `status` (204, or 200 for "ok, nothing to say").
pub(crate) fn empty(status: StatusCode) -> Resp {
    let mut response = Response::new(Body::Full(None));
    *response.status_mut() = status;
    response
}

/// The ErrorResponse JSON answer for `err`.
pub(crate) fn error(err: &ApiError) -> Resp {
    let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let bytes = serde_json::to_vec(&err.to_response()).unwrap_or_default();
    with_body(status, "application/json", Bytes::from(bytes))
}

/// Replaces a response's body with a 200 answer that is not valid JSON.
pub(crate) fn malformed(response: Resp) -> Resp {
    let (mut parts, _) = response.into_parts();
    parts.status = StatusCode::OK;
    parts
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.remove(CONTENT_LENGTH);
    Response::from_parts(
        parts,
        Body::Full(Some(Bytes::from_static(b"{\"taskId\": [unterminated"))),
    )
}

/// Keeps the status and headers but sends only half of the body (announcing the full length)
/// before failing the connection.
pub(crate) fn truncated(response: Resp) -> Resp {
    let (mut parts, body) = response.into_parts();
    let full = match body {
        Body::Full(Some(bytes)) | Body::Truncated(Some(bytes)) => bytes,
        _ => Bytes::new(),
    };
    // A bodiless answer cannot be cut short; announce a body that never comes.
    let announced = full.len().max(2);
    parts
        .headers
        .insert(CONTENT_LENGTH, HeaderValue::from(announced));
    let prefix = full.slice(..full.len() / 2);
    Response::from_parts(parts, Body::Truncated(Some(prefix)))
}
