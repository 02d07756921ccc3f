//! Decoding a 100-task batch-poll answer: simd-json with reused buffers (the body copied into a
//! reused `Vec`, parsed in place), the engine client's fast path (a padded copy parsed with
//! `fill_tape_padded`, tape reused, the body left intact for the per-task fallback), and
//! serde_json. Then the same for an update-v2 answer (one task, about 1 KB), the way nearly
//! every task reaches a busy worker.

use baton_bench::fixtures;
use baton_model::Task;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

/// The engine client's fast path: a padded copy of the body parsed in place with
/// `fill_tape_padded`, simd-json's scratch space and tape reused from one body to the next.
struct PaddedTape {
    padded: Vec<u8>,
    scratch: simd_json::Buffers,
    kept: simd_json::Tape<'static>,
}

impl PaddedTape {
    fn new(size: usize) -> Self {
        Self {
            padded: Vec::with_capacity(size + simd_json::INPUT_PADDING),
            scratch: simd_json::Buffers::new(size),
            kept: simd_json::Tape::null(),
        }
    }

    fn decode<T: serde::de::DeserializeOwned>(&mut self, body: &[u8]) -> Option<T> {
        self.padded.clear();
        self.padded.extend_from_slice(body);
        self.padded
            .resize(body.len() + simd_json::INPUT_PADDING, b' ');
        let mut tape = std::mem::replace(&mut self.kept, simd_json::Tape::null()).reset();
        let decoded = match simd_json::fill_tape_padded(
            &mut self.padded,
            body.len(),
            &mut self.scratch,
            &mut tape,
        ) {
            Ok(()) => {
                let mut de = simd_json::Deserializer::from_tape(tape);
                let decoded = T::deserialize(&mut de).ok();
                tape = de.into_tape();
                decoded
            }
            Err(_) => None,
        };
        self.kept = tape.reset();
        decoded
    }
}

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

    group.bench_function("simd_json_padded_tape_reused", |b| {
        let mut decoder = PaddedTape::new(body.len());
        b.iter(|| {
            let tasks: Vec<Task> = decoder.decode(&body).unwrap_or_default();
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

fn decode_single(c: &mut Criterion) {
    let body = serde_json::to_vec(&fixtures::sample_task("bench", 7)).unwrap_or_default();
    let mut group = c.benchmark_group("decode_update_v2_1");
    group.throughput(Throughput::Bytes(body.len() as u64));

    group.bench_function("simd_json_padded_tape_reused", |b| {
        let mut decoder = PaddedTape::new(body.len());
        b.iter(|| {
            let task: Option<Task> = decoder.decode(&body);
            assert!(task.is_some());
            black_box(task)
        });
    });

    group.bench_function("serde_json", |b| {
        b.iter(|| {
            let task: Option<Task> = serde_json::from_slice(black_box(&body)).ok();
            assert!(task.is_some());
            black_box(task)
        });
    });
    group.finish();
}

criterion_group!(benches, decode, decode_single);
criterion_main!(benches);
