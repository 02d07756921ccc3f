//! The operations endpoint: every metric of the catalog moves when its event happens,
//! `/status` and `/health` answer as documented (also while Conductor is unreachable or
//! stalls), and concurrency changes live.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use baton::model::{Task, TaskDef};
use baton::{FnWorker, HostError, HostHandle, WorkerError, WorkerSpec};
use baton_mock::{EnqueueRequest, FaultAction, FaultRule, MockServer};
use baton_tests::{host_for, mock, wait_for};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A bare HTTP/1.0 GET against the endpoint: status code and body.
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, body.to_owned())
}

/// The sum of the samples of `name` whose labels contain every one of `labels`.
fn sample(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .filter(|(series, _)| {
            let metric = series.split('{').next().unwrap_or_default();
            metric == name && labels.iter().all(|label| series.contains(label))
        })
        .filter_map(|(_, value)| value.parse::<f64>().ok())
        .sum()
}

/// Starts `workers` against `mock` with the endpoint on a free port and update-v2 off.
fn start(mock: &MockServer, workers: Vec<WorkerSpec>) -> (HostHandle, SocketAddr) {
    let mut builder = host_for(mock)
        .update_v2(false)
        .metrics_addr("127.0.0.1:0".parse().unwrap());
    for worker in workers {
        builder = builder.worker(worker);
    }
    let host = builder.build().unwrap().start().unwrap();
    let addr = host.ops_addr().unwrap();
    assert_ne!(addr.port(), 0);
    (host, addr)
}

fn no_retries(name: &str) -> TaskDef {
    let mut def = TaskDef::new(name);
    def.retry_count = 0;
    def
}

#[tokio::test]
async fn every_metric_of_the_catalog_moves() {
    let mock = mock().await;
    // One failed poll, one failed post (retried), and every 7th post refused for good.
    mock.install_faults([
        FaultRule::new("batch_poll", FaultAction::Status { status: 503 }).first(1),
        FaultRule::new("update", FaultAction::Status { status: 503 }).first(1),
        FaultRule::new("update", FaultAction::Status { status: 400 }).every(7),
    ]);
    for name in ["ok", "fails", "panics"] {
        mock.enqueue(EnqueueRequest::new(name, 6).task_def(no_retries(name)));
    }
    let release = Arc::new(tokio::sync::Notify::new());
    let waiting = Arc::clone(&release);
    let workers = vec![
        FnWorker::new("ok", |_: Task| async { serde_json::json!({"ok": true}) }).into(),
        FnWorker::new("fails", |_: Task| async {
            Err::<(), _>(WorkerError::new("no such image"))
        })
        .into(),
        FnWorker::new("panics", |task: Task| async move {
            assert!(task.task_id.is_empty(), "worker bug");
        })
        .into(),
        FnWorker::new("slow", move |_: Task| {
            let waiting = Arc::clone(&waiting);
            async move { waiting.notified().await }
        })
        .concurrency(2)
        .into(),
    ];
    let (host, addr) = start(&mock, workers);
    // Results refused for good stay in flight on the server: count what the host settled.
    wait_for("the quick tasks", || async {
        let workers = host.status().workers;
        let executed: u64 = workers.iter().map(|w| w.tasks_executed).sum();
        executed == 18 && workers.iter().all(|w| w.unposted == 0)
    })
    .await;
    mock.enqueue(EnqueueRequest::new("slow", 1));
    wait_for("the slow task to run", || async {
        host.status().workers[3].tasks_polled == 1
    })
    .await;
    host.pause("ok");
    wait_for("a paused round", || async {
        let (_, text) = get(addr, "/metrics").await;
        sample(&text, "task_paused_total", &["taskType=\"ok\""]) >= 1.0
    })
    .await;
    host.resume("ok");

    let (status, text) = get(addr, "/metrics").await;
    assert_eq!(status, 200);
    let ok = "taskType=\"ok\"";
    let slow = "taskType=\"slow\"";
    let moved = [
        ("task_poll_total", vec![ok]),
        ("task_poll_error_total", vec![]),
        ("task_execution_started_total", vec![ok]),
        (
            "task_execute_error_total",
            vec!["taskType=\"fails\"", "exception=\"error\""],
        ),
        (
            "task_execute_error_total",
            vec!["taskType=\"panics\"", "exception=\"panic\""],
        ),
        ("task_update_error_total", vec!["exception=\"http_503\""]),
        ("task_update_error_total", vec!["exception=\"http_400\""]),
        ("task_execution_queue_full_total", vec![]),
        ("task_paused_total", vec![ok]),
        (
            "thread_uncaught_exceptions_total",
            vec!["taskType=\"panics\""],
        ),
        ("task_poll_time_seconds_count", vec!["status=\"SUCCESS\""]),
        ("task_poll_time_seconds_count", vec!["status=\"FAILURE\""]),
        (
            "task_execute_time_seconds_count",
            vec![ok, "status=\"COMPLETED\""],
        ),
        ("task_execute_time_seconds_count", vec!["status=\"FAILED\""]),
        ("task_update_time_seconds_count", vec!["status=\"SUCCESS\""]),
        ("task_update_time_seconds_count", vec!["status=\"FAILURE\""]),
        ("task_result_size_bytes_sum", vec![ok]),
        ("active_workers", vec![slow]),
        ("baton_slots_in_use", vec![slow]),
        ("baton_results_given_up_total", vec![]),
        ("baton_update_retries_total", vec![]),
        ("baton_tasks_per_poll_count", vec![ok]),
    ];
    for (name, labels) in &moved {
        assert!(
            sample(&text, name, labels) > 0.0,
            "{name}{labels:?} did not move:\n{text}"
        );
    }
    assert_eq!(sample(&text, "active_workers", &[slow]), 1.0);
    // The slot its poller holds for a long poll counts as in use too.
    let in_use = sample(&text, "baton_slots_in_use", &[slow]);
    assert!(in_use >= 1.0, "{in_use}");
    assert_eq!(
        in_use + sample(&text, "baton_slots_available", &[slow]),
        2.0
    );
    assert!(
        text.contains("baton_slots_available{taskType=\"ok\"}"),
        "{text}"
    );
    // The result sizes are the posted bodies' real sizes.
    let sizes = sample(&text, "task_result_size_bytes_sum", &[ok]);
    assert!(sizes > 6.0 * 50.0, "{sizes}");

    // Every metric the documented Grafana dashboard queries exists.
    let dashboard = include_str!("../../docs/grafana/baton-workers.json");
    let mut queried: Vec<&str> = dashboard
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| {
            ["task_", "baton_", "active_workers"]
                .iter()
                .any(|prefix| word.starts_with(prefix))
        })
        .collect();
    queried.sort_unstable();
    queried.dedup();
    assert!(queried.len() >= 10, "{queried:?}");
    for name in queried {
        assert!(
            text.lines().any(|line| line.starts_with(name)),
            "the dashboard queries {name}, which /metrics does not have"
        );
    }

    let (status, body) = get(addr, "/status").await;
    assert_eq!(status, 200);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let slow_status = &json["workers"][3];
    assert_eq!(slow_status["taskType"], "slow");
    let in_use = slow_status["slotsInUse"].as_u64().unwrap();
    assert_eq!(
        in_use + slow_status["slotsFree"].as_u64().unwrap(),
        2,
        "{body}"
    );
    assert!(in_use >= 1, "{body}");
    assert!(
        json["workers"][0]["resultsGivenUp"].as_u64().is_some(),
        "{body}"
    );
    release.notify_waiters();
    host.shutdown_async().await;
}

#[tokio::test]
async fn health_names_a_worker_whose_slots_are_all_lost() {
    let mock = mock().await;
    mock.enqueue(EnqueueRequest::new("hung", 1).task_def(no_retries("hung")));
    let worker = FnWorker::blocking("hung", |_: Task| {
        std::thread::sleep(Duration::from_millis(2500));
    })
    .execution_timeout(Duration::from_millis(100));
    let (host, addr) = start(&mock, vec![worker.into()]);
    wait_for("a 503", || async { get(addr, "/health").await.0 == 503 }).await;
    let (_, body) = get(addr, "/health").await;
    assert!(body.contains("\"taskType\":\"hung\""), "{body}");
    assert!(body.contains("execution_timeout"), "{body}");
    // The thread returns; the slot is back; the worker is healthy again.
    wait_for("a 200", || async { get(addr, "/health").await.0 == 200 }).await;
    host.shutdown_async().await;
}

#[tokio::test]
async fn an_unreachable_or_stalled_conductor_keeps_health_at_200_and_answers_promptly() {
    let mock = mock().await;
    // Every call to Conductor is read and never answered.
    mock.install_faults([FaultRule::new("*", FaultAction::Stall)]);
    let (host, addr) = start(&mock, vec![FnWorker::new("t", |_: Task| async {}).into()]);
    wait_for("failed polls", || async {
        host.status().workers[0].poll_errors >= 2
    })
    .await;
    for path in ["/health", "/metrics", "/status"] {
        let started = Instant::now();
        let (status, _) = get(addr, path).await;
        assert_eq!(status, 200, "{path}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{path}: {:?}",
            started.elapsed()
        );
    }
    let (_, text) = get(addr, "/metrics").await;
    assert!(sample(&text, "task_poll_error_total", &["exception=\"timeout\""]) >= 2.0);
    host.shutdown_async().await;
}

#[tokio::test]
async fn concurrency_changes_live() {
    let mock = mock().await;
    mock.enqueue(EnqueueRequest::new("resize", 3000));
    let worker = FnWorker::new("resize", |_: Task| async {
        tokio::time::sleep(Duration::from_millis(30)).await;
    })
    .concurrency(2);
    let (host, addr) = start(&mock, vec![worker.into()]);
    wait_for("work under way", || async { mock.ledger().completed >= 10 }).await;
    assert!(mock.ledger().in_flight <= 2);

    assert_eq!(host.set_concurrency("resize", 8).unwrap(), 1);
    wait_for("more tasks in flight", || async {
        mock.ledger().in_flight > 2
    })
    .await;
    assert!(mock.ledger().in_flight <= 8);
    assert_eq!(host.status().workers[0].concurrency, 8);

    // Shrinking never cancels a task: the extra slots go as tasks finish.
    assert_eq!(host.set_concurrency("resize", 1).unwrap(), 1);
    wait_for("one task in flight", || async {
        mock.ledger().in_flight <= 1
    })
    .await;
    for _ in 0..20 {
        assert!(mock.ledger().in_flight <= 1, "{:?}", mock.ledger());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (_, text) = get(addr, "/metrics").await;
    assert_eq!(
        sample(&text, "baton_slots_in_use", &[]) + sample(&text, "baton_slots_available", &[]),
        1.0
    );
    assert_eq!(mock.ledger().failed, 0, "no task was cancelled");

    for bad in [0, 10_001] {
        let err = host.set_concurrency("resize", bad).unwrap_err();
        assert!(matches!(err, HostError::Concurrency { .. }), "{err:?}");
    }
    assert_eq!(host.set_concurrency("unknown", 3).unwrap(), 0);
    assert_eq!(host.pause_all(), 1);
    assert!(host.status().workers[0].paused);
    assert_eq!(host.resume_all(), 1);
    host.shutdown_async().await;
}
