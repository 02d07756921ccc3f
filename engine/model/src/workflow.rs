//! Workflow wire types: [`WorkflowDef`] and [`WorkflowTask`] (metadata, with the type-specific
//! fields of the system tasks and [`SubWorkflowParams`]), [`StartWorkflowRequest`], a running
//! [`Workflow`] with its [`WorkflowStatus`], and the metadata API's [`BulkResponse`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{JsonMap, Task, TaskDef, TimeoutPolicy};

fn simple() -> String {
    "SIMPLE".to_owned()
}

fn one() -> i32 {
    1
}

fn two() -> i32 {
    2
}

fn yes() -> bool {
    true
}

fn alert_only() -> TimeoutPolicy {
    TimeoutPolicy::AlertOnly
}

/// One task of a workflow definition (`WorkflowTask`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct WorkflowTask {
    /// The task definition's name, which is also the task type workers poll.
    #[serde(default)]
    pub name: String,
    /// The task's name within its workflow; unique per definition.
    #[serde(default)]
    pub task_reference_name: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The task kind (default `SIMPLE`, a worker task).
    #[serde(rename = "type", default = "simple")]
    pub task_type: String,
    /// Input expressions (`${workflow.input.x}`, `${ref.output.y}`, literals).
    #[serde(default)]
    pub input_parameters: JsonMap,
    /// Whether the workflow goes on when this task fails for good.
    #[serde(default)]
    pub optional: bool,
    /// Overrides the task definition's `retryCount` when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_count: Option<i32>,
    /// Seconds before the scheduled task becomes pollable.
    #[serde(default)]
    pub start_delay: i32,
    /// An embedded task definition, used instead of the registered one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition: Option<TaskDef>,
    /// SWITCH / DECISION: case value to the tasks run for it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub decision_cases: BTreeMap<String, Vec<WorkflowTask>>,
    /// SWITCH / DECISION: the tasks run when no case matches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub default_case: Vec<WorkflowTask>,
    /// DECISION: the input parameter whose value picks the case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_value_param: Option<String>,
    /// DECISION: a JavaScript expression that picks the case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_expression: Option<String>,
    /// SWITCH: how `expression` is evaluated (`value-param`, `javascript`, `graaljs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluator_type: Option<String>,
    /// SWITCH: the input parameter name (`value-param`) or the script that picks the case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    /// FORK_JOIN: the branches, each a list of tasks run in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fork_tasks: Vec<Vec<WorkflowTask>>,
    /// JOIN: the reference names it waits for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub join_on: Vec<String>,
    /// DYNAMIC: the input parameter that names the task to run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_task_name_param: Option<String>,
    /// FORK_JOIN_DYNAMIC: the input parameter holding the tasks to fork.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_fork_tasks_param: Option<String>,
    /// FORK_JOIN_DYNAMIC: the input parameter holding the forked tasks' inputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_fork_tasks_input_param_name: Option<String>,
    /// SUB_WORKFLOW: the workflow to start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_workflow_param: Option<SubWorkflowParams>,
    /// DO_WHILE: the JavaScript condition checked after each iteration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loop_condition: Option<String>,
    /// DO_WHILE: the tasks of one iteration.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub loop_over: Vec<WorkflowTask>,
    /// EVENT: where the event is published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sink: Option<String>,
    /// Whether the workflow's input and output are expected asynchronously (EVENT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub async_complete: Option<bool>,
}

/// The `subWorkflowParam` of a SUB_WORKFLOW task.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SubWorkflowParams {
    /// The workflow definition's name.
    #[serde(default)]
    pub name: String,
    /// Its version; `None` = the latest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i32>,
    /// Task type (or `*`) to domains for the sub-workflow; `None` = the parent's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_to_domain: Option<BTreeMap<String, String>>,
    /// An inline definition used instead of the registered one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_definition: Option<Value>,
    /// The sub-workflow's priority; `None` = the server's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Value>,
}

impl SubWorkflowParams {
    /// The latest version of workflow `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }
}

impl WorkflowTask {
    /// A SIMPLE task `name` with reference name `reference` and no inputs.
    pub fn simple(name: impl Into<String>, reference: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            task_reference_name: reference.into(),
            description: None,
            task_type: simple(),
            input_parameters: JsonMap::new(),
            optional: false,
            retry_count: None,
            start_delay: 0,
            task_definition: None,
            decision_cases: BTreeMap::new(),
            default_case: Vec::new(),
            case_value_param: None,
            case_expression: None,
            evaluator_type: None,
            expression: None,
            fork_tasks: Vec::new(),
            join_on: Vec::new(),
            dynamic_task_name_param: None,
            dynamic_fork_tasks_param: None,
            dynamic_fork_tasks_input_param_name: None,
            sub_workflow_param: None,
            loop_condition: None,
            loop_over: Vec::new(),
            sink: None,
            async_complete: None,
        }
    }

    /// A task of system type `task_type` (`SWITCH`, `JOIN`, `WAIT`, ...) with reference name
    /// `reference`, named after its type; set its type-specific fields on the result.
    pub fn system(task_type: impl Into<String>, reference: impl Into<String>) -> Self {
        let task_type = task_type.into();
        let mut task = Self::simple(task_type.clone(), reference);
        task.task_type = task_type;
        task
    }

    /// The tasks nested directly in this one: switch cases (in case order, then the default
    /// case), fork branches, loop tasks.
    pub fn children(&self) -> impl Iterator<Item = &WorkflowTask> {
        self.decision_cases
            .values()
            .flatten()
            .chain(&self.default_case)
            .chain(self.fork_tasks.iter().flatten())
            .chain(&self.loop_over)
    }

    /// Sets one input parameter (builder style).
    #[must_use]
    pub fn input(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.input_parameters.insert(key.into(), value.into());
        self
    }
}

/// A workflow definition (`POST /api/metadata/workflow`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct WorkflowDef {
    /// The workflow's name.
    #[serde(default)]
    pub name: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The version (default 1).
    #[serde(default = "one")]
    pub version: i32,
    /// The tasks, run in order.
    #[serde(default)]
    pub tasks: Vec<WorkflowTask>,
    /// Documented input names.
    #[serde(default)]
    pub input_parameters: Vec<String>,
    /// Output expressions; when empty, the output is the last task's output.
    #[serde(default)]
    pub output_parameters: JsonMap,
    /// A workflow started when this one fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_workflow: Option<String>,
    /// Must be 2 (the default).
    #[serde(default = "two")]
    pub schema_version: i32,
    /// Whether a completed workflow may be restarted (default true).
    #[serde(default = "yes")]
    pub restartable: bool,
    /// Whether the status listener is notified.
    #[serde(default)]
    pub workflow_status_listener_enabled: bool,
    /// The owner's e-mail address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_email: Option<String>,
    /// `TIME_OUT_WF` or `ALERT_ONLY` (the default).
    #[serde(default = "alert_only")]
    pub timeout_policy: TimeoutPolicy,
    /// Workflow timeout in seconds; 0 = none.
    #[serde(default)]
    pub timeout_seconds: i64,
    /// Initial workflow variables.
    #[serde(default)]
    pub variables: JsonMap,
    /// Defaults merged into the workflow input.
    #[serde(default)]
    pub input_template: JsonMap,
    /// When the definition was created (epoch ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_time: Option<i64>,
    /// When the definition was last updated (epoch ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_time: Option<i64>,
    /// Who created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Who last updated it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
    /// The owning application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_app: Option<String>,
}

impl WorkflowDef {
    /// Version 1 of workflow `name` running `tasks` in order; every other field at its default.
    pub fn new(name: impl Into<String>, tasks: Vec<WorkflowTask>) -> Self {
        Self {
            name: name.into(),
            description: None,
            version: 1,
            tasks,
            input_parameters: Vec::new(),
            output_parameters: JsonMap::new(),
            failure_workflow: None,
            schema_version: 2,
            restartable: true,
            workflow_status_listener_enabled: false,
            owner_email: None,
            timeout_policy: TimeoutPolicy::AlertOnly,
            timeout_seconds: 0,
            variables: JsonMap::new(),
            input_template: JsonMap::new(),
            create_time: None,
            update_time: None,
            created_by: None,
            updated_by: None,
            owner_app: None,
        }
    }
}

/// The body of `POST /api/workflow`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct StartWorkflowRequest {
    /// The workflow definition's name (required).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The version; `None` = the latest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i32>,
    /// A caller-chosen id carried by the workflow and its tasks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// The workflow input.
    pub input: JsonMap,
    /// Task type (or `*`) to a comma-separated list of domains.
    pub task_to_domain: BTreeMap<String, String>,
    /// 0–99; higher is handed out first.
    pub priority: i32,
    /// An inline definition used instead of the registered one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflow_def: Option<WorkflowDef>,
    /// Where an externalized input payload is stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_input_payload_storage_path: Option<String>,
    /// Idempotency key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// Idempotency strategy (`FAIL`, `RETURN_EXISTING`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotency_strategy: Option<String>,
    /// Who started it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
}

impl StartWorkflowRequest {
    /// A request to start the latest version of `name` with `input`.
    pub fn new(name: impl Into<String>, input: JsonMap) -> Self {
        Self {
            name: Some(name.into()),
            input,
            ..Self::default()
        }
    }
}

/// The status of a [`Workflow`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WorkflowStatus {
    /// Tasks are being scheduled and run.
    Running,
    /// Every task finished successfully.
    Completed,
    /// A task failed for good.
    Failed,
    /// The workflow or a task timed out.
    TimedOut,
    /// Terminated by a request or a canceled task.
    Terminated,
    /// Paused by a request.
    Paused,
}

impl WorkflowStatus {
    /// Whether the workflow has ended.
    pub fn is_terminal(self) -> bool {
        !matches!(self, Self::Running | Self::Paused)
    }

    /// Whether the workflow ended (or is running) without failing.
    pub fn is_successful(self) -> bool {
        matches!(self, Self::Running | Self::Paused | Self::Completed)
    }

    /// The wire spelling, e.g. `"TIMED_OUT"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "RUNNING",
            Self::Completed => "COMPLETED",
            Self::Failed => "FAILED",
            Self::TimedOut => "TIMED_OUT",
            Self::Terminated => "TERMINATED",
            Self::Paused => "PAUSED",
        }
    }
}

impl std::fmt::Display for WorkflowStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A workflow instance (`GET /api/workflow/{workflowId}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct Workflow {
    /// The workflow's id.
    pub workflow_id: String,
    /// Its status.
    pub status: WorkflowStatus,
    /// The input it was started with (merged with the definition's input template).
    pub input: JsonMap,
    /// Its output, set when it ends.
    pub output: JsonMap,
    /// Its tasks in schedule order (`[]` with `includeTasks=false`).
    pub tasks: Vec<Task>,
    /// The caller's correlation id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// 0–99.
    pub priority: i32,
    /// The start request's task-to-domain map.
    pub task_to_domain: BTreeMap<String, String>,
    /// Why it did not complete.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason_for_incompletion: Option<String>,
    /// Reference names of the tasks that failed it.
    pub failed_reference_task_names: Vec<String>,
    /// Definition names of the tasks that failed it.
    pub failed_task_names: Vec<String>,
    /// When it was created (epoch ms).
    pub create_time: i64,
    /// When it started (epoch ms; equals `createTime`).
    pub start_time: i64,
    /// When it last changed (epoch ms).
    pub update_time: i64,
    /// When it ended (epoch ms), 0 while running.
    pub end_time: i64,
    /// The definition snapshotted at start, task definitions embedded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflow_definition: Option<WorkflowDef>,
    /// The definition's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflow_name: Option<String>,
    /// The definition's version.
    pub workflow_version: i32,
    /// Workflow variables.
    pub variables: JsonMap,
    /// When it was last retried (epoch ms).
    pub last_retried_time: i64,
    /// Earlier runs (rerun history).
    pub history: Vec<Value>,
    /// The parent workflow, for sub-workflows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_workflow_id: Option<String>,
    /// The owning application.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_app: Option<String>,
}

impl Default for Workflow {
    fn default() -> Self {
        Self {
            workflow_id: String::new(),
            status: WorkflowStatus::Running,
            input: JsonMap::new(),
            output: JsonMap::new(),
            tasks: Vec::new(),
            correlation_id: None,
            priority: 0,
            task_to_domain: BTreeMap::new(),
            reason_for_incompletion: None,
            failed_reference_task_names: Vec::new(),
            failed_task_names: Vec::new(),
            create_time: 0,
            start_time: 0,
            update_time: 0,
            end_time: 0,
            workflow_definition: None,
            workflow_name: None,
            workflow_version: 0,
            variables: JsonMap::new(),
            last_retried_time: 0,
            history: Vec::new(),
            parent_workflow_id: None,
            owner_app: None,
        }
    }
}

/// The answer of bulk metadata and workflow operations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct BulkResponse {
    /// Item (name or id) to the error it met.
    pub bulk_error_results: BTreeMap<String, String>,
    /// Items that succeeded.
    pub bulk_successful_results: Vec<String>,
    /// Always "Bulk Request has been processed.".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_minimal_workflow_def_takes_the_server_defaults_and_round_trips() {
        let def: WorkflowDef = serde_json::from_value(json!({
            "name": "media",
            "tasks": [{"name": "encode", "taskReferenceName": "e",
                       "inputParameters": {"f": "${workflow.input.file}"}, "unknown": 1}],
            "futureField": true
        }))
        .unwrap();
        assert_eq!(def.version, 1);
        assert_eq!(def.schema_version, 2);
        assert!(def.restartable);
        assert_eq!(def.timeout_policy, TimeoutPolicy::AlertOnly);
        assert_eq!(def.tasks[0].task_type, "SIMPLE");
        assert_eq!(def.tasks[0].retry_count, None);
        let encoded = serde_json::to_value(&def).unwrap();
        assert_eq!(encoded["timeoutPolicy"], "ALERT_ONLY");
        assert_eq!(encoded["tasks"][0]["type"], "SIMPLE");
        assert!(encoded["tasks"][0].get("retryCount").is_none());
        assert!(!encoded.to_string().contains("null"));
        let back: WorkflowDef = serde_json::from_value(encoded).unwrap();
        assert_eq!(back, def);
    }

    #[test]
    fn system_task_fields_round_trip_and_plain_tasks_stay_as_they_were() {
        let def: WorkflowDef = serde_json::from_value(json!({
            "name": "w",
            "tasks": [
                {"name": "s", "taskReferenceName": "s", "type": "SWITCH",
                 "evaluatorType": "value-param", "expression": "kind",
                 "decisionCases": {"a": [{"name": "x", "taskReferenceName": "x"}]},
                 "defaultCase": [{"name": "y", "taskReferenceName": "y"}]},
                {"name": "f", "taskReferenceName": "f", "type": "FORK_JOIN",
                 "forkTasks": [[{"name": "p", "taskReferenceName": "p"}], [{"name": "q", "taskReferenceName": "q"}]]},
                {"name": "j", "taskReferenceName": "j", "type": "JOIN", "joinOn": ["p", "q"]},
                {"name": "d", "taskReferenceName": "d", "type": "DYNAMIC", "dynamicTaskNameParam": "t"},
                {"name": "sub", "taskReferenceName": "sub", "type": "SUB_WORKFLOW",
                 "subWorkflowParam": {"name": "child", "version": 2}},
                {"name": "l", "taskReferenceName": "l", "type": "DO_WHILE",
                 "loopCondition": "$.l.iteration < 2",
                 "loopOver": [{"name": "z", "taskReferenceName": "z"}]}
            ]
        }))
        .unwrap();
        let switch = &def.tasks[0];
        assert_eq!(switch.decision_cases["a"][0].name, "x");
        assert_eq!(switch.default_case[0].task_reference_name, "y");
        let refs: Vec<&str> = switch
            .children()
            .map(|t| t.task_reference_name.as_str())
            .collect();
        assert_eq!(refs, ["x", "y"]);
        assert_eq!(def.tasks[1].fork_tasks.len(), 2);
        assert_eq!(def.tasks[2].join_on, ["p", "q"]);
        assert_eq!(def.tasks[3].dynamic_task_name_param.as_deref(), Some("t"));
        let sub = def.tasks[4].sub_workflow_param.as_ref().unwrap();
        assert_eq!((sub.name.as_str(), sub.version), ("child", Some(2)));
        assert_eq!(def.tasks[5].loop_over[0].name, "z");
        let encoded = serde_json::to_value(&def).unwrap();
        assert_eq!(encoded["tasks"][0]["evaluatorType"], "value-param");
        assert_eq!(encoded["tasks"][1]["forkTasks"][1][0]["name"], "q");
        assert_eq!(
            encoded["tasks"][4]["subWorkflowParam"],
            json!({"name": "child", "version": 2})
        );
        assert_eq!(serde_json::from_value::<WorkflowDef>(encoded).unwrap(), def);
        // A SIMPLE task writes none of the type-specific fields.
        let plain = serde_json::to_value(WorkflowTask::simple("a", "b")).unwrap();
        let mut keys: Vec<&str> = plain
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "inputParameters",
                "name",
                "optional",
                "startDelay",
                "taskReferenceName",
                "type"
            ]
        );
    }

    #[test]
    fn start_requests_and_workflows_round_trip_in_camel_case() {
        let request: StartWorkflowRequest = serde_json::from_value(json!({
            "name": "media", "version": 2, "correlationId": "c",
            "input": {"file": "a"}, "taskToDomain": {"*": "gpu,NO_DOMAIN"}, "priority": 5
        }))
        .unwrap();
        assert_eq!(request.task_to_domain["*"], "gpu,NO_DOMAIN");
        let encoded = serde_json::to_value(&request).unwrap();
        assert_eq!(encoded["correlationId"], "c");
        assert!(encoded.get("workflowDef").is_none());

        let workflow: Workflow = serde_json::from_value(json!({
            "workflowId": "w", "status": "TIMED_OUT", "tasks": [],
            "failedReferenceTaskNames": ["e"], "workflowVersion": 1, "somethingNew": 3
        }))
        .unwrap();
        assert_eq!(workflow.status, WorkflowStatus::TimedOut);
        assert!(workflow.status.is_terminal() && !workflow.status.is_successful());
        let encoded = serde_json::to_value(&workflow).unwrap();
        assert_eq!(encoded["status"], "TIMED_OUT");
        assert!(encoded.get("correlationId").is_none());
        assert_eq!(
            serde_json::from_value::<Workflow>(encoded).unwrap(),
            workflow
        );
    }

    #[test]
    fn bulk_response_uses_the_server_field_names() {
        let mut bulk = BulkResponse::default();
        bulk.bulk_successful_results.push("a".into());
        bulk.bulk_error_results.insert("b".into(), "bad".into());
        bulk.message = Some("Bulk Request has been processed.".into());
        let encoded = serde_json::to_value(&bulk).unwrap();
        assert_eq!(
            encoded,
            json!({"bulkErrorResults": {"b": "bad"}, "bulkSuccessfulResults": ["a"],
                   "message": "Bulk Request has been processed."})
        );
    }
}
