//! The Executor: runs each task it is handed, then passes the results on to the Updater.
//!
//! Async workers run as tasks on this arbiter; blocking workers run on the worker's own
//! [`BlockingPool`], so the arbiter never blocks. Whatever happens inside the worker (an
//! error, bad input, a panic) ends as a result: see [`WorkerSpec::run`]. While a task runs, its
//! lease is kept by the [`LeaseKeeper`] (when the worker extends leases). Finished results come
//! back over a channel that a pump drains in batches: it takes one updater-queue slot per
//! result (waiting when the queue is full: backpressure) and hands the batch to the Updater.
//!
//! Two kinds of task never reach the worker as they came. One whose fields could not be
//! decoded ([`Polled::Undecodable`]) becomes a FAILED result at once, naming the field, and
//! goes the same way as any result. One whose input was externalized
//! (`externalInputPayloadStoragePath`) has its input fetched first, on the arbiter, while it
//! holds its slot; if that fails it is posted FAILED naming the path: it never runs with an
//! empty input.

use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::{OwnedSemaphorePermit, mpsc};

use crate::actors::delivery::{ActorWatch, Undelivered};
use crate::actors::lease::{Lease, LeaseKeeper};
use crate::actors::messages::{Execute, Finished, LeasedTask, Post, Queued};
use crate::actors::{Pipeline, Stats};
use crate::client::{ConductorClient, ErrorChain, Polled, Undecodable};
use crate::model::{Task, TaskResult, TaskResultStatus};
use crate::pool::BlockingPool;
use crate::worker::WorkerSpec;

/// The most results handed to the updater in one message.
const MAX_RESULT_BATCH: usize = 256;

/// Executes one worker's tasks.
pub(crate) struct Executor {
    launcher: Launcher,
    finished_rx: Option<mpsc::UnboundedReceiver<Finished>>,
    updater: Recipient<Post>,
    leases: LeaseKeeper,
    client: ConductorClient,
    watch: ActorWatch,
}

/// What starting an execution needs; cloned only for tasks whose input must be fetched first.
#[derive(Clone)]
struct Launcher {
    /// The arbiter's runtime, entered on pool threads so blocking workers can use tokio.
    runtime: Option<tokio::runtime::Handle>,
    pipeline: Arc<Pipeline>,
    spec: Arc<WorkerSpec>,
    pool: Option<Arc<BlockingPool>>,
    finished_tx: mpsc::UnboundedSender<Finished>,
}

impl Executor {
    /// An executor for `spec`, posting through `updater`; `pool` is `Some` for blocking
    /// workers; `client` fetches externalized inputs.
    pub(crate) fn new(
        pipeline: Arc<Pipeline>,
        spec: Arc<WorkerSpec>,
        pool: Option<Arc<BlockingPool>>,
        updater: Recipient<Post>,
        leases: LeaseKeeper,
        client: ConductorClient,
    ) -> Self {
        // Unbounded in type only: at most `concurrency` results exist at once (one per permit).
        let (finished_tx, finished_rx) = mpsc::unbounded_channel();
        let watch = ActorWatch::new(Arc::clone(&pipeline), "executor");
        Self {
            watch,
            launcher: Launcher {
                runtime: None,
                pipeline,
                spec,
                pool,
                finished_tx,
            },
            finished_rx: Some(finished_rx),
            updater,
            leases,
            client,
        }
    }

    fn run_task(&self, leased: LeasedTask) {
        let LeasedTask { task, permit } = leased;
        let task = match task {
            Polled::Task(task) => task,
            Polled::Undecodable(bad) => return self.launcher.reject(bad, permit),
        };
        // Stops extending the lease (on drop) as soon as the execution ends, however it ends.
        let lease = self.leases.keep(&task);
        if task.external_input_payload_storage_path.is_some() {
            let launcher = self.launcher.clone();
            let client = self.client.clone();
            actix_rt::spawn(async move {
                launcher
                    .fetch_input_then_launch(client, task, permit, lease)
                    .await;
            });
            return;
        }
        self.launcher.launch(task, permit, lease);
    }
}

impl Launcher {
    /// Starts executing `task` (on the pool, or as a local task of this arbiter).
    fn launch(&self, task: Task, permit: OwnedSemaphorePermit, lease: Lease) {
        let spec = Arc::clone(&self.spec);
        let worker_id = Arc::clone(&self.pipeline.worker_id);
        let finisher = self.finisher();
        match &self.pool {
            Some(pool) => {
                let runtime = self.runtime.clone();
                pool.submit(move || {
                    let _entered = runtime.as_ref().map(tokio::runtime::Handle::enter);
                    let result = futures_executor::block_on(spec.run(task, &worker_id));
                    finisher.finish(result, permit, lease);
                });
            }
            None => {
                let execution = spec.run(task, &worker_id);
                actix_rt::spawn(async move {
                    let result = execution.await;
                    finisher.finish(result, permit, lease);
                });
            }
        }
    }

    /// What a finished execution hands its result to.
    fn finisher(&self) -> Finisher {
        Finisher {
            pipeline: Arc::clone(&self.pipeline),
            finished: self.finished_tx.clone(),
        }
    }

    /// Fetches an externalized input into `task`, then launches it; posts FAILED naming the
    /// path when the fetch fails.
    async fn fetch_input_then_launch(
        self,
        client: ConductorClient,
        mut task: Task,
        permit: OwnedSemaphorePermit,
        lease: Lease,
    ) {
        let Some(path) = task.external_input_payload_storage_path.take() else {
            return self.launch(task, permit, lease);
        };
        let stats = &self.pipeline.stats;
        match client.external_input(&path).await {
            Ok(input) => {
                Stats::add(&stats.external_inputs, 1);
                task.input_data = input;
                self.launch(task, permit, lease);
            }
            Err(err) => {
                Stats::add(&stats.external_input_failures, 1);
                let reason = format!(
                    "externalized input {path} could not be fetched: {}",
                    ErrorChain(&err)
                );
                tracing::error!(
                    task_id = %task.task_id,
                    workflow_id = task.workflow_id(),
                    %reason,
                    "posting the task FAILED"
                );
                let result = TaskResult::failed(&task, reason)
                    .with_worker_id(self.pipeline.worker_id.as_ref());
                self.finisher().finish(result, permit, lease);
            }
        }
    }

    /// Posts an undecodable task FAILED at once, through the Updater like any result.
    fn reject(&self, bad: Undecodable, permit: OwnedSemaphorePermit) {
        Stats::add(&self.pipeline.stats.undecodable_tasks, 1);
        tracing::error!(
            task_type = %self.pipeline.settings.task_type,
            task_id = %bad.task_id,
            workflow_id = %bad.workflow_instance_id,
            reason = %bad.reason,
            "polled task could not be decoded; posting it FAILED"
        );
        let mut result = TaskResult::new(
            bad.task_id,
            bad.workflow_instance_id,
            TaskResultStatus::Failed,
        )
        .with_worker_id(self.pipeline.worker_id.as_ref());
        result.reason_for_incompletion = Some(bad.reason);
        let finished = Finished {
            result: Undelivered::new(result, Arc::clone(&self.pipeline)),
            permit,
            lease_ends: None,
        };
        // A closed pump drops it, which gives it up.
        let _ = self.finished_tx.send(finished);
    }
}

/// Turns a finished execution into a [`Finished`] result for the pump.
struct Finisher {
    pipeline: Arc<Pipeline>,
    finished: mpsc::UnboundedSender<Finished>,
}

impl Finisher {
    /// Ends the lease (stopping its heartbeat) and hands the result on. From here the result
    /// is [`Undelivered`]: a pump that is gone drops it, which gives it up.
    fn finish(self, result: TaskResult, permit: OwnedSemaphorePermit, lease: Lease) {
        let lease_ends = lease.ends();
        drop(lease);
        let finished = Finished {
            result: Undelivered::new(result, self.pipeline),
            permit,
            lease_ends,
        };
        let _ = self.finished.send(finished);
    }
}

impl Actor for Executor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.launcher.runtime = tokio::runtime::Handle::try_current().ok();
        if let Some(finished) = self.finished_rx.take() {
            let pump = pump_results(
                finished,
                Arc::clone(&self.launcher.pipeline),
                self.updater.clone(),
            );
            ctx.spawn(pump.into_actor(self));
        }
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.watch.stopped();
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
        let Ok(mut slots) = Arc::clone(&pipeline.queue_slots)
            .acquire_many_owned(count as u32)
            .await
        else {
            return; // never closed; the batch would be given up as it drops
        };
        let queued: Vec<Queued> = batch
            .drain(..)
            .filter_map(|finished| {
                let queue_slot = slots.split(1)?;
                Some(Queued {
                    finished,
                    queue_slot,
                })
            })
            .collect();
        if updater.send(Post(queued)).await.is_err() {
            // The results went down with the message: each was given up as it dropped.
            pipeline.fail("the updater is gone; results cannot be posted".to_owned());
            return;
        }
    }
}
