//! Deadlines the sweeper watches: response timeouts of IN_PROGRESS tasks, task and poll
//! timeouts (`timeouts`), WAIT tasks and workflow timeouts, each kept as an ordered set of
//! `(deadline µs, id)`, and the sweep ([`Core::sweep`]).

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashSet};

use baton_model::TaskStatus;

use super::ledger::FP_SERVER;
use super::{Core, SeqHash, State};
use crate::ids;

/// Ids by deadline (µs on the core's clock), earliest first.
///
/// Ids sharing a deadline share one entry: the tasks one poll hands out all get the same
/// response deadline, so a batch poll costs one map insertion, not one per task.
#[derive(Debug, Default)]
pub(super) struct Deadlines(BTreeMap<u64, Ids>);

/// Above this many ids, an entry keeps them in a set.
const FEW: usize = 256;

/// The ids sharing one deadline: a list while they are few (a batch poll's hundred), a set
/// once they are many (a million tasks enqueued at once with a poll timeout), so removing one
/// never scans a long list.
#[derive(Debug)]
enum Ids {
    Few(Vec<u64>),
    Many(HashSet<u64, SeqHash>),
}

impl Ids {
    fn of(ids: Vec<u64>) -> Self {
        if ids.len() > FEW {
            Self::Many(ids.into_iter().collect())
        } else {
            Self::Few(ids)
        }
    }

    fn extend(&mut self, more: &[u64]) {
        match self {
            Self::Few(ids) if ids.len() + more.len() > FEW => {
                let mut set: HashSet<u64, SeqHash> = ids.drain(..).collect();
                set.extend(more);
                *self = Self::Many(set);
            }
            Self::Few(ids) => ids.extend_from_slice(more),
            Self::Many(set) => set.extend(more),
        }
    }

    fn remove(&mut self, id: u64) {
        match self {
            Self::Few(ids) => {
                if let Some(at) = ids.iter().position(|&watched| watched == id) {
                    ids.swap_remove(at);
                }
            }
            Self::Many(set) => {
                set.remove(&id);
            }
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Self::Few(ids) => ids.is_empty(),
            Self::Many(set) => set.is_empty(),
        }
    }

    fn into_sorted(self) -> Vec<u64> {
        let mut ids = match self {
            Self::Few(ids) => ids,
            Self::Many(set) => set.into_iter().collect(),
        };
        ids.sort_unstable();
        ids
    }
}

impl Deadlines {
    /// Watches `id` until `deadline`.
    pub(super) fn insert(&mut self, deadline: u64, id: u64) {
        match self.0.entry(deadline) {
            Entry::Vacant(entry) => {
                entry.insert(Ids::Few(vec![id]));
            }
            Entry::Occupied(mut entry) => entry.get_mut().extend(&[id]),
        }
    }

    /// Watches every id of `ids` until `deadline` (taking the list, so a new deadline keeps
    /// it as its entry without a copy).
    pub(super) fn insert_all(&mut self, deadline: u64, ids: Vec<u64>) {
        if ids.is_empty() {
            return;
        }
        match self.0.entry(deadline) {
            Entry::Vacant(entry) => {
                entry.insert(Ids::of(ids));
            }
            Entry::Occupied(mut entry) => entry.get_mut().extend(&ids),
        }
    }

    /// Stops watching `id` (registered with `deadline`).
    pub(super) fn remove(&mut self, deadline: u64, id: u64) {
        if let Some(ids) = self.0.get_mut(&deadline) {
            ids.remove(id);
            if ids.is_empty() {
                self.0.remove(&deadline);
            }
        }
    }

    /// Removes and returns every id whose deadline is at or before `now`, earliest first.
    pub(super) fn pop_due(&mut self, now: u64) -> Vec<u64> {
        let mut due = Vec::new();
        while let Some(entry) = self.0.first_entry() {
            if *entry.key() > now {
                break;
            }
            due.append(&mut entry.remove().into_sorted());
        }
        due
    }
}

impl Core {
    /// Times out every in-progress task past its response deadline, every open task past its
    /// task or poll timeout, completes every WAIT task that is due, then times out every
    /// workflow past its workflow timeout; forgets idle task
    /// types; returns how many tasks and workflows timed out (`ALERT_ONLY` ones not counted).
    pub fn sweep(&self) -> usize {
        let now = self.clock.now();
        let mut state = self.lock();
        let expired = state.deadlines.pop_due(now);
        for &seq in &expired {
            state.time_out(seq, now);
        }
        let task_timeouts = state.sweep_task_timeouts(now);
        for seq in state.wait_deadlines.pop_due(now) {
            state.wait_over(seq, now);
        }
        let expired_workflows = state.workflow_deadlines.pop_due(now);
        for &id in &expired_workflows {
            state.time_out_workflow(id, now);
        }
        state.evict_workflows();
        state.evict_idle(now);
        expired.len() + task_timeouts + expired_workflows.len()
    }
}

impl State {
    /// The sweeper found `seq` past its response deadline.
    pub(super) fn time_out(&mut self, seq: u64, now: u64) {
        let Some(mut record) = self.live.remove(&seq) else {
            return;
        };
        if record.status != TaskStatus::InProgress {
            self.live.insert(seq, record);
            return;
        }
        self.unwatch_timeouts(seq, &record);
        self.left_in_progress(&record);
        record.status = TaskStatus::TimedOut;
        record.reason = Some(
            format!(
                "responseTimeout: {} exceeded for the taskId: {}",
                record.spec.def.response_timeout_seconds,
                ids::task_id(seq)
            )
            .into(),
        );
        record.update_time = now;
        self.ledger.counts.timed_out += 1;
        self.ledger.set_ending(seq, FP_SERVER);
        self.end(seq, record, now);
    }
}

#[cfg(test)]
mod tests {
    use super::Deadlines;

    #[test]
    fn pop_due_takes_exactly_the_expired_ids_in_deadline_order() {
        let mut deadlines = Deadlines::default();
        deadlines.insert(30, 1);
        deadlines.insert(10, 2);
        deadlines.insert(20, 3);
        deadlines.insert(40, 4);
        deadlines.remove(20, 3);
        assert_eq!(deadlines.pop_due(5), Vec::<u64>::new());
        assert_eq!(deadlines.pop_due(30), vec![2, 1]);
        assert_eq!(deadlines.pop_due(100), vec![4]);
        assert!(deadlines.pop_due(u64::MAX).is_empty());
    }

    #[test]
    fn ids_sharing_a_deadline_leave_one_by_one_or_together() {
        let mut deadlines = Deadlines::default();
        deadlines.insert_all(50, vec![7, 8, 9, 10]);
        deadlines.insert(50, 3);
        deadlines.remove(50, 8);
        deadlines.remove(50, 99);
        deadlines.remove(51, 7);
        assert_eq!(deadlines.pop_due(49), Vec::<u64>::new());
        assert_eq!(deadlines.pop_due(50), vec![3, 7, 9, 10]);
        assert!(deadlines.pop_due(u64::MAX).is_empty());
    }

    #[test]
    fn a_deadline_shared_by_many_ids_keeps_them_in_a_set_and_gives_them_back_sorted() {
        let mut deadlines = Deadlines::default();
        // One enqueue's worth (a list that becomes a set on insertion), then more one by one
        // and in a batch (a list that becomes a set when it grows).
        deadlines.insert_all(9, (1000..3000).collect());
        deadlines.insert_all(5, (0..100).collect());
        for id in 100..400 {
            deadlines.insert(5, id);
        }
        deadlines.insert_all(5, (400..500).collect());
        for id in (0..500).chain(1000..3000).filter(|id| id % 2 == 1) {
            deadlines.remove(if id < 1000 { 5 } else { 9 }, id);
        }
        let evens = |range: std::ops::Range<u64>| range.filter(|id| id % 2 == 0);
        assert_eq!(deadlines.pop_due(5), evens(0..500).collect::<Vec<_>>());
        assert_eq!(deadlines.pop_due(9), evens(1000..3000).collect::<Vec<_>>());
        // Removing every id removes the entry.
        deadlines.insert_all(20, (0..1000).collect());
        (0..1000).for_each(|id| deadlines.remove(20, id));
        assert!(deadlines.0.is_empty());
    }
}
