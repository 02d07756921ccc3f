//! Shutdown and execution limits: what the grace period's end gives up (by id, through the
//! hook), a second signal, a wedged arbiter, `shutdown` inside a runtime, execution timeouts
//! (async and blocking), and pause stopping everything.

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use baton::model::{Task, TaskDef};
use baton::{FnWorker, GiveUpReason, HostError};
use baton_mock::test_util::eventually;
use baton_mock::{EnqueueRequest, FaultAction, FaultRule};
use baton_tests::{host_for, mock, start_host, wait_for};

/// A task definition whose tasks are not retried when they fail.
fn no_retries(name: &str) -> TaskDef {
    let mut def = TaskDef::new(name);
    def.retry_count = 0;
    def
}

/// Every result post answers 503.
fn refuse_every_post() -> [FaultRule; 2] {
    [
        FaultRule::new("update", FaultAction::Status { status: 503 }),
        FaultRule::new("update_v2", FaultAction::Status { status: 503 }),
    ]
}

#[tokio::test]
async fn results_left_when_the_grace_period_ends_are_given_up_by_id() {
    let mock = mock().await;
    mock.install_faults(refuse_every_post());
    let enqueued = mock.enqueue(EnqueueRequest::new("undelivered", 3));
    let given_up = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&given_up);
    let host = host_for(&mock)
        .on_result_given_up(move |result, reason| {
            sink.lock()
                .unwrap()
                .push((result.task_id.clone(), reason.clone()));
        })
        .worker(
            FnWorker::new("undelivered", |_: Task| async {})
                .concurrency(3)
                .shutdown_grace(Duration::from_millis(500)),
        )
        .build()
        .unwrap()
        .start()
        .unwrap();
    wait_for("three results retrying", || async {
        let status = host.status().workers[0].clone();
        status.tasks_executed == 3 && status.update_retries >= 3
    })
    .await;

    let started = Instant::now();
    let report = host.shutdown_async().await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(!report.clean);
    assert_eq!(report.workers[0].results_given_up, 3, "{report:?}");
    assert_eq!(report.workers[0].unposted, 0, "{report:?}");
    let given_up = given_up.lock().unwrap().clone();
    assert_eq!(given_up.len(), 3, "{given_up:?}");
    assert!(
        given_up
            .iter()
            .all(|(_, reason)| matches!(reason, GiveUpReason::HostStopped)),
        "{given_up:?}"
    );
    let mut ids: Vec<_> = given_up.into_iter().map(|(id, _)| id).collect();
    ids.sort();
    assert_eq!(ids.first(), Some(&enqueued.first_task_id));
    assert_eq!(ids.last(), Some(&enqueued.last_task_id));
}

#[tokio::test]
async fn a_second_signal_gives_up_at_once_and_exits_with_128_plus_its_number() {
    let mock = mock().await;
    mock.install_faults(refuse_every_post());
    mock.enqueue(EnqueueRequest::new("probe", 4));
    let mut probe = Command::new(env!("CARGO_BIN_EXE_drain_probe"))
        .env("CONDUCTOR_SERVER_URL", mock.base_url())
        .env("PROBE_TASK_MS", "50")
        .env_remove("CONDUCTOR_WORKER_CONFIG")
        .current_dir(std::env::temp_dir())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("four posts refused", || async {
        mock.ledger().faults_fired >= 4
    })
    .await;
    // The drain would wait 30 s for the refused results: a second SIGTERM ends it. Signals
    // that arrive together may merge, so one is sent every 200 ms until the probe exits.
    let started = Instant::now();
    let pid = probe.id().to_string();
    let status = loop {
        if let Some(status) = probe.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the probe did not exit"
        );
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(status.code(), Some(143), "{status:?}");
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut probe.stdout.take().unwrap(), &mut stdout).unwrap();
    let given_up: Vec<_> = stdout
        .lines()
        .filter(|l| l.starts_with("given up "))
        .collect();
    assert_eq!(given_up.len(), 4, "{stdout}");
    assert!(
        given_up
            .iter()
            .all(|l| l.ends_with("the host stopped before the result was posted")),
        "{stdout}"
    );
}

#[tokio::test]
async fn a_blocking_shutdown_inside_a_runtime_is_an_error() {
    let mock = mock().await;
    let host = start_host(&mock, [FnWorker::new("idle", |_: Task| async {}).into()]);
    let err = host.shutdown().unwrap_err();
    assert!(matches!(err, HostError::ShutdownInsideRuntime), "{err:?}");
    assert!(err.to_string().contains("shutdown_async"), "{err}");
}

#[tokio::test]
async fn a_worker_that_blocks_its_arbiter_does_not_wedge_the_shutdown() {
    let mock = mock().await;
    mock.enqueue(EnqueueRequest::new("wedge", 1));
    // An async worker that blocks its thread: the arbiter cannot stop until it returns.
    let worker = FnWorker::new("wedge", |_: Task| async {
        std::thread::sleep(Duration::from_secs(20));
    })
    .shutdown_grace(Duration::from_millis(200));
    let host = start_host(&mock, [worker.into()]);
    wait_for("the task to start", || async {
        mock.ledger().in_flight == 1
    })
    .await;
    let started = Instant::now();
    let report = host.shutdown_async().await;
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(10),
        "shutdown took {elapsed:?}"
    );
    assert!(!report.clean);
}

#[tokio::test]
async fn async_executions_past_their_timeout_fail_and_free_their_slot() {
    let mock = mock().await;
    let enqueued = mock.enqueue(EnqueueRequest::new("slow", 2).task_def(no_retries("slow")));
    let worker = FnWorker::new("slow", |_: Task| async {
        tokio::time::sleep(Duration::from_secs(30)).await;
    })
    .execution_timeout(Duration::from_millis(200));
    let started = Instant::now();
    let host = start_host(&mock, [worker.into()]);
    // One slot: the second task runs only once the first one's slot is free again.
    wait_for("both tasks to fail", || async { mock.ledger().failed == 2 }).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let task = mock.core().task(&enqueued.first_task_id).unwrap();
    assert_eq!(
        task.reason_for_incompletion.as_deref(),
        Some("execution timed out after 200ms")
    );
    let status = host.status().workers[0].clone();
    assert_eq!(status.executions_timed_out, 2, "{status:?}");
    assert_eq!(status.lost_capacity, 0, "{status:?}");
    host.shutdown_async().await;
}

#[tokio::test]
async fn blocking_executions_past_their_timeout_keep_their_slot_as_lost_capacity() {
    let mock = mock().await;
    mock.enqueue(EnqueueRequest::new("stuck", 2).task_def(no_retries("stuck")));
    let worker = FnWorker::blocking("stuck", |_: Task| {
        std::thread::sleep(Duration::from_millis(1500));
    })
    .execution_timeout(Duration::from_millis(200));
    let host = start_host(&mock, [worker.into()]);
    wait_for(
        "the first task to fail while its thread runs on",
        || async {
            let status = host.status().workers[0].clone();
            mock.ledger().failed == 1 && status.lost_capacity == 1
        },
    )
    .await;
    // Its slot is not reused until the thread returns: the second task waits.
    assert_eq!(mock.ledger().handed_out, 1);
    wait_for("the second task to fail too", || async {
        mock.ledger().failed == 2
    })
    .await;
    wait_for("the slots to come back", || async {
        host.status().workers[0].lost_capacity == 0
    })
    .await;
    let ledger = mock.ledger();
    // The late results were dropped, not posted over the FAILED ones.
    assert_eq!(ledger.duplicate_conflicting, 0, "{ledger:?}");
    assert_eq!(ledger.completed, 0, "{ledger:?}");
    assert_eq!(host.status().workers[0].executions_timed_out, 2);
    host.shutdown_async().await;
}

#[tokio::test]
async fn pause_stops_update_v2_chaining_and_resume_polls_at_once() {
    let mock = mock().await;
    mock.enqueue(EnqueueRequest::new("chained", 2000));
    let worker = FnWorker::new("chained", |_: Task| async {
        tokio::time::sleep(Duration::from_millis(20)).await;
    })
    .concurrency(4)
    .polling_interval(Duration::from_secs(60));
    let host = start_host(&mock, [worker.into()]);
    wait_for("update-v2 chaining", || async {
        mock.ledger().completed >= 50
    })
    .await;

    host.pause("chained");
    // With work queued, update-v2 would keep bringing tasks: paused, the worker runs dry.
    wait_for("the worker to run dry", || async {
        host.status().workers[0].executing == 0
    })
    .await;
    let handed_out = mock.ledger().handed_out;
    assert!(handed_out < 2000, "nothing was left to test with");

    // The poller waits for the resume, not for its 60 s polling interval.
    host.resume("chained");
    let resumed = eventually(Duration::from_secs(5), async || {
        mock.ledger().handed_out > handed_out
    })
    .await;
    assert!(resumed, "no poll within 5 s of resume");
    host.shutdown_async().await;
}
