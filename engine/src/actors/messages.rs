//! The messages that carry tasks and results between a worker's actors. Each carries a batch.

use actix::Message;
use tokio::sync::OwnedSemaphorePermit;

use crate::client::Polled;
use crate::model::TaskResult;

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

/// A finished task's result, still holding its execution slot.
#[derive(Debug)]
pub(crate) struct Finished {
    pub(crate) result: TaskResult,
    pub(crate) permit: OwnedSemaphorePermit,
}

/// Executor → Updater: post these results. One queue slot per result has already been taken.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct Post(pub(crate) Vec<Finished>);

/// Ask an actor to do its next round of work (sent by itself).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct Tick;
