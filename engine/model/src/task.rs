//! [`Task`]: a unit of work as the server hands it out.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::serde_helpers::yes;
use crate::{JsonMap, TaskStatus};

/// A task as returned by a poll (`GET /api/tasks/poll/...`) or `GET /api/tasks/{taskId}`.
///
/// Counters, timestamps and flags are always present on the wire, as the server writes them;
/// strings that the server leaves `null` are `None` and omitted when serialized. Unknown
/// fields are ignored, so newer servers can add fields without breaking workers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct Task {
    /// The task type; for SIMPLE tasks, the task definition's name.
    pub task_type: String,
    /// The server-side status (`IN_PROGRESS` for polled tasks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<TaskStatus>,
    /// The task's input.
    pub input_data: JsonMap,
    /// The task's reference name in its workflow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference_task_name: Option<String>,
    /// The attempt number: 0 for the first attempt.
    pub retry_count: i32,
    /// The task's sequence number within its workflow.
    pub seq: i32,
    /// The workflow's correlation id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// How many times the task has been handed out.
    pub poll_count: i32,
    /// The task definition's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_def_name: Option<String>,
    /// When the task was scheduled (epoch ms).
    pub scheduled_time: i64,
    /// When the task was first handed out (epoch ms).
    pub start_time: i64,
    /// When the task finished (epoch ms).
    pub end_time: i64,
    /// When the task was last updated (epoch ms).
    pub update_time: i64,
    /// The start delay in seconds.
    pub start_delay_in_seconds: i32,
    /// The id of the attempt this one retries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retried_task_id: Option<String>,
    /// Whether this attempt has been retried.
    pub retried: bool,
    /// Whether the decider has processed this task's completion.
    pub executed: bool,
    /// Whether the task expects a callback from a worker.
    #[serde(default = "yes")]
    pub callback_from_worker: bool,
    /// How long the server waits for an update before timing the task out (seconds).
    pub response_timeout_seconds: i64,
    /// The workflow this task belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflow_instance_id: Option<String>,
    /// The workflow's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflow_type: Option<String>,
    /// The task's id.
    pub task_id: String,
    /// Why the task did not complete.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason_for_incompletion: Option<String>,
    /// The delay before the task becomes pollable again (seconds).
    pub callback_after_seconds: i64,
    /// The worker that polled the task.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker_id: Option<String>,
    /// The task's output.
    pub output_data: JsonMap,
    /// The workflow's configuration of this task.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflow_task: Option<Value>,
    /// The task domain the task was scheduled to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Rate limit: hand-outs per window.
    pub rate_limit_per_frequency: i32,
    /// Rate limit: window length in seconds.
    pub rate_limit_frequency_in_seconds: i32,
    /// Where an externalized input payload is stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_input_payload_storage_path: Option<String>,
    /// Where an externalized output payload is stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_output_payload_storage_path: Option<String>,
    /// The workflow's priority (0–99).
    pub workflow_priority: i32,
    /// System tasks only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_name_space: Option<String>,
    /// System tasks only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isolation_group_id: Option<String>,
    /// The DO_WHILE iteration.
    pub iteration: i32,
    /// The sub-workflow started by this task, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_workflow_id: Option<String>,
    /// Whether the sub-workflow changed.
    pub subworkflow_changed: bool,
    /// The parent task, for tasks inside loops and forks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_task_id: Option<String>,
    /// When the first attempt started (epoch ms).
    pub first_start_time: i64,
    /// Free-form runtime metadata; omitted when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime_metadata: Option<JsonMap>,
    /// Timing metadata.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_metadata: Option<Value>,
    /// Derived: true when `iteration > 0`.
    pub loop_over_task: bool,
    /// Derived: how long the task waited in its queue (ms).
    pub queue_wait_time: i64,
    /// Derived: the task definition embedded in `workflowTask`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_definition: Option<Value>,
}

impl Default for Task {
    fn default() -> Self {
        Self {
            task_type: String::new(),
            status: None,
            input_data: JsonMap::new(),
            reference_task_name: None,
            retry_count: 0,
            seq: 0,
            correlation_id: None,
            poll_count: 0,
            task_def_name: None,
            scheduled_time: 0,
            start_time: 0,
            end_time: 0,
            update_time: 0,
            start_delay_in_seconds: 0,
            retried_task_id: None,
            retried: false,
            executed: false,
            callback_from_worker: true,
            response_timeout_seconds: 0,
            workflow_instance_id: None,
            workflow_type: None,
            task_id: String::new(),
            reason_for_incompletion: None,
            callback_after_seconds: 0,
            worker_id: None,
            output_data: JsonMap::new(),
            workflow_task: None,
            domain: None,
            rate_limit_per_frequency: 0,
            rate_limit_frequency_in_seconds: 0,
            external_input_payload_storage_path: None,
            external_output_payload_storage_path: None,
            workflow_priority: 0,
            execution_name_space: None,
            isolation_group_id: None,
            iteration: 0,
            sub_workflow_id: None,
            subworkflow_changed: false,
            parent_task_id: None,
            first_start_time: 0,
            runtime_metadata: None,
            execution_metadata: None,
            loop_over_task: false,
            queue_wait_time: 0,
            task_definition: None,
        }
    }
}

impl Task {
    /// A task of `task_type` with id `task_id` in workflow `workflow_instance_id`; every other
    /// field has the server's default. Handy for tests and for the mock server.
    pub fn new(
        task_type: impl Into<String>,
        task_id: impl Into<String>,
        workflow_instance_id: impl Into<String>,
    ) -> Self {
        Self {
            task_type: task_type.into(),
            task_id: task_id.into(),
            workflow_instance_id: Some(workflow_instance_id.into()),
            ..Self::default()
        }
    }

    /// The workflow id, or `""` when the server sent none.
    pub fn workflow_id(&self) -> &str {
        self.workflow_instance_id.as_deref().unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A polled task as conductor-oss serializes it (NON_NULL, extra fields included).
    fn server_json() -> Value {
        json!({
            "taskType": "encode",
            "status": "IN_PROGRESS",
            "inputData": {"file": "a.mp4", "opts": {"crf": 23}, "tags": ["x", "y"]},
            "referenceTaskName": "encode_ref",
            "retryCount": 0,
            "seq": 1,
            "pollCount": 1,
            "taskDefName": "encode",
            "scheduledTime": 1_732_300_000_000_i64,
            "startTime": 1_732_300_000_100_i64,
            "endTime": 0,
            "updateTime": 1_732_300_000_100_i64,
            "startDelayInSeconds": 0,
            "retried": false,
            "executed": false,
            "callbackFromWorker": true,
            "responseTimeoutSeconds": 3600,
            "workflowInstanceId": "wf-1",
            "workflowType": "media",
            "taskId": "t-1",
            "callbackAfterSeconds": 0,
            "workerId": "host-1",
            "outputData": {},
            "workflowTask": {"name": "encode", "taskReferenceName": "encode_ref", "type": "SIMPLE"},
            "rateLimitPerFrequency": 0,
            "rateLimitFrequencyInSeconds": 0,
            "workflowPriority": 0,
            "iteration": 0,
            "subworkflowChanged": false,
            "firstStartTime": 0,
            "executionMetadata": {"serverSendTime": 0},
            "loopOverTask": false,
            "queueWaitTime": 100,
            "someFieldFromTheFuture": {"ignored": true}
        })
    }

    #[test]
    fn decodes_a_server_task_and_ignores_unknown_fields() {
        let task: Task = serde_json::from_value(server_json()).unwrap();
        assert_eq!(task.task_type, "encode");
        assert_eq!(task.task_id, "t-1");
        assert_eq!(task.workflow_id(), "wf-1");
        assert_eq!(task.status, Some(TaskStatus::InProgress));
        assert_eq!(task.input_data["opts"]["crf"], 23);
        assert_eq!(task.response_timeout_seconds, 3600);
        assert_eq!(task.queue_wait_time, 100);
        assert!(task.domain.is_none());
    }

    #[test]
    fn round_trips_without_inventing_nulls() {
        let task: Task = serde_json::from_value(server_json()).unwrap();
        let encoded = serde_json::to_value(&task).unwrap();
        let mut expected = server_json();
        expected
            .as_object_mut()
            .unwrap()
            .remove("someFieldFromTheFuture");
        assert_eq!(encoded, expected);
        assert!(!serde_json::to_string(&task).unwrap().contains("null"));
    }

    #[test]
    fn simd_json_decodes_what_serde_json_decodes() {
        let mut bytes = serde_json::to_vec(&vec![server_json(), server_json()]).unwrap();
        let via_serde: Vec<Task> = serde_json::from_slice(&bytes).unwrap();
        let via_simd: Vec<Task> = simd_json::serde::from_slice(&mut bytes).unwrap();
        assert_eq!(via_serde, via_simd);
    }

    #[test]
    fn missing_fields_take_the_server_defaults() {
        let task: Task = serde_json::from_str(r#"{"taskId":"t","taskType":"x"}"#).unwrap();
        assert!(task.callback_from_worker);
        assert!(task.input_data.is_empty());
        assert_eq!(task.retry_count, 0);
    }
}
