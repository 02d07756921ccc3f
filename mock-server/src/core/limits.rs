//! Concurrency and rate limits, applied at poll time as the Redis-backed server applies them
//! (conductor-api.md §4.4; conductor-oss `ExecutionService.poll`, `RedisExecutionDAO.exceedsLimit`
//! and `updateTask`, `RedisRateLimitingDAO.exceedsRateLimitPerFrequency`).
//!
//! - A popped task whose definition has `concurrentExecLimit > 0` is postponed when the number
//!   of IN_PROGRESS tasks of its type (counted over tasks whose definition sets a limit, as the
//!   Redis store counts them) is at or above the limit.
//! - Then, with `rateLimitPerFrequency > 0` and `rateLimitFrequencyInSeconds > 0` (absent: 1),
//!   it is postponed when that many hand-outs of its type already happened in the sliding window
//!   `(now − frequency, now]`; an admitted hand-out is recorded in the window.
//! - A postponed task stays SCHEDULED and is queued again, due after the postpone duration
//!   (the server's `taskExecutionPostponeDuration`, 60 s).
//! - Since v3.30.0 a terminal update of a concurrency-limited task makes the earliest task of
//!   its queue due at once (`peekFirstIds` + `resetOffsetTime`), so a postponed task does not
//!   wait the full postpone duration once a slot frees up.

use std::collections::{HashMap, VecDeque};

use baton_model::TaskDef;

use super::State;
use super::queue::QueueKey;
use super::record::TaskRecord;

/// The task-type counters the limits need.
#[derive(Debug, Default)]
pub(super) struct Limits {
    /// IN_PROGRESS tasks of concurrency-limited definitions, by task type.
    in_progress: HashMap<String, u64>,
    /// Admitted hand-out times (µs) of rate-limited definitions within their window, by type.
    windows: HashMap<String, VecDeque<u64>>,
}

/// The concurrency limit of `def`, 0 when off.
pub(super) fn concurrency_limit(def: &TaskDef) -> u64 {
    u64::try_from(def.concurrent_exec_limit.unwrap_or(0)).unwrap_or(0)
}

/// The rate limit of `def`: hand-outs per window and the window in µs; `None` when off.
fn rate_limit(def: &TaskDef) -> Option<(usize, u64)> {
    let per = usize::try_from(def.rate_limit_per_frequency.unwrap_or(0)).unwrap_or(0);
    let seconds = u64::try_from(def.rate_limit_frequency_in_seconds.unwrap_or(1)).unwrap_or(0);
    (per > 0 && seconds > 0).then(|| (per, seconds.saturating_mul(1_000_000)))
}

impl Limits {
    /// Whether a task of `def` and `task_type` may be handed out at `now`; an admitted
    /// hand-out of a rate-limited definition is recorded in its window.
    pub(super) fn admit(&mut self, task_type: &str, def: &TaskDef, now: u64) -> bool {
        let limit = concurrency_limit(def);
        if limit > 0 && self.in_progress.get(task_type).copied().unwrap_or(0) >= limit {
            return false;
        }
        let Some((per, window_us)) = rate_limit(def) else {
            return true;
        };
        let since = now.saturating_sub(window_us);
        let window = match self.windows.get_mut(task_type) {
            Some(window) => window,
            None => self.windows.entry(task_type.to_owned()).or_default(),
        };
        while window.front().is_some_and(|&at| at <= since) {
            window.pop_front();
        }
        if window.len() >= per {
            return false;
        }
        window.push_back(now);
        true
    }

    /// A task of `record`'s type has just been handed out.
    pub(super) fn started(&mut self, record: &TaskRecord) {
        if concurrency_limit(&record.spec.def) > 0 {
            let task_type = &record.spec.key.task_type;
            match self.in_progress.get_mut(task_type) {
                Some(count) => *count += 1,
                None => {
                    self.in_progress.insert(task_type.clone(), 1);
                }
            }
        }
    }

    /// A task of `record`'s type has just left IN_PROGRESS.
    pub(super) fn stopped(&mut self, record: &TaskRecord) {
        if concurrency_limit(&record.spec.def) > 0
            && let Some(count) = self.in_progress.get_mut(&record.spec.key.task_type)
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.in_progress.remove(&record.spec.key.task_type);
            }
        }
    }

    /// Keeps the rate windows of the types `keep` accepts (idle eviction drops the others).
    pub(super) fn retain_windows(&mut self, keep: impl Fn(&str) -> bool) {
        self.windows.retain(|task_type, _| keep(task_type));
    }
}

impl State {
    /// Puts the just-popped `seq` back into `key`'s queue, due after the postpone duration.
    pub(super) fn postpone(&mut self, key: &QueueKey, seq: u64, now: u64) {
        let postpone = u64::try_from(self.config.postpone.as_micros()).unwrap_or(u64::MAX);
        let Some(record) = self.live.get_mut(&seq) else {
            return;
        };
        record.due = now.saturating_add(postpone);
        if let Some(queue) = self.queues.get_mut(key) {
            queue.push(seq, record.spec.priority, record.due, now);
        }
        self.ledger.counts.postponed += 1;
    }

    /// A task of `record`'s definition reached a terminal status: with a concurrency limit,
    /// the earliest task of its queue becomes due at once (the server's v3.30.0 release).
    pub(super) fn release_postponed(&mut self, record: &TaskRecord, now: u64) {
        if concurrency_limit(&record.spec.def) == 0 {
            return;
        }
        let key = &record.spec.key;
        let Some(queue) = self.queues.get_mut(key) else {
            return;
        };
        let Some((seq, priority)) = queue.release_first(now) else {
            return;
        };
        match self.live.get_mut(&seq) {
            Some(next) => next.due = now,
            None => {
                // Not live (cannot happen while queue and live map agree): take it out again.
                queue.remove(seq, priority, now);
                return;
            }
        }
        self.ledger.counts.released += 1;
        queue.signal.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(concurrency: Option<i32>, per: Option<i32>, seconds: Option<i32>) -> TaskDef {
        let mut def = TaskDef::new("t");
        def.concurrent_exec_limit = concurrency;
        def.rate_limit_per_frequency = per;
        def.rate_limit_frequency_in_seconds = seconds;
        def
    }

    #[test]
    fn the_rate_window_slides_and_defaults_to_one_second() {
        let mut limits = Limits::default();
        let def = def(None, Some(2), None);
        assert!(limits.admit("t", &def, 1_000_000));
        assert!(limits.admit("t", &def, 1_400_000));
        assert!(!limits.admit("t", &def, 1_900_000));
        // The first hand-out leaves the window exactly one second later.
        assert!(!limits.admit("t", &def, 1_999_999));
        assert!(limits.admit("t", &def, 2_000_000));
        assert!(!limits.admit("t", &def, 2_100_000));
        // Other types have their own window.
        assert!(limits.admit("u", &def, 2_100_000));
    }

    #[test]
    fn limits_off_when_zero_or_negative() {
        let mut limits = Limits::default();
        for def in [
            def(Some(0), Some(0), None),
            def(Some(-1), Some(-5), Some(1)),
            def(None, Some(1), Some(0)),
        ] {
            for at in 0..10 {
                assert!(limits.admit("t", &def, at));
            }
        }
    }
}
