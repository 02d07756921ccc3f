//! What a worker returns: [`Outcome`], [`WorkerError`], typed output ([`Json`]), and the
//! [`IntoTaskResult`] conversion that turns any of them into the [`TaskResult`] Baton posts.

use std::fmt;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::model::{JsonMap, TaskResult, TaskResultStatus};
use crate::worker::TaskContext;

/// A successful (or still running) execution.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Outcome {
    /// The task finished; `output` becomes its `outputData`.
    Completed(JsonMap),
    /// The task is still running: the server hands it out again after `callback_after`.
    InProgress {
        /// When the server should hand the task out again (whole seconds are sent).
        callback_after: Duration,
        /// Output so far.
        output: JsonMap,
    },
    /// A result built by hand; ids left empty are filled in from the task.
    Result(TaskResult),
}

impl Outcome {
    /// COMPLETED with no output.
    pub fn completed() -> Self {
        Self::Completed(JsonMap::new())
    }

    /// COMPLETED with `value` serialized as the output (an object becomes `outputData`; any
    /// other value is wrapped as `{"result": value}`).
    pub fn json<T: Serialize>(value: &T) -> Result<Self, WorkerError> {
        let value = serde_json::to_value(value)
            .map_err(|err| WorkerError::new(format!("output could not be serialized: {err}")))?;
        Ok(Self::Completed(output_map(value)))
    }

    /// IN_PROGRESS: hand the task out again after `callback_after`.
    pub fn in_progress(callback_after: Duration) -> Self {
        Self::InProgress {
            callback_after,
            output: JsonMap::new(),
        }
    }

    /// Adds one output field (builder style).
    #[must_use]
    pub fn with_output(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        match &mut self {
            Self::Completed(output) | Self::InProgress { output, .. } => {
                output.insert(key.into(), value.into());
            }
            Self::Result(result) => {
                result.output_data.insert(key.into(), value.into());
            }
        }
        self
    }
}

/// Why a task failed. Becomes FAILED (retried by the server while retries remain), or
/// FAILED_WITH_TERMINAL_ERROR when built with [`WorkerError::terminal`].
///
/// Any `std::error::Error` converts into it, so `?` works in workers.
pub struct WorkerError {
    message: String,
    terminal: bool,
}

impl WorkerError {
    /// A retryable failure with `message` as the reason.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            terminal: false,
        }
    }

    /// A failure the server must not retry (FAILED_WITH_TERMINAL_ERROR).
    pub fn terminal(message: impl fmt::Display) -> Self {
        Self {
            message: message.to_string(),
            terminal: true,
        }
    }

    /// The reason reported to the server.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether the failure is terminal.
    pub fn is_terminal(&self) -> bool {
        self.terminal
    }
}

impl fmt::Debug for WorkerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerError")
            .field("message", &self.message)
            .field("terminal", &self.terminal)
            .finish()
    }
}

impl fmt::Display for WorkerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for WorkerError {
    fn from(err: E) -> Self {
        let mut message = err.to_string();
        let mut source = err.source();
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        Self::new(message)
    }
}

/// Typed output: `value` is serialized with serde into the task's `outputData` (an object as
/// is, any other value as `{"result": value}`).
#[derive(Debug, Clone, PartialEq)]
pub struct Json<T>(pub T);

/// Anything a worker can return. Implemented for [`TaskResult`], [`Outcome`], [`Json<T>`],
/// [`JsonMap`], [`serde_json::Value`], `String`, `()` and `Result<T, E>` of those with any error
/// that converts into [`WorkerError`].
pub trait IntoTaskResult {
    /// Converts into the result to post for the task described by `ctx`.
    fn into_task_result(self, ctx: &TaskContext) -> TaskResult;
}

impl IntoTaskResult for TaskResult {
    fn into_task_result(mut self, ctx: &TaskContext) -> TaskResult {
        if self.task_id.is_empty() {
            self.task_id = ctx.task_id().to_owned();
        }
        if self.workflow_instance_id.is_empty() {
            self.workflow_instance_id = ctx.workflow_instance_id().to_owned();
        }
        if self.status.is_none() {
            self.status = Some(TaskResultStatus::Completed);
        }
        self
    }
}

impl IntoTaskResult for Outcome {
    fn into_task_result(self, ctx: &TaskContext) -> TaskResult {
        match self {
            Self::Completed(output) => {
                let mut result = base(ctx, TaskResultStatus::Completed);
                result.output_data = output;
                result
            }
            Self::InProgress {
                callback_after,
                output,
            } => {
                let mut result = base(ctx, TaskResultStatus::InProgress);
                result.callback_after_seconds = callback_after.as_secs() as i64;
                result.output_data = output;
                result
            }
            Self::Result(result) => result.into_task_result(ctx),
        }
    }
}

impl IntoTaskResult for WorkerError {
    fn into_task_result(self, ctx: &TaskContext) -> TaskResult {
        let status = if self.terminal {
            TaskResultStatus::FailedWithTerminalError
        } else {
            TaskResultStatus::Failed
        };
        let mut result = base(ctx, status);
        result.reason_for_incompletion = Some(self.message);
        result
    }
}

impl<T: Serialize> IntoTaskResult for Json<T> {
    fn into_task_result(self, ctx: &TaskContext) -> TaskResult {
        match Outcome::json(&self.0) {
            Ok(outcome) => outcome.into_task_result(ctx),
            Err(err) => err.into_task_result(ctx),
        }
    }
}

impl IntoTaskResult for JsonMap {
    fn into_task_result(self, ctx: &TaskContext) -> TaskResult {
        Outcome::Completed(self).into_task_result(ctx)
    }
}

impl IntoTaskResult for Value {
    fn into_task_result(self, ctx: &TaskContext) -> TaskResult {
        Outcome::Completed(output_map(self)).into_task_result(ctx)
    }
}

impl IntoTaskResult for String {
    fn into_task_result(self, ctx: &TaskContext) -> TaskResult {
        Value::String(self).into_task_result(ctx)
    }
}

impl IntoTaskResult for () {
    fn into_task_result(self, ctx: &TaskContext) -> TaskResult {
        Outcome::completed().into_task_result(ctx)
    }
}

impl<T: IntoTaskResult, E: Into<WorkerError>> IntoTaskResult for Result<T, E> {
    fn into_task_result(self, ctx: &TaskContext) -> TaskResult {
        match self {
            Ok(value) => value.into_task_result(ctx),
            Err(err) => err.into().into_task_result(ctx),
        }
    }
}

fn base(ctx: &TaskContext, status: TaskResultStatus) -> TaskResult {
    TaskResult::new(ctx.task_id(), ctx.workflow_instance_id(), status)
}

fn output_map(value: Value) -> JsonMap {
    match value {
        Value::Object(map) => map,
        other => {
            let mut map = JsonMap::new();
            map.insert("result".to_owned(), other);
            map
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Task;
    use serde_json::json;
    use std::sync::Arc;

    fn ctx() -> TaskContext {
        TaskContext::new(&Task::new("t", "task-1", "wf-1"), Arc::from("w"))
    }

    #[derive(Serialize)]
    struct Receipt {
        id: u32,
    }

    #[test]
    fn typed_output_becomes_output_data() {
        let result = Json(Receipt { id: 7 }).into_task_result(&ctx());
        assert_eq!(result.status, Some(TaskResultStatus::Completed));
        assert_eq!(result.task_id, "task-1");
        assert_eq!(result.workflow_instance_id, "wf-1");
        assert_eq!(Value::Object(result.output_data), json!({"id": 7}));
        let scalar = Json(42).into_task_result(&ctx());
        assert_eq!(Value::Object(scalar.output_data), json!({"result": 42}));
    }

    #[test]
    fn errors_become_failed_or_terminal() {
        let io = std::io::Error::other("disk full");
        let result = Err::<(), _>(io).into_task_result(&ctx());
        assert_eq!(result.status, Some(TaskResultStatus::Failed));
        assert_eq!(result.reason_for_incompletion.as_deref(), Some("disk full"));
        let terminal = Err::<(), _>(WorkerError::terminal("bad card")).into_task_result(&ctx());
        assert_eq!(
            terminal.status,
            Some(TaskResultStatus::FailedWithTerminalError)
        );
    }

    #[test]
    fn in_progress_carries_the_callback() {
        let result = Outcome::in_progress(Duration::from_secs(30))
            .with_output("progress", 0.5)
            .into_task_result(&ctx());
        assert_eq!(result.status, Some(TaskResultStatus::InProgress));
        assert_eq!(result.callback_after_seconds, 30);
        assert_eq!(result.output_data["progress"], 0.5);
    }

    #[test]
    fn hand_built_results_get_their_ids_filled_in() {
        let mut partial = TaskResult::default();
        partial.output_data.insert("x".into(), 1.into());
        let result = partial.into_task_result(&ctx());
        assert_eq!(result.task_id, "task-1");
        assert_eq!(result.status, Some(TaskResultStatus::Completed));
    }
}
