use std::time::{Duration, Instant};

use baton_mock::{EnqueueRequest, MockServer};
use baton_model::{JsonMap, RetryLogic, TaskDef, TaskResult, TaskResultStatus, TaskStatus};
use hyper::StatusCode;
use serde_json::json;

use crate::common::{Fixture, eventually};

fn def(retry_count: i32, retry_delay_seconds: i64) -> TaskDef {
    let mut def = TaskDef::new("ignored");
    def.retry_count = retry_count;
    def.retry_delay_seconds = retry_delay_seconds;
    def
}

#[tokio::test]
async fn update_answers_the_bare_task_id_as_text() {
    let f = Fixture::start().await;
    f.enqueue("encode", 1);
    let task = f.batch("encode", 1, 0, "").await.remove(0);
    let answer = f
        .update(&TaskResult::completed(&task, JsonMap::new()).with_output("ok", true))
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.content_type().starts_with("text/plain"));
    assert_eq!(answer.text(), task.task_id);
    let stored = f
        .client
        .get(&f.api(&format!("/tasks/{}", task.task_id)))
        .await
        .task();
    assert_eq!(stored.status, Some(TaskStatus::Completed));
    assert_eq!(stored.output_data["ok"], true);
    assert!(stored.end_time >= stored.start_time);
    let ledger = f.mock.ledger();
    assert_eq!((ledger.completed, ledger.in_flight, ledger.lost), (1, 0, 0));
    assert_eq!(ledger.latency_samples, 1);
}

#[tokio::test]
async fn duplicate_and_late_updates_are_counted_200_no_ops() {
    let f = Fixture::with(MockServer::builder().keep_ended(0)).await;
    f.enqueue("encode", 1);
    let task = f.batch("encode", 1, 0, "").await.remove(0);
    let done = TaskResult::completed(&task, JsonMap::new()).with_output("n", 1);
    assert_eq!(f.update(&done).await.text(), task.task_id);
    // The task is evicted (keep_ended = 0); repeats are still recognised.
    let again = f.update(&done).await;
    assert_eq!(
        (again.status, again.text()),
        (StatusCode::OK, task.task_id.clone())
    );
    let conflicting = f
        .update(&TaskResult::failed(&task, "changed my mind"))
        .await;
    assert_eq!(conflicting.status, StatusCode::OK);
    let ledger = f.mock.ledger();
    assert_eq!(ledger.duplicate_identical, 1);
    assert_eq!(ledger.duplicate_conflicting, 1);
    assert_eq!((ledger.completed, ledger.failed, ledger.retried), (1, 0, 0));
    assert_eq!(f.mock.core().queue_size("encode", None), 0);
}

#[tokio::test]
async fn unknown_workflow_or_task_is_404_with_the_server_messages() {
    let f = Fixture::start().await;
    let enqueued = f.enqueue("encode", 1);
    let bad_wf = TaskResult::new(
        &enqueued.first_task_id,
        "wf-nope",
        TaskResultStatus::Completed,
    );
    let answer = f.update(&bad_wf).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(
        answer.json()["message"],
        "No such workflow found by id: wf-nope"
    );
    let bad_task = TaskResult::new(
        "t-nope",
        &enqueued.workflow_instance_id,
        TaskResultStatus::Completed,
    );
    let answer = f.update(&bad_task).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.json()["message"], "No such task found by id: t-nope");
    assert_eq!(answer.json()["status"], 404);
    // An id of our shape but never issued is unknown too.
    let unissued = baton_mock::ids::task_id(999_999);
    let answer = f
        .update(&TaskResult::new(
            &unissued,
            &enqueued.workflow_instance_id,
            TaskResultStatus::Completed,
        ))
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(f.mock.ledger().unknown_ids, 3);
}

#[tokio::test]
async fn missing_ids_are_400_with_two_validation_errors() {
    let f = Fixture::start().await;
    let answer = f.client.post_raw(&f.api("/tasks"), "{}").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let body = answer.json();
    assert_eq!(
        body["message"],
        "Validation failed, check below errors for detail."
    );
    let errors = body["validationErrors"].as_array().unwrap();
    assert_eq!(errors.len(), 2);
    let messages: Vec<&str> = errors
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert!(messages.contains(&"Workflow Id cannot be null or empty"));
    assert!(messages.contains(&"Task ID cannot be null or empty"));
}

#[tokio::test]
async fn malformed_json_is_500_and_the_server_keeps_serving() {
    let f = Fixture::start().await;
    for body in [
        "{not json",
        "[1,2",
        r#"{"taskId":"x","workflowInstanceId":"y","status":"DONE"}"#,
    ] {
        let answer = f.client.post_raw(&f.api("/tasks"), body).await;
        assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
        assert_eq!(answer.json()["status"], 500);
    }
    f.enqueue("encode", 1);
    assert_eq!(f.batch("encode", 1, 0, "").await.len(), 1);
}

#[tokio::test]
async fn in_progress_requeues_the_same_task_after_the_callback_delay() {
    let f = Fixture::start().await;
    f.enqueue("encode", 1);
    let task = f.batch("encode", 1, 0, "").await.remove(0);
    let answer = f
        .update(&TaskResult::in_progress(&task, 1).with_output("progress", 0.5))
        .await;
    assert_eq!(answer.text(), task.task_id);
    let stored = f.mock.core().task(&task.task_id).unwrap();
    assert_eq!(stored.status, Some(TaskStatus::Scheduled));
    assert!(
        f.batch("encode", 1, 0, "").await.is_empty(),
        "handed out before the callback"
    );
    let started = Instant::now();
    let again = f.batch("encode", 1, 3000, "").await.remove(0);
    assert_eq!(again.task_id, task.task_id);
    assert_eq!(again.poll_count, 2);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(800),
        "re-queued after {waited:?}"
    );
    // callbackAfterSeconds = 0: pollable again at once.
    f.update(&TaskResult::in_progress(&again, 0)).await;
    assert_eq!(f.batch("encode", 1, 0, "").await[0].task_id, task.task_id);
    assert_eq!(f.mock.ledger().in_progress_updates, 2);
}

#[tokio::test]
async fn failed_creates_a_new_task_after_the_retry_delay() {
    let f = Fixture::start().await;
    f.mock
        .enqueue(EnqueueRequest::new("encode", 1).task_def(def(1, 1)));
    let first = f.batch("encode", 1, 0, "").await.remove(0);
    f.update(&TaskResult::failed(&first, "boom")).await;
    assert!(
        f.batch("encode", 1, 0, "").await.is_empty(),
        "retried before the delay"
    );
    let started = Instant::now();
    let retry = f.batch("encode", 1, 3000, "").await.remove(0);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(800),
        "retried after {waited:?}"
    );
    assert_ne!(retry.task_id, first.task_id);
    assert_eq!(retry.retry_count, 1);
    assert_eq!(
        retry.retried_task_id.as_deref(),
        Some(first.task_id.as_str())
    );
    assert_eq!(retry.reason_for_incompletion.as_deref(), Some("boom"));
    assert_eq!(retry.workflow_id(), first.workflow_id());
    let old = f.mock.core().task(&first.task_id).unwrap();
    assert!(old.retried);
    assert_eq!(old.status, Some(TaskStatus::Failed));
    // Retries exhausted: no new task.
    f.update(&TaskResult::failed(&retry, "boom again")).await;
    assert!(f.batch("encode", 1, 1200, "").await.is_empty());
    let ledger = f.mock.ledger();
    assert_eq!((ledger.failed, ledger.retried), (2, 1));
}

#[tokio::test]
async fn retry_delays_follow_the_retry_logic_and_jitter() {
    let f = Fixture::with(MockServer::builder().seed(3)).await;
    let mut exponential = def(5, 100);
    exponential.retry_logic = RetryLogic::ExponentialBackoff;
    exponential.backoff_jitter_ms = 500;
    f.mock
        .enqueue(EnqueueRequest::new("exp", 1).task_def(exponential));
    let task = f.batch("exp", 1, 0, "").await.remove(0);
    f.update(&TaskResult::failed(&task, "x")).await;
    let delay = f
        .mock
        .core()
        .next_due_in(&baton_mock::QueueKey::new("exp", None::<String>))
        .unwrap();
    // Attempt 0 of EXPONENTIAL_BACKOFF: 100 s × 2^0, plus 0..=500 ms of jitter.
    assert!(
        delay > Duration::from_secs(99) && delay <= Duration::from_millis(100_500),
        "{delay:?}"
    );
    let retry = f.mock.core().task(&baton_mock::ids::task_id(2)).unwrap();
    assert_eq!(retry.start_delay_in_seconds, 100);
    assert_eq!(retry.callback_after_seconds, 100);
}

#[tokio::test]
async fn failed_with_terminal_error_is_never_retried() {
    let f = Fixture::start().await;
    f.mock
        .enqueue(EnqueueRequest::new("encode", 1).task_def(def(3, 0)));
    let task = f.batch("encode", 1, 0, "").await.remove(0);
    f.update(&TaskResult::failed_terminal(&task, "fatal")).await;
    assert!(f.batch("encode", 1, 300, "").await.is_empty());
    let ledger = f.mock.ledger();
    assert_eq!((ledger.failed_terminal, ledger.retried), (1, 0));
}

#[tokio::test]
async fn extend_lease_only_bumps_the_update_time() {
    let f = Fixture::start().await;
    f.enqueue("encode", 1);
    let task = f.batch("encode", 1, 0, "").await.remove(0);
    // The update time has millisecond resolution, and the mock's clock (its start's epoch plus
    // monotonic time, both truncated) may trail the wall clock by up to 1 ms: extend once the
    // wall clock is 2 ms past the poll.
    let now_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    };
    let moved = eventually(Duration::from_secs(5), async || {
        now_ms() > task.update_time + 2
    })
    .await;
    assert!(moved, "the clock never moved");
    let mut lease =
        TaskResult::for_task(&task, TaskResultStatus::Completed).with_output("ignored", 1);
    lease.extend_lease = true;
    let answer = f.update(&lease).await;
    assert_eq!(
        (answer.status, answer.text()),
        (StatusCode::OK, task.task_id.clone())
    );
    let stored = f.mock.core().task(&task.task_id).unwrap();
    assert_eq!(stored.status, Some(TaskStatus::InProgress));
    assert!(stored.output_data.is_empty());
    assert!(stored.update_time > task.update_time);
    assert_eq!(f.mock.ledger().lease_extensions, 1);
    // A lease for an unknown task is 404.
    let mut unknown = TaskResult::new("t-nope", "wf", TaskResultStatus::InProgress);
    unknown.extend_lease = true;
    assert_eq!(f.update(&unknown).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_sweeper_times_out_silent_tasks_and_retries_them() {
    let f = Fixture::with(MockServer::builder().sweeper_period(Duration::from_millis(50))).await;
    let mut short = def(1, 0);
    short.response_timeout_seconds = 1;
    f.mock
        .enqueue(EnqueueRequest::new("encode", 1).task_def(short));
    let task = f.batch("encode", 1, 0, "").await.remove(0);
    let core = f.mock.core();
    assert!(
        eventually(Duration::from_secs(5), async || core.ledger().timed_out
            == 1)
        .await,
        "never timed out"
    );
    let old = core.task(&task.task_id).unwrap();
    assert_eq!(old.status, Some(TaskStatus::TimedOut));
    assert_eq!(
        old.reason_for_incompletion.as_deref(),
        Some(
            format!(
                "responseTimeout: 1 exceeded for the taskId: {}",
                task.task_id
            )
            .as_str()
        )
    );
    let retry = f.batch("encode", 1, 1000, "").await.remove(0);
    assert_eq!(
        retry.retried_task_id.as_deref(),
        Some(task.task_id.as_str())
    );
    // The worker's late answer is a counted 200 no-op.
    let late = f
        .update(&TaskResult::completed(&task, JsonMap::new()))
        .await;
    assert_eq!(late.status, StatusCode::OK);
    let ledger = f.mock.ledger();
    assert_eq!(
        (ledger.late_updates, ledger.completed, ledger.lost),
        (1, 0, 1)
    );
}

#[tokio::test]
async fn outputs_over_the_payload_limit_end_failed_with_terminal_error() {
    let f = Fixture::with(MockServer::builder().max_output_bytes(1000)).await;
    f.enqueue("encode", 1);
    let task = f.batch("encode", 1, 0, "").await.remove(0);
    let big = TaskResult::completed(&task, JsonMap::new()).with_output("blob", "x".repeat(2000));
    let answer = f.update(&big).await;
    assert_eq!(
        (answer.status, answer.text()),
        (StatusCode::OK, task.task_id.clone())
    );
    let stored = f.mock.core().task(&task.task_id).unwrap();
    assert_eq!(stored.status, Some(TaskStatus::FailedWithTerminalError));
    assert!(stored.output_data.is_empty());
    let reason = stored.reason_for_incompletion.unwrap();
    assert!(reason.starts_with("The payload size: "), "{reason}");
    assert!(
        reason.ends_with("is greater than the permissible limit: 1000 bytes"),
        "{reason}"
    );
    assert_eq!(f.mock.ledger().payload_too_large, 1);
}

#[tokio::test]
async fn update_v2_answers_the_next_task_or_204() {
    let f = Fixture::start().await;
    f.enqueue("encode", 2);
    let first = f.batch("encode", 1, 0, "").await.remove(0);
    let url = f.api("/tasks/update-v2");
    let done = TaskResult::completed(&first, JsonMap::new()).with_worker_id("w2");
    let next = f.client.post_json(&url, &done).await.task();
    assert_ne!(next.task_id, first.task_id);
    assert_eq!(next.worker_id.as_deref(), Some("w2"));
    // IN_PROGRESS: 204, no hand-out.
    let answer = f
        .client
        .post_json(&url, &TaskResult::in_progress(&next, 60))
        .await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    // Nothing left: 204 after the single-poll wait.
    let other = f.batch("encode", 1, 0, "").await;
    assert!(other.is_empty());
    f.enqueue("solo", 1);
    let solo = f.batch("solo", 1, 0, "").await.remove(0);
    let answer = f
        .client
        .post_json(&url, &TaskResult::completed(&solo, JsonMap::new()))
        .await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    assert_eq!(f.mock.ledger().completed, 2);
}

#[tokio::test]
async fn update_v2_is_404_when_turned_off() {
    let f = Fixture::with(MockServer::builder().update_v2(false)).await;
    f.enqueue("encode", 1);
    let task = f.batch("encode", 1, 0, "").await.remove(0);
    let done = TaskResult::completed(&task, JsonMap::new());
    let answer = f.client.post_json(&f.api("/tasks/update-v2"), &done).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.json()["status"], 404);
    // The v1 fallback still works and the task was not touched by the 404.
    assert_eq!(f.update(&done).await.status, StatusCode::OK);
    assert_eq!(f.mock.ledger().completed, 1);
}

#[tokio::test]
async fn result_logs_are_stored_with_the_task_id() {
    let f = Fixture::start().await;
    f.enqueue("encode", 1);
    let task = f.batch("encode", 1, 0, "").await.remove(0);
    let mut result = TaskResult::completed(&task, JsonMap::new());
    for i in 0..12 {
        result = result.with_log(baton_model::TaskExecLog::new(
            format!("line {i}"),
            "other",
            0,
        ));
    }
    f.update(&result).await;
    let logs = f
        .client
        .get(&f.api(&format!("/tasks/{}/log", task.task_id)))
        .await
        .json();
    let logs = logs.as_array().unwrap();
    assert_eq!(logs.len(), 10, "the server keeps 10 per update");
    assert_eq!(logs[0]["taskId"], json!(task.task_id));
    assert_eq!(logs[0]["log"], "line 0");
}

#[tokio::test]
async fn update_v2_answers_missing_ids_with_500_and_duplicates_with_the_next_task() {
    let f = Fixture::start().await;
    let url = f.api("/tasks/update-v2");
    // The server validates update-v2 with @Valid, whose failure is not mapped: 500.
    let answer = f.client.post_raw(&url, "{}").await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    f.enqueue("encode", 2);
    let first = f.batch("encode", 1, 0, "").await.remove(0);
    let done = TaskResult::completed(&first, JsonMap::new());
    assert_eq!(f.update(&done).await.status, StatusCode::OK);
    // A duplicate is a no-op for the task, but update-v2 still polls and hands out the next.
    let next = f.client.post_json(&url, &done).await.task();
    assert_ne!(next.task_id, first.task_id);
    assert_eq!(f.mock.ledger().duplicate_identical, 1);
}

#[tokio::test]
async fn numbers_in_inputs_and_outputs_keep_their_exact_digits() {
    let f = Fixture::start().await;
    let big = "123456789012345678901234567890";
    let body = format!(r#"{{"taskType": "digits", "input": {{"big": {big}, "price": 0.10}}}}"#);
    let answer = f
        .client
        .send(
            hyper::Method::POST,
            &f.admin("/enqueue"),
            "application/json",
            body,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let polled = f
        .client
        .get(&f.api("/tasks/poll/batch/digits?count=1&timeout=0"))
        .await
        .text();
    assert!(polled.contains(&format!(r#""big":{big}"#)), "{polled}");
    assert!(polled.contains(r#""price":0.10"#), "{polled}");

    let task = f.batch("digits", 1, 0, "").await;
    assert!(task.is_empty());
    let id = answer.json()["firstTaskId"].as_str().unwrap().to_owned();
    let workflow = answer.json()["workflowInstanceId"]
        .as_str()
        .unwrap()
        .to_owned();
    let result = format!(
        r#"{{"taskId": "{id}", "workflowInstanceId": "{workflow}", "status": "COMPLETED",
            "outputData": {{"echo": -{big}}}}}"#
    );
    let posted = f
        .client
        .send(
            hyper::Method::POST,
            &f.api("/tasks"),
            "application/json",
            result,
        )
        .await;
    assert_eq!(posted.status, StatusCode::OK, "{}", posted.text());
    let stored = f.mock.core().task(&id).unwrap();
    assert_eq!(stored.output_data["echo"].to_string(), format!("-{big}"));
    let read = f.client.get(&f.api(&format!("/tasks/{id}"))).await.text();
    assert!(read.contains(&format!(r#""echo":-{big}"#)), "{read}");
}
