//! The Poller: reserves free execution slots, batch long-polls for exactly that many tasks and
//! hands them to the Executor, each with its slot.
//!
//! Invariant: tasks polled ≤ permits held. A poll asks for `count` = the permits it holds
//! (at most the batch size) and hands the answer with those permits to the [`Intake`], which
//! gives back what the answer does not fill and runs an oversize answer's extra tasks as slots
//! free (never dropping them). A poll in flight is never abandoned (its answer may carry
//! tasks the server has already marked IN_PROGRESS); its deadline is the long-poll timeout
//! plus `CONDUCTOR_POLL_DEADLINE_MARGIN_MS`. Failed polls back off from 250 ms doubling up to
//! `CONDUCTOR_POLL_ERROR_BACKOFF_MAX_MS`, and the backoff starts over as soon as any call of
//! the host gets an answer again.
//!
//! **Oversize answers.** An answer over `CONDUCTOR_HTTP_MAX_RESPONSE_BYTES` is not read (its
//! tasks are left to the server's response timeout): it is logged with its size, counted, and
//! halves the most tasks asked for per poll (down to 1); after [`FITTING_TO_RESTORE`] answers
//! that fit, polls ask for the full batch again. An answer that is not JSON at all is counted
//! and backed off like any failed poll.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use actix::prelude::*;

use crate::actors::delivery::ActorWatch;
use crate::actors::intake::Intake;
use crate::actors::messages::Tick;
use crate::actors::{Pipeline, Stats};
use crate::backoff::{ErrorBackoff, empty_queue_delay};
use crate::client::{ClientError, ConductorClient, ErrorChain, PollTarget};

/// The wait after the first failed poll; it doubles (with jitter) up to
/// `CONDUCTOR_POLL_ERROR_BACKOFF_MAX_MS`.
const FIRST_ERROR_BACKOFF: Duration = Duration::from_millis(250);

/// Answers that fit after which an oversize answer's halving of the poll count is undone.
pub(crate) const FITTING_TO_RESTORE: u32 = 100;

/// How a poll round ended.
#[derive(Debug)]
enum Round {
    /// Tasks were handed to the executor.
    Polled,
    /// The queue was empty.
    Empty,
    /// The poll failed.
    Failed(ClientError),
    /// Polling is paused.
    Paused,
    /// The host is draining, or the executor is gone.
    Stopped,
}

/// Polls for one worker.
pub(crate) struct Poller {
    pipeline: Arc<Pipeline>,
    client: ConductorClient,
    target: PollTarget,
    intake: Intake,
    empty_polls: u32,
    failed_polls: u32,
    error_backoff: ErrorBackoff,
    /// The most tasks one poll asks for: the batch size, halved by each oversize answer.
    poll_limit: usize,
    /// Answers that fit since the last oversize one, while `poll_limit` is reduced.
    fitting_answers: u32,
    watch: ActorWatch,
}

impl Poller {
    /// A poller for the worker behind `pipeline`, feeding its Executor through `intake`.
    pub(crate) fn new(pipeline: Arc<Pipeline>, client: ConductorClient, intake: Intake) -> Self {
        let settings = &pipeline.settings;
        let target = client.poll_target(
            &settings.task_type,
            &pipeline.worker_id,
            settings.domain.as_deref(),
        );
        Self {
            client,
            target,
            intake,
            empty_polls: 0,
            failed_polls: 0,
            error_backoff: ErrorBackoff {
                base: FIRST_ERROR_BACKOFF.min(pipeline.poll_error_backoff_max),
                max: pipeline.poll_error_backoff_max,
            },
            watch: ActorWatch::new(Arc::clone(&pipeline), "poller"),
            poll_limit: settings.batch_size,
            fitting_answers: 0,
            pipeline,
        }
    }

    /// Halves the poll count after an oversize answer; restores it after enough that fit.
    fn track_answer_size(&mut self, round: &Round) {
        let batch_size = self.pipeline.settings.batch_size;
        match round {
            Round::Failed(err @ ClientError::TooLarge { .. }) => {
                self.poll_limit = (self.poll_limit / 2).max(1);
                self.fitting_answers = 0;
                Stats::add(&self.pipeline.stats.oversize_answers, 1);
                tracing::error!(
                    task_type = %self.pipeline.settings.task_type,
                    poll_count = self.poll_limit,
                    error = %err,
                    "poll answer over CONDUCTOR_HTTP_MAX_RESPONSE_BYTES; its tasks are left to \
                     the server's response timeout, and polls ask for fewer tasks"
                );
            }
            Round::Polled | Round::Empty if self.poll_limit < batch_size => {
                self.fitting_answers += 1;
                if self.fitting_answers >= FITTING_TO_RESTORE {
                    self.poll_limit = batch_size;
                    self.fitting_answers = 0;
                    tracing::info!(
                        task_type = %self.pipeline.settings.task_type,
                        poll_count = batch_size,
                        "poll answers fit again; polling for full batches"
                    );
                }
            }
            _ => {}
        }
    }

    /// Polls again once polling is resumed (at once) or the host stops.
    fn wait_for_resume(&mut self, ctx: &mut Context<Self>) {
        let pipeline = Arc::clone(&self.pipeline);
        ctx.spawn(
            async move {
                let resumed = pipeline.resumed.notified();
                tokio::pin!(resumed);
                // Registered before the check, so a resume between the two is not missed.
                resumed.as_mut().enable();
                if pipeline.paused.load(Ordering::Relaxed) {
                    tokio::select! {
                        () = resumed => {}
                        () = pipeline.stop_polling.cancelled() => {}
                    }
                }
            }
            .into_actor(self)
            .map(|(), _, ctx| ctx.notify(Tick)),
        );
    }

    /// Decides when to poll next.
    fn after_round(&mut self, round: Round, ctx: &mut Context<Self>) {
        self.track_answer_size(&round);
        let interval = self.pipeline.settings.polling_interval;
        let mut recovery_mark = None;
        let delay = match round {
            Round::Polled => {
                self.empty_polls = 0;
                self.failed_polls = 0;
                Duration::ZERO
            }
            Round::Empty => {
                self.failed_polls = 0;
                self.empty_polls = self.empty_polls.saturating_add(1);
                empty_queue_delay(self.empty_polls, interval)
            }
            Round::Failed(err) => {
                recovery_mark = Some(self.client.recovery().mark());
                let delay = self.error_backoff.delay(self.failed_polls);
                self.failed_polls = self.failed_polls.saturating_add(1);
                tracing::warn!(
                    task_type = %self.pipeline.settings.task_type,
                    error = %ErrorChain(&err),
                    retry_in = ?delay,
                    "poll failed"
                );
                delay
            }
            Round::Paused => {
                self.wait_for_resume(ctx);
                return;
            }
            Round::Stopped => {
                ctx.stop();
                return;
            }
        };
        if delay.is_zero() {
            ctx.notify(Tick);
        } else {
            // Wake early when the host starts draining, so shutdown never waits out a backoff,
            // and after a failure when any call of the host gets an answer again: the server
            // is back, so the backoff starts over.
            let stop = self.pipeline.stop_polling.clone();
            let recovery = Arc::clone(self.client.recovery());
            ctx.spawn(
                async move {
                    let recovered = async {
                        match recovery_mark {
                            Some(mark) => recovery.wait(mark, delay).await,
                            None => {
                                tokio::time::sleep(delay).await;
                                false
                            }
                        }
                    };
                    tokio::select! {
                        recovered = recovered => recovered,
                        _ = stop.cancelled() => false,
                    }
                }
                .into_actor(self)
                .map(|recovered, poller, ctx| {
                    if recovered {
                        poller.failed_polls = 0;
                    }
                    ctx.notify(Tick);
                }),
            );
        }
    }
}

impl Actor for Poller {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.notify(Tick);
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.watch.stopped();
    }
}

impl Handler<Tick> for Poller {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _: Tick, _: &mut Self::Context) -> Self::Result {
        let round = poll_round(
            Arc::clone(&self.pipeline),
            self.client.clone(),
            self.target.clone(),
            self.intake.clone(),
            self.poll_limit,
        );
        Box::pin(
            round
                .into_actor(self)
                .map(|round, poller, ctx| poller.after_round(round, ctx)),
        )
    }
}

/// One round: reserve slots (at most `limit`), poll, hand over.
async fn poll_round(
    pipeline: Arc<Pipeline>,
    client: ConductorClient,
    target: PollTarget,
    intake: Intake,
    limit: usize,
) -> Round {
    if pipeline.stop_polling.is_cancelled() {
        return Round::Stopped;
    }
    if pipeline.paused.load(Ordering::Relaxed) {
        Stats::add(&pipeline.stats.paused_rounds, 1);
        return Round::Paused;
    }
    let slots = &pipeline.capacity.slots;
    // Wait for one free slot, then take every other free one, up to the batch size.
    let mut permit = match Arc::clone(slots).try_acquire_owned() {
        Ok(permit) => permit,
        Err(_) => {
            Stats::add(&pipeline.stats.slot_waits, 1);
            tokio::select! {
                biased;
                _ = pipeline.stop_polling.cancelled() => return Round::Stopped,
                permit = Arc::clone(slots).acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => return Round::Stopped,
                },
            }
        }
    };
    let extra = slots
        .available_permits()
        .min(limit.clamp(1, pipeline.settings.batch_size) - 1);
    if extra > 0
        && let Ok(more) = Arc::clone(slots).try_acquire_many_owned(extra as u32)
    {
        permit.merge(more);
    }
    let count = permit.num_permits();
    Stats::add(&pipeline.stats.polls, 1);
    pipeline.poll_round_started();
    let started = pipeline.clock();
    let outcome = client
        .poll(&target, count, pipeline.settings.poll_timeout)
        .await;
    if let Some(elapsed) = started.map(|s| s.elapsed()) {
        tracing::debug!(
            task_type = %pipeline.settings.task_type,
            count,
            elapsed_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            ok = outcome.is_ok(),
            "polled"
        );
        if let Some(metrics) = &pipeline.metrics {
            let exception = outcome.as_ref().err().map(ClientError::kind);
            metrics.polled(elapsed, exception.as_deref());
        }
    }
    let tasks = match outcome {
        Ok(tasks) => tasks,
        Err(err) => {
            Stats::add(&pipeline.stats.poll_errors, 1);
            if matches!(err, ClientError::Decode(_)) {
                Stats::add(&pipeline.stats.bad_answers, 1);
            }
            return Round::Failed(err);
        }
    };
    match intake.admit(tasks, permit).await {
        Ok(0) => {
            Stats::add(&pipeline.stats.empty_polls, 1);
            Round::Empty
        }
        Ok(_) => Round::Polled,
        Err(_) => Round::Stopped,
    }
}
