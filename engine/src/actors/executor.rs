//! The Executor: runs each task it is handed, then passes the results on to the Updater.
//!
//! Async workers run as tasks on this arbiter; blocking workers run on the worker's own
//! [`BlockingPool`], so the arbiter never blocks. Whatever happens inside the worker (an
//! error, bad input, a panic) ends as a result: see [`WorkerSpec::run`]. While a task runs, its
//! lease is kept by the [`LeaseKeeper`] (when the worker extends leases). Finished results come
//! back over a channel that a pump drains in batches: it takes one updater-queue slot per
//! result (waiting when the queue is full: backpressure) and hands the batch to the Updater.
//!
//! With `execution_timeout` set, an execution that runs past it is posted FAILED ("execution
//! timed out after …") and its lease extension stops: an async execution is dropped; a
//! blocking one cannot be stopped, so its thread keeps its slot, counted as lost capacity,
//! until it returns (its late result is dropped).
//!
//! Two kinds of task never reach the worker as they came. One whose fields could not be
//! decoded ([`Polled::Undecodable`]) becomes a FAILED result at once, naming the field, and
//! goes the same way as any result. One whose input was externalized
//! (`externalInputPayloadStoragePath`) has its input fetched first, on the arbiter, while it
//! holds its slot; if that fails it is posted FAILED naming the path: it never runs with an
//! empty input.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix::prelude::*;
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tracing::Instrument;

use crate::actors::delivery::{ActorWatch, Undelivered};
use crate::actors::lease::{Lease, LeaseKeeper};
use crate::actors::messages::{Execute, Finished, LeasedTask, Post, Queued};
use crate::actors::{Pipeline, Stats};
use crate::client::{ConductorClient, ErrorChain, Polled, Undecodable};
use crate::model::{Task, TaskResult, TaskResultStatus};
use crate::pool::BlockingPool;
use crate::worker::{Executed, WorkerSpec};

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
        let limit = self.pipeline.settings.execution_timeout;
        let timed_out = limit.map(|limit| TimedOut::of(&task, limit, &self.pipeline));
        let spec = Arc::clone(&self.spec);
        let worker_id = Arc::clone(&self.pipeline.worker_id);
        let span = task_span(&task);
        let finisher = self.finisher(span.clone());
        match (&self.pool, timed_out) {
            (Some(pool), None) => {
                let runtime = self.runtime.clone();
                pool.submit(move || {
                    let _entered = runtime.as_ref().map(tokio::runtime::Handle::enter);
                    let _in_span = span.enter();
                    let executed = futures_executor::block_on(spec.run(task, &worker_id));
                    finisher.finish(Ending::Ran(executed), Some(permit), lease);
                });
            }
            (Some(pool), Some(timed_out)) => {
                // Whichever comes first, the execution or its deadline, finishes the task.
                let ending = Arc::new(Mutex::new(Some((finisher, lease))));
                let deadline = actix_rt::spawn({
                    let ending = Arc::clone(&ending);
                    async move {
                        tokio::time::sleep(timed_out.limit).await;
                        let taken = ending.lock().unwrap_or_else(PoisonError::into_inner).take();
                        if let Some((finisher, lease)) = taken {
                            timed_out
                                .pipeline
                                .capacity
                                .lost
                                .fetch_add(1, Ordering::Relaxed);
                            timed_out.finish(
                                finisher,
                                None,
                                lease,
                                "its thread keeps its slot until it returns",
                            );
                        }
                    }
                })
                .abort_handle();
                let runtime = self.runtime.clone();
                let pipeline = Arc::clone(&self.pipeline);
                pool.submit(move || {
                    let _entered = runtime.as_ref().map(tokio::runtime::Handle::enter);
                    let _in_span = span.enter();
                    let executed = futures_executor::block_on(spec.run(task, &worker_id));
                    let taken = ending.lock().unwrap_or_else(PoisonError::into_inner).take();
                    match taken {
                        Some((finisher, lease)) => {
                            deadline.abort();
                            finisher.finish(Ending::Ran(executed), Some(permit), lease);
                        }
                        None => {
                            // Too late: FAILED was posted; the slot is usable again.
                            pipeline.capacity.lost.fetch_sub(1, Ordering::Relaxed);
                            tracing::warn!(
                                task_id = %executed.result.task_id,
                                "a timed-out blocking execution returned; its result is dropped \
                                 (FAILED was posted) and its slot reused"
                            );
                            drop(permit);
                        }
                    }
                });
            }
            (None, None) => {
                let execution = spec.run(task, &worker_id).instrument(span);
                actix_rt::spawn(async move {
                    let executed = execution.await;
                    finisher.finish(Ending::Ran(executed), Some(permit), lease);
                });
            }
            (None, Some(timed_out)) => {
                let execution = spec.run(task, &worker_id).instrument(span);
                actix_rt::spawn(async move {
                    match tokio::time::timeout(timed_out.limit, execution).await {
                        Ok(executed) => finisher.finish(Ending::Ran(executed), Some(permit), lease),
                        // The execution's future was dropped with the timeout.
                        Err(_) => timed_out.finish(
                            finisher,
                            Some(permit),
                            lease,
                            "its execution was dropped",
                        ),
                    }
                });
            }
        }
    }

    /// What the execution starting now, in `span`, hands its result to.
    fn finisher(&self, span: tracing::Span) -> Finisher {
        Stats::add(&self.pipeline.stats.tasks_started, 1);
        self.pipeline.running.fetch_add(1, Ordering::Relaxed);
        Finisher {
            pipeline: Arc::clone(&self.pipeline),
            finished: self.finished_tx.clone(),
            started: self.pipeline.clock(),
            span,
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
                let executed = Executed {
                    result,
                    panicked: false,
                };
                self.finisher(task_span(&task))
                    .finish(Ending::Ran(executed), Some(permit), lease);
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
            permit: Some(permit),
            lease_ends: None,
            span: tracing::Span::none(),
        };
        // A closed pump drops it, which gives it up.
        let _ = self.finished_tx.send(finished);
    }
}

/// The FAILED result of an execution that runs past `execution_timeout`, made before it
/// starts (the task is moved into the execution).
struct TimedOut {
    limit: Duration,
    result: TaskResult,
    pipeline: Arc<Pipeline>,
}

impl TimedOut {
    fn of(task: &Task, limit: Duration, pipeline: &Arc<Pipeline>) -> Self {
        let result = TaskResult::failed(task, format!("execution timed out after {limit:?}"))
            .with_worker_id(pipeline.worker_id.as_ref());
        Self {
            limit,
            result,
            pipeline: Arc::clone(pipeline),
        }
    }

    /// Posts the FAILED result, with the execution's slot if it is free to go (`None`: a
    /// blocking thread still holds it), and ends the lease.
    fn finish(
        self,
        finisher: Finisher,
        permit: Option<OwnedSemaphorePermit>,
        lease: Lease,
        what_then: &str,
    ) {
        Stats::add(&self.pipeline.stats.executions_timed_out, 1);
        tracing::warn!(
            task_type = %self.pipeline.settings.task_type,
            task_id = %self.result.task_id,
            workflow_id = %self.result.workflow_instance_id,
            limit = ?self.limit,
            "execution timed out; posting FAILED ({what_then})"
        );
        finisher.finish(Ending::TimedOut(self.result), permit, lease);
    }
}

/// The span a task's execution and post run in.
fn task_span(task: &Task) -> tracing::Span {
    tracing::info_span!(
        "task",
        task_id = %task.task_id,
        task_type = %task.task_type,
        workflow_id = task.workflow_id(),
        poll_count = task.poll_count,
    )
}

/// How an execution ended.
enum Ending {
    /// The worker returned (or panicked: the result says FAILED).
    Ran(Executed),
    /// It ran past `execution_timeout`: the FAILED result made for that.
    TimedOut(TaskResult),
}

impl Ending {
    /// Why the execution failed, as the metrics' `exception` label names it.
    fn exception(&self, status: Option<TaskResultStatus>) -> Option<&'static str> {
        match (self, status) {
            (Ending::TimedOut(_), _) => Some("timeout"),
            (Ending::Ran(executed), _) if executed.panicked => Some("panic"),
            (_, Some(TaskResultStatus::FailedWithTerminalError)) => Some("terminal"),
            (_, Some(TaskResultStatus::Failed)) => Some("error"),
            _ => None,
        }
    }
}

/// Turns a finished execution into a [`Finished`] result for the pump; made when the
/// execution starts.
struct Finisher {
    pipeline: Arc<Pipeline>,
    finished: mpsc::UnboundedSender<Finished>,
    /// When the execution started, if its duration is recorded.
    started: Option<Instant>,
    span: tracing::Span,
}

impl Finisher {
    /// Ends the lease (stopping its heartbeat), records the execution and hands the result
    /// on. From here the result is [`Undelivered`]: a pump that is gone drops it, which gives
    /// it up.
    fn finish(self, ending: Ending, permit: Option<OwnedSemaphorePermit>, lease: Lease) {
        let lease_ends = lease.ends();
        drop(lease);
        self.pipeline.running.fetch_sub(1, Ordering::Relaxed);
        let result = match ending {
            Ending::Ran(Executed { ref result, .. }) | Ending::TimedOut(ref result) => {
                result.status
            }
        };
        let elapsed = self.started.map(|s| s.elapsed());
        if let (Some(metrics), Some(elapsed)) = (&self.pipeline.metrics, elapsed) {
            let status = result.unwrap_or(TaskResultStatus::Completed);
            metrics.executed(elapsed, status, ending.exception(result));
        }
        let result = match ending {
            Ending::Ran(executed) => executed.result,
            Ending::TimedOut(result) => result,
        };
        if let Some(elapsed) = elapsed {
            self.span.in_scope(|| {
                tracing::debug!(
                    status = ?result.status,
                    elapsed_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
                    "executed"
                );
            });
        }
        let finished = Finished {
            result: Undelivered::new(result, self.pipeline),
            permit,
            lease_ends,
            span: self.span,
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
        if let Some(journal) = &self.launcher.pipeline.journal {
            journal.commit();
        }
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
        let Ok(mut slots) = Arc::clone(&pipeline.capacity.queue_slots)
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
