//! Shutting a host down: the drain that lets tasks in hand finish and their results reach the
//! server within a grace period, and [`ShutdownSignal`] for SIGINT and SIGTERM.

mod signal;

pub use signal::ShutdownSignal;

use std::sync::Arc;
use std::time::Duration;

use crate::actors::Pipeline;
use crate::host::{ShutdownReport, WorkerStatus};

/// Waits until every worker has finished its tasks and delivered its results, or `grace` has
/// passed; reports what was left. Polling must already be stopped.
pub(crate) async fn drain(pipelines: &[Arc<Pipeline>], grace: Duration) -> ShutdownReport {
    let all_settled = async {
        for pipeline in pipelines {
            let concurrency = pipeline.settings.concurrency as u32;
            // Every execution slot back means every task's result reached the updater;
            // every queue slot back means every result was posted or given up.
            let _ = pipeline.slots.acquire_many(concurrency).await;
            let _ = pipeline
                .queue_slots
                .acquire_many(pipeline.queue_capacity as u32)
                .await;
        }
    };
    let clean = tokio::time::timeout(grace, all_settled).await.is_ok();
    let workers: Vec<WorkerStatus> = pipelines.iter().map(|p| WorkerStatus::of(p)).collect();
    if clean {
        tracing::info!("drained: every result delivered");
    } else {
        for worker in workers.iter().filter(|w| w.executing + w.unposted > 0) {
            tracing::warn!(
                task_type = %worker.task_type,
                executing = worker.executing,
                unposted = worker.unposted,
                ?grace,
                "shutdown grace period over; left to the server's response timeout"
            );
        }
    }
    ShutdownReport { clean, workers }
}
