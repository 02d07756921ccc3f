//! Task-level `totalTimeoutSeconds`, `timeoutSeconds` and `pollTimeoutSeconds` with the
//! definition's `timeoutPolicy`, checked by the sweeper as the server's decider checks them
//! (conductor-api.md §4.2; conductor-oss `DeciderService.checkTotalTimeout`,
//! `checkTaskTimeout`, `checkTaskPollTimeout`, `timeoutTaskWithTimeoutPolicy`).
//!
//! - `totalTimeoutSeconds > 0` (since v3.30.0): an open task times out once
//!   `now − firstScheduledTime ≥ totalTimeoutSeconds`, counted from its first attempt's
//!   scheduling across every retry and retry delay; once spent, a failed or timed-out attempt
//!   is not retried either (`retry::total_timeout_spent`).
//! - `timeoutSeconds > 0`: a task that has started and not ended times out once
//!   `now − (startTime + startDelay) ≥ timeoutSeconds`, whether IN_PROGRESS or re-queued by an
//!   IN_PROGRESS update.
//! - `pollTimeoutSeconds > 0`: a SCHEDULED task times out once
//!   `now − (scheduledTime + startDelay) ≥ pollTimeoutSeconds + callbackAfterSeconds`.
//! - `RETRY`: the task becomes TIMED_OUT and is retried while retries remain. `TIME_OUT_WF`:
//!   TIMED_OUT and its workflow times out at once, without a retry (a bulk task, whose
//!   workflow is the mock's own grouping, just ends). `ALERT_ONLY`: only logged (and counted
//!   in the ledger's `timeout_alerts`); the task goes on.
//!
//! Each live task with such a deadline sits once in [`State::task_timeouts`], keyed by the
//! deadline [`timeout_deadline`] computes from the record; every change of the inputs
//! (hand-out, re-queue, end) re-keys it.

use baton_model::{TaskStatus, TimeoutPolicy};

use super::State;
use super::ledger::FP_SERVER;
use super::record::TaskRecord;

/// `seconds` as µs of the core's clock (negative counts as 0; saturating).
fn micros(seconds: i64) -> u64 {
    u64::try_from(seconds)
        .unwrap_or(0)
        .saturating_mul(1_000_000)
}

/// Which timeout a deadline belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `totalTimeoutSeconds`, from the first attempt's scheduling (checked first, as the
    /// server does).
    Total,
    /// `timeoutSeconds`, from the start.
    Run,
    /// `pollTimeoutSeconds`, from scheduling.
    Poll,
}

/// The earliest task or poll timeout deadline of `record` as it is now, with its kind.
fn next_timeout(record: &TaskRecord) -> Option<(u64, Kind)> {
    let def = &record.spec.def;
    let open = matches!(
        record.status,
        TaskStatus::Scheduled | TaskStatus::InProgress
    );
    if !open {
        return None;
    }
    let delay = micros(i64::from(record.start_delay_seconds));
    let run = (def.timeout_seconds > 0 && record.start_time > 0).then(|| {
        record
            .start_time
            .saturating_add(delay)
            .saturating_add(micros(def.timeout_seconds))
    });
    let poll_timeout = def.poll_timeout_seconds.unwrap_or(0);
    let poll = (poll_timeout > 0 && record.status == TaskStatus::Scheduled).then(|| {
        record
            .scheduled
            .saturating_add(delay)
            .saturating_add(micros(poll_timeout))
            .saturating_add(micros(record.callback_after_seconds))
    });
    let total = (def.total_timeout_seconds > 0).then(|| {
        record
            .first_scheduled
            .saturating_add(micros(def.total_timeout_seconds))
    });
    // The earliest wins; on a tie the one the server checks first.
    [
        total.map(|at| (at, Kind::Total)),
        run.map(|at| (at, Kind::Run)),
        poll.map(|at| (at, Kind::Poll)),
    ]
    .into_iter()
    .flatten()
    .min_by_key(|&(at, _)| at)
}

/// The deadline under which `record` is watched for task or poll timeouts, if any.
pub(super) fn timeout_deadline(record: &TaskRecord) -> Option<u64> {
    next_timeout(record).map(|(deadline, _)| deadline)
}

impl State {
    /// Starts watching `seq` (as `record` is now) for task and poll timeouts.
    pub(super) fn watch_timeouts(&mut self, seq: u64, record: &TaskRecord) {
        if let Some(deadline) = timeout_deadline(record) {
            self.task_timeouts.insert(deadline, seq);
        }
    }

    /// Stops watching `seq` (as `record` is now) for task and poll timeouts.
    pub(super) fn unwatch_timeouts(&mut self, seq: u64, record: &TaskRecord) {
        if let Some(deadline) = timeout_deadline(record) {
            self.task_timeouts.remove(deadline, seq);
        }
    }

    /// Applies every task and poll timeout due by `now`; returns how many tasks timed out.
    pub(super) fn sweep_task_timeouts(&mut self, now: u64) -> usize {
        let mut timed_out = 0;
        for seq in self.task_timeouts.pop_due(now) {
            let Some(record) = self.live.get(&seq) else {
                continue;
            };
            let Some((deadline, kind)) = next_timeout(record) else {
                continue;
            };
            if deadline > now {
                self.task_timeouts.insert(deadline, seq);
                continue;
            }
            timed_out += usize::from(self.task_timed_out(seq, kind, now));
        }
        timed_out
    }

    /// `seq` is past its `kind` deadline: applies the timeout policy; returns whether the task
    /// timed out (false for `ALERT_ONLY`).
    fn task_timed_out(&mut self, seq: u64, kind: Kind, now: u64) -> bool {
        let Some(record) = self.live.get(&seq) else {
            return false;
        };
        let def = &record.spec.def;
        let policy = def.timeout_policy;
        let policy_name = match policy {
            TimeoutPolicy::Retry => "RETRY",
            TimeoutPolicy::TimeOutWf => "TIME_OUT_WF",
            TimeoutPolicy::AlertOnly => "ALERT_ONLY",
        };
        let reason = match kind {
            Kind::Total => format!(
                "Task {}/{} exceeded total timeout of {} seconds (elapsed {} seconds across all attempts including retry delays). Timeout policy: {policy_name}",
                record.spec.key.task_type,
                crate::ids::task_id(seq),
                def.total_timeout_seconds,
                now.saturating_sub(record.first_scheduled) / 1_000_000
            ),
            Kind::Run => {
                let since = record
                    .start_time
                    .saturating_add(micros(i64::from(record.start_delay_seconds)));
                format!(
                    "Task timed out after {} seconds. Timeout configured as {} seconds. Timeout policy configured to {policy_name}",
                    now.saturating_sub(since) / 1_000_000,
                    def.timeout_seconds
                )
            }
            Kind::Poll => {
                let since = record
                    .scheduled
                    .saturating_add(micros(i64::from(record.start_delay_seconds)));
                format!(
                    "Task poll timed out after {} seconds. Poll timeout configured as {} seconds. Timeout policy configured to {policy_name}",
                    now.saturating_sub(since) / 1_000_000,
                    def.poll_timeout_seconds.unwrap_or(0)
                )
            }
        };
        if policy == TimeoutPolicy::AlertOnly {
            tracing::info!(task_id = %crate::ids::task_id(seq), "{reason}");
            self.ledger.counts.timeout_alerts += 1;
            return false;
        }
        let Some(mut record) = self.live.remove(&seq) else {
            return false;
        };
        self.leave_current_place(seq, &record);
        record.status = TaskStatus::TimedOut;
        record.reason = Some(reason.into());
        record.update_time = now;
        self.ledger.counts.timed_out += 1;
        self.ledger.set_ending(seq, FP_SERVER);
        let retry = policy == TimeoutPolicy::Retry;
        self.end_with(seq, record, now, retry);
        true
    }
}
