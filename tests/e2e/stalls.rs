//! Stalls and fault storms on default settings: a stalled server costs its stall plus seconds,
//! a storm of errors and dropped connections loses nothing, and a result is given up only when
//! its task's lease or its retry budget ends, through the hook.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use baton::model::{Task, TaskDef};
use baton::{FnWorker, GiveUpReason};
use baton_mock::test_util::eventually;
use baton_mock::{EnqueueRequest, FaultAction, FaultRule, MockServer};
use baton_tests::{host_for, mock, start_host, wait_for};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

/// A no-op worker on default settings.
fn noop(task_type: &str, concurrency: usize) -> FnWorker {
    FnWorker::new(task_type, |_: Task| async {
        serde_json::json!({"ok": true})
    })
    .concurrency(concurrency)
}

/// A task definition whose tasks time out `seconds` after they were handed out, and are then
/// retried at once.
fn lease_of(name: &str, seconds: i64) -> TaskDef {
    let mut def = TaskDef::new(name);
    def.response_timeout_seconds = seconds;
    def.retry_delay_seconds = 0;
    def.retry_count = 10;
    def
}

/// Results the hook was given, with why.
type GivenUp = Arc<Mutex<Vec<(String, GiveUpReason)>>>;

#[tokio::test]
async fn a_stall_costs_its_length_plus_seconds() {
    const TASKS: u64 = 3000;
    const STALL: Duration = Duration::from_secs(3);
    let mock = mock().await;
    mock.enqueue(EnqueueRequest::new("stalled", TASKS));
    let host = start_host(&mock, [noop("stalled", 8).into()]);
    wait_for("work under way", || async {
        mock.ledger().completed >= 300
    })
    .await;

    // Every call arriving in the next 3 s is read and never answered: polls and updates in
    // flight hang until their deadlines.
    let stalled_at = Instant::now();
    mock.install_faults([FaultRule::new("*", FaultAction::Stall).for_window(STALL)]);
    let done = eventually(STALL + Duration::from_secs(10), async || {
        mock.ledger().completed == TASKS
    })
    .await;
    let ledger = mock.ledger();
    assert!(
        done,
        "{} of {TASKS} done {:?} after a {STALL:?} stall: {ledger:?}",
        ledger.completed,
        stalled_at.elapsed()
    );
    assert!(ledger.faults_fired > 0, "the stall never hit: {ledger:?}");
    assert_eq!(ledger.duplicate_conflicting, 0, "{ledger:?}");
    let status = host.status().workers[0].clone();
    assert_eq!(status.results_given_up, 0, "{status:?}");
    host.shutdown_async().await;
}

#[tokio::test]
async fn a_storm_of_errors_and_dropped_connections_loses_nothing() {
    const TASKS: u64 = 1000;
    let mock = mock().await;
    // 10 % 5xx and 3 % dropped connections, half before and half after the request applies,
    // on every route; tasks whose poll answer is lost come back after their 10 s lease.
    mock.install_faults([
        FaultRule::new("*", FaultAction::Status { status: 503 }).probability(0.05),
        FaultRule::new("*", FaultAction::Status { status: 500 }).probability(0.053),
        FaultRule::new("*", FaultAction::DropBefore).probability(0.017),
        FaultRule::new("*", FaultAction::DropAfter).probability(0.017),
    ]);
    mock.enqueue(EnqueueRequest::new("storm", TASKS).task_def(lease_of("storm", 10)));
    let host = start_host(&mock, [noop("storm", 16).into()]);

    let done = eventually(Duration::from_secs(90), async || {
        let ledger = mock.ledger();
        ledger.completed == TASKS && ledger.in_flight == 0
    })
    .await;
    let ledger = mock.ledger();
    assert!(done, "{ledger:?}");
    assert!(ledger.faults_fired > 100, "too few faults: {ledger:?}");
    assert_eq!(ledger.lost, 0, "{ledger:?}");
    assert_eq!(ledger.duplicate_conflicting, 0, "{ledger:?}");
    assert!(
        ledger.duplicate_identical <= ledger.drop_after_fired,
        "{ledger:?}"
    );
    let status = host.status().workers[0].clone();
    assert_eq!(status.results_given_up, 0, "{status:?}");
    assert!(status.update_retries > 0, "{status:?}");
    host.shutdown_async().await;
}

/// Starts a host on default settings whose every result post answers 503, with a hook that
/// records what is given up.
async fn refused_results(
    def: TaskDef,
    worker: FnWorker,
) -> (MockServer, baton::HostHandle, GivenUp) {
    let mock = mock().await;
    mock.enqueue(EnqueueRequest::new(def.name.clone(), 1).task_def(def));
    mock.install_faults([
        FaultRule::new("update", FaultAction::Status { status: 503 }),
        FaultRule::new("update_v2", FaultAction::Status { status: 503 }),
    ]);
    let given_up = GivenUp::default();
    let sink = Arc::clone(&given_up);
    let host = host_for(&mock)
        .on_result_given_up(move |result, reason| {
            sink.lock()
                .unwrap()
                .push((result.task_id.clone(), reason.clone()));
        })
        .worker(worker)
        .build()
        .unwrap()
        .start()
        .unwrap();
    (mock, host, given_up)
}

#[tokio::test]
async fn retries_end_when_the_tasks_lease_ends() {
    let started = Instant::now();
    let (mock, host, given_up) = refused_results(lease_of("leased", 2), noop("leased", 1)).await;
    wait_for("the result to be given up", || async {
        !given_up.lock().unwrap().is_empty()
    })
    .await;
    let elapsed = started.elapsed();
    let (_, reason) = given_up.lock().unwrap()[0].clone();
    assert!(
        matches!(&reason, GiveUpReason::LeaseEnded { attempts, .. } if *attempts > 2),
        "{reason:?}"
    );
    assert!(
        reason.last_error().unwrap().to_string().contains("503"),
        "{reason}"
    );
    // The lease is 2 s; the budget (5 min) never came into it.
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    let status = host.status().workers[0].clone();
    assert_eq!(status.results_given_up, 1, "{status:?}");
    host.shutdown_async().await;
    mock.shutdown().await;
}

#[tokio::test]
async fn retries_end_when_their_budget_is_spent() {
    let worker = noop("budget", 1).update_retry_budget(Duration::from_millis(800));
    let (mock, host, given_up) = refused_results(lease_of("budget", 3600), worker).await;
    wait_for("the result to be given up", || async {
        !given_up.lock().unwrap().is_empty()
    })
    .await;
    let (_, reason) = given_up.lock().unwrap()[0].clone();
    assert!(
        matches!(&reason, GiveUpReason::BudgetSpent { budget, .. } if *budget == Duration::from_millis(800)),
        "{reason:?}"
    );
    host.shutdown_async().await;
    mock.shutdown().await;
}

#[tokio::test]
async fn a_panicking_hook_is_contained_and_the_worker_keeps_going() {
    let mock = mock().await;
    // The first result is refused for good (400); the hook panics on it.
    mock.install_faults([FaultRule::new("update", FaultAction::Status { status: 400 }).first(1)]);
    mock.enqueue(EnqueueRequest::new("hooked", 1));
    let calls = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&calls);
    let host = host_for(&mock)
        .update_v2(false)
        .on_result_given_up(move |_, reason| {
            counted.fetch_add(1, Ordering::SeqCst);
            panic!("hook failed on {reason}");
        })
        .worker(noop("hooked", 2))
        .build()
        .unwrap()
        .start()
        .unwrap();
    wait_for("the hook", || async { calls.load(Ordering::SeqCst) == 1 }).await;
    mock.enqueue(EnqueueRequest::new("hooked", 20));
    wait_for("later tasks", || async { mock.ledger().completed == 20 }).await;
    let status = host.status().workers[0].clone();
    assert_eq!(status.results_given_up, 1, "{status:?}");
    assert_eq!(status.failure, None, "{status:?}");
    host.shutdown_async().await;
}

/// A TCP pass-through in front of `mock` that counts connections the client closed.
async fn counting_proxy(mock: &MockServer) -> (String, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api", listener.local_addr().unwrap());
    let upstream: hyper::Uri = mock.base_url().parse().unwrap();
    let upstream = upstream.authority().unwrap().to_string();
    let closed_by_client = Arc::new(AtomicU64::new(0));
    let closed = Arc::clone(&closed_by_client);
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = TcpStream::connect(&upstream).await.unwrap();
            let closed = Arc::clone(&closed);
            tokio::spawn(async move {
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
                    let _ = client_write.shutdown().await;
                });
                // The client's side ends when the client closes the connection.
                let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
                closed.fetch_add(1, Ordering::SeqCst);
                let _ = server_write.shutdown().await;
            });
        }
    });
    (url, closed_by_client)
}

#[tokio::test]
async fn a_call_past_its_deadline_closes_its_connection() {
    let mock = mock().await;
    let (url, closed_by_client) = counting_proxy(&mock).await;
    // The first result post is read and never answered.
    mock.install_faults([FaultRule::new("update", FaultAction::Stall).first(1)]);
    mock.enqueue(EnqueueRequest::new("hung", 1));
    let host = host_for(&mock)
        .server_url(url)
        .update_v2(false)
        .worker(noop("hung", 1))
        .build()
        .unwrap()
        .start()
        .unwrap();
    wait_for("the result, posted again", || async {
        mock.ledger().completed == 1
    })
    .await;
    // The stalled post's connection was closed by the client once its 2 s deadline passed
    // (the retry went out on another connection, or it would have queued behind the stall).
    assert!(closed_by_client.load(Ordering::SeqCst) >= 1);
    let status = host.status().workers[0].clone();
    assert_eq!(status.update_retries, 1, "{status:?}");
    host.shutdown_async().await;
}

#[tokio::test]
async fn a_failed_lease_extension_is_retried_before_the_lease_lapses() {
    let mock = mock().await;
    // The first extension (at 8 s of a 10 s lease) is refused; the retry (within 1 s) must
    // land before the lease lapses; the next scheduled one (at 16 s) would come too late.
    mock.install_faults([FaultRule::new("update", FaultAction::Status { status: 503 }).first(1)]);
    mock.enqueue(EnqueueRequest::new("long", 1).task_def(lease_of("long", 10)));
    let worker = FnWorker::new("long", |_: Task| async {
        tokio::time::sleep(Duration::from_millis(9500)).await;
        serde_json::json!({"ok": true})
    })
    .lease_extend_enabled(true);
    let host = host_for(&mock)
        .update_v2(false)
        .worker(worker)
        .build()
        .unwrap()
        .start()
        .unwrap();
    wait_for("the task to end", || async {
        let ledger = mock.ledger();
        ledger.completed + ledger.timed_out >= 1
    })
    .await;
    let ledger = mock.ledger();
    assert_eq!(ledger.timed_out, 0, "the lease lapsed: {ledger:?}");
    assert_eq!(ledger.completed, 1, "{ledger:?}");
    assert!(ledger.lease_extensions >= 1, "{ledger:?}");
    assert_eq!(ledger.faults_fired, 1, "{ledger:?}");
    host.shutdown_async().await;
}
