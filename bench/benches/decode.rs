//! Decoding a 100-task batch-poll answer: simd-json with reused buffers (as the engine's client
//! does: the body is copied into a reused `Vec`, then parsed in place) next to serde_json.

use baton_bench::fixtures;
use baton_model::Task;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

fn decode(c: &mut Criterion) {
    let body = fixtures::poll_response("bench", 100);
    let mut group = c.benchmark_group("decode_poll_100");
    group.throughput(Throughput::Bytes(body.len() as u64));

    group.bench_function("simd_json_reused_buffers", |b| {
        let mut buffer: Vec<u8> = Vec::with_capacity(body.len());
        let mut scratch = simd_json::Buffers::new(body.len());
        b.iter(|| {
            buffer.clear();
            buffer.extend_from_slice(&body);
            let tasks: Vec<Task> =
                simd_json::serde::from_slice_with_buffers(&mut buffer, &mut scratch)
                    .unwrap_or_default();
            assert_eq!(tasks.len(), 100);
            black_box(tasks)
        });
    });

    group.bench_function("serde_json", |b| {
        b.iter(|| {
            let tasks: Vec<Task> = serde_json::from_slice(black_box(&body)).unwrap_or_default();
            assert_eq!(tasks.len(), 100);
            black_box(tasks)
        });
    });
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
