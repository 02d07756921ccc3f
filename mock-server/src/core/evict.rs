//! Idle eviction, so that task types and task ids a client merely named do not stay in memory
//! forever: task logs ([`Logs`]) and the pass the sweeper runs ([`State::evict_idle`]).
//!
//! A task type is idle when each of its queues is empty, no long poll waits on it, nothing was
//! pushed to or polled from it, and no poll data of it was written, for
//! [`super::CoreConfig::idle_evict`]. Its queues, poll data and rate-limit window are then
//! forgotten, with the logs of its tasks that are no longer live. Independently, the logs of a
//! task that is no longer readable (evicted from the ended-task history) are dropped, and logs
//! posted for ids that name no task are dropped once nobody wrote to them for the idle period.

use std::collections::{HashMap, HashSet};

use baton_model::TaskExecLog;

use super::State;
use crate::ids;

/// The most log lines kept per task id: older lines are dropped first.
pub(super) const MAX_LOG_LINES_PER_TASK: usize = 1000;
/// The most log text kept per task id, in bytes: older lines are dropped first (the newest
/// line is kept whatever its size).
pub(super) const MAX_LOG_BYTES_PER_TASK: usize = 1024 * 1024;

/// The log lines of one task id.
#[derive(Debug)]
pub(super) struct LogEntry {
    /// The task's type, when the id names a task the mock knows.
    task_type: Option<String>,
    /// When a line was last added (µs).
    last_write: u64,
    /// The lines, oldest first.
    lines: Vec<TaskExecLog>,
    /// The bytes of the lines' text.
    bytes: usize,
}

impl LogEntry {
    /// Appends `line`, dropping the oldest lines beyond [`MAX_LOG_LINES_PER_TASK`] and
    /// [`MAX_LOG_BYTES_PER_TASK`], so no client can grow a task's logs without bound.
    pub(super) fn push(&mut self, line: TaskExecLog) {
        self.bytes += text_len(&line);
        self.lines.push(line);
        let mut drop = 0;
        while self.lines.len() - drop > 1
            && (self.lines.len() - drop > MAX_LOG_LINES_PER_TASK
                || self.bytes > MAX_LOG_BYTES_PER_TASK)
        {
            self.bytes -= text_len(&self.lines[drop]);
            drop += 1;
        }
        self.lines.drain(..drop);
    }
}

fn text_len(line: &TaskExecLog) -> usize {
    line.log.len()
}

/// Task logs by task id.
#[derive(Debug, Default)]
pub(super) struct Logs(HashMap<String, LogEntry>);

impl Logs {
    /// The lines of `task_id` for appending, created with `task_type` if new.
    pub(super) fn entry(
        &mut self,
        task_id: &str,
        task_type: Option<&str>,
        now: u64,
    ) -> &mut LogEntry {
        // Logs are not a hot path: one key allocation per call is fine.
        let entry = self
            .0
            .entry(task_id.to_owned())
            .or_insert_with(|| LogEntry {
                task_type: task_type.map(str::to_owned),
                last_write: now,
                lines: Vec::new(),
                bytes: 0,
            });
        entry.last_write = now;
        entry
    }

    /// The lines of `task_id`, if any.
    pub(super) fn get(&self, task_id: &str) -> Option<&Vec<TaskExecLog>> {
        self.0.get(task_id).map(|entry| &entry.lines)
    }

    /// How many task ids have logs.
    pub(super) fn len(&self) -> usize {
        self.0.len()
    }
}

impl State {
    /// The task type of `task_id`, if it names a task the mock can still read.
    pub(super) fn task_type_of(&self, task_id: &str) -> Option<&str> {
        let seq = ids::parse_task_id(task_id)?;
        let record = self
            .live
            .get(&seq)
            .or_else(|| self.ended.get(&seq))
            .or_else(|| self.workflow_task_record(seq))?;
        Some(&record.spec.key.task_type)
    }

    /// Forgets idle task types (see the module docs); runs at most once per tenth of the idle
    /// period (and at most once a second).
    pub(super) fn evict_idle(&mut self, now: u64) {
        let idle = u64::try_from(self.config.idle_evict.as_micros()).unwrap_or(u64::MAX);
        let every = (idle / 10).min(1_000_000);
        if now.saturating_sub(self.last_evict) < every {
            return;
        }
        self.last_evict = now;
        let idle_ms = i64::try_from(idle / 1000).unwrap_or(i64::MAX);
        let poll_cutoff_ms = self.clock.epoch_ms(now).saturating_sub(idle_ms);
        let recent = |at: u64| now.saturating_sub(at) < idle;
        let mut active: HashSet<String> = HashSet::new();
        for (key, queue) in &self.queues {
            if queue.len() > 0 || queue.has_waiters() || recent(queue.last_active) {
                active.insert(key.task_type.clone());
            }
        }
        for ((task_type, _), data) in &self.poll_data {
            if data.last_poll_time > poll_cutoff_ms {
                active.insert(task_type.clone());
            }
        }
        let before = (self.queues.len(), self.poll_data.len(), self.logs.len());
        self.queues.retain(|key, _| active.contains(&key.task_type));
        self.poll_data
            .retain(|(task_type, _), _| active.contains(task_type));
        self.limits
            .retain_windows(|task_type| active.contains(task_type));
        let mut logs = std::mem::take(&mut self.logs.0);
        logs.retain(|task_id, entry| {
            let readable = self.task_type_of(task_id).is_some();
            let live = ids::parse_task_id(task_id).is_some_and(|seq| self.live.contains_key(&seq));
            match &entry.task_type {
                Some(task_type) => live || (readable && active.contains(task_type)),
                None => readable || recent(entry.last_write),
            }
        });
        self.logs.0 = logs;
        let after = (self.queues.len(), self.poll_data.len(), self.logs.len());
        if after != before {
            tracing::debug!(?before, ?after, "idle eviction (queues, poll data, logs)");
        }
    }
}

#[cfg(test)]
mod tests {
    use baton_model::TaskExecLog;

    use super::{Logs, MAX_LOG_BYTES_PER_TASK, MAX_LOG_LINES_PER_TASK};

    #[test]
    fn a_tasks_logs_keep_the_newest_lines_within_their_bounds() {
        let mut logs = Logs::default();
        for n in 0..MAX_LOG_LINES_PER_TASK + 5 {
            logs.entry("t", None, 0)
                .push(TaskExecLog::new(n.to_string(), "t", 0));
        }
        let lines = logs.get("t").unwrap();
        assert_eq!(lines.len(), MAX_LOG_LINES_PER_TASK);
        assert_eq!(lines[0].log, "5");
        assert_eq!(
            lines.last().unwrap().log,
            (MAX_LOG_LINES_PER_TASK + 4).to_string()
        );

        let big = "x".repeat(MAX_LOG_BYTES_PER_TASK / 3);
        for _ in 0..4 {
            logs.entry("u", None, 0)
                .push(TaskExecLog::new(big.clone(), "u", 0));
        }
        assert_eq!(logs.get("u").unwrap().len(), 3);
        // A line above the whole budget is still kept, alone.
        let huge = "y".repeat(MAX_LOG_BYTES_PER_TASK + 1);
        logs.entry("u", None, 0)
            .push(TaskExecLog::new(huge.clone(), "u", 0));
        let lines = logs.get("u").unwrap();
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].log, huge);
    }
}
