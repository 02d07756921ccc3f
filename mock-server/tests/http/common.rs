//! Shared helpers: a small hyper-util client and shortcuts for the mock's endpoints.

use std::time::Duration;

use baton_mock::{EnqueueRequest, Enqueued, MockServer};
use baton_model::{Task, TaskResult};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode, header::HeaderMap};
use hyper_util::client::legacy::{Client as HyperClient, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use serde_json::Value;

/// An answer: status, headers and the whole body.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn task(&self) -> Task {
        assert_eq!(self.status, StatusCode::OK, "body: {}", self.text());
        serde_json::from_slice(&self.body).unwrap()
    }

    pub fn tasks(&self) -> Vec<Task> {
        assert_eq!(self.status, StatusCode::OK, "body: {}", self.text());
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A keep-alive HTTP/1 client with nodelay.
#[derive(Clone)]
pub struct Client {
    inner: HyperClient<HttpConnector, Full<Bytes>>,
    pub token: Option<String>,
}

impl Client {
    pub fn new() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        Self {
            inner: HyperClient::builder(TokioExecutor::new()).build(connector),
            token: None,
        }
    }

    /// Sends a request; `Err` when the connection broke (drop and truncation faults).
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
        let request = request.body(Full::new(body.into())).unwrap();
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

    pub async fn send(
        &self,
        method: Method,
        url: &str,
        content_type: &str,
        body: impl Into<Bytes>,
    ) -> Answer {
        self.try_send(method, url, content_type, body)
            .await
            .unwrap()
    }

    pub async fn get(&self, url: &str) -> Answer {
        self.send(Method::GET, url, "", Bytes::new()).await
    }

    pub async fn post_json(&self, url: &str, body: &impl Serialize) -> Answer {
        let bytes = serde_json::to_vec(body).unwrap();
        self.send(Method::POST, url, "application/json", bytes)
            .await
    }

    pub async fn post_raw(&self, url: &str, body: &'static str) -> Answer {
        self.send(Method::POST, url, "application/json", body).await
    }

    pub async fn put_json(&self, url: &str, body: &impl Serialize) -> Answer {
        let bytes = serde_json::to_vec(body).unwrap();
        self.send(Method::PUT, url, "application/json", bytes).await
    }

    pub async fn delete(&self, url: &str) -> Answer {
        self.send(Method::DELETE, url, "", Bytes::new()).await
    }
}

/// A mock plus a client, the usual test setup.
pub struct Fixture {
    pub mock: MockServer,
    pub client: Client,
}

impl Fixture {
    pub async fn start() -> Self {
        Self::with(MockServer::builder()).await
    }

    pub async fn with(builder: baton_mock::MockServerBuilder) -> Self {
        Self {
            mock: builder.start().await.unwrap(),
            client: Client::new(),
        }
    }

    pub fn api(&self, path: &str) -> String {
        format!("{}{path}", self.mock.base_url())
    }

    pub fn admin(&self, path: &str) -> String {
        format!("{}{path}", self.mock.admin_url())
    }

    pub fn enqueue(&self, task_type: &str, count: u64) -> Enqueued {
        self.mock.enqueue(EnqueueRequest::new(task_type, count))
    }

    /// Batch poll with `count` and `timeout` ms (plus any extra query).
    pub async fn batch(
        &self,
        task_type: &str,
        count: usize,
        timeout_ms: u64,
        extra: &str,
    ) -> Vec<Task> {
        let url = self.api(&format!(
            "/tasks/poll/batch/{task_type}?count={count}&timeout={timeout_ms}&workerid=tester{extra}"
        ));
        self.client.get(&url).await.tasks()
    }

    pub async fn update(&self, result: &TaskResult) -> Answer {
        self.client.post_json(&self.api("/tasks"), result).await
    }
}

impl Fixture {
    /// Registers a workflow definition (200 expected).
    pub async fn register_workflow(&self, def: &Value) {
        let answer = self
            .client
            .post_json(&self.api("/metadata/workflow"), def)
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    }

    /// Starts `name` with `input` (plus an extra query); returns the workflow id.
    pub async fn start_workflow(&self, name: &str, query: &str, input: &Value) -> String {
        let answer = self
            .client
            .post_json(&self.api(&format!("/workflow/{name}{query}")), input)
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
        assert!(answer.content_type().starts_with("text/plain"));
        answer.text()
    }

    /// `GET /api/workflow/{id}` as JSON (200 expected).
    pub async fn workflow(&self, id: &str) -> Value {
        let answer = self.client.get(&self.api(&format!("/workflow/{id}"))).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
        answer.json()
    }

    /// Polls one task of `task_type` (waiting up to 1 s); panics when none comes.
    pub async fn take(&self, task_type: &str, extra: &str) -> Task {
        let mut tasks = self.batch(task_type, 1, 1000, extra).await;
        assert_eq!(tasks.len(), 1, "no {task_type} task to poll");
        tasks.remove(0)
    }
}

/// Polls `condition` every 10 ms until it holds or `limit` passes; returns whether it held.
pub async fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
