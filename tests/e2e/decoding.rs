use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use baton::model::{JsonMap, Task, TaskDef, TaskStatus};
use baton::{FnWorker, Json};
use baton_mock::{EnqueueRequest, ExternalPayload, FaultAction, FaultRule, MockServer};
use baton_tests::{host_for, mock, rewriting_proxy, wait_for, wait_for_terminal};
use bytes::Bytes;
use serde_json::Value;

/// Thirty digits: beyond 64 (and 96) bits.
const BIG: &str = "123456789012345678901234567890";

/// A definition whose tasks are not retried, so a FAILED task stays failed.
fn no_retries(name: &str) -> TaskDef {
    let mut def = TaskDef::new(name);
    def.retry_count = 0;
    def
}

/// A worker that completes each task with its input as output.
fn echo(task_type: &str) -> FnWorker {
    FnWorker::new(task_type, |task: Task| async move { Json(task.input_data) })
}

fn parsed(text: &str) -> JsonMap {
    serde_json::from_str(text).unwrap()
}

#[tokio::test]
async fn one_undecodable_task_is_posted_failed_and_the_rest_of_its_batch_runs() {
    let mock = mock().await;
    let enqueued = mock.enqueue(EnqueueRequest::new("mixed", 5).task_def(no_retries("mixed")));
    let spoiled: String = enqueued.task_ids().nth(2).unwrap();
    let target = spoiled.clone();
    // Gives one task of each batch-poll answer a wrong-typed retryCount.
    let url = rewriting_proxy(
        &mock,
        Arc::new(move |path: &str, body: Bytes| {
            if !path.contains("/tasks/poll/batch/") {
                return body;
            }
            let mut tasks: Vec<Value> = serde_json::from_slice(&body).unwrap();
            for task in &mut tasks {
                if task["taskId"] == target.as_str() {
                    task["retryCount"] = Value::from("x");
                }
            }
            Bytes::from(serde_json::to_vec(&tasks).unwrap())
        }),
    )
    .await;
    let host = host_for(&mock)
        .server_url(url)
        .update_v2(false)
        .worker(echo("mixed").concurrency(8))
        .build()
        .unwrap()
        .start()
        .unwrap();

    let ledger = wait_for_terminal(&mock, 5).await;
    let status = host.status().workers[0].clone();
    host.shutdown_async().await;
    assert_eq!((ledger.completed, ledger.failed), (4, 1), "{ledger:?}");
    let failed = mock.core().task(&spoiled).unwrap();
    assert_eq!(failed.status, Some(TaskStatus::Failed));
    assert_eq!(
        failed.reason_for_incompletion.as_deref(),
        Some(r#"task could not be decoded: invalid type: string "x", expected i32 at retryCount"#)
    );
    assert_eq!(status.undecodable_tasks, 1, "{status:?}");
    assert_eq!(status.lost_tasks, 0, "{status:?}");
    assert_eq!(status.results_given_up, 0, "{status:?}");
}

#[tokio::test]
async fn a_30_digit_integer_comes_back_with_every_digit() {
    let mock = mock().await;
    let input = parsed(&format!(
        r#"{{"big": {BIG}, "negative": -{BIG}, "small": 7}}"#
    ));
    let enqueued = mock.enqueue(EnqueueRequest::new("digits", 3).input(input));
    let host = baton_tests::start_host(&mock, [echo("digits").into()]);

    let ledger = wait_for_terminal(&mock, 3).await;
    let status = host.status().workers[0].clone();
    host.shutdown_async().await;
    assert_eq!(ledger.completed, 3, "{ledger:?}");
    for task_id in enqueued.task_ids() {
        let output = mock.core().task(&task_id).unwrap().output_data;
        assert_eq!(output["big"].to_string(), BIG);
        assert_eq!(output["negative"].to_string(), format!("-{BIG}"));
        assert_eq!(output["small"], 7);
    }
    assert_eq!(status.undecodable_tasks, 0, "{status:?}");
}

#[tokio::test]
async fn a_poll_answer_that_is_not_json_is_counted_and_backed_off() {
    let mock = mock().await;
    mock.install_faults([FaultRule::new("batch_poll", FaultAction::Malformed).first(3)]);
    let started = Instant::now();
    let host = host_for(&mock)
        .worker(echo("garbled"))
        .build()
        .unwrap()
        .start()
        .unwrap();
    wait_for("three bad answers", || async {
        host.status().workers[0].bad_answers >= 3
    })
    .await;
    // Two error backoffs (≥ 125 ms and ≥ 250 ms with jitter) separate the three polls.
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(350), "{elapsed:?}");

    mock.enqueue(EnqueueRequest::new("garbled", 4));
    wait_for_terminal(&mock, 4).await;
    let status = host.status().workers[0].clone();
    assert!(host.shutdown_async().await.clean);
    assert_eq!(status.bad_answers, 3, "{status:?}");
    assert!(status.poll_errors >= 3, "{status:?}");
    assert_eq!(mock.ledger().completed, 4);
}

#[tokio::test]
async fn an_oversize_answer_halves_the_poll_count_until_answers_fit_again() {
    let mock = MockServer::builder()
        .sweeper_period(Duration::from_millis(50))
        .start()
        .await
        .unwrap();
    let mut def = TaskDef::new("bulky");
    def.response_timeout_seconds = 1; // the oversize answer's tasks come back soon
    def.retry_delay_seconds = 0;
    def.retry_count = 3;
    mock.enqueue(EnqueueRequest::new("bulky", 8).task_def(def));
    // Records the count every batch poll asks for, and pads the first answer with tasks past
    // the limit (whitespace: still valid JSON).
    let counts = Arc::new(Mutex::new(Vec::new()));
    let padded = Arc::new(AtomicBool::new(false));
    let seen = counts.clone();
    let url = rewriting_proxy(
        &mock,
        Arc::new(move |path: &str, body: Bytes| {
            let Some(query) = path.split_once("/tasks/poll/batch/").map(|(_, q)| q) else {
                return body;
            };
            let count = query
                .split("count=")
                .nth(1)
                .and_then(|c| c.split('&').next());
            seen.lock()
                .unwrap()
                .push(count.unwrap().parse::<usize>().unwrap());
            if body.len() > 2 && !padded.swap(true, Ordering::SeqCst) {
                let mut inflated = body.to_vec();
                inflated.resize(body.len() + 20_000, b' ');
                return Bytes::from(inflated);
            }
            body
        }),
    )
    .await;
    let host = host_for(&mock)
        .server_url(url)
        .max_response_bytes(16_384) // eight of these tasks take about 6 KB
        .update_v2(false)
        .worker(
            echo("bulky")
                .concurrency(8)
                .batch_size(8)
                .poll_timeout(Duration::from_millis(1))
                .polling_interval(Duration::from_millis(2)),
        )
        .build()
        .unwrap()
        .start()
        .unwrap();

    // The padded answer's tasks are lost, time out and come back as retries, which fit.
    wait_for_terminal(&mock, 8).await;
    // Empty polls fit too: after 100 of them the poller asks for full batches again.
    wait_for("full batches again", || async {
        counts.lock().unwrap().iter().skip(1).any(|&c| c == 8)
    })
    .await;
    let status = host.status().workers[0].clone();
    host.shutdown_async().await;
    let counts = counts.lock().unwrap().clone();
    assert_eq!(counts[0], 8, "{counts:?}");
    assert_eq!(counts[1], 4, "{counts:?}");
    // Polls ask for 4 until 100 answers fit (empty ones included), then for 8 again.
    let restored = counts[1..].iter().position(|&c| c == 8).unwrap() + 1;
    assert!(restored > 100, "{counts:?}"); // counts[1..restored]: at least 100 polls of 4
    assert!(counts[1..restored].iter().all(|&c| c == 4), "{counts:?}");
    assert_eq!(status.oversize_answers, 1, "{status:?}");
    assert_eq!(mock.ledger().completed, 8);
}

#[tokio::test]
async fn externalized_inputs_are_fetched_and_a_failed_fetch_fails_the_task() {
    let mock = mock().await;
    let input = parsed(&format!(r#"{{"big": {BIG}, "name": "stored"}}"#));
    let stored = mock
        .enqueue_external(
            EnqueueRequest::new("outside", 1)
                .input(input)
                .task_def(no_retries("outside")),
            ExternalPayload::Stored,
        )
        .unwrap();
    let missing = mock
        .enqueue_external(
            EnqueueRequest::new("outside", 1).task_def(no_retries("outside")),
            ExternalPayload::Missing,
        )
        .unwrap();
    let seen_inputs = Arc::new(Mutex::new(Vec::new()));
    let sink = seen_inputs.clone();
    let worker = FnWorker::new("outside", move |task: Task| {
        let sink = sink.clone();
        async move {
            sink.lock().unwrap().push(task.input_data.clone());
            Json(task.input_data)
        }
    });
    let host = baton_tests::start_host(&mock, [worker.into()]);

    let ledger = wait_for_terminal(&mock, 2).await;
    let status = host.status().workers[0].clone();
    host.shutdown_async().await;
    assert_eq!((ledger.completed, ledger.failed), (1, 1), "{ledger:?}");
    let done = mock.core().task(&stored.enqueued.first_task_id).unwrap();
    assert_eq!(done.status, Some(TaskStatus::Completed));
    assert_eq!(done.output_data["big"].to_string(), BIG);
    assert_eq!(done.output_data["name"], "stored");
    let failed = mock.core().task(&missing.enqueued.first_task_id).unwrap();
    assert_eq!(failed.status, Some(TaskStatus::Failed));
    let reason = failed.reason_for_incompletion.unwrap_or_default();
    assert!(reason.contains(&missing.path), "{reason}");
    assert!(reason.contains("404"), "{reason}");
    // The worker never saw an empty input.
    assert_eq!(seen_inputs.lock().unwrap().len(), 1);
    assert_eq!(
        (status.external_inputs, status.external_input_failures),
        (1, 1),
        "{status:?}"
    );
}

#[tokio::test]
async fn an_oversize_output_is_posted_failed_with_terminal_error_and_its_size() {
    let mock = mock().await;
    let mut big = JsonMap::new();
    big.insert("blob".into(), Value::from("z".repeat(3000)));
    let large = mock.enqueue(EnqueueRequest::new("chatty", 1).input(big.clone()));
    let small = mock.enqueue(EnqueueRequest::new("chatty", 1));
    let host = host_for(&mock)
        .max_output_bytes(2048)
        .worker(echo("chatty"))
        .build()
        .unwrap()
        .start()
        .unwrap();

    let ledger = wait_for_terminal(&mock, 2).await;
    let status = host.status().workers[0].clone();
    host.shutdown_async().await;
    assert_eq!(
        (ledger.completed, ledger.failed_terminal),
        (1, 1),
        "{ledger:?}"
    );
    let refused = mock.core().task(&large.first_task_id).unwrap();
    assert_eq!(refused.status, Some(TaskStatus::FailedWithTerminalError));
    assert!(refused.output_data.is_empty());
    let size = serde_json::to_vec(&big).unwrap().len();
    let reason = refused.reason_for_incompletion.unwrap_or_default();
    assert!(
        reason.contains(&format!("output of {size} bytes")),
        "{reason}"
    );
    assert!(reason.contains("2048"), "{reason}");
    let fine = mock.core().task(&small.first_task_id).unwrap();
    assert_eq!(fine.status, Some(TaskStatus::Completed));
    assert_eq!(status.oversize_outputs, 1, "{status:?}");
}
