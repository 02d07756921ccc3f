//! The Updater: posts results to the server, up to a fixed number at once over keep-alive
//! connections, with retries.
//!
//! Its queue is bounded by the pipeline's queue slots, which the executor takes before handing
//! results over; so when posting is slow the executor waits, execution slots stay taken and the
//! poller stops asking for work. A result keeps its task's execution slot until its first post
//! settles, so the server never sees more tasks in flight than the worker's concurrency; a
//! result that has to wait for a retry gives its slot up (retries never pin a slot) and keeps
//! only its queue slot. A result leaves the queue only when the server has taken it or when it
//! is given up (retries exhausted, or an answer retrying cannot fix, such as 404 for an unknown
//! task); giving up is logged and counted, never silent.

use std::collections::VecDeque;
use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::OwnedSemaphorePermit;

use crate::actors::messages::Post;
use crate::actors::{Pipeline, Stats};
use crate::backoff::ErrorBackoff;
use crate::client::{ClientError, ConductorClient};
use crate::model::TaskResult;

/// A result waiting to be posted.
#[derive(Debug)]
struct Pending {
    result: TaskResult,
    /// Posts tried so far.
    attempts: u32,
    /// The task's execution slot, held until the first post settles.
    slot: Option<OwnedSemaphorePermit>,
}

/// Posts one worker's results.
pub(crate) struct Updater {
    pipeline: Arc<Pipeline>,
    client: ConductorClient,
    queue: VecDeque<Pending>,
    in_flight: usize,
    max_in_flight: usize,
    backoff: ErrorBackoff,
}

impl Updater {
    /// An updater for the worker behind `pipeline`, posting up to `max_in_flight` at once.
    pub(crate) fn new(
        pipeline: Arc<Pipeline>,
        client: ConductorClient,
        max_in_flight: usize,
    ) -> Self {
        let settings = &pipeline.settings;
        let backoff = ErrorBackoff {
            base: settings.update_retry_backoff,
            max: settings.update_retry_backoff.saturating_mul(32),
        };
        Self {
            client,
            queue: VecDeque::with_capacity(pipeline.queue_capacity),
            in_flight: 0,
            max_in_flight: max_in_flight.max(1),
            backoff,
            pipeline,
        }
    }

    /// Starts posts while there is room.
    fn dispatch(&mut self, ctx: &mut Context<Self>) {
        while self.in_flight < self.max_in_flight {
            let Some(pending) = self.queue.pop_front() else {
                return;
            };
            self.in_flight += 1;
            let client = self.client.clone();
            let post = async move {
                let outcome = client.update(&pending.result).await;
                (pending, outcome)
            };
            ctx.spawn(
                post.into_actor(self)
                    .map(|(pending, outcome), updater, ctx| {
                        updater.in_flight -= 1;
                        updater.settle(pending, outcome, ctx);
                        updater.dispatch(ctx);
                    }),
            );
        }
    }

    /// Handles the answer to one post.
    fn settle(
        &mut self,
        mut pending: Pending,
        outcome: Result<(), ClientError>,
        ctx: &mut Context<Self>,
    ) {
        pending.attempts += 1;
        // Whatever the answer, the task is no longer this worker's to execute.
        drop(pending.slot.take());
        let stats = &self.pipeline.stats;
        match outcome {
            Ok(()) => {
                Stats::add(&stats.results_posted, 1);
                self.pipeline.queue_slots.add_permits(1);
            }
            Err(err)
                if err.is_retryable()
                    && pending.attempts <= self.pipeline.settings.update_retries =>
            {
                Stats::add(&stats.update_retries, 1);
                let delay = self.backoff.delay(pending.attempts - 1);
                tracing::warn!(
                    task_id = %pending.result.task_id,
                    attempt = pending.attempts,
                    error = %err,
                    retry_in = ?delay,
                    "posting a result failed; will retry"
                );
                ctx.run_later(delay, move |updater, ctx| {
                    updater.queue.push_front(pending);
                    updater.dispatch(ctx);
                });
            }
            Err(err) => self.give_up(pending, &err),
        }
    }

    /// Drops a result the server would not take: logged and counted.
    fn give_up(&mut self, pending: Pending, err: &ClientError) {
        Stats::add(&self.pipeline.stats.results_given_up, 1);
        self.pipeline.queue_slots.add_permits(1);
        tracing::error!(
            task_id = %pending.result.task_id,
            workflow_id = %pending.result.workflow_instance_id,
            status = ?pending.result.status,
            attempts = pending.attempts,
            error = %err,
            "result given up; the server will time the task out"
        );
    }
}

impl Actor for Updater {
    type Context = Context<Self>;
}

impl Handler<Post> for Updater {
    type Result = ();

    fn handle(&mut self, Post(batch): Post, ctx: &mut Self::Context) {
        for finished in batch {
            self.queue.push_back(Pending {
                result: finished.result,
                attempts: 0,
                slot: Some(finished.permit),
            });
        }
        self.dispatch(ctx);
    }
}
