//! Deadlines the sweeper watches: response timeouts of IN_PROGRESS tasks, task and poll
//! timeouts (`timeouts`) and workflow timeouts, each kept as an ordered set of
//! `(deadline µs, id)`, and the sweep ([`Core::sweep`]).

use std::collections::BTreeSet;

use baton_model::TaskStatus;

use super::ledger::FP_SERVER;
use super::{Core, State};
use crate::ids;

/// Ids by deadline (µs on the core's clock), earliest first.
#[derive(Debug, Default)]
pub(super) struct Deadlines(BTreeSet<(u64, u64)>);

impl Deadlines {
    /// Watches `id` until `deadline`.
    pub(super) fn insert(&mut self, deadline: u64, id: u64) {
        self.0.insert((deadline, id));
    }

    /// Stops watching `id` (registered with `deadline`).
    pub(super) fn remove(&mut self, deadline: u64, id: u64) {
        self.0.remove(&(deadline, id));
    }

    /// Removes and returns every id whose deadline is at or before `now`, earliest first.
    pub(super) fn pop_due(&mut self, now: u64) -> Vec<u64> {
        let mut due = Vec::new();
        while let Some(&(deadline, id)) = self.0.first() {
            if deadline > now {
                break;
            }
            self.0.pop_first();
            due.push(id);
        }
        due
    }
}

impl Core {
    /// Times out every in-progress task past its response deadline, every open task past its
    /// task or poll timeout, then every workflow past its workflow timeout; forgets idle task
    /// types; returns how many tasks and workflows timed out (`ALERT_ONLY` ones not counted).
    pub fn sweep(&self) -> usize {
        let now = self.clock.now();
        let mut state = self.lock();
        let expired = state.deadlines.pop_due(now);
        for &seq in &expired {
            state.time_out(seq, now);
        }
        let task_timeouts = state.sweep_task_timeouts(now);
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
}
