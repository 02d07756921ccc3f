//! [`TaskResult`]: what a worker posts back, and [`TaskExecLog`], one execution log line.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::serde_helpers::is_false;
use crate::{JsonMap, Task, TaskResultStatus};

/// One execution log line (`TaskExecLog`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TaskExecLog {
    /// The log text.
    pub log: String,
    /// The task the line belongs to (the server overwrites it with the task's id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    /// When the line was written (epoch ms).
    pub created_time: i64,
}

impl TaskExecLog {
    /// A log line for `task_id`, stamped `created_time` (epoch ms).
    pub fn new(log: impl Into<String>, task_id: impl Into<String>, created_time: i64) -> Self {
        Self {
            log: log.into(),
            task_id: Some(task_id.into()),
            created_time,
        }
    }
}

/// The result of executing a task, posted to `POST /api/tasks` (or `/api/tasks/update-v2`).
///
/// `workflowInstanceId` and `taskId` are required by the server; a missing one decodes as `""`
/// here, which the server (and `baton-mock`) answer with 400.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct TaskResult {
    /// The workflow the task belongs to.
    pub workflow_instance_id: String,
    /// The task this result is for.
    pub task_id: String,
    /// Why the task did not complete (the server keeps the first 500 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason_for_incompletion: Option<String>,
    /// For IN_PROGRESS: when to hand the task out again (seconds).
    pub callback_after_seconds: i64,
    /// The worker that executed the task.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker_id: Option<String>,
    /// The outcome. `None` only in malformed input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<TaskResultStatus>,
    /// The task's output (replaces any earlier output).
    pub output_data: JsonMap,
    /// Execution log lines to store with the task.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub logs: Vec<TaskExecLog>,
    /// Where an externalized output payload is stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_output_payload_storage_path: Option<String>,
    /// A sub-workflow started by the task.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_workflow_id: Option<String>,
    /// Only extend the task's lease (bump `updateTime`); everything else is ignored.
    #[serde(skip_serializing_if = "is_false")]
    pub extend_lease: bool,
    /// Optional timing metadata.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_metadata: Option<Value>,
}

impl TaskResult {
    /// A result for `task_id` in `workflow_instance_id` with the given status and no output.
    pub fn new(
        task_id: impl Into<String>,
        workflow_instance_id: impl Into<String>,
        status: TaskResultStatus,
    ) -> Self {
        Self {
            task_id: task_id.into(),
            workflow_instance_id: workflow_instance_id.into(),
            status: Some(status),
            ..Self::default()
        }
    }

    /// A result for `task` with the given status and no output.
    pub fn for_task(task: &Task, status: TaskResultStatus) -> Self {
        Self::new(task.task_id.clone(), task.workflow_id(), status)
    }

    /// A COMPLETED result for `task` with `output`.
    pub fn completed(task: &Task, output: JsonMap) -> Self {
        Self {
            output_data: output,
            ..Self::for_task(task, TaskResultStatus::Completed)
        }
    }

    /// A FAILED result for `task` with `reason` (retried by the server while retries remain).
    pub fn failed(task: &Task, reason: impl Into<String>) -> Self {
        Self {
            reason_for_incompletion: Some(reason.into()),
            ..Self::for_task(task, TaskResultStatus::Failed)
        }
    }

    /// A FAILED_WITH_TERMINAL_ERROR result for `task` with `reason` (never retried).
    pub fn failed_terminal(task: &Task, reason: impl Into<String>) -> Self {
        Self {
            reason_for_incompletion: Some(reason.into()),
            ..Self::for_task(task, TaskResultStatus::FailedWithTerminalError)
        }
    }

    /// An IN_PROGRESS result for `task`: hand it out again after `callback_after_seconds`.
    pub fn in_progress(task: &Task, callback_after_seconds: i64) -> Self {
        Self {
            callback_after_seconds,
            ..Self::for_task(task, TaskResultStatus::InProgress)
        }
    }

    /// Sets one output field, returning the result (builder style).
    #[must_use]
    pub fn with_output(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.output_data.insert(key.into(), value.into());
        self
    }

    /// Appends an execution log line, returning the result (builder style).
    #[must_use]
    pub fn with_log(mut self, log: TaskExecLog) -> Self {
        self.logs.push(log);
        self
    }

    /// Sets the worker id, returning the result (builder style).
    #[must_use]
    pub fn with_worker_id(mut self, worker_id: impl Into<String>) -> Self {
        self.worker_id = Some(worker_id.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn encodes_like_the_python_sdk_sends_it() {
        let task = Task::new("encode", "t-1", "wf-1");
        let result = TaskResult::completed(&task, JsonMap::new())
            .with_output("ok", true)
            .with_worker_id("host-1")
            .with_log(TaskExecLog::new("started", "t-1", 1_732_300_000_000));
        assert_eq!(
            serde_json::to_value(&result).unwrap(),
            json!({
                "workflowInstanceId": "wf-1",
                "taskId": "t-1",
                "callbackAfterSeconds": 0,
                "workerId": "host-1",
                "status": "COMPLETED",
                "outputData": {"ok": true},
                "logs": [{"log": "started", "taskId": "t-1", "createdTime": 1_732_300_000_000_i64}]
            })
        );
    }

    #[test]
    fn decodes_a_client_body_with_unknown_fields() {
        let body = json!({
            "workflowInstanceId": "wf-1",
            "taskId": "t-1",
            "status": "IN_PROGRESS",
            "callbackAfterSeconds": 30,
            "outputData": {"progress": 0.5},
            "extendLease": false,
            "supportsCancellation": false,
            "logs": []
        });
        let result: TaskResult = serde_json::from_value(body).unwrap();
        assert_eq!(result.status, Some(TaskResultStatus::InProgress));
        assert_eq!(result.callback_after_seconds, 30);
        assert_eq!(result.output_data["progress"], 0.5);
    }

    #[test]
    fn missing_ids_decode_as_empty() {
        let result: TaskResult = serde_json::from_str("{}").unwrap();
        assert!(result.task_id.is_empty() && result.workflow_instance_id.is_empty());
        assert!(result.status.is_none());
    }

    #[test]
    fn extend_lease_is_sent_only_when_set() {
        let mut result = TaskResult::new("t", "w", TaskResultStatus::InProgress);
        assert!(
            !serde_json::to_string(&result)
                .unwrap()
                .contains("extendLease")
        );
        result.extend_lease = true;
        assert!(
            serde_json::to_string(&result)
                .unwrap()
                .contains("\"extendLease\":true")
        );
    }
}
