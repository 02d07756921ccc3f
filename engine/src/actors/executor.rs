//! The Executor: runs each task it is handed, then passes the results on to the Updater.
//!
//! Async workers run as tasks on this arbiter; blocking workers run on the worker's own
//! [`BlockingPool`], so the arbiter never blocks. Whatever happens inside the worker (an
//! error, bad input, a panic) ends as a result: see [`WorkerSpec::run`]. While a task runs, its
//! lease is kept by the [`LeaseKeeper`] (when the worker extends leases). Finished results come
//! back over a channel that a pump drains in batches: it takes one updater-queue slot per
//! result (waiting when the queue is full: backpressure) and hands the batch to the Updater.

use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::mpsc;

use crate::actors::lease::LeaseKeeper;
use crate::actors::messages::{Execute, Finished, LeasedTask, Post};
use crate::actors::{Pipeline, Stats};
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
    updater: Recipient<Post>,
    leases: LeaseKeeper,
}

impl Executor {
    /// An executor for `spec`, posting through `updater`; `pool` is `Some` for blocking
    /// workers.
    pub(crate) fn new(
        pipeline: Arc<Pipeline>,
        spec: Arc<WorkerSpec>,
        pool: Option<Arc<BlockingPool>>,
        updater: Recipient<Post>,
        leases: LeaseKeeper,
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
            leases,
        }
    }

    fn run_task(&self, leased: LeasedTask) {
        let LeasedTask { task, permit } = leased;
        // Stops extending the lease (on drop) as soon as the execution ends, however it ends.
        let lease_guard = self.leases.keep(&task);
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
    updater: Recipient<Post>,
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
