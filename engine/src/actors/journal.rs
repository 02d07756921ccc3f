//! Which tasks a worker holds, told to someone outside its pipeline as it changes.
//!
//! A worker process of a process-placed host journals to its parent: the parent must know
//! the tasks a child held when it died, to post them FAILED at once instead of leaving them to
//! the server's response timeout. A task is held from the moment a poll (or an update-v2
//! answer) brings it, before it is executed, until the server takes its result or the result
//! is given up. Workers on threads have no journal, and pay nothing for it.

use serde::{Deserialize, Serialize};

use crate::client::Polled;

/// What identifies a held task to the server and to the poison-task rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct HeldTask<S = String> {
    /// The task's id.
    pub(crate) id: S,
    /// Its workflow's id.
    pub(crate) workflow: S,
    /// Its reference name in the workflow (`""` when it could not be decoded).
    pub(crate) reference: S,
}

impl<'a> HeldTask<&'a str> {
    /// The ids of a polled task, borrowed.
    pub(crate) fn of(polled: &'a Polled) -> Self {
        match polled {
            Polled::Task(task) => Self {
                id: &task.task_id,
                workflow: task.workflow_id(),
                reference: task.reference_task_name.as_deref().unwrap_or_default(),
            },
            Polled::Undecodable(bad) => Self {
                id: &bad.task_id,
                workflow: &bad.workflow_instance_id,
                reference: "",
            },
        }
    }
}

/// Told which tasks a worker holds. The calls come from the worker's actors: they must not
/// block for long.
///
/// Tasks noted as started are recorded by the next [`commit`](Self::commit), which the
/// Executor calls before it executes anything: tasks that several answers brought in one turn
/// of the worker's runtime are recorded together, and none is executed unrecorded.
pub(crate) trait TaskJournal: Send + Sync + std::fmt::Debug {
    /// These tasks are now held, and about to be executed.
    fn started(&self, tasks: &[HeldTask<&str>]);

    /// Records every task noted as started since the last commit before returning.
    fn commit(&self);

    /// The task `task_id` is no longer held (its result was delivered or given up); may be
    /// recorded a little later.
    fn ended(&self, task_id: &str);
}
