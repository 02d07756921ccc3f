use std::time::Duration;

use baton::model::Task;
use baton::{FnWorker, HostError, WorkerHostBuilder};
use baton_mock::EnqueueRequest;
use baton_tests::{assert_exactly_once, host_for, mock, start_host, wait_for, wait_for_terminal};

#[tokio::test]
async fn paused_workers_poll_nothing_until_resumed() {
    let mock = mock().await;
    mock.enqueue(EnqueueRequest::new("pausable", 10));
    let worker = FnWorker::blocking("pausable", |_: Task| ())
        .paused(true)
        .polling_interval(Duration::from_millis(10));
    let host = start_host(&mock, [worker.into()]);

    // Absence can only be checked over a window: several polling intervals.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(mock.ledger().handed_out, 0);
    assert!(host.status().workers[0].paused);
    assert_eq!(host.status().workers[0].polls, 0);

    assert_eq!(host.resume("pausable"), 1);
    wait_for_terminal(&mock, 10).await;
    assert_eq!(host.pause("pausable"), 1);
    assert_eq!(host.pause("no_such_type"), 0);
    host.shutdown_async().await;
}

#[tokio::test]
async fn shutdown_drains_tasks_in_flight() {
    let mock = mock().await;
    mock.enqueue(EnqueueRequest::new("draining", 4));
    let worker = FnWorker::blocking("draining", |_: Task| {
        std::thread::sleep(Duration::from_millis(300));
    })
    .concurrency(4);
    let host = start_host(&mock, [worker.into()]);
    wait_for("four tasks executing", || async {
        mock.ledger().in_flight == 4
    })
    .await;

    let report = host.shutdown_async().await;
    assert!(report.clean, "{report:?}");
    let ledger = mock.ledger();
    assert_eq!(ledger.completed, 4);
    assert_exactly_once(&ledger);
}

#[tokio::test]
async fn shutdown_reports_what_outlives_the_grace_period() {
    let mock = mock().await;
    mock.enqueue(EnqueueRequest::new("stubborn", 1));
    let worker = FnWorker::blocking("stubborn", |_: Task| {
        std::thread::sleep(Duration::from_secs(2));
    })
    .shutdown_grace(Duration::from_millis(100));
    let host = start_host(&mock, [worker.into()]);
    wait_for("the task to start", || async {
        mock.ledger().in_flight == 1
    })
    .await;

    let report = host.shutdown_async().await;
    assert!(!report.clean);
    assert_eq!(report.workers[0].executing, 1);
}

#[tokio::test]
async fn building_a_host_validates_before_anything_runs() {
    let mock = mock().await;
    let no_workers = host_for(&mock).build();
    assert!(matches!(no_workers, Err(HostError::NoWorkers)));

    let too_long = FnWorker::blocking("t", |_: Task| ()).poll_timeout(Duration::from_secs(6));
    let err = host_for(&mock).worker(too_long).build().unwrap_err();
    assert!(err.to_string().contains("poll_timeout"), "{err}");

    let zero = FnWorker::blocking("t", |_: Task| ()).concurrency(0);
    let err = host_for(&mock).worker(zero).build().unwrap_err();
    assert!(err.to_string().contains("concurrency"), "{err}");

    let bad_url = host_for(&mock)
        .server_url("ftp://nowhere")
        .worker(FnWorker::blocking("t", |_: Task| ()));
    assert!(bad_url.build().is_err());

    // Out-of-range builder arguments are errors, not silently clamped.
    let no_arbiters = host_for(&mock)
        .arbiters(0)
        .worker(FnWorker::blocking("t", |_: Task| ()))
        .build();
    assert!(matches!(
        no_arbiters,
        Err(HostError::Arbiters { arbiters: 0, .. })
    ));
    let too_many_posts = host_for(&mock)
        .update_concurrency(WorkerHostBuilder::MAX_UPDATE_CONCURRENCY + 1)
        .worker(FnWorker::blocking("t", |_: Task| ()))
        .build();
    let err = too_many_posts.unwrap_err();
    assert!(matches!(err, HostError::UpdateConcurrency { .. }), "{err}");
    assert!(err.to_string().contains("update_concurrency"), "{err}");
    assert_eq!(mock.ledger().handed_out, 0);
}

#[test]
fn run_refuses_to_block_an_async_runtime() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let result = runtime.block_on(async {
        let mock = mock().await;
        let host = host_for(&mock)
            .worker(FnWorker::blocking("t", |_: Task| ()))
            .build()
            .unwrap();
        host.run()
    });
    assert!(matches!(result, Err(HostError::InsideRuntime)));
}
