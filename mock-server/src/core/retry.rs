//! Retries: the delay before a failed or timed-out attempt is tried again, and the retry of a
//! bulk task (workflow tasks are retried by the decider in `workflow/decider.rs`, with the same
//! delay).
//!
//! The delay follows conductor-oss `DeciderService.retry` (core/src/main/java/com/netflix/
//! conductor/core/execution/DeciderService.java, confirmed at v3.32.0-rc.26, b54f0d4; jitter since
//! v3.30.0, "Improve task retry policy (#1031)"): whole seconds from the retry logic (FIXED:
//! `retryDelaySeconds`; LINEAR_BACKOFF: `retryDelaySeconds × backoffScaleFactor × (retryCount +
//! 1)`; EXPONENTIAL_BACKOFF: `retryDelaySeconds × 2^retryCount`), capped by
//! `maxRetryDelaySeconds` when that is positive, plus a jitter drawn uniformly from
//! `0..=backoffJitterMs` **milliseconds**. The server queues the retry after
//! `seconds × 1000 + jitter` ms (`callbackAfterMs`, pushed with millisecond precision by
//! `WorkflowExecutorOps.addTaskToQueue`), while the task's `startDelayInSeconds` and
//! `callbackAfterSeconds` show the whole seconds only.

use baton_model::{TaskDef, TaskStatus};

use super::State;
use super::record::TaskRecord;

/// How long a retry waits: the retry logic's whole seconds plus the jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RetryDelay {
    /// The retry logic's delay (what `startDelayInSeconds` and `callbackAfterSeconds` show).
    pub(super) seconds: u64,
    /// The jitter on top, in milliseconds.
    pub(super) jitter_ms: u64,
}

impl RetryDelay {
    /// The whole delay in microseconds of the core's clock.
    pub(super) fn micros(self) -> u64 {
        self.seconds
            .saturating_mul(1_000_000)
            .saturating_add(self.jitter_ms.saturating_mul(1000))
    }
}

/// The delay before retrying an attempt of `def` whose retry count was `attempt`; the jitter is
/// drawn from `rng` (the core's seeded one).
pub(super) fn retry_delay(rng: &mut fastrand::Rng, def: &TaskDef, attempt: i32) -> RetryDelay {
    let seconds = u64::try_from(def.retry_delay_seconds_for(attempt)).unwrap_or(0);
    let max_jitter_ms = u64::try_from(def.backoff_jitter_ms).unwrap_or(0);
    let jitter_ms = if max_jitter_ms > 0 {
        rng.u64(0..=max_jitter_ms)
    } else {
        0
    };
    RetryDelay { seconds, jitter_ms }
}

/// Whether an attempt that ended as `record` may be retried: FAILED or TIMED_OUT with retries
/// left. [`total_timeout_spent`] can still refuse the retry.
pub(super) fn should_retry(record: &TaskRecord) -> bool {
    matches!(record.status, TaskStatus::Failed | TaskStatus::TimedOut)
        && record.retry_count < record.spec.def.retry_count
}

/// The whole seconds since `record`'s first attempt was scheduled, when its definition's
/// `totalTimeoutSeconds` (all attempts and retry delays together) is set and spent by `now`:
/// the server then retries no more (`DeciderService.retry`, since v3.30.0).
pub(super) fn total_timeout_spent(record: &TaskRecord, now: u64) -> Option<u64> {
    let total = u64::try_from(record.spec.def.total_timeout_seconds).unwrap_or(0);
    let elapsed = now.saturating_sub(record.first_scheduled) / 1_000_000;
    (total > 0 && elapsed >= total).then_some(elapsed)
}

impl State {
    /// What follows an ended bulk task (sequence `seq`): a retry while retries remain.
    pub(super) fn retry_bulk_task(&mut self, seq: u64, record: &mut TaskRecord, now: u64) {
        if !should_retry(record) || total_timeout_spent(record, now).is_some() {
            return;
        }
        let delay = retry_delay(&mut self.rng, &record.spec.def, record.retry_count);
        let due = now.saturating_add(delay.micros());
        let retry = record.retry_of(seq, now, due, delay.seconds);
        record.retried = true;
        let key = retry.spec.key.clone();
        self.schedule(retry, now);
        self.ledger.counts.retried += 1;
        self.wake(&key);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use baton_model::{JsonMap, RetryLogic, Task, TaskResult, TaskResultStatus, WorkflowDef};

    use super::*;
    use crate::core::{Core, CoreConfig, EnqueueRequest, QueueKey, UpdateKind};
    use crate::ids;

    fn failing_def(logic: RetryLogic) -> TaskDef {
        let mut def = TaskDef::new("x");
        def.retry_count = 5;
        def.retry_delay_seconds = 10;
        def.retry_logic = logic;
        def.backoff_scale_factor = 2;
        def
    }

    /// Fails attempt after attempt and returns each retry's delay in whole seconds.
    fn delays(logic: RetryLogic, attempts: usize) -> Vec<u64> {
        let core = Core::new(CoreConfig::default());
        let key = QueueKey::new("t", None::<String>);
        let enqueued = core.enqueue(EnqueueRequest::new("t", 1).task_def(failing_def(logic)));
        let mut task_id = enqueued.first_task_id.clone();
        let mut out = Vec::new();
        for _ in 0..attempts {
            // Hand the pending attempt out directly (it is only due after its delay).
            let seq = ids::parse_task_id(&task_id).unwrap_or_default();
            {
                let mut state = core.lock();
                let now = core.clock.now();
                let record = state.live.get_mut(&seq).map(|r| {
                    r.hand_out(None, now);
                    (r.spec.priority, r.due, r.response_deadline())
                });
                if let Some((priority, due, deadline)) = record {
                    state
                        .queues
                        .get_mut(&key)
                        .map(|q| q.remove(seq, priority, due));
                    state.deadlines.insert(deadline, seq);
                    state.in_flight += 1;
                }
            }
            let result = TaskResult::new(
                task_id.clone(),
                enqueued.workflow_instance_id.clone(),
                TaskResultStatus::Failed,
            );
            assert_eq!(core.update(result).map(|o| o.kind), Ok(UpdateKind::Ended));
            let due = core.next_due_in(&key).unwrap_or_default();
            out.push((due.as_millis() as u64 + 500) / 1000);
            task_id = ids::task_id(seq + 1);
        }
        out
    }

    #[test]
    fn retries_wait_as_the_retry_logic_says() {
        assert_eq!(delays(RetryLogic::Fixed, 3), [10, 10, 10]);
        assert_eq!(delays(RetryLogic::LinearBackoff, 3), [20, 40, 60]);
        assert_eq!(delays(RetryLogic::ExponentialBackoff, 3), [10, 20, 40]);
    }

    #[test]
    fn retries_stop_when_the_count_is_used_up_and_record_the_chain() {
        let core = Core::new(CoreConfig::default());
        let mut def = TaskDef::new("x");
        def.retry_count = 1;
        def.retry_delay_seconds = 0;
        let enqueued = core.enqueue(EnqueueRequest::new("t", 1).task_def(def));
        let first = core.poll("t", None, Some("w"), 1).remove(0);
        let fail = |task: &Task| {
            core.update(TaskResult::failed(task, "no"))
                .map(|outcome| outcome.kind)
        };
        assert_eq!(fail(&first), Ok(UpdateKind::Ended));
        let retry = core.poll("t", None, None, 5);
        assert_eq!(retry.len(), 1);
        assert_eq!(
            retry[0].retried_task_id.as_deref(),
            Some(enqueued.first_task_id.as_str())
        );
        assert_eq!(retry[0].retry_count, 1);
        assert_eq!(fail(&retry[0]), Ok(UpdateKind::Ended));
        assert!(core.poll("t", None, None, 5).is_empty());
        let ledger = core.ledger();
        assert_eq!((ledger.failed, ledger.retried, ledger.in_flight), (2, 1, 0));
    }

    /// Fails the first attempt of a task with `def` (0 s delay, 900 ms jitter), run as a bulk
    /// task or as a workflow task, and returns how long until its retry is due.
    fn first_retry_due_in(def: &TaskDef, in_workflow: bool) -> Duration {
        let core = Core::new(CoreConfig {
            seed: 7,
            ..CoreConfig::default()
        });
        if in_workflow {
            assert_eq!(core.register_task_defs(vec![def.clone()]), Ok(()));
            let workflow: WorkflowDef = serde_json::from_value(serde_json::json!({
                "name": "w", "tasks": [{"name": "t", "taskReferenceName": "t"}]
            }))
            .unwrap();
            assert_eq!(core.register_workflow_def(workflow, false), Ok(()));
            assert!(
                core.start_workflow_by_name("w", None, None, 0, JsonMap::new())
                    .is_ok()
            );
        } else {
            core.enqueue(EnqueueRequest::new("t", 1).task_def(def.clone()));
        }
        let task = core.poll("t", None, Some("w"), 1).remove(0);
        let failed = core.update(TaskResult::failed(&task, "no"));
        assert_eq!(failed.map(|o| o.kind), Ok(UpdateKind::Ended));
        core.next_due_in(&QueueKey::new("t", None::<String>))
            .unwrap_or_default()
    }

    #[test]
    fn jitter_delays_bulk_and_workflow_retries_by_the_same_milliseconds() {
        let mut def = TaskDef::new("t");
        def.retry_count = 1;
        def.retry_delay_seconds = 0;
        def.backoff_jitter_ms = 900;
        let bulk = first_retry_due_in(&def, false);
        let workflow = first_retry_due_in(&def, true);
        // Seed 7 draws a jitter well inside 1..=900 ms; whole-second rounding would make it 0.
        for due in [bulk, workflow] {
            assert!(due > Duration::from_millis(50), "due in {due:?}");
            assert!(due <= Duration::from_millis(900), "due in {due:?}");
        }
        let apart = bulk.abs_diff(workflow);
        assert!(
            apart < Duration::from_millis(50),
            "{bulk:?} vs {workflow:?}"
        );
    }

    #[test]
    fn the_delay_is_whole_seconds_plus_jitter_in_milliseconds() {
        let mut def = TaskDef::new("t");
        def.retry_delay_seconds = 2;
        def.backoff_jitter_ms = 1500;
        let mut rng = fastrand::Rng::with_seed(3);
        let mut seen_sub_second = false;
        for _ in 0..200 {
            let delay = retry_delay(&mut rng, &def, 0);
            assert_eq!(delay.seconds, 2);
            assert!(delay.jitter_ms <= 1500);
            assert_eq!(delay.micros(), 2_000_000 + delay.jitter_ms * 1000);
            seen_sub_second |= !delay.jitter_ms.is_multiple_of(1000);
        }
        assert!(seen_sub_second);
        def.backoff_jitter_ms = 0;
        assert_eq!(retry_delay(&mut rng, &def, 0).jitter_ms, 0);
    }
}
