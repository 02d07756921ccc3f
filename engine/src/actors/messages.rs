//! The messages that carry tasks and results between a worker's actors. Each carries a batch.

use std::time::Instant;

use actix::Message;
use tokio::sync::OwnedSemaphorePermit;

use crate::actors::delivery::Undelivered;
use crate::client::Polled;

/// A polled task (decoded, or to be posted FAILED as undecodable) with the execution slot
/// reserved for it.
#[derive(Debug)]
pub(crate) struct LeasedTask {
    pub(crate) task: Polled,
    pub(crate) permit: OwnedSemaphorePermit,
}

/// Intake (for the Poller, or the Updater's update-v2 answers) → Executor: run these tasks.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct Execute(pub(crate) Vec<LeasedTask>);

/// A finished task's result, still holding its execution slot (none for a blocking execution
/// that timed out: its thread keeps the slot until it returns).
#[derive(Debug)]
pub(crate) struct Finished {
    pub(crate) result: Undelivered,
    pub(crate) permit: Option<OwnedSemaphorePermit>,
    /// When the task's lease ends, if it has one.
    pub(crate) lease_ends: Option<Instant>,
    /// The task's span (task id, type, workflow id, poll count); its post runs in it too.
    pub(crate) span: tracing::Span,
}

/// A finished result with its place in the Updater's queue.
#[derive(Debug)]
pub(crate) struct Queued {
    pub(crate) finished: Finished,
    /// One slot of the Updater's bounded queue, freed when the result leaves it.
    pub(crate) queue_slot: OwnedSemaphorePermit,
}

/// Executor → Updater: post these results.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct Post(pub(crate) Vec<Queued>);

/// Ask an actor to do its next round of work (sent by itself).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct Tick;
