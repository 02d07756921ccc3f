//! The fixture: a mock plus the shared test client (`baton_mock::test_util`), with shortcuts for
//! the mock's endpoints.

use baton_mock::{EnqueueRequest, Enqueued, MockServer};
use baton_model::{Task, TaskResult};
use hyper::StatusCode;
use serde_json::Value;

pub use baton_mock::test_util::{Answer, Client, eventually};

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
