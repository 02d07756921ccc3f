//! The Executor: runs each task it is handed, then passes the results on to the Updater.
//!
//! Async workers run as tasks on this arbiter; blocking workers run on the worker's own
//! [`BlockingPool`], so the arbiter never blocks. Whatever happens inside the worker (an
//! error, bad input, a panic) ends as a result: see [`WorkerSpec::run`]. Finished results come
//! back over a channel that a pump drains in batches: it takes one updater-queue slot per
//! result (waiting when the queue is full: backpressure) and hands the batch to the Updater.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::actors::messages::{Execute, Finished, LeasedTask, Post};
use crate::actors::updater::Updater;
use crate::actors::{Pipeline, Stats};
use crate::client::ConductorClient;
use crate::model::{Task, TaskResult, TaskResultStatus};
use crate::pool::BlockingPool;
use crate::worker::WorkerSpec;

/// The most results handed to the updater in one message.
const MAX_RESULT_BATCH: usize = 256;

/// Executes one worker's tasks.
pub(crate) struct Executor {
    /// The arbiter's runtime, entered on pool threads so blocking workers can use tokio.
    runtime: Option<tokio::runtime::Handle>,
    pipeline: Arc<Pipeline>,
    spec: Arc<WorkerSpec>,
    pool: Option<Arc<BlockingPool>>,
    finished_tx: mpsc::UnboundedSender<Finished>,
    finished_rx: Option<mpsc::UnboundedReceiver<Finished>>,
    updater: Addr<Updater>,
    /// For lease extensions, when enabled.
    client: ConductorClient,
}

impl Executor {
    /// An executor for `spec`; `pool` is `Some` for blocking workers.
    pub(crate) fn new(
        pipeline: Arc<Pipeline>,
        spec: Arc<WorkerSpec>,
        pool: Option<Arc<BlockingPool>>,
        updater: Addr<Updater>,
        client: ConductorClient,
    ) -> Self {
        // Unbounded in type only: at most `concurrency` results exist at once (one per permit).
        let (finished_tx, finished_rx) = mpsc::unbounded_channel();
        Self {
            runtime: None,
            pipeline,
            spec,
            pool,
            finished_tx,
            finished_rx: Some(finished_rx),
            updater,
            client,
        }
    }

    fn run_task(&self, leased: LeasedTask) {
        let LeasedTask { task, permit } = leased;
        // Cancelled (by the guard's drop) as soon as the execution ends, however it ends.
        let lease_guard = self.extend_lease(&task).map(CancellationToken::drop_guard);
        let spec = Arc::clone(&self.spec);
        let worker_id = Arc::clone(&self.pipeline.worker_id);
        let finished = self.finished_tx.clone();
        match &self.pool {
            Some(pool) => {
                let runtime = self.runtime.clone();
                pool.submit(move || {
                    let _entered = runtime.as_ref().map(tokio::runtime::Handle::enter);
                    let result = futures_executor::block_on(spec.run(task, &worker_id));
                    drop(lease_guard);
                    let _ = finished.send(Finished { result, permit });
                });
            }
            None => {
                let execution = spec.run(task, &worker_id);
                actix_rt::spawn(async move {
                    let result = execution.await;
                    drop(lease_guard);
                    let _ = finished.send(Finished { result, permit });
                });
            }
        }
    }

    /// Starts extending `task`'s lease every 0.8 × its response timeout while it runs, when
    /// the worker has lease extension on; returns the token that stops it.
    fn extend_lease(&self, task: &Task) -> Option<CancellationToken> {
        if !self.pipeline.settings.lease_extend_enabled || task.response_timeout_seconds <= 0 {
            return None;
        }
        let period = lease_period(task.response_timeout_seconds);
        let stop = CancellationToken::new();
        let heartbeat = {
            let (stop, client) = (stop.clone(), self.client.clone());
            let mut result = TaskResult::for_task(task, TaskResultStatus::InProgress)
                .with_worker_id(self.pipeline.worker_id.as_ref());
            result.extend_lease = true;
            async move {
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(period) => {}
                    }
                    if let Err(err) = client.update(&result).await {
                        tracing::warn!(task_id = %result.task_id, error = %err, "extending a lease failed");
                    }
                }
            }
        };
        actix_rt::spawn(heartbeat);
        Some(stop)
    }
}

/// How often a task's lease is extended: 0.8 × its response timeout.
fn lease_period(response_timeout_seconds: i64) -> Duration {
    Duration::from_millis(u64::try_from(response_timeout_seconds).unwrap_or(0) * 800)
}

impl Actor for Executor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.runtime = tokio::runtime::Handle::try_current().ok();
        if let Some(finished) = self.finished_rx.take() {
            let pump = pump_results(finished, Arc::clone(&self.pipeline), self.updater.clone());
            ctx.spawn(pump.into_actor(self));
        }
    }
}

impl Handler<Execute> for Executor {
    type Result = ();

    fn handle(&mut self, Execute(batch): Execute, _: &mut Self::Context) {
        for leased in batch {
            self.run_task(leased);
        }
    }
}

/// Moves finished results to the updater in batches, taking one queue slot per result.
async fn pump_results(
    mut finished: mpsc::UnboundedReceiver<Finished>,
    pipeline: Arc<Pipeline>,
    updater: Addr<Updater>,
) {
    let mut batch = Vec::with_capacity(MAX_RESULT_BATCH);
    while finished.recv_many(&mut batch, MAX_RESULT_BATCH).await > 0 {
        let count = batch.len();
        Stats::add(&pipeline.stats.tasks_executed, count as u64);
        match pipeline.queue_slots.acquire_many(count as u32).await {
            // The updater gives each slot back with `add_permits` once the result is posted.
            Ok(slots) => slots.forget(),
            Err(_) => return,
        }
        if updater
            .send(Post(std::mem::take(&mut batch)))
            .await
            .is_err()
        {
            tracing::error!(count, "updater stopped; results not posted");
            return;
        }
        batch.reserve(MAX_RESULT_BATCH);
    }
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
