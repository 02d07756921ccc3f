//! An in-process end-to-end loop: an embedded `baton_mock::MockServer`, a `WorkerHost` running
//! a no-op worker against it; each iteration enqueues N tasks and waits until the mock's ledger
//! shows all N completed. Reported per task (throughput in elements).
//!
//! Each iteration starts with an empty queue and ends when it is empty again, so the figures
//! include the drain at the end of a burst. With update-v2 (the default) every post whose
//! server-side poll finds the queue empty is held by the server for its single-poll wait
//! (100 ms on the mock), so the `_v1` variant is measured too.

#![allow(clippy::expect_used)]

use std::time::{Duration, Instant};

use baton::config::ConfigSources;
use baton::model::Task;
use baton::{FnWorker, WorkerHost};
use baton_mock::{EnqueueRequest, MockServer};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;

/// Tasks enqueued per iteration.
const TASKS: u64 = 10_000;
/// The longest one iteration may take before the bench fails.
const DEADLINE: Duration = Duration::from_secs(60);

fn pipeline(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let mock = runtime
        .block_on(MockServer::start())
        .expect("the mock starts");
    let mut group = c.benchmark_group("pipeline_noop");
    group.throughput(Throughput::Elements(TASKS));
    for (concurrency, update_v2) in [(16, true), (256, true), (256, false)] {
        let name = if update_v2 {
            format!("concurrency_{concurrency}")
        } else {
            format!("concurrency_{concurrency}_v1")
        };
        let task_type = format!("pipeline_{name}");
        let worker = FnWorker::new(&task_type, |_: Task| async { json!({"ok": true}) })
            .concurrency(concurrency)
            // Pick up each iteration's tasks at once, not after an empty-queue backoff.
            .polling_interval(Duration::from_millis(1));
        let host = WorkerHost::builder()
            .config_sources(ConfigSources::new(std::iter::empty(), None).expect("no config"))
            .server_url(mock.base_url())
            .update_v2(update_v2)
            .worker(worker)
            .build()
            .expect("the host builds")
            .start()
            .expect("the host starts");
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let target = mock.ledger().completed + TASKS;
                    let start = Instant::now();
                    mock.enqueue(EnqueueRequest::new(&task_type, TASKS));
                    while mock.ledger().completed < target {
                        assert!(
                            start.elapsed() < DEADLINE,
                            "{TASKS} tasks not completed within {DEADLINE:?}"
                        );
                        std::thread::sleep(Duration::from_micros(200));
                    }
                    total += start.elapsed();
                }
                total
            });
        });
        match host.shutdown() {
            Ok(report) => assert!(report.clean, "the host did not drain cleanly"),
            Err(err) => panic!("shutdown failed: {err}"),
        }
    }
    group.finish();
    let ledger = mock.ledger();
    assert_eq!((ledger.lost, ledger.duplicate_conflicting), (0, 0));
    runtime.block_on(mock.shutdown());
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    targets = pipeline
}
criterion_main!(benches);
