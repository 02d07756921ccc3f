//! The one way tasks enter the Executor, whether a poll or an update-v2 answer brought them.
//!
//! Both sources hold execution slots before they ask the server for work: the Poller reserves
//! up to a batch of them, the Updater lends a finished task's slot to the update-v2 answer. They
//! hand the answer and the slots to [`Intake::admit`], which counts the tasks, notes whether the
//! queue looks busy, pairs each task with one slot and sends them to the Executor as one batch.
//! Slots the answer did not fill go back at once; tasks beyond the slots held (a server that
//! answers with more than asked) wait for slots to free and then run: they are never dropped,
//! and while they wait they count as held (`Pipeline::awaiting_slot`), so a drain waits for them.
//! A task that could not be decoded takes a slot like any other (the Executor posts it FAILED
//! at once); one that could not even be identified is only counted (the client logged it).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use actix::Recipient;
use tokio::sync::OwnedSemaphorePermit;

use crate::actors::messages::{Execute, LeasedTask};
use crate::actors::{HeldTask, Pipeline, Stats};
use crate::client::{Decoded, Polled};

/// The Executor is gone (the host is stopping): tasks not handed over are left to the server's
/// response timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the executor stopped")]
pub(crate) struct ExecutorGone;

/// Hands tasks, each with an execution slot, to one worker's Executor. Cheap to clone (one
/// reference count: cloning a `Recipient` itself would allocate, and the Poller and the
/// Updater clone the intake for every poll and every update-v2 post).
#[derive(Debug, Clone)]
pub(crate) struct Intake(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    pipeline: Arc<Pipeline>,
    executor: Recipient<Execute>,
}

impl Intake {
    /// An intake feeding `executor`, the Executor of the worker behind `pipeline`.
    pub(crate) fn new(pipeline: Arc<Pipeline>, executor: Recipient<Execute>) -> Self {
        Self(Arc::new(Inner { pipeline, executor }))
    }

    /// Takes the server's answer to a request made while holding `slots` (one per task asked
    /// for): records whether the queue has more work (the answer filled every slot), pairs
    /// each task with a slot and sends them to the Executor in one message. Unused slots are
    /// given back; extra tasks wait for free slots. Returns how many tasks the answer held,
    /// lost ones included (0 for an empty answer).
    ///
    /// `tasks` is an iterator so that a single task (update-v2) needs no vector of its own.
    pub(crate) async fn admit<I>(
        &self,
        answer: Decoded<I>,
        mut slots: OwnedSemaphorePermit,
    ) -> Result<usize, ExecutorGone>
    where
        I: IntoIterator<Item = Polled>,
        I::IntoIter: ExactSizeIterator,
    {
        let tasks = answer.tasks.into_iter();
        let (count, asked) = (tasks.len(), slots.num_permits());
        let handed_out = count + answer.lost;
        let pipeline = &self.0.pipeline;
        pipeline
            .work_queued
            .store(handed_out >= asked, Ordering::Relaxed);
        if answer.lost > 0 {
            Stats::add(&pipeline.stats.lost_tasks, answer.lost as u64);
        }
        if let Some(metrics) = &pipeline.metrics {
            metrics.handed_out(handed_out);
        }
        if handed_out == 0 {
            return Ok(0);
        }
        Stats::add(&pipeline.stats.tasks_polled, handed_out as u64);

        let mut leased = Vec::with_capacity(count.min(asked));
        let mut oversize = Vec::new();
        for task in tasks {
            match slots.split(1) {
                Some(slot) => leased.push(LeasedTask { task, permit: slot }),
                None => oversize.push(task),
            }
        }
        drop(slots); // gives back the slots the answer did not fill
        if let Some(journal) = &pipeline.journal {
            let held: Vec<HeldTask<&str>> = (leased.iter().map(|leased| &leased.task))
                .chain(&oversize)
                .map(HeldTask::of)
                .collect();
            journal.started(&held);
        }
        self.send(leased).await?;
        if !oversize.is_empty() {
            tracing::warn!(
                extra = oversize.len(),
                asked,
                "server answered with more tasks than asked for; running them as slots free"
            );
        }
        // The waiting tasks count as held (a drain waits for them too).
        let mut waiting = AwaitingSlot::hold(pipeline, oversize.len());
        for task in oversize {
            let Ok(slot) = Arc::clone(&pipeline.capacity.slots).acquire_owned().await else {
                return Err(ExecutorGone);
            };
            waiting.release_one();
            self.send(vec![LeasedTask { task, permit: slot }]).await?;
        }
        Ok(handed_out)
    }

    async fn send(&self, batch: Vec<LeasedTask>) -> Result<(), ExecutorGone> {
        let count = batch.len();
        self.0.executor.send(Execute(batch)).await.map_err(|_| {
            tracing::error!(
                task_type = %self.0.pipeline.settings.task_type,
                count,
                "executor stopped; tasks in hand are left to the server's response timeout"
            );
            ExecutorGone
        })
    }
}

/// Tasks in hand waiting for a slot, counted in `Pipeline::awaiting_slot` until each gets one
/// (or, on drop, until they are gone).
struct AwaitingSlot<'a> {
    pipeline: &'a Pipeline,
    count: usize,
}

impl<'a> AwaitingSlot<'a> {
    fn hold(pipeline: &'a Pipeline, count: usize) -> Self {
        pipeline
            .capacity
            .awaiting_slot
            .fetch_add(count, Ordering::Relaxed);
        Self { pipeline, count }
    }

    /// One of them got its slot.
    fn release_one(&mut self) {
        if self.count > 0 {
            self.count -= 1;
            self.pipeline
                .capacity
                .awaiting_slot
                .fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Drop for AwaitingSlot<'_> {
    fn drop(&mut self) {
        self.pipeline
            .capacity
            .awaiting_slot
            .fetch_sub(self.count, Ordering::Relaxed);
    }
}
