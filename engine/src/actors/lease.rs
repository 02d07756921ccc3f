//! Lease extension: keeping a long task IN_PROGRESS on the server while it runs.
//!
//! The server times a task out `responseTimeoutSeconds` after it was handed out unless it hears
//! from the worker. With lease extension on (`lease_extend_enabled`), every running task gets a
//! heartbeat on its arbiter that posts an IN_PROGRESS result with `extendLease` every 0.8 × its
//! response timeout, until the guard returned by [`LeaseKeeper::keep`] is dropped (the task's
//! execution ended, however it ended). A failed heartbeat is logged and the next one tried.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::{CancellationToken, DropGuard};

use crate::actors::Pipeline;
use crate::client::{ConductorClient, ErrorChain};
use crate::model::{Task, TaskResult, TaskResultStatus};

/// Extends the leases of one worker's running tasks.
#[derive(Debug)]
pub(crate) struct LeaseKeeper {
    pipeline: Arc<Pipeline>,
    client: ConductorClient,
}

impl LeaseKeeper {
    /// A keeper for the worker behind `pipeline`, posting heartbeats with `client`.
    pub(crate) fn new(pipeline: Arc<Pipeline>, client: ConductorClient) -> Self {
        Self { pipeline, client }
    }

    /// Starts extending `task`'s lease when the worker has lease extension on and the task has
    /// a response timeout; the heartbeat stops when the returned guard is dropped. Must be
    /// called on an arbiter (the heartbeat is a local task).
    pub(crate) fn keep(&self, task: &Task) -> Option<DropGuard> {
        if !self.pipeline.settings.lease_extend_enabled || task.response_timeout_seconds <= 0 {
            return None;
        }
        let period = lease_period(task.response_timeout_seconds);
        let stop = CancellationToken::new();
        let mut result = TaskResult::for_task(task, TaskResultStatus::InProgress)
            .with_worker_id(self.pipeline.worker_id.as_ref());
        result.extend_lease = true;
        let (cancelled, client) = (stop.clone(), self.client.clone());
        actix_rt::spawn(async move {
            loop {
                tokio::select! {
                    _ = cancelled.cancelled() => return,
                    _ = tokio::time::sleep(period) => {}
                }
                if let Err(err) = client.update(&result).await {
                    tracing::warn!(
                        task_id = %result.task_id,
                        error = %ErrorChain(&err),
                        "extending a lease failed"
                    );
                }
            }
        });
        Some(stop.drop_guard())
    }
}

/// How often a task's lease is extended: 0.8 × its response timeout.
fn lease_period(response_timeout_seconds: i64) -> Duration {
    Duration::from_millis(u64::try_from(response_timeout_seconds).unwrap_or(0) * 800)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_are_extended_at_four_fifths_of_the_timeout() {
        assert_eq!(lease_period(10), Duration::from_secs(8));
        assert_eq!(lease_period(3600), Duration::from_secs(2880));
        assert_eq!(lease_period(1), Duration::from_millis(800));
    }
}
