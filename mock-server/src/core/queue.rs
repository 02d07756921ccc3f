//! One task queue (`domain:taskType`): due tasks in hand-out order, delayed tasks by due time.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use tokio::sync::Notify;

/// The name of a queue: an optional domain and a task type, shown as `domain:taskType`.
///
/// `Some("")` is a real, empty domain (queue `":taskType"`), distinct from `None`, exactly as
/// on the server.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueueKey {
    /// The task domain, if any.
    pub domain: Option<String>,
    /// The task type.
    pub task_type: String,
}

impl QueueKey {
    /// The queue of `task_type` in `domain`.
    pub fn new(task_type: impl Into<String>, domain: Option<impl Into<String>>) -> Self {
        Self {
            domain: domain.map(Into::into),
            task_type: task_type.into(),
        }
    }
}

impl fmt::Display for QueueKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.domain {
            Some(domain) => write!(f, "{domain}:{}", self.task_type),
            None => f.write_str(&self.task_type),
        }
    }
}

/// Hand-out order among due tasks: priority desc, then due time asc, then sequence asc.
type ReadyKey = (Reverse<i32>, u64, u64);

/// The tasks of one queue, split into due (`ready`) and not yet due (`delayed`).
///
/// Due tasks are kept as runs: tasks with the same priority and due time and consecutive
/// sequence numbers (what one bulk enqueue makes) are one entry, keyed by the first task's
/// hand-out key, valued by how many tasks it holds. A poll takes its tasks off the front of a
/// run instead of removing them one by one; a task removed from the middle splits its run.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    ready: BTreeMap<ReadyKey, u32>,
    /// How many tasks the runs of `ready` hold.
    ready_len: usize,
    /// `(due, seq, priority)`, earliest first.
    delayed: BTreeSet<(u64, u64, i32)>,
    /// Woken whenever a task is pushed, so long polls re-check.
    pub(crate) signal: Arc<Notify>,
    /// When it was last pushed to or polled (µs on the core's clock), for idle eviction.
    pub(crate) last_active: u64,
}

impl Queue {
    /// Adds task `seq` with `priority`, due at `due` (µs on the core's clock).
    pub(crate) fn push(&mut self, seq: u64, priority: i32, due: u64, now: u64) {
        self.last_active = now;
        if due <= now {
            self.insert_ready(priority, due, seq);
        } else {
            self.delayed.insert((due, seq, priority));
        }
    }

    /// Removes task `seq` (pushed with `priority` and `due`), wherever it is.
    pub(crate) fn remove(&mut self, seq: u64, priority: i32, due: u64) -> bool {
        self.remove_ready(priority, due, seq) || self.delayed.remove(&(due, seq, priority))
    }

    /// Takes the next due task, if any.
    #[cfg(test)]
    pub(crate) fn pop(&mut self, now: u64) -> Option<u64> {
        let mut taken = Vec::with_capacity(1);
        self.pop_many(now, 1, &mut taken);
        taken.first().copied()
    }

    /// Takes up to `max` due tasks, in hand-out order, onto `out`.
    pub(crate) fn pop_many(&mut self, now: u64, max: usize, out: &mut Vec<u64>) {
        self.promote(now);
        let mut left = max;
        while left > 0 {
            let Some((&(priority, due, first), &count)) = self.ready.first_key_value() else {
                break;
            };
            let take = u32::try_from(left).map_or(count, |left| left.min(count));
            let end = first + u64::from(take);
            out.extend(first..end);
            self.ready.pop_first();
            if take < count {
                self.ready.insert((priority, due, end), count - take);
            }
            let take = take as usize;
            left -= take;
            self.ready_len -= take;
        }
    }

    /// The server's release of a postponed task (`peekFirstIds` + `resetOffsetTime`): when no
    /// task is due, the earliest delayed one becomes due at `now`; returns its sequence and
    /// priority. When a task is due already, the peeked one is due anyway: nothing changes.
    pub(crate) fn release_first(&mut self, now: u64) -> Option<(u64, i32)> {
        self.promote(now);
        if self.ready_len > 0 {
            return None;
        }
        let (_, seq, priority) = self.delayed.pop_first()?;
        self.insert_ready(priority, now, seq);
        Some((seq, priority))
    }

    /// Whether a long poll is waiting on this queue right now (it holds the signal).
    pub(crate) fn has_waiters(&self) -> bool {
        Arc::strong_count(&self.signal) > 1
    }

    /// Moves every delayed task that is due by `now` into the ready set.
    fn promote(&mut self, now: u64) {
        while let Some(&(due, seq, priority)) = self.delayed.first() {
            if due > now {
                break;
            }
            self.delayed.pop_first();
            self.insert_ready(priority, due, seq);
        }
    }

    /// The run that holds or would end just before task `seq` of `priority` and `due`: its
    /// first sequence number and length.
    fn run_at(&self, priority: i32, due: u64, seq: u64) -> Option<(u64, u32)> {
        let (&(run_priority, run_due, first), &count) = self
            .ready
            .range(..=(Reverse(priority), due, seq))
            .next_back()?;
        (run_priority == Reverse(priority) && run_due == due).then_some((first, count))
    }

    /// Adds a due task, joining the runs just before and after it; false if it is there.
    fn insert_ready(&mut self, priority: i32, due: u64, seq: u64) -> bool {
        let mut start = seq;
        let mut count: u32 = 1;
        if let Some((first, run)) = self.run_at(priority, due, seq) {
            let end = first.saturating_add(u64::from(run));
            if seq < end {
                return false;
            }
            if seq == end && run < u32::MAX {
                start = first;
                count = run + 1;
            }
        }
        if let Some(next) = seq.checked_add(1) {
            let next_key = (Reverse(priority), due, next);
            if let Some(total) = self
                .ready
                .get(&next_key)
                .and_then(|&run| count.checked_add(run))
            {
                self.ready.remove(&next_key);
                count = total;
            }
        }
        self.ready.insert((Reverse(priority), due, start), count);
        self.ready_len += 1;
        true
    }

    /// Removes a due task, splitting its run; false if it is not there.
    fn remove_ready(&mut self, priority: i32, due: u64, seq: u64) -> bool {
        let Some((first, run)) = self.run_at(priority, due, seq) else {
            return false;
        };
        let end = first.saturating_add(u64::from(run));
        if seq >= end {
            return false;
        }
        // What is left: [first, seq) and [seq + 1, end); both shorter than the run.
        let before = u32::try_from(seq - first).unwrap_or(u32::MAX);
        let after = u32::try_from(end - seq - 1).unwrap_or(u32::MAX);
        if before == 0 {
            self.ready.remove(&(Reverse(priority), due, first));
        } else {
            self.ready.insert((Reverse(priority), due, first), before);
        }
        if after > 0 {
            self.ready.insert((Reverse(priority), due, seq + 1), after);
        }
        self.ready_len -= 1;
        true
    }

    /// When the earliest delayed task becomes due, if there is one.
    pub(crate) fn next_due(&self) -> Option<u64> {
        self.delayed.first().map(|&(due, _, _)| due)
    }

    /// Tasks queued, due or not.
    pub(crate) fn len(&self) -> usize {
        self.ready_len + self.delayed.len()
    }

    /// Drops every task (the signal stays, so waiting polls keep working).
    pub(crate) fn clear(&mut self) {
        self.ready.clear();
        self.ready_len = 0;
        self.delayed.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_tasks_leave_by_priority_then_due_time_then_sequence() {
        let mut q = Queue::default();
        let now = 1_000;
        q.push(1, 0, 500, now); // low priority, old
        q.push(2, 5, 900, now); // high priority, newer
        q.push(3, 5, 800, now); // high priority, older due
        q.push(4, 5, 800, now); // same priority and due as 3, later sequence
        q.push(5, 9, 5_000, now); // highest priority but not due
        assert_eq!(q.len(), 5);
        let order: Vec<u64> = std::iter::from_fn(|| q.pop(now)).collect();
        assert_eq!(order, vec![3, 4, 2, 1]);
        for (seq, priority, due) in [(3, 5, 800), (4, 5, 800), (2, 5, 900), (1, 0, 500)] {
            q.push(seq, priority, due, now);
        }
        let mut taken = Vec::new();
        q.pop_many(now, 3, &mut taken);
        assert_eq!(taken, vec![3, 4, 2]);
        q.pop_many(now, 3, &mut taken);
        assert_eq!(taken, vec![3, 4, 2, 1]);
        assert_eq!(q.next_due(), Some(5_000));
        assert_eq!(q.pop(4_999), None);
        assert_eq!(q.pop(5_000), Some(5));
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn runs_split_and_join_and_hand_out_as_a_set_of_tasks_would() {
        // The runs against a plain ordered set of hand-out keys, on random pushes, removals
        // and polls of a few priorities and due times.
        let mut rng = fastrand::Rng::with_seed(21);
        let mut q = Queue::default();
        let mut model: BTreeSet<ReadyKey> = BTreeSet::new();
        let now = 100;
        for step in 0..50_000 {
            let seq = rng.u64(0..300);
            let priority = rng.i32(0..3);
            let due = rng.u64(98..101);
            match rng.u8(0..10) {
                0..=5 => {
                    let fresh = model.insert((Reverse(priority), due, seq));
                    assert_eq!(q.insert_ready(priority, due, seq), fresh, "step {step}");
                }
                6..=8 => {
                    let present = model.remove(&(Reverse(priority), due, seq));
                    assert_eq!(q.remove(seq, priority, due), present, "step {step}");
                }
                _ => {
                    let max = rng.usize(0..40);
                    let mut taken = Vec::new();
                    q.pop_many(now, max, &mut taken);
                    let expected: Vec<u64> = (0..max)
                        .map_while(|_| model.pop_first())
                        .map(|(_, _, seq)| seq)
                        .collect();
                    assert_eq!(taken, expected, "step {step}");
                }
            }
            assert_eq!(q.len(), model.len(), "step {step}");
        }
        // One bulk enqueue is one run, however many tasks it holds.
        q.clear();
        for seq in 1..=10_000 {
            q.push(seq, 0, now, now);
        }
        assert_eq!(q.ready.len(), 1);
        assert!(q.remove(5_000, 0, now));
        assert_eq!(q.ready.len(), 2);
        let mut taken = Vec::new();
        q.pop_many(now, 5_000, &mut taken);
        assert_eq!(taken.last(), Some(&5_001));
        assert_eq!(taken.len(), 5_000);
        assert_eq!(q.len(), 4_999);
    }

    #[test]
    fn remove_finds_ready_and_delayed_tasks() {
        let mut q = Queue::default();
        q.push(1, 0, 10, 10);
        q.push(2, 0, 99, 10);
        assert!(q.remove(1, 0, 10));
        assert!(q.remove(2, 0, 99));
        assert!(!q.remove(2, 0, 99));
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn release_makes_the_earliest_delayed_task_due_only_when_none_is_due() {
        let mut q = Queue::default();
        q.push(1, 0, 500, 10);
        q.push(2, 0, 300, 10);
        assert_eq!(q.release_first(20), Some((2, 0)));
        assert_eq!(q.pop(20), Some(2));
        q.push(3, 0, 10, 20);
        assert_eq!(q.release_first(20), None, "a due task is peeked first");
        assert_eq!(q.pop(20), Some(3));
        assert_eq!(q.pop(20), None);
        assert_eq!(q.next_due(), Some(500));
    }

    #[test]
    fn queue_names_follow_the_server() {
        assert_eq!(
            QueueKey::new("encode", None::<String>).to_string(),
            "encode"
        );
        assert_eq!(QueueKey::new("encode", Some("")).to_string(), ":encode");
        assert_eq!(
            QueueKey::new("encode", Some("gpu")).to_string(),
            "gpu:encode"
        );
    }
}
