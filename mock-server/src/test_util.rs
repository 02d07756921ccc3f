//! Test helpers (feature `test-util`), shared by the mock's own tests and the end-to-end tests:
//! a small keep-alive HTTP client that returns whole answers, and [`eventually`], a bounded
//! wait on a condition (tests await conditions, never fixed sleeps).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use baton_mock::test_util::{Client, eventually};
//! use baton_mock::{EnqueueRequest, MockServer};
//!
//! let mock = MockServer::start().await?;
//! mock.enqueue(EnqueueRequest::new("encode", 1));
//! let client = Client::new();
//! let url = format!("{}/tasks/poll/batch/encode?count=1&timeout=0", mock.base_url());
//! assert_eq!(client.get(&url).await.tasks().len(), 1);
//! assert!(eventually(Duration::from_secs(5), async || mock.ledger().handed_out == 1).await);
//! # Ok(()) }
//! ```

use std::time::Duration;

use baton_model::Task;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::HeaderMap;
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::{Client as HyperClient, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use serde_json::Value;

/// How often [`eventually`] re-checks its condition.
const CHECK_EVERY: Duration = Duration::from_millis(5);

/// Awaits `condition`, re-checked every 5 ms, until it holds or `limit` has passed; returns
/// whether it held. The condition is checked once more at the limit, so a slow machine fails
/// only when the condition really did not come true in time.
pub async fn eventually(limit: Duration, mut condition: impl AsyncFnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if condition().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(CHECK_EVERY).await;
    }
}

/// An HTTP answer: status, headers and the whole body.
#[derive(Debug)]
pub struct Answer {
    /// The status code.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON; panics (naming the body) when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text()))
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `content-type` header, or `""`.
    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The body as one Task; panics unless the status is 200 and the body a Task.
    pub fn task(&self) -> Task {
        assert_eq!(self.status, StatusCode::OK, "body: {}", self.text());
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not a Task ({e}): {}", self.text()))
    }

    /// The body as a list of Tasks; panics unless the status is 200 and the body a list.
    pub fn tasks(&self) -> Vec<Task> {
        assert_eq!(self.status, StatusCode::OK, "body: {}", self.text());
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not a Task list ({e}): {}", self.text()))
    }
}

/// A keep-alive HTTP/1 client with `TCP_NODELAY`; cloning shares its connection pool.
#[derive(Debug, Clone)]
pub struct Client {
    inner: HyperClient<HttpConnector, Full<Bytes>>,
    /// Sent as `X-Authorization` when set.
    pub token: Option<String>,
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

impl Client {
    /// A client without a token.
    pub fn new() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        Self {
            inner: HyperClient::builder(TokioExecutor::new()).build(connector),
            token: None,
        }
    }

    /// Sends a request; `Err` when the connection broke (the drop and truncation faults).
    pub async fn try_send(
        &self,
        method: Method,
        url: &str,
        content_type: &str,
        body: impl Into<Bytes>,
    ) -> Result<Answer, String> {
        let mut request = Request::builder().method(method).uri(url);
        if !content_type.is_empty() {
            request = request.header("content-type", content_type);
        }
        if let Some(token) = &self.token {
            request = request.header("x-authorization", token);
        }
        let request = request
            .body(Full::new(body.into()))
            .map_err(|e| format!("request: {e}"))?;
        let response = self
            .inner
            .request(request)
            .await
            .map_err(|e| format!("{e:?}"))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("body: {e:?}"))?
            .to_bytes();
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    /// Sends a request; panics when the connection broke.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        content_type: &str,
        body: impl Into<Bytes>,
    ) -> Answer {
        self.try_send(method, url, content_type, body)
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    /// `GET url`.
    pub async fn get(&self, url: &str) -> Answer {
        self.send(Method::GET, url, "", Bytes::new()).await
    }

    /// `POST url` with `body` as JSON.
    pub async fn post_json(&self, url: &str, body: &impl Serialize) -> Answer {
        self.send(Method::POST, url, "application/json", to_json(body))
            .await
    }

    /// `POST url` with a raw body sent as `application/json` (for malformed-body tests).
    pub async fn post_raw(&self, url: &str, body: &'static str) -> Answer {
        self.send(Method::POST, url, "application/json", body).await
    }

    /// `PUT url` with `body` as JSON.
    pub async fn put_json(&self, url: &str, body: &impl Serialize) -> Answer {
        self.send(Method::PUT, url, "application/json", to_json(body))
            .await
    }

    /// `DELETE url`.
    pub async fn delete(&self, url: &str) -> Answer {
        self.send(Method::DELETE, url, "", Bytes::new()).await
    }
}

/// `value` as JSON bytes; panics when it cannot be serialized (a test's own value).
fn to_json(value: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_else(|e| panic!("cannot serialize the body: {e}"))
}
