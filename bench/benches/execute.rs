//! Per-task cost of executing a no-op worker through the public API
//! ([`WorkerSpec::execute`]), sync and async, and of encoding its `TaskResult` as the client
//! posts it.

#![allow(clippy::expect_used)]

use baton::model::Task;
use baton::{FnWorker, WorkerSpec};
use baton_bench::fixtures;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use serde_json::json;
use std::hint::black_box;

fn execute(c: &mut Criterion) {
    let task = fixtures::sample_task("noop", 7);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a tokio runtime");
    let sync_worker = WorkerSpec::from(FnWorker::blocking("noop", |_: Task| json!({"ok": true})));
    let async_worker = WorkerSpec::from(FnWorker::new("noop", |_: Task| async {
        json!({"ok": true})
    }));

    let mut group = c.benchmark_group("execute_noop");
    for (name, spec) in [("sync", &sync_worker), ("async", &async_worker)] {
        group.bench_function(name, |b| {
            b.to_async(&runtime).iter_batched(
                || task.clone(),
                |task| async move { black_box(spec.execute(task).await) },
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();

    let result = runtime.block_on(async_worker.execute(task.clone()));
    c.bench_function("encode_task_result", |b| {
        b.iter(|| {
            let body = serde_json::to_vec(black_box(&result)).unwrap_or_default();
            assert!(!body.is_empty());
            black_box(body)
        });
    });
}

criterion_group!(benches, execute);
criterion_main!(benches);
