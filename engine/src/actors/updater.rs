//! The Updater: posts results to the server, up to a fixed number at once over keep-alive
//! connections, with retries.
//!
//! Its queue is bounded by the pipeline's queue slots, which the executor takes before handing
//! results over; so when posting is slow the executor waits, execution slots stay taken and the
//! poller stops asking for work. A result keeps its task's execution slot until its first post
//! settles, so the server never sees more tasks in flight than the worker's concurrency; a
//! result that has to wait for a retry gives its slot up (retries never pin a slot) and keeps
//! only its queue slot. A result leaves the queue only when the server has taken it or when it
//! is given up by the retry rule ([`RetryPolicy`]: an answer retrying cannot fix, such as 404
//! for an unknown task; the task's lease or the retry budget ended; `update_retries` if set),
//! through the one give-up path ([`Undelivered`]). A retry waits out its backoff, or less: the
//! first answer any call of the host gets after failures wakes it ([`Recovery`]).
//!
//! [`Recovery`]: crate::client::Recovery
//!
//! **update-v2.** When enabled (the default) and the queue is known to have more work (the
//! last poll came back full, or the last update-v2 brought a task), a result is posted to
//! `/tasks/update-v2`, whose answer may carry the next task; it enters the Executor through the
//! same [`Intake`] as polled tasks. On an empty queue the server holds an update-v2 answer for
//! its single-poll wait, so then results go out with v1 at once. The next task needs a slot: on
//! a first post it inherits the finished task's own slot (so chaining keeps exactly
//! `concurrency` tasks in flight); on a retry the updater tries to take a free one. With no
//! slot, or while the host drains, the result is posted with v1. A server that lacks the
//! endpoint ([`ClientError::is_unsupported`]: 405, or a 404 from a missing route) switches the
//! worker to v1 for good, and the same result is re-posted with v1 at once.
//!
//! **Output limit.** Each result is encoded right before it is posted; an output over
//! `CONDUCTOR_MAX_OUTPUT_BYTES` replaces the result with FAILED_WITH_TERMINAL_ERROR naming its
//! size (see [`ConductorClient::encode`]), counted and logged, instead of being sent for the
//! server to take and then silently clear.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use actix::prelude::*;
use bytes::Bytes;
use tokio::sync::OwnedSemaphorePermit;
use tracing::Instrument;

use crate::actors::delivery::{ActorWatch, GiveUpReason, Undelivered};
use crate::actors::intake::Intake;
use crate::actors::messages::{Post, Queued};
use crate::actors::retry::{Attempts, RetryPolicy};
use crate::actors::{Pipeline, Stats};
use crate::client::{ClientError, ConductorClient, ErrorChain};

/// A result waiting to be posted. Dropped anywhere (the updater stopped, its actor panicked),
/// its result gives itself up and its queue slot frees itself.
#[derive(Debug)]
struct Pending {
    result: Undelivered,
    /// Its encoded body, kept for retries.
    body: Option<Bytes>,
    /// Posts tried so far.
    attempts: u32,
    /// When the first post started.
    first_post: Option<Instant>,
    /// When the task's lease ends, if it has one.
    lease_ends: Option<Instant>,
    /// The task's execution slot, held until the first post settles.
    slot: Option<OwnedSemaphorePermit>,
    /// Its place in the bounded queue, freed when the result leaves it.
    _queue_slot: OwnedSemaphorePermit,
    /// The task's span: posts run in it.
    span: tracing::Span,
}

/// How one post went.
#[derive(Debug)]
enum Posted {
    /// The server took the result.
    Taken,
    /// The server has no update-v2: post again with v1.
    V2Unsupported,
    /// The post failed.
    Failed(ClientError),
}

/// Posts one worker's results.
pub(crate) struct Updater {
    pipeline: Arc<Pipeline>,
    client: ConductorClient,
    queue: VecDeque<Pending>,
    in_flight: usize,
    max_in_flight: usize,
    retry: RetryPolicy,
    /// Where the tasks update-v2 answers with go.
    intake: Intake,
    watch: ActorWatch,
}

impl Updater {
    /// An updater for the worker behind `pipeline`, posting up to `max_in_flight` at once and
    /// handing the tasks update-v2 answers with to `intake`.
    pub(crate) fn new(
        pipeline: Arc<Pipeline>,
        client: ConductorClient,
        max_in_flight: usize,
        intake: Intake,
    ) -> Self {
        Self {
            client,
            queue: VecDeque::with_capacity(pipeline.capacity.queue_capacity()),
            in_flight: 0,
            max_in_flight: max_in_flight.max(1),
            retry: RetryPolicy::new(&pipeline.settings),
            intake,
            watch: ActorWatch::new(Arc::clone(&pipeline), "updater"),
            pipeline,
        }
    }

    /// A slot for the task update-v2 may answer with, if v2 is on, the worker is not paused
    /// and the host is not draining: the finished task's own slot if it still holds it, else a free one.
    fn slot_for_next_task(&self, pending: &mut Pending) -> Option<(OwnedSemaphorePermit, Intake)> {
        if !self.pipeline.update_v2.load(Ordering::Relaxed)
            || !self.pipeline.work_queued.load(Ordering::Relaxed)
            || self.pipeline.paused.load(Ordering::Relaxed)
            || self.pipeline.stop_polling.is_cancelled()
        {
            return None;
        }
        let slot = match pending.slot.take() {
            Some(slot) => slot,
            None => Arc::clone(&self.pipeline.capacity.slots)
                .try_acquire_owned()
                .ok()?,
        };
        Some((slot, self.intake.clone()))
    }

    /// Starts posts while there is room.
    fn dispatch(&mut self, ctx: &mut Context<Self>) {
        while self.in_flight < self.max_in_flight {
            let Some(mut pending) = self.queue.pop_front() else {
                return;
            };
            let body = match self.encode(&mut pending) {
                Ok(body) => body,
                Err(err) => {
                    pending.result.give_up(&GiveUpReason::NotRetryable(err));
                    continue;
                }
            };
            pending.first_post.get_or_insert_with(Instant::now);
            self.in_flight += 1;
            let next = self.slot_for_next_task(&mut pending);
            let span = pending.span.clone();
            // Boxed where it is made: the post future holds the HTTP call's state (kilobytes),
            // and every wrapper below would otherwise copy it.
            let post = Box::pin(
                post(
                    self.client.clone(),
                    pending,
                    body,
                    next,
                    Arc::clone(&self.pipeline),
                )
                .instrument(span),
            );
            ctx.spawn(
                post.into_actor(self)
                    .map(|(pending, posted), updater, ctx| {
                        updater.in_flight -= 1;
                        updater.settle(pending, posted, ctx);
                        updater.dispatch(ctx);
                    }),
            );
        }
    }

    /// The result's body, encoded on its first post and kept for retries. An output over
    /// the limit turns the result into FAILED_WITH_TERMINAL_ERROR here, once.
    fn encode(&self, pending: &mut Pending) -> Result<Bytes, ClientError> {
        if let Some(body) = &pending.body {
            return Ok(body.clone());
        }
        let encoded = self.client.encode(pending.result.result_mut())?;
        if let Some(size) = encoded.oversize_output {
            Stats::add(&self.pipeline.stats.oversize_outputs, 1);
            let result = pending.result.result();
            tracing::error!(
                task_id = %result.task_id,
                workflow_id = %result.workflow_instance_id,
                size,
                "output over CONDUCTOR_MAX_OUTPUT_BYTES; posting FAILED_WITH_TERMINAL_ERROR"
            );
        }
        pending.body = Some(encoded.body.clone());
        Ok(encoded.body)
    }

    /// Handles the answer to one post.
    fn settle(&mut self, mut pending: Pending, posted: Posted, ctx: &mut Context<Self>) {
        let err = match posted {
            Posted::V2Unsupported => {
                // Not an attempt: post the same result again, with v1, first in line.
                self.queue.push_front(pending);
                return;
            }
            Posted::Taken => {
                pending.result.delivered();
                return;
            }
            Posted::Failed(err) => err,
        };
        pending.attempts += 1;
        // Whatever the answer, the task is no longer this worker's to execute: a retry
        // never pins an execution slot.
        drop(pending.slot.take());
        let attempts = Attempts {
            made: pending.attempts,
            first: pending.first_post.unwrap_or_else(Instant::now),
            lease_ends: pending.lease_ends,
        };
        let mark = self.client.recovery().mark();
        match self
            .retry
            .after_failure(attempts, Instant::now(), err.clone())
        {
            Ok(delay) => {
                Stats::add(&self.pipeline.stats.update_retries, 1);
                let result = pending.result.result();
                tracing::warn!(
                    task_id = %result.task_id,
                    attempt = pending.attempts,
                    error = %ErrorChain(&err),
                    retry_in = ?delay,
                    "posting a result failed; will retry"
                );
                // Wait out the backoff, or less if the server answers again meanwhile.
                let recovery = Arc::clone(self.client.recovery());
                ctx.spawn(
                    async move { recovery.wait(mark, delay).await }
                        .into_actor(self)
                        .map(move |_, updater, ctx| {
                            updater.queue.push_front(pending);
                            updater.dispatch(ctx);
                        }),
                );
            }
            Err(reason) => pending.result.give_up(&reason),
        }
    }
}

/// Posts one result: with update-v2 when `next` holds a slot for the task it may bring back
/// (which then goes through the intake to the executor), else with v1. When v2 brings no task
/// the slot is freed; when it fails, the slot goes back to the result, to be settled like a v1
/// post.
async fn post(
    client: ConductorClient,
    mut pending: Pending,
    body: Bytes,
    next: Option<(OwnedSemaphorePermit, Intake)>,
    pipeline: Arc<Pipeline>,
) -> (Pending, Posted) {
    let size = body.len();
    let started = pipeline.clock();
    let record = |outcome: Result<(), &ClientError>| {
        let Some(elapsed) = started.map(|s| s.elapsed()) else {
            return;
        };
        tracing::debug!(
            size,
            elapsed_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            error = outcome.err().map(tracing::field::display),
            "posted"
        );
        if let Some(metrics) = &pipeline.metrics {
            let exception = outcome.err().map(ClientError::kind);
            metrics.posted(elapsed, size, exception.as_deref());
        }
    };
    let Some((slot, intake)) = next else {
        let outcome = client.update_encoded(body).await;
        record(outcome.as_ref().map(|_| ()));
        let posted = match outcome {
            Ok(()) => Posted::Taken,
            Err(err) => Posted::Failed(err),
        };
        return (pending, posted);
    };
    let outcome = client.update_v2(body).await;
    record(outcome.as_ref().map(|_| ()));
    let posted = match outcome {
        Ok(next_task) => {
            // The result was taken whatever becomes of the next task (the intake logs a
            // stopped executor).
            let _ = intake.admit(next_task, slot).await;
            Posted::Taken
        }
        Err(err) => {
            pending.slot.get_or_insert(slot);
            if err.is_unsupported() {
                if pipeline.update_v2.swap(false, Ordering::Relaxed) {
                    tracing::info!(
                        error = %ErrorChain(&err),
                        "server has no update-v2; using v1 from now on"
                    );
                }
                Posted::V2Unsupported
            } else {
                Posted::Failed(err)
            }
        }
    };
    (pending, posted)
}

impl Actor for Updater {
    type Context = Context<Self>;

    fn stopped(&mut self, _: &mut Self::Context) {
        self.watch.stopped();
    }
}

impl Handler<Post> for Updater {
    type Result = ();

    fn handle(&mut self, Post(batch): Post, ctx: &mut Self::Context) {
        for Queued {
            finished,
            queue_slot,
        } in batch
        {
            self.queue.push_back(Pending {
                result: finished.result,
                body: None,
                attempts: 0,
                first_post: None,
                lease_ends: finished.lease_ends,
                slot: finished.permit,
                _queue_slot: queue_slot,
                span: finished.span,
            });
        }
        self.dispatch(ctx);
    }
}
