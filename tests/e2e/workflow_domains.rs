use std::time::Duration;

use baton::FnWorker;
use baton::model::Task;
use baton_mock::MockServer;
use baton_tests::{call, host_for, wait_for};
use serde_json::{Value, json};

async fn mock_with_short_window() -> MockServer {
    MockServer::builder()
        .active_domain_window(Duration::from_secs(2))
        .sweeper_period(Duration::from_millis(50))
        .start()
        .await
        .unwrap()
}

async fn register(mock: &MockServer) {
    let def = json!({
        "name": "routing", "version": 1, "ownerEmail": "test@example.com",
        "tasks": [{"name": "routed", "taskReferenceName": "routed_ref", "type": "SIMPLE"}]
    });
    let (status, body) = call(
        "POST",
        &format!("{}/metadata/workflow", mock.base_url()),
        Some(def),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

async fn start(mock: &MockServer, task_to_domain: Value) -> String {
    let request =
        json!({"name": "routing", "version": 1, "input": {}, "taskToDomain": task_to_domain});
    let (status, body) = call(
        "POST",
        &format!("{}/workflow", mock.base_url()),
        Some(request),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body.as_str().unwrap().to_owned()
}

async fn workflow(mock: &MockServer, id: &str) -> Value {
    let (status, body) = call("GET", &format!("{}/workflow/{id}", mock.base_url()), None).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn completed_by(mock: &MockServer, id: &str) -> (String, Option<String>) {
    wait_for("the workflow to complete", || async {
        workflow(mock, id).await["status"] == "COMPLETED"
    })
    .await;
    let task = &workflow(mock, id).await["tasks"][0];
    (
        task["workerId"].as_str().unwrap_or_default().to_owned(),
        task["domain"].as_str().map(str::to_owned),
    )
}

#[tokio::test]
async fn task_to_domain_routes_to_the_first_active_domain() {
    let mock = mock_with_short_window().await;
    register(&mock).await;
    let worker = |id: &str| FnWorker::blocking("routed", |_: Task| ()).worker_id(id);
    let host = host_for(&mock)
        .worker(worker("blue-worker").domain("blue"))
        .worker(worker("plain-worker"))
        .build()
        .unwrap()
        .start()
        .unwrap();
    // A domain is active once a poll of it has returned.
    wait_for("both workers to have polled", || async {
        host.status().workers.iter().all(|w| w.polls >= 2)
    })
    .await;

    // "red" has no poller; "blue" is active: blue wins.
    let id = start(&mock, json!({"routed": "red,blue"})).await;
    assert_eq!(
        completed_by(&mock, &id).await,
        ("blue-worker".into(), Some("blue".into()))
    );

    // "*" applies to every task type.
    let id = start(&mock, json!({"*": "blue"})).await;
    assert_eq!(completed_by(&mock, &id).await.0, "blue-worker");

    // Nothing active and NO_DOMAIN last: the plain queue.
    let id = start(&mock, json!({"routed": "gray,NO_DOMAIN"})).await;
    assert_eq!(
        completed_by(&mock, &id).await,
        ("plain-worker".into(), None)
    );

    // Nothing active: the last domain, even though nobody polls it; no fallback at poll time.
    let id = start(&mock, json!({"routed": "gray,green"})).await;
    wait_for("the task to be scheduled", || async {
        workflow(&mock, &id).await["tasks"][0]["domain"] == "green"
    })
    .await;
    // Absence over a window: let both workers poll several more times, then look.
    let polled: Vec<u64> = host.status().workers.iter().map(|w| w.polls).collect();
    wait_for("several more polls of both workers", || async {
        let now = host.status().workers;
        now.iter()
            .zip(&polled)
            .all(|(w, before)| w.polls >= before + 3)
    })
    .await;
    let running = workflow(&mock, &id).await;
    assert_eq!(running["status"], "RUNNING");
    assert_eq!(running["tasks"][0]["status"], "SCHEDULED");
    host.shutdown_async().await;
}
