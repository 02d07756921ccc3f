//! Shutting a host down: the drain that lets tasks in hand finish and their results reach the
//! server within a grace period, the report, and [`ShutdownSignal`] for SIGINT and SIGTERM.
//!
//! When the grace period ends (or a second signal asks to stop at once), the host stops its
//! arbiters: every result still queued, waiting for a retry or being posted is dropped there
//! and so given up through the one give-up path (log with ids, counter, hook) before the host
//! returns.

mod signal;

pub use signal::ShutdownSignal;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::actors::Pipeline;
use crate::host::{ShutdownReport, WorkerStatus};

/// How often the drain looks at the workers' counts.
const DRAIN_CHECK: Duration = Duration::from_millis(10);

/// Waits until every worker holds no task (executing, waiting for a slot, or with its result's
/// first post unsettled) and no undelivered result, or `grace` has passed, or `now` is
/// cancelled (a second signal). Polling must already be stopped. Whether it drained.
pub(crate) async fn drain(
    pipelines: &[Arc<Pipeline>],
    grace: Duration,
    now: &CancellationToken,
) -> bool {
    let settled = || {
        pipelines
            .iter()
            .all(|p| p.executing() == 0 && p.unposted() == 0)
    };
    let all_settled = async {
        while !settled() {
            tokio::time::sleep(DRAIN_CHECK).await;
        }
    };
    tokio::select! {
        outcome = tokio::time::timeout(grace, all_settled) => outcome.is_ok(),
        () = now.cancelled() => settled(),
    }
}

/// The report of a shutdown, once what was left has been given up; logs what was left.
pub(crate) fn report(pipelines: &[Arc<Pipeline>], clean: bool, grace: Duration) -> ShutdownReport {
    let workers: Vec<WorkerStatus> = pipelines.iter().map(|p| WorkerStatus::of(p)).collect();
    if clean {
        tracing::info!("drained: every result delivered");
    } else {
        for worker in workers.iter().filter(|w| w.executing + w.unposted > 0) {
            tracing::warn!(
                task_type = %worker.task_type,
                executing = worker.executing,
                unposted = worker.unposted,
                given_up = worker.results_given_up,
                ?grace,
                "shutdown ended before the drain: undelivered results were given up (each \
                 logged with its ids); tasks still executing are left to the server's \
                 response timeout"
            );
        }
    }
    ShutdownReport { clean, workers }
}
