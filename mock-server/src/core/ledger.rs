//! The ledger: what happened to every task the mock handed out, kept compact.
//!
//! Counters for every outcome, one 16-bit fingerprint per task sequence number (how the task
//! ended, so a repeated update can be told apart from a conflicting one after the task itself
//! has been evicted), and a fixed-bucket latency histogram. Memory is two bytes per task ever
//! created plus a constant, never a record per request.

use serde::Serialize;

/// Fingerprint value: the task has not ended.
pub(crate) const FP_OPEN: u16 = 0;
/// Fingerprint value: the server ended the task (response timeout), not a worker.
pub(crate) const FP_SERVER: u16 = 1;

/// Folds a 64-bit hash into a fingerprint that never collides with the two reserved values.
pub(crate) fn fingerprint(hash: u64) -> u16 {
    let folded = (hash ^ (hash >> 16) ^ (hash >> 32) ^ (hash >> 48)) as u16;
    folded.max(2)
}

/// The counters and latency figures of `GET /admin/ledger`.
///
/// `lost` is the number of tasks that were handed out and are still waiting for their worker's
/// update (neither terminally updated, nor re-queued by an IN_PROGRESS update, nor timed out by
/// the sweeper) at the moment of the query: read it after the client has drained.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub struct LedgerSnapshot {
    /// Tasks created by enqueue calls (not counting retries).
    pub enqueued: u64,
    /// Retry attempts created (after FAILED or TIMED_OUT).
    pub retried: u64,
    /// Hand-outs by polls (a task re-queued by IN_PROGRESS counts again when re-polled).
    pub handed_out: u64,
    /// Tasks a worker COMPLETED.
    pub completed: u64,
    /// Tasks a worker FAILED (retriable).
    pub failed: u64,
    /// Tasks that ended FAILED_WITH_TERMINAL_ERROR (by the worker or the payload limit).
    pub failed_terminal: u64,
    /// Tasks a worker CANCELED.
    pub canceled: u64,
    /// IN_PROGRESS updates (each re-queues its task).
    pub in_progress_updates: u64,
    /// `extendLease` updates applied.
    pub lease_extensions: u64,
    /// Tasks the sweeper moved to TIMED_OUT (response, task or poll timeout).
    pub timed_out: u64,
    /// Task or poll timeouts under `ALERT_ONLY`: only logged, the task goes on.
    pub timeout_alerts: u64,
    /// Hand-outs postponed by a concurrency or rate limit (the task stays queued, delayed).
    pub postponed: u64,
    /// Postponed tasks made due at once when a concurrency-limited task of their type ended.
    pub released: u64,
    /// Tasks handed out and not yet updated, right now.
    pub in_flight: u64,
    /// Tasks handed out and never terminally updated nor timed out (= `in_flight` at query time).
    pub lost: u64,
    /// Tasks queued (due or delayed), right now.
    pub queued: u64,
    /// Updates of a task a worker had already ended, with the same status and output.
    pub duplicate_identical: u64,
    /// Updates of a task a worker had already ended, with a different status or output.
    pub duplicate_conflicting: u64,
    /// Updates of a task the server had already timed out.
    pub late_updates: u64,
    /// Updates (and lease extensions) naming a task or workflow id the mock does not know.
    pub unknown_ids: u64,
    /// Outputs over the payload limit (those tasks end FAILED_WITH_TERMINAL_ERROR).
    pub payload_too_large: u64,
    /// Faults fired, all kinds.
    pub faults_fired: u64,
    /// Faults that applied a request and lost its answer (`drop_after` and `truncated`): the
    /// allowance for `duplicate_identical`.
    pub drop_after_fired: u64,
    /// `/api` requests the HTTP front end received (0 for a core without one): with
    /// `completed`, the HTTP calls a client makes per task.
    pub api_requests: u64,
    /// Terminal updates measured for latency.
    pub latency_samples: u64,
    /// Median time from scheduling to the terminal update, in milliseconds.
    pub latency_p50_ms: f64,
    /// 99th percentile of the same, in milliseconds.
    pub latency_p99_ms: f64,
}

/// Counters plus per-sequence fingerprints; lives inside the core's state.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    /// Counters; the live gauges (`in_flight`, `queued`, ...) are filled in at snapshot time.
    pub(crate) counts: LedgerSnapshot,
    /// How each task ended, indexed by `seq - base`.
    fingerprints: Vec<u16>,
    /// The first sequence number this ledger covers (sequences below it predate a reset).
    base: u64,
    /// Schedule-to-completion latency.
    pub(crate) latency: Histogram,
}

impl Ledger {
    /// An empty ledger whose first task will be `base`.
    pub(crate) fn new(base: u64) -> Self {
        Self {
            base,
            ..Self::default()
        }
    }

    /// Registers a newly created task sequence number.
    pub(crate) fn created(&mut self, seq: u64) {
        let index = self.index(seq).unwrap_or(usize::MAX);
        if index >= self.fingerprints.len() && index != usize::MAX {
            self.fingerprints.resize(index + 1, FP_OPEN);
        }
    }

    /// Whether `seq` names a task this ledger has seen created.
    pub(crate) fn knows(&self, seq: u64) -> bool {
        self.index(seq).is_some_and(|i| i < self.fingerprints.len())
    }

    /// How `seq` ended, or [`FP_OPEN`].
    pub(crate) fn ending(&self, seq: u64) -> u16 {
        self.index(seq)
            .and_then(|i| self.fingerprints.get(i).copied())
            .unwrap_or(FP_OPEN)
    }

    /// Records how `seq` ended.
    pub(crate) fn set_ending(&mut self, seq: u64, fp: u16) {
        if let Some(slot) = self.index(seq).and_then(|i| self.fingerprints.get_mut(i)) {
            *slot = fp;
        }
    }

    fn index(&self, seq: u64) -> Option<usize> {
        seq.checked_sub(self.base)
            .and_then(|i| usize::try_from(i).ok())
    }
}

/// A fixed-bucket latency histogram in microseconds: exact below 64 µs, then 16 buckets per
/// power of two (about 6% resolution), up to about 2^40 µs (12 days).
#[derive(Debug, Clone)]
pub(crate) struct Histogram {
    buckets: Box<[u64; BUCKETS]>,
    samples: u64,
}

const SUB_BITS: u32 = 4;
const EXACT: u64 = 64;
const BUCKETS: usize = 64 + 35 * 16;

impl Default for Histogram {
    fn default() -> Self {
        Self {
            buckets: Box::new([0; BUCKETS]),
            samples: 0,
        }
    }
}

impl Histogram {
    /// Adds one sample of `micros` microseconds.
    pub(crate) fn record(&mut self, micros: u64) {
        let index = Self::bucket_of(micros).min(BUCKETS - 1);
        self.buckets[index] += 1;
        self.samples += 1;
    }

    /// How many samples were recorded.
    pub(crate) fn samples(&self) -> u64 {
        self.samples
    }

    /// The value at quantile `q` (0..=1) in microseconds: the lower bound of its bucket, or 0
    /// with no samples.
    pub(crate) fn quantile(&self, q: f64) -> u64 {
        if self.samples == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.samples as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (index, count) in self.buckets.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Self::lower_bound(index);
            }
        }
        Self::lower_bound(BUCKETS - 1)
    }

    fn bucket_of(micros: u64) -> usize {
        if micros < EXACT {
            return micros as usize;
        }
        let exponent = 63 - micros.leading_zeros(); // >= 6
        let sub = (micros >> (exponent - SUB_BITS)) & ((1 << SUB_BITS) - 1);
        EXACT as usize + (exponent as usize - 6) * 16 + sub as usize
    }

    fn lower_bound(index: usize) -> u64 {
        if index < EXACT as usize {
            return index as u64;
        }
        let exponent = (index - EXACT as usize) / 16 + 6;
        let sub = ((index - EXACT as usize) % 16) as u64;
        (1 << exponent) + (sub << (exponent as u32 - SUB_BITS))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_bound_their_values() {
        for value in [0, 1, 63, 64, 65, 100, 1_000, 12_345, 1 << 30, (1 << 40) - 1] {
            let index = Histogram::bucket_of(value);
            let low = Histogram::lower_bound(index);
            assert!(low <= value, "{value}: lower bound {low}");
            // Resolution: the bucket's lower bound is within 1/16 of the value.
            assert!(value - low <= value / 16 + 1, "{value}: lower bound {low}");
            if index + 1 < BUCKETS {
                assert!(Histogram::lower_bound(index + 1) > value);
            }
        }
    }

    #[test]
    fn histogram_quantiles() {
        let mut h = Histogram::default();
        assert_eq!(h.quantile(0.5), 0);
        for micros in 1..=1000 {
            h.record(micros * 1000);
        }
        assert_eq!(h.samples(), 1000);
        let p50 = h.quantile(0.5) as f64;
        let p99 = h.quantile(0.99) as f64;
        assert!((p50 - 500_000.0).abs() / 500_000.0 < 0.07, "p50 {p50}");
        assert!((p99 - 990_000.0).abs() / 990_000.0 < 0.07, "p99 {p99}");
        h.record(u64::MAX);
        assert!(h.quantile(1.0) > 1 << 40);
    }

    #[test]
    fn fingerprints_avoid_reserved_values_and_ledger_tracks_endings() {
        assert!(fingerprint(0) >= 2 && fingerprint(1) >= 2);
        let mut ledger = Ledger::new(10);
        assert!(!ledger.knows(10));
        ledger.created(10);
        ledger.created(11);
        assert!(ledger.knows(11) && !ledger.knows(12) && !ledger.knows(9));
        assert_eq!(ledger.ending(11), FP_OPEN);
        ledger.set_ending(11, 77);
        assert_eq!(ledger.ending(11), 77);
        ledger.set_ending(500, 77); // unknown: ignored
        assert_eq!(ledger.ending(500), FP_OPEN);
    }
}
