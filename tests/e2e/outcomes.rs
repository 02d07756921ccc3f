use std::time::Duration;

use baton::model::{Task, TaskDef, TaskStatus};
use baton::{FnWorker, Input, Outcome, TaskContext, WorkerError};
use baton_mock::{EnqueueRequest, MockServer};
use baton_tests::{assert_exactly_once, mock, start_host, wait_for, wait_for_terminal};
use serde::Deserialize;
use serde_json::json;

/// A task definition without retries, so a failure stays the task's final state.
fn no_retries(name: &str) -> TaskDef {
    let mut def = TaskDef::new(name);
    def.retry_count = 0;
    def
}

fn one_task(mock: &MockServer, task_type: &str, input: serde_json::Value) -> String {
    let request = EnqueueRequest::new(task_type, 1)
        .task_def(no_retries(task_type))
        .input(input.as_object().cloned().unwrap_or_default());
    mock.enqueue(request).first_task_id
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Payment {
    amount: u64,
}

#[tokio::test]
async fn bad_typed_input_fails_naming_the_field() {
    let mock = mock().await;
    let task_id = one_task(&mock, "pay", json!({"amount": "ten"}));
    let worker = FnWorker::blocking("pay", |Input(payment): Input<Payment>| {
        format!("paid {payment:?}")
    });
    let host = start_host(&mock, [worker.into()]);

    let ledger = wait_for_terminal(&mock, 1).await;
    assert_eq!(ledger.failed, 1);
    let task = mock.core().task(&task_id).unwrap();
    assert_eq!(task.status, Some(TaskStatus::Failed));
    let reason = task.reason_for_incompletion.unwrap();
    assert!(reason.contains("amount"), "{reason}");
    assert!(reason.contains("invalid type"), "{reason}");
    host.shutdown_async().await;
}

#[tokio::test]
async fn errors_fail_and_terminal_errors_fail_for_good() {
    let mock = mock().await;
    let retryable = one_task(&mock, "flaky", json!({"terminal": false}));
    let terminal = one_task(&mock, "flaky", json!({"terminal": true}));
    let worker = FnWorker::new("flaky", |task: Task| async move {
        if task.input_data["terminal"] == true {
            Err(WorkerError::terminal("card declined"))
        } else {
            Err::<(), _>(std::io::Error::other("connection reset").into())
        }
    })
    .concurrency(2);
    let host = start_host(&mock, [worker.into()]);

    let ledger = wait_for_terminal(&mock, 2).await;
    assert_eq!((ledger.failed, ledger.failed_terminal), (1, 1));
    let failed = mock.core().task(&retryable).unwrap();
    assert_eq!(failed.status, Some(TaskStatus::Failed));
    assert_eq!(
        failed.reason_for_incompletion.as_deref(),
        Some("connection reset")
    );
    let final_failure = mock.core().task(&terminal).unwrap();
    assert_eq!(
        final_failure.status,
        Some(TaskStatus::FailedWithTerminalError)
    );
    assert_eq!(
        final_failure.reason_for_incompletion.as_deref(),
        Some("card declined")
    );
    host.shutdown_async().await;
}

#[tokio::test]
async fn panicking_workers_post_failed_with_the_panic_message() {
    let mock = mock().await;
    let sync_task = one_task(&mock, "panics_sync", json!({}));
    let async_task = one_task(&mock, "panics_async", json!({}));
    let host = start_host(
        &mock,
        [
            FnWorker::blocking("panics_sync", |_: Task| -> () { panic!("sync boom") }).into(),
            FnWorker::new("panics_async", |_: Task| async {
                tokio::task::yield_now().await;
                if true {
                    panic!("async boom");
                }
            })
            .into(),
        ],
    );

    // The mock's response timeout is an hour: only the engine can have failed these tasks.
    let ledger = wait_for_terminal(&mock, 2).await;
    assert_eq!(ledger.failed, 2);
    for (task_id, message) in [(sync_task, "sync boom"), (async_task, "async boom")] {
        let task = mock.core().task(&task_id).unwrap();
        let reason = task.reason_for_incompletion.unwrap_or_default();
        assert_eq!(reason, format!("worker panicked: {message}"));
    }
    // The workers keep running after a panic.
    let next = one_task(&mock, "panics_sync", json!({}));
    wait_for_terminal(&mock, 3).await;
    assert_eq!(
        mock.core().task(&next).unwrap().status,
        Some(TaskStatus::Failed)
    );
    host.shutdown_async().await;
}

#[tokio::test]
async fn in_progress_hands_the_same_task_back_later() {
    let mock = mock().await;
    let task_id = one_task(&mock, "long_job", json!({}));
    let worker = FnWorker::blocking("long_job", |task: Task, ctx: TaskContext| {
        if ctx.poll_count() < 2 {
            Outcome::in_progress(Duration::ZERO).with_output("step", 1)
        } else {
            Outcome::completed()
                .with_output("step", 2)
                .with_output("id", task.task_id)
        }
    });
    let host = start_host(&mock, [worker.into()]);

    let ledger = wait_for_terminal(&mock, 1).await;
    assert_eq!(ledger.in_progress_updates, 1);
    assert_eq!(ledger.completed, 1);
    assert_exactly_once(&ledger);
    let task = mock.core().task(&task_id).unwrap();
    assert_eq!(task.poll_count, 2);
    assert_eq!(task.output_data["step"], 2);
    assert_eq!(task.output_data["id"], task_id.as_str());
    host.shutdown_async().await;
}

#[tokio::test]
async fn in_progress_callback_delays_the_next_hand_out() {
    let mock = mock().await;
    let task_id = one_task(&mock, "wait_a_second", json!({}));
    let worker = FnWorker::blocking("wait_a_second", |_: Task, ctx: TaskContext| {
        if ctx.poll_count() < 2 {
            Outcome::in_progress(Duration::from_secs(1))
        } else {
            Outcome::completed()
        }
    })
    .polling_interval(Duration::from_millis(20));
    let host = start_host(&mock, [worker.into()]);

    wait_for("the IN_PROGRESS update", || async {
        mock.ledger().in_progress_updates == 1
    })
    .await;
    let requeued = std::time::Instant::now();
    wait_for_terminal(&mock, 1).await;
    assert!(requeued.elapsed() >= Duration::from_millis(900));
    assert_eq!(mock.core().task(&task_id).unwrap().poll_count, 2);
    host.shutdown_async().await;
}
