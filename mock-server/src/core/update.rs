//! Updates (`POST /api/tasks`, [`Core::update`]) in the server's order of checks, what an
//! applied result does to its task, the one place a task ends ([`State::end`]), and task logs.

use std::hash::{Hash, Hasher};

use baton_model::{JsonMap, TaskExecLog, TaskResult, TaskResultStatus, TaskStatus};

use super::clock::Clock;
use super::ledger::{FP_OPEN, FP_SERVER, fingerprint};
use super::queue::QueueKey;
use super::record::TaskRecord;
use super::{Core, State};
use crate::error::ApiError;
use crate::ids;

/// The server keeps at most this many log lines from one update.
const MAX_LOGS_PER_UPDATE: usize = 10;
/// The server keeps this many characters of `reasonForIncompletion`.
const MAX_REASON_CHARS: usize = 500;

/// What an accepted update did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpdateKind {
    /// A terminal result was applied.
    Ended,
    /// An IN_PROGRESS result re-queued the task.
    Requeued,
    /// `extendLease` bumped the task's update time (or the task had already ended).
    LeaseExtended,
    /// The task had already been ended by a worker: ignored.
    Duplicate,
    /// The task had already been timed out by the server: ignored.
    Late,
}

/// The answer to an accepted update: what happened, and which queue update-v2 polls next.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UpdateOutcome {
    /// What the update did.
    pub kind: UpdateKind,
    /// The queue update-v2 polls for the next task; `None` means update-v2 answers 204.
    pub poll_next: Option<QueueKey>,
}

impl Core {
    /// Applies a worker's result, as `POST /api/tasks` does.
    pub fn update(&self, result: TaskResult) -> Result<UpdateOutcome, ApiError> {
        let workflow_missing = result.workflow_instance_id.is_empty();
        let task_missing = result.task_id.is_empty();
        if workflow_missing || task_missing {
            return Err(ApiError::missing_ids(workflow_missing, task_missing));
        }
        // Hash and measure the output before taking the lock: outputs can be megabytes.
        let fp = result
            .status
            .map(|status| result_fingerprint(status, &result.output_data));
        let size = match result.status {
            Some(status) if status.is_terminal() => output_size(&result.output_data),
            _ => 0,
        };
        let now = self.clock.now();
        let mut state = self.lock();
        let seq = ids::parse_task_id(&result.task_id).filter(|&seq| state.ledger.knows(seq));
        if result.extend_lease {
            let Some(seq) = seq else {
                state.ledger.counts.unknown_ids += 1;
                return Err(ApiError::TaskNotFound(result.task_id));
            };
            state.extend_lease(seq, now);
            return Ok(UpdateOutcome {
                kind: UpdateKind::LeaseExtended,
                poll_next: None,
            });
        }
        let workflow_id = ids::parse_workflow_id(&result.workflow_instance_id);
        let workflow = workflow_id.and_then(|id| state.workflows.get(&id));
        // An evicted workflow has ended: its tasks' updates are the server's 200 no-ops.
        let evicted =
            workflow_id.is_some_and(|id| id >= state.first_workflow && id < state.next_workflow);
        let bulk_queue = match workflow {
            Some(workflow) => workflow.queue().cloned(),
            None if evicted => None,
            None => {
                state.ledger.counts.unknown_ids += 1;
                return Err(ApiError::WorkflowNotFound(result.workflow_instance_id));
            }
        };
        let Some(seq) = seq else {
            state.ledger.counts.unknown_ids += 1;
            return Err(ApiError::TaskNotFound(result.task_id));
        };
        // Update-v2 polls the updated task's queue: the bulk workflow's one, else the task's.
        let poll_next = match bulk_queue {
            Some(queue) => Some(queue),
            None => state.live.get(&seq).map(|record| record.spec.key.clone()),
        };
        let (Some(status), Some(fp)) = (result.status, fp) else {
            return Err(ApiError::Internal(
                "TaskResult status must not be null".to_owned(),
            ));
        };
        let ending = state.ledger.ending(seq);
        if ending != FP_OPEN {
            let kind = if ending == FP_SERVER {
                state.ledger.counts.late_updates += 1;
                UpdateKind::Late
            } else if ending == fp {
                state.ledger.counts.duplicate_identical += 1;
                UpdateKind::Duplicate
            } else {
                state.ledger.counts.duplicate_conflicting += 1;
                UpdateKind::Duplicate
            };
            return Ok(UpdateOutcome { kind, poll_next });
        }
        let kind = state.apply(seq, result, (status, fp, size), now, &self.clock);
        let poll_next = (kind == UpdateKind::Ended).then_some(poll_next).flatten();
        Ok(UpdateOutcome { kind, poll_next })
    }

    /// Stores one log line for `task_id` (the server does not check that the task exists).
    pub fn add_log(&self, task_id: &str, log: String) {
        let now = self.clock.now();
        let entry = TaskExecLog::new(log, task_id, self.clock.epoch_ms(now));
        let mut guard = self.lock();
        let state = &mut *guard;
        let task_type = state.task_type_of(task_id).map(str::to_owned);
        state
            .logs
            .entry(task_id, task_type.as_deref(), now)
            .push(entry);
    }

    /// The log lines of `task_id`, oldest first.
    pub fn logs(&self, task_id: &str) -> Vec<TaskExecLog> {
        self.lock().logs.get(task_id).cloned().unwrap_or_default()
    }
}

impl State {
    /// `extendLease`: restarts the response-timeout clock of `seq`, nothing else.
    pub(super) fn extend_lease(&mut self, seq: u64, now: u64) {
        let Some(record) = self.live.get_mut(&seq) else {
            return; // already ended: nothing to extend
        };
        let old = record.response_deadline();
        record.update_time = now;
        if record.status == TaskStatus::InProgress {
            let new = record.response_deadline();
            self.deadlines.remove(old, seq);
            self.deadlines.insert(new, seq);
        }
        self.ledger.counts.lease_extensions += 1;
    }

    /// Applies a result to the live task `seq`.
    /// `outcome` is the result's status, its fingerprint and its output's serialized size.
    pub(super) fn apply(
        &mut self,
        seq: u64,
        result: TaskResult,
        (status, fp, size): (TaskResultStatus, u16, usize),
        now: u64,
        clock: &Clock,
    ) -> UpdateKind {
        let Some(mut record) = self.live.remove(&seq) else {
            // Unreachable while the ledger and the live map agree; treat as a duplicate.
            self.ledger.counts.duplicate_identical += 1;
            return UpdateKind::Duplicate;
        };
        let task_id = ids::task_id(seq);
        self.leave_current_place(seq, &record);
        record.update_time = now;
        if let Some(reason) = result.reason_for_incompletion {
            record.reason = Some(reason.chars().take(MAX_REASON_CHARS).collect());
        }
        if let Some(worker) = result.worker_id {
            record.worker_id = Some(worker.into());
        }
        record.callback_after_seconds = result.callback_after_seconds.max(0);
        self.store_logs(
            &task_id,
            &record.spec.key.task_type,
            result.logs,
            (now, clock),
        );
        if status == TaskResultStatus::InProgress && record.spec.is_system() {
            // A system task (a WAIT, say) stays open and unqueued: only its output changes.
            record.output = boxed_output(result.output_data);
            self.live.insert(seq, record);
            self.ledger.counts.in_progress_updates += 1;
            return UpdateKind::Requeued;
        }
        if status == TaskResultStatus::InProgress {
            record.output = boxed_output(result.output_data);
            record.status = TaskStatus::Scheduled;
            let delay = u64::try_from(record.callback_after_seconds).unwrap_or(0);
            record.due = now.saturating_add(delay.saturating_mul(1_000_000));
            self.queues
                .entry(record.spec.key.clone())
                .or_default()
                .push(seq, record.spec.priority, record.due, now);
            let key = record.spec.key.clone();
            self.watch_timeouts(seq, &record);
            self.live.insert(seq, record);
            self.wake(&key);
            self.ledger.counts.in_progress_updates += 1;
            return UpdateKind::Requeued;
        }
        let limit = self.config.max_output_bytes;
        record.status = status.to_task_status();
        if size > limit {
            record.status = TaskStatus::FailedWithTerminalError;
            record.output = None;
            record.reason = Some(format!(
                "The payload size: {size} of task: {task_id} is greater than the permissible limit: {limit} bytes"
            ).into());
            self.ledger.counts.payload_too_large += 1;
        } else {
            record.output = boxed_output(result.output_data);
        }
        let counts = &mut self.ledger.counts;
        match record.status {
            TaskStatus::Completed => counts.completed += 1,
            TaskStatus::Failed => counts.failed += 1,
            TaskStatus::FailedWithTerminalError => counts.failed_terminal += 1,
            _ => counts.canceled += 1,
        }
        self.ledger.set_ending(seq, fp);
        self.end(seq, record, now);
        UpdateKind::Ended
    }

    /// Bookkeeping for a task that has just ended, then the decision of what follows it.
    pub(super) fn end(&mut self, seq: u64, record: TaskRecord, now: u64) {
        self.end_with(seq, record, now, true);
    }

    /// [`State::end`]; with `may_retry` false (a `TIME_OUT_WF` timeout) the task is not
    /// retried and its workflow times out.
    pub(super) fn end_with(&mut self, seq: u64, mut record: TaskRecord, now: u64, may_retry: bool) {
        record.end_time = now;
        self.ledger
            .latency
            .record(now.saturating_sub(record.scheduled));
        self.release_postponed(&record, now);
        if record.spec.workflow_task.is_some() {
            if may_retry {
                self.workflow_task_ended(seq, record, now);
            } else {
                self.workflow_task_timed_out_wf(seq, record, now);
            }
            return;
        }
        if may_retry {
            self.retry_bulk_task(seq, &mut record, now);
        }
        self.keep_ended(seq, record);
    }

    /// Stores up to [`MAX_LOGS_PER_UPDATE`] log lines of one update under `task_id` (of
    /// `task_type`), at `now` on `clock`.
    pub(super) fn store_logs(
        &mut self,
        task_id: &str,
        task_type: &str,
        logs: Vec<TaskExecLog>,
        (now, clock): (u64, &Clock),
    ) {
        if logs.is_empty() {
            return;
        }
        let now_ms = clock.epoch_ms(now);
        let stored = self.logs.entry(task_id, Some(task_type), now);
        for mut log in logs.into_iter().take(MAX_LOGS_PER_UPDATE) {
            log.task_id = Some(task_id.to_owned());
            if log.created_time == 0 {
                log.created_time = now_ms;
            }
            stored.push(log);
        }
    }
}

fn boxed_output(output: JsonMap) -> Option<Box<JsonMap>> {
    (!output.is_empty()).then(|| Box::new(output))
}

/// The serialized size of an output map, without building the string.
fn output_size(output: &JsonMap) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    match serde_json::to_writer(&mut count, output) {
        Ok(()) => count.0,
        Err(_) => 0,
    }
}

/// The fingerprint of a terminal result: its status and output (keys in sorted order).
fn result_fingerprint(status: TaskResultStatus, output: &JsonMap) -> u16 {
    struct HashWriter<'a>(&'a mut std::hash::DefaultHasher);
    impl std::io::Write for HashWriter<'_> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.write(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut hasher = std::hash::DefaultHasher::new();
    status.as_str().hash(&mut hasher);
    // Writing into a hasher cannot fail.
    let _ = serde_json::to_writer(HashWriter(&mut hasher), output);
    fingerprint(hasher.finish())
}
