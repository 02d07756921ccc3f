//! The Conductor wire model, shared by the Baton engine (`baton`) and the stand-in server
//! (`baton-mock`).
//!
//! Every type here serializes exactly as the Conductor server does (see `docs/architecture.md`):
//! camelCase field names, `null` fields omitted, unknown fields ignored on input, timestamps as
//! epoch milliseconds. Primitive fields that the server always writes (counters, timestamps,
//! flags) are plain values with the server's defaults; optional strings are `Option`s.
//!
//! | type | what it is |
//! |---|---|
//! | [`Task`] | a unit of work as handed out by a poll |
//! | [`TaskResult`] | what a worker posts back |
//! | [`TaskExecLog`] | one execution log line attached to a task |
//! | [`TaskDef`] | a task definition (retries, timeouts, limits) |
//! | [`PollData`] | the server's record of the last poll per task type and domain |
//! | [`ErrorResponse`] | the JSON body of every error answer |
//! | [`WorkflowDef`], [`WorkflowTask`], [`SubWorkflowParams`] | a workflow definition and its tasks |
//! | [`StartWorkflowRequest`] | the body of `POST /api/workflow` |
//! | [`Workflow`], [`WorkflowStatus`] | a workflow instance |
//! | [`BulkResponse`] | the answer of bulk metadata and workflow calls |

mod error;
mod poll_data;
mod status;
mod task;
mod task_def;
mod task_result;
mod workflow;

pub use error::{ErrorResponse, ValidationError};
pub use poll_data::PollData;
pub use status::{TaskResultStatus, TaskStatus};
pub use task::Task;
pub use task_def::{RetryLogic, TaskDef, TimeoutPolicy};
pub use task_result::{TaskExecLog, TaskResult};
pub use workflow::{
    BulkResponse, StartWorkflowRequest, SubWorkflowParams, Workflow, WorkflowDef, WorkflowStatus,
    WorkflowTask,
};

/// A JSON object, as used for task input and output data.
pub type JsonMap = serde_json::Map<String, serde_json::Value>;

/// Helpers for `#[serde(skip_serializing_if = ...)]` and `#[serde(default = ...)]`.
pub(crate) mod serde_helpers {
    /// `true`; the default of flags such as `callbackFromWorker`.
    pub(crate) fn yes() -> bool {
        true
    }

    /// Whether a flag is `false` (so it can be left out of the JSON).
    pub(crate) fn is_false(value: &bool) -> bool {
        !*value
    }
}
