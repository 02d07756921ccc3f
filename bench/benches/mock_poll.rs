//! baton-mock's batch poll without HTTP: `Core::poll_handed` of 100 tasks (pop, limits and
//! timeout checks, hand-out, JSON rendered under the lock) plus taking the JSON array, on a
//! queue of 1M tasks refilled as it drains. `mock_load` measures the same through HTTP against
//! a bare server; this isolates the core's share of it.

use baton_mock::{Core, CoreConfig, EnqueueRequest};
use baton_model::JsonMap;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::{Duration, Instant};

const QUEUED: u64 = 1_000_000;

fn poll(c: &mut Criterion) {
    let core = Core::new(CoreConfig::default());
    let input = JsonMap::from_iter([("n".to_owned(), serde_json::json!(1))]);
    let refill = |core: &Core| {
        core.reset();
        core.enqueue(EnqueueRequest::new("load", QUEUED).input(input.clone()));
    };
    refill(&core);
    let mut group = c.benchmark_group("mock_batch_poll");
    group.throughput(Throughput::Elements(100));
    group.bench_function("poll_100_and_render", |b| {
        // Only the polls are timed; refilling the drained queue is not.
        b.iter_custom(|iterations| {
            let mut timed = Duration::ZERO;
            for _ in 0..iterations {
                if core.queue_size("load", None) < 100 {
                    refill(&core);
                }
                let started = Instant::now();
                let handed = core.poll_handed("load", None, Some("w"), 100);
                black_box(handed.into_json_array());
                timed += started.elapsed();
            }
            timed
        });
    });
    group.finish();
}

criterion_group!(benches, poll);
criterion_main!(benches);
