//! The wiremock front end (feature `wiremock`): the same core answers through a
//! `wiremock::MockServer`, with wiremock's journal and scripted responses in front.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use baton_mock::test_util::Client;
use baton_mock::wiremock::ConductorResponder;
use baton_model::{JsonMap, Task, TaskResult, WorkflowStatus};
use hyper::StatusCode;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn a_workflow_runs_through_wiremock_with_scripted_failures_in_front() {
    let server = MockServer::start().await;
    let conductor = ConductorResponder::new();
    let core = conductor.core().clone();
    // A scripted failure in front of the faithful answers: the first update gets 503.
    Mock::given(method("POST"))
        .and(path("/api/tasks"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(wiremock::matchers::any())
        .respond_with(conductor)
        .with_priority(5)
        .mount(&server)
        .await;
    let api = format!("{}/api", server.uri());
    let client = Client::new();

    let def = json!({"name": "w", "tasks": [{"name": "encode", "taskReferenceName": "e",
                     "inputParameters": {"file": "${workflow.input.file}"}}]});
    let registered = client
        .post_json(&format!("{api}/metadata/workflow"), &def)
        .await;
    assert_eq!(registered.status, StatusCode::OK);
    let started = client
        .post_json(&format!("{api}/workflow/w"), &json!({"file": "a.mp4"}))
        .await;
    assert_eq!(started.status, StatusCode::OK);
    assert!(started.content_type().starts_with("text/plain"));
    let id = started.text();

    // Polls answer at once: an empty single poll is a 204, a batch poll what is due.
    let empty = client.get(&format!("{api}/tasks/poll/other")).await;
    assert_eq!(empty.status, StatusCode::NO_CONTENT);
    let tasks: Vec<Task> = client
        .get(&format!(
            "{api}/tasks/poll/batch/encode?count=5&timeout=1000"
        ))
        .await
        .tasks();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].input_data["file"], "a.mp4");

    let done = TaskResult::completed(&tasks[0], JsonMap::new()).with_output("ok", true);
    let first = client.post_json(&format!("{api}/tasks"), &done).await;
    assert_eq!(first.status, StatusCode::SERVICE_UNAVAILABLE);
    let retry = client.post_json(&format!("{api}/tasks"), &done).await;
    assert_eq!(
        (retry.status, retry.text()),
        (StatusCode::OK, tasks[0].task_id.clone())
    );

    let workflow = core.workflow(&id, true).unwrap();
    assert_eq!(workflow.status, WorkflowStatus::Completed);
    assert_eq!(workflow.output["ok"], true);
    let unknown = client.get(&format!("{api}/workflow/nope")).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(
        unknown.json()["message"],
        "No such workflow found by id: nope"
    );
    let ledger = core.ledger();
    assert_eq!(
        (ledger.completed, ledger.lost, ledger.duplicate_identical),
        (1, 0, 0)
    );
    // wiremock's journal saw every request, the scripted one included.
    let journal = server.received_requests().await.unwrap();
    assert_eq!(journal.len(), 7);
}
