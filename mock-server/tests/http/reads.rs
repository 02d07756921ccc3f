use baton_model::TaskStatus;
use hyper::{Method, StatusCode};
use serde_json::json;

use crate::common::Fixture;

#[tokio::test]
async fn get_task_returns_the_task_or_404() {
    let f = Fixture::start().await;
    let enqueued = f.enqueue("encode", 1);
    let task = f
        .client
        .get(&f.api(&format!("/tasks/{}", enqueued.first_task_id)))
        .await
        .task();
    assert_eq!(task.status, Some(TaskStatus::Scheduled));
    assert_eq!(task.task_type, "encode");
    let answer = f.client.get(&f.api("/tasks/nope")).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.json()["message"], "Task not found for taskId: nope");
}

#[tokio::test]
async fn logs_are_raw_text_and_listed_or_204() {
    let f = Fixture::start().await;
    let url = f.api("/tasks/any-id/log");
    assert_eq!(f.client.get(&url).await.status, StatusCode::NO_CONTENT);
    // The server stores the raw body and does not check that the task exists.
    let answer = f
        .client
        .send(Method::POST, &url, "application/json", "step \"1\" done")
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.body.is_empty());
    f.client
        .send(Method::POST, &url, "text/plain", "second")
        .await;
    let logs = f.client.get(&url).await.json();
    assert_eq!(logs.as_array().unwrap().len(), 2);
    assert_eq!(logs[0]["log"], "step \"1\" done");
    assert_eq!(logs[0]["taskId"], "any-id");
    assert!(logs[1]["createdTime"].as_i64().unwrap() > 0);
}

#[tokio::test]
async fn queue_sizes_count_due_and_delayed_tasks() {
    let f = Fixture::start().await;
    f.enqueue("encode", 3);
    f.mock
        .enqueue(baton_mock::EnqueueRequest::new("encode", 2).domain("gpu"));
    let size = f
        .client
        .get(&f.api("/tasks/queue/size?taskType=encode"))
        .await;
    assert_eq!(size.json(), json!(3));
    let gpu = f
        .client
        .get(&f.api("/tasks/queue/size?taskType=encode&domain=gpu"))
        .await;
    assert_eq!(gpu.json(), json!(2));
    let sizes = f
        .client
        .get(&f.api("/tasks/queue/sizes?taskType=encode&taskType=other"))
        .await;
    assert_eq!(sizes.json(), json!({"encode": 3, "other": 0}));
    let all = f.client.get(&f.api("/tasks/queue/all")).await;
    assert_eq!(all.json(), json!({"encode": 3, "gpu:encode": 2}));
    let verbose = f.client.get(&f.api("/tasks/queue/all/verbose")).await;
    assert_eq!(verbose.json()["gpu:encode"]["a"]["size"], 2);
}

#[tokio::test]
async fn singular_task_paths_are_aliases() {
    let f = Fixture::start().await;
    f.enqueue("encode", 1);
    let task = f
        .client
        .get(&f.api("/task/poll/encode?workerid=swift"))
        .await
        .task();
    let result = baton_model::TaskResult::completed(&task, baton_model::JsonMap::new());
    let answer = f.client.post_json(&f.api("/task"), &result).await;
    assert_eq!(
        (answer.status, answer.text()),
        (StatusCode::OK, task.task_id.clone())
    );
    let batch = f
        .client
        .get(&f.api("/task/poll/batch/encode?timeout=0"))
        .await;
    assert_eq!(batch.text(), "[]");
}

#[tokio::test]
async fn ack_was_removed_so_it_is_404() {
    let f = Fixture::start().await;
    let answer = f
        .client
        .send(
            Method::POST,
            &f.api("/tasks/some-id/ack?workerid=w"),
            "",
            "",
        )
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.json()["status"], 404);
    let unknown = f.client.get(&f.api("/nothing/here")).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}
