//! Leases: when the server will time a running task out, and keeping long tasks alive.
//!
//! The server times a task out `responseTimeoutSeconds` after it was handed out (or after the
//! worker's last word on it). Every task's [`Lease`] knows when that is, so result retries can
//! stop when posting has become futile. With lease extension on (`lease_extend_enabled`),
//! each running task also gets a heartbeat on its arbiter that posts an IN_PROGRESS result
//! with `extendLease` at a fixed rate from the task's start, every 0.8 × its response timeout;
//! a failed extension is retried about every second (sooner for short timeouts: within the
//! fifth of the timeout the schedule leaves) until one goes through or the next is due, so one
//! slow or failed call never lets the lease lapse. Each extension that goes
//! through moves the lease's end. The heartbeat stops the moment the [`Lease`] is dropped
//! (the task's execution ended, however it ended).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio_util::sync::{CancellationToken, DropGuard};

use crate::actors::Pipeline;
use crate::client::{ConductorClient, ErrorChain};
use crate::model::{Task, TaskResult, TaskResultStatus};

/// Starts leases for one worker's tasks.
#[derive(Debug)]
pub(crate) struct LeaseKeeper {
    pipeline: Arc<Pipeline>,
    client: ConductorClient,
}

/// One running task's lease: when it ends, and its heartbeat (stopped on drop).
#[derive(Debug)]
pub(crate) struct Lease {
    /// When the task was received.
    start: Instant,
    /// The response timeout, if the task has one.
    timeout: Option<Duration>,
    /// Milliseconds after `start` of the last extension that went through (0: none).
    extended_at: Option<Arc<AtomicU64>>,
    _heartbeat: Option<DropGuard>,
}

impl Lease {
    /// When the server times the task out unless it hears from the worker (`None`: no
    /// response timeout, or beyond the clock's range).
    pub(crate) fn ends(&self) -> Option<Instant> {
        let extended = self
            .extended_at
            .as_ref()
            .map_or(0, |at| at.load(Ordering::Relaxed));
        self.start
            .checked_add(Duration::from_millis(extended))?
            .checked_add(self.timeout?)
    }
}

impl LeaseKeeper {
    /// A keeper for the worker behind `pipeline`, posting heartbeats with `client`.
    pub(crate) fn new(pipeline: Arc<Pipeline>, client: ConductorClient) -> Self {
        Self { pipeline, client }
    }

    /// The lease of `task`, received now. With lease extension on and a response timeout,
    /// starts its heartbeat; must then be called on an arbiter (the heartbeat is a local
    /// task).
    pub(crate) fn keep(&self, task: &Task) -> Lease {
        let start = Instant::now();
        let timeout = response_timeout(task.response_timeout_seconds);
        let mut lease = Lease {
            start,
            timeout,
            extended_at: None,
            _heartbeat: None,
        };
        let Some(timeout) = timeout.filter(|_| self.pipeline.settings.lease_extend_enabled) else {
            return lease;
        };
        let stop = CancellationToken::new();
        let extended_at = Arc::new(AtomicU64::new(0));
        let mut heartbeat = TaskResult::for_task(task, TaskResultStatus::InProgress)
            .with_worker_id(self.pipeline.worker_id.as_ref());
        heartbeat.extend_lease = true;
        actix_rt::spawn(extend_at_fixed_rate(
            self.client.clone(),
            heartbeat,
            Schedule::for_timeout(start, timeout),
            Arc::clone(&extended_at),
            stop.clone(),
        ));
        lease.extended_at = Some(extended_at);
        lease._heartbeat = Some(stop.drop_guard());
        lease
    }
}

/// The longest wait before a failed extension is tried again.
const EXTENSION_RETRY: Duration = Duration::from_secs(1);

/// When a task's lease is extended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Schedule {
    /// When the task was received.
    start: Instant,
    /// Extensions are due at `start + k × period`.
    period: Duration,
    /// The wait before a failed extension is tried again (up to half of it is jitter).
    retry: Duration,
}

impl Schedule {
    /// Every 0.8 × `timeout`; a failed extension is retried after at most
    /// [`EXTENSION_RETRY`], and within half the slack the schedule leaves before the lease
    /// would lapse.
    fn for_timeout(start: Instant, timeout: Duration) -> Self {
        let period = timeout - timeout / 5;
        let slack = timeout.saturating_sub(period);
        Self {
            start,
            period,
            retry: EXTENSION_RETRY.min(slack / 2),
        }
    }
}

/// Posts `heartbeat` on `schedule` until `stop`; a failed post is retried after
/// `schedule.retry` until one goes through or the next is due. Each post that goes through
/// records when it was sent in `extended_at`.
async fn extend_at_fixed_rate(
    client: ConductorClient,
    heartbeat: TaskResult,
    schedule: Schedule,
    extended_at: Arc<AtomicU64>,
    stop: CancellationToken,
) {
    let Schedule {
        start,
        period,
        retry,
    } = schedule;
    let mut due = start;
    loop {
        due = match due.checked_add(period) {
            Some(next) => next,
            None => return,
        };
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep_until(due.into()) => {}
        }
        loop {
            let sent = Instant::now();
            let outcome = tokio::select! {
                () = stop.cancelled() => return,
                outcome = client.update(&heartbeat) => outcome,
            };
            match outcome {
                Ok(()) => {
                    let after = u64::try_from(sent.duration_since(start).as_millis());
                    extended_at.store(after.unwrap_or(u64::MAX), Ordering::Relaxed);
                    break;
                }
                Err(err) => tracing::warn!(
                    task_id = %heartbeat.task_id,
                    error = %ErrorChain(&err),
                    "extending a lease failed; retrying"
                ),
            }
            let jitter = retry.mul_f64(fastrand::f64() / 2.0);
            let retry = Instant::now() + retry.saturating_sub(jitter);
            if due.checked_add(period).is_none_or(|next| retry >= next) {
                break; // the next scheduled extension comes first
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep_until(retry.into()) => {}
            }
        }
    }
}

/// A task's response timeout as the server sent it (`None` for 0 or less).
fn response_timeout(seconds: i64) -> Option<Duration> {
    u64::try_from(seconds)
        .ok()
        .filter(|s| *s > 0)
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_are_extended_at_four_fifths_of_the_timeout_and_retried_within_the_slack() {
        let schedule = |s| Schedule::for_timeout(Instant::now(), response_timeout(s).unwrap());
        assert_eq!(schedule(10).period, Duration::from_secs(8));
        assert_eq!(schedule(10).retry, Duration::from_secs(1));
        assert_eq!(schedule(3600).period, Duration::from_secs(2880));
        assert_eq!(schedule(1).period, Duration::from_millis(800));
        assert_eq!(schedule(1).retry, Duration::from_millis(100));
    }

    #[test]
    fn server_numbers_cannot_overflow_the_lease() {
        assert_eq!(response_timeout(0), None);
        assert_eq!(response_timeout(-5), None);
        let huge = response_timeout(i64::MAX).unwrap();
        assert!(Schedule::for_timeout(Instant::now(), huge).period > Duration::from_secs(1 << 62));
        let lease = Lease {
            start: Instant::now(),
            timeout: Some(huge),
            extended_at: Some(Arc::new(AtomicU64::new(u64::MAX))),
            _heartbeat: None,
        };
        assert_eq!(lease.ends(), None, "beyond the clock's range: no end");
        let short = Lease {
            timeout: Some(Duration::from_secs(10)),
            extended_at: Some(Arc::new(AtomicU64::new(5_000))),
            ..lease
        };
        assert_eq!(short.ends(), Some(short.start + Duration::from_secs(15)));
    }
}
