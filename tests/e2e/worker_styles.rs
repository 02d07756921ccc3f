use std::time::Duration;

use baton::config::WorkerOptions;
use baton::model::{Task, TaskResult, TaskResultStatus};
use baton::{FnWorker, Input, Json, Outcome, TaskContext, Worker, WorkerError};
use baton_mock::EnqueueRequest;
use baton_tests::{assert_exactly_once, mock, start_host, wait_for, wait_for_terminal};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[tokio::test]
async fn sync_function_worker_completes_every_task_once() {
    let mock = mock().await;
    let enqueued = mock.enqueue(EnqueueRequest::new("sync_fn", 500));
    let worker = FnWorker::blocking("sync_fn", |task: Task| {
        TaskResult::for_task(&task, TaskResultStatus::Completed).with_output("style", "sync")
    })
    .concurrency(8);
    let host = start_host(&mock, [worker.into()]);

    let ledger = wait_for_terminal(&mock, 500).await;
    assert_eq!(ledger.completed, 500);
    assert_exactly_once(&ledger);
    let last = mock.core().task(&enqueued.last_task_id).unwrap();
    assert_eq!(last.output_data["style"], "sync");
    assert!(last.worker_id.is_some());
    let report = host.shutdown_async().await;
    assert!(report.clean);
    assert_eq!(report.workers[0].results_posted, 500);
}

#[derive(Deserialize)]
struct Order {
    amount: u64,
    currency: String,
}

#[derive(Serialize)]
struct Receipt {
    charged: String,
}

#[tokio::test]
async fn async_typed_worker_decodes_input_and_encodes_output() {
    let mock = mock().await;
    let mut input = serde_json::Map::new();
    input.insert("amount".into(), json!(42));
    input.insert("currency".into(), json!("EUR"));
    let enqueued = mock.enqueue(EnqueueRequest::new("typed_async", 50).input(input));
    let worker = FnWorker::new("typed_async", |Input(order): Input<Order>| async move {
        tokio::task::yield_now().await;
        Ok::<_, WorkerError>(Json(Receipt {
            charged: format!("{} {}", order.amount, order.currency),
        }))
    })
    .concurrency(4);
    let host = start_host(&mock, [worker.into()]);

    let ledger = wait_for_terminal(&mock, 50).await;
    assert_eq!(ledger.completed, 50);
    assert_exactly_once(&ledger);
    let task = mock.core().task(&enqueued.first_task_id).unwrap();
    assert_eq!(task.output_data["charged"], "42 EUR");
    host.shutdown_async().await;
}

#[tokio::test]
async fn context_logs_are_posted_with_the_result() {
    let mock = mock().await;
    let enqueued = mock.enqueue(EnqueueRequest::new("logging", 3));
    let worker = FnWorker::new("logging", |task: Task, ctx: TaskContext| async move {
        ctx.add_log(format!("working on {}", task.task_id));
        ctx.add_log("done");
        Outcome::completed()
    });
    let host = start_host(&mock, [worker.into()]);

    wait_for_terminal(&mock, 3).await;
    for task_id in enqueued.task_ids() {
        let logs = mock.core().logs(&task_id);
        let lines: Vec<&str> = logs.iter().map(|l| l.log.as_str()).collect();
        assert_eq!(lines, [format!("working on {task_id}").as_str(), "done"]);
    }
    host.shutdown_async().await;
}

/// A worker written as a type, blocking, with settings overridden in code.
struct Thumbnail;

impl Worker for Thumbnail {
    fn task_type(&self) -> &str {
        "thumbnail"
    }

    async fn execute(&self, task: Task, ctx: TaskContext) -> Result<Outcome, WorkerError> {
        // Blocking work is fine here: this worker runs on its own threads...
        std::thread::sleep(Duration::from_millis(1));
        // ...and so is tokio.
        tokio::time::sleep(Duration::from_millis(1)).await;
        let on_pool = std::thread::current()
            .name()
            .is_some_and(|name| name.starts_with("baton-thumbnail-"));
        ctx.add_log("resized");
        Ok(Outcome::completed()
            .with_output("on_pool", on_pool)
            .with_output("retry", task.retry_count))
    }

    fn is_blocking(&self) -> bool {
        true
    }

    fn options(&self) -> WorkerOptions {
        WorkerOptions::default()
            .with_concurrency(3)
            .with_worker_id("thumbnailer-1")
    }
}

#[tokio::test]
async fn trait_worker_runs_on_its_own_pool_with_its_settings() {
    let mock = mock().await;
    let enqueued = mock.enqueue(EnqueueRequest::new("thumbnail", 30));
    let host = start_host(&mock, [Thumbnail.into()]);

    let ledger = wait_for_terminal(&mock, 30).await;
    assert_eq!(ledger.completed, 30);
    assert_exactly_once(&ledger);
    let task = mock.core().task(&enqueued.last_task_id).unwrap();
    assert_eq!(task.output_data["on_pool"], true);
    assert_eq!(task.worker_id.as_deref(), Some("thumbnailer-1"));
    assert_eq!(mock.core().logs(&enqueued.last_task_id).len(), 1);
    host.shutdown_async().await;
}

#[tokio::test]
async fn workers_of_different_types_run_side_by_side() {
    let mock = mock().await;
    mock.enqueue(EnqueueRequest::new("alpha", 200));
    mock.enqueue(EnqueueRequest::new("beta", 200));
    mock.enqueue(EnqueueRequest::new("gamma", 200));
    let host = start_host(
        &mock,
        [
            FnWorker::blocking("alpha", |_: Task| ())
                .concurrency(4)
                .into(),
            FnWorker::new("beta", |_: Task| async { json!({"b": 1}) })
                .concurrency(16)
                .into(),
            FnWorker::new("gamma", |_: Task| async { "scalar".to_owned() }).into(),
        ],
    );

    let ledger = wait_for_terminal(&mock, 600).await;
    assert_eq!(ledger.completed, 600);
    assert_exactly_once(&ledger);
    // The server applies a post a moment before the worker counts its answer.
    wait_for("every post to be counted", || async {
        host.status()
            .workers
            .iter()
            .map(|w| w.results_posted)
            .sum::<u64>()
            == 600
    })
    .await;
    let status = host.status();
    let per_type: Vec<(String, u64)> = status
        .workers
        .iter()
        .map(|w| (w.task_type.clone(), w.results_posted))
        .collect();
    assert_eq!(
        per_type,
        [
            ("alpha".into(), 200),
            ("beta".into(), 200),
            ("gamma".into(), 200)
        ]
    );
    host.shutdown_async().await;
}
