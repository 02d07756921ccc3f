//! Task and workflow definitions: the registry behind `/api/metadata/...`, the Core operations
//! on it, and the server's bean validation of both (conductor-api.md §7.1, §7.2).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use baton_model::{BulkResponse, TaskDef, ValidationError, WorkflowDef, WorkflowTask};
use serde_json::Value;

use super::{Core, expr};
use crate::error::ApiError;

/// Names that may start a `${...}` reference besides task reference names.
const SYSTEM_ROOTS: [&str; 4] = ["workflow", "CPEWF_TASK_ID", "NETFLIX_ENV", "NETFLIX_STACK"];

/// The worker task type: the only one that is queued.
pub(crate) const SIMPLE: &str = "SIMPLE";
/// The system task that sets workflow variables.
pub(crate) const SET_VARIABLE: &str = "SET_VARIABLE";
/// The system task that ends its workflow.
pub(crate) const TERMINATE: &str = "TERMINATE";
/// The system task that runs one of its cases.
pub(crate) const SWITCH: &str = "SWITCH";
/// The system task that runs its branches in parallel.
pub(crate) const FORK_JOIN: &str = "FORK_JOIN";
/// The `taskType` of a FORK_JOIN task as scheduled.
pub(crate) const FORK: &str = "FORK";
/// The system task that waits for fork branches.
pub(crate) const JOIN: &str = "JOIN";
/// The worker task whose type is read from its input.
pub(crate) const DYNAMIC: &str = "DYNAMIC";
/// The system task that runs another workflow.
pub(crate) const SUB_WORKFLOW: &str = "SUB_WORKFLOW";
/// The system task that waits for a time or an update.
pub(crate) const WAIT: &str = "WAIT";
/// The system task that runs its tasks again while a condition holds.
pub(crate) const DO_WHILE: &str = "DO_WHILE";
/// The system task that evaluates an expression.
pub(crate) const INLINE: &str = "INLINE";
/// The task types the mock's decider runs. A definition with any other type (HTTP, EVENT,
/// FORK_JOIN_DYNAMIC, DECISION, ...) is refused with a 400 that names it, rather than run
/// wrongly.
pub(crate) const SUPPORTED_TASK_TYPES: [&str; 11] = [
    SIMPLE,
    SET_VARIABLE,
    TERMINATE,
    SWITCH,
    FORK_JOIN,
    JOIN,
    DYNAMIC,
    SUB_WORKFLOW,
    WAIT,
    DO_WHILE,
    INLINE,
];

/// Calls `f` with every task of `tasks` (nested ones in switch cases, fork branches and loops
/// included, depth first) and its path, `{path}.tasks[i]`, `....decisionCases.x[j]`, ....
pub(crate) fn each_task<'a>(
    tasks: &'a [WorkflowTask],
    path: &str,
    f: &mut impl FnMut(&'a WorkflowTask, &str),
) {
    for (i, task) in tasks.iter().enumerate() {
        let at = format!("{path}[{i}]");
        f(task, &at);
        for (case, nested) in &task.decision_cases {
            each_task(nested, &format!("{at}.decisionCases.{case}"), f);
        }
        each_task(&task.default_case, &format!("{at}.defaultCase"), f);
        for (b, nested) in task.fork_tasks.iter().enumerate() {
            each_task(nested, &format!("{at}.forkTasks[{b}]"), f);
        }
        each_task(&task.loop_over, &format!("{at}.loopOver"), f);
    }
}

/// Why the mock cannot run `task`, if it cannot: a type it does not run, JavaScript when it is
/// built without the `javascript` feature, or a DO_WHILE inside another.
fn unsupported(task: &WorkflowTask, in_loop: bool) -> Option<String> {
    let kind = task.task_type.as_str();
    let reference = &task.task_reference_name;
    if !SUPPORTED_TASK_TYPES.contains(&kind) {
        return Some(format!(
            "task type {kind} (taskReferenceName: {reference}) is not supported by baton-mock, which runs only these task types: {}",
            SUPPORTED_TASK_TYPES.join(", ")
        ));
    }
    if kind == DO_WHILE && in_loop {
        return Some(format!(
            "task type DO_WHILE (taskReferenceName: {reference}) inside another DO_WHILE is not supported by baton-mock"
        ));
    }
    if crate::core::script::JAVASCRIPT {
        return None;
    }
    let evaluator = match kind {
        SWITCH => task.evaluator_type.clone(),
        // The server's INLINE defaults to JavaScript.
        INLINE => Some(
            task.input_parameters
                .get("evaluatorType")
                .and_then(Value::as_str)
                .unwrap_or("javascript")
                .to_owned(),
        ),
        DO_WHILE => task
            .loop_condition
            .as_deref()
            .filter(|condition| !condition.trim().is_empty())
            .map(|_| "javascript".to_owned()),
        _ => None,
    }?;
    crate::core::script::is_javascript(&evaluator).then(|| {
        format!(
            "task type {kind} with evaluatorType {evaluator} (taskReferenceName: {reference}) is not supported by this baton-mock: JavaScript needs the `javascript` cargo feature"
        )
    })
}

/// A failure for every task of `def` (nested ones included) that the mock cannot run; `path`
/// prefixes each failure's path.
pub(crate) fn unsupported_task_types(def: &WorkflowDef, path: &str) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    let mut loops: Vec<String> = Vec::new();
    each_task(&def.tasks, &format!("{path}.tasks"), &mut |task, at| {
        loops.retain(|prefix| at.starts_with(prefix.as_str()));
        let in_loop = !loops.is_empty();
        if task.task_type == DO_WHILE {
            loops.push(format!("{at}.loopOver"));
        }
        if let Some(message) = unsupported(task, in_loop) {
            errors.push(error(
                format!("{at}.type"),
                message,
                Some(Value::String(task.task_type.clone())),
            ));
        }
    });
    errors
}

/// Registered definitions.
#[derive(Debug, Default)]
pub(crate) struct Metadata {
    /// Task definitions by name.
    pub(crate) task_defs: BTreeMap<String, TaskDef>,
    /// Workflow definitions by name, then version.
    pub(crate) workflows: BTreeMap<String, BTreeMap<i32, Arc<WorkflowDef>>>,
}

impl Metadata {
    /// The definition `name` at `version`, or its latest version.
    pub(crate) fn workflow(&self, name: &str, version: Option<i32>) -> Option<Arc<WorkflowDef>> {
        let versions = self.workflows.get(name)?;
        let def = match version {
            Some(version) => versions.get(&version),
            None => versions.values().next_back(),
        };
        def.cloned()
    }
}

fn error(path: String, message: String, value: Option<Value>) -> ValidationError {
    ValidationError {
        path: Some(path),
        message: Some(message),
        invalid_value: value,
    }
}

/// The bean-validation failures of a task definition; `path` prefixes each failure's path.
pub(crate) fn validate_task_def(def: &TaskDef, path: &str) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    let mut min = |field: &str, value: i64, minimum: i64, message: String| {
        if value < minimum {
            errors.push(error(
                format!("{path}.{field}"),
                message,
                Some(value.into()),
            ));
        }
    };
    min(
        "retryCount",
        i64::from(def.retry_count),
        0,
        format!("TaskDef retryCount: {} must be >= 0", def.retry_count),
    );
    min(
        "responseTimeoutSeconds",
        def.response_timeout_seconds,
        1,
        format!(
            "TaskDef responseTimeoutSeconds: {} should be minimum 1 second",
            def.response_timeout_seconds
        ),
    );
    min(
        "pollTimeoutSeconds",
        def.poll_timeout_seconds.unwrap_or(0),
        0,
        format!(
            "TaskDef pollTimeoutSeconds: {} must be >= 0",
            def.poll_timeout_seconds.unwrap_or(0)
        ),
    );
    min(
        "backoffScaleFactor",
        i64::from(def.backoff_scale_factor),
        1,
        format!(
            "TaskDef backoffScaleFactor: {} must be >= 1",
            def.backoff_scale_factor
        ),
    );
    min(
        "maxRetryDelaySeconds",
        def.max_retry_delay_seconds,
        0,
        format!(
            "TaskDef maxRetryDelaySeconds: {} must be >= 0",
            def.max_retry_delay_seconds
        ),
    );
    min(
        "backoffJitterMs",
        def.backoff_jitter_ms,
        0,
        format!(
            "TaskDef backoffJitterMs: {} must be >= 0",
            def.backoff_jitter_ms
        ),
    );
    min(
        "totalTimeoutSeconds",
        def.total_timeout_seconds,
        0,
        format!(
            "TaskDef totalTimeoutSeconds: {} must be >= 0",
            def.total_timeout_seconds
        ),
    );
    // The server reads these three as Java `int`s: a larger number fails to parse there.
    for (field, value) in [
        ("retryDelaySeconds", def.retry_delay_seconds),
        ("maxRetryDelaySeconds", def.max_retry_delay_seconds),
        ("backoffJitterMs", def.backoff_jitter_ms),
    ] {
        if i32::try_from(value).is_err() {
            errors.push(error(
                format!("{path}.{field}"),
                format!(
                    "TaskDef {field}: {value} is out of range (a 32-bit integer, at most {})",
                    i32::MAX
                ),
                Some(value.into()),
            ));
        }
    }
    if def.name.is_empty() {
        errors.push(error(
            format!("{path}.name"),
            "TaskDef name cannot be null or empty".to_owned(),
            None,
        ));
    }
    if def.timeout_seconds > 0 {
        if def.response_timeout_seconds > def.timeout_seconds {
            errors.push(error(
                path.to_owned(),
                format!(
                    "TaskDef: {} responseTimeoutSeconds: {} must be less than timeoutSeconds: {}",
                    def.name, def.response_timeout_seconds, def.timeout_seconds
                ),
                None,
            ));
        }
        if def.total_timeout_seconds > 0 && def.timeout_seconds > def.total_timeout_seconds {
            errors.push(error(
                path.to_owned(),
                format!(
                    "TaskDef: {} timeoutSeconds: {} must be less than or equal to totalTimeoutSeconds: {}",
                    def.name, def.timeout_seconds, def.total_timeout_seconds
                ),
                None,
            ));
        }
    }
    errors
}

/// The bean-validation failures of a workflow definition; `path` prefixes each failure's path.
pub(crate) fn validate_workflow_def(def: &WorkflowDef, path: &str) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    if def.name.is_empty() {
        errors.push(error(
            format!("{path}.name"),
            "WorkflowDef name cannot be null or empty".to_owned(),
            None,
        ));
    }
    if def.tasks.is_empty() {
        errors.push(error(
            format!("{path}.tasks"),
            "WorkflowTask list cannot be empty".to_owned(),
            None,
        ));
    }
    if def.schema_version != 2 {
        errors.push(error(
            format!("{path}.schemaVersion"),
            format!(
                "workflowDef schemaVersion: {} is only supported",
                def.schema_version
            ),
            Some(def.schema_version.into()),
        ));
    }
    let mut seen = HashSet::new();
    let mut all = Vec::new();
    each_task(&def.tasks, &format!("{path}.tasks"), &mut |task, at| {
        all.push((task, at.to_owned()));
    });
    for (task, at) in &all {
        if task.name.is_empty() {
            errors.push(error(
                format!("{at}.name"),
                "WorkflowTask name cannot be empty or null".to_owned(),
                None,
            ));
        }
        if task.task_reference_name.is_empty() {
            errors.push(error(
                format!("{at}.taskReferenceName"),
                "WorkflowTask taskReferenceName name cannot be empty or null".to_owned(),
                None,
            ));
        } else if !seen.insert(task.task_reference_name.as_str()) {
            errors.push(error(
                format!("{path}.tasks"),
                format!(
                    "taskReferenceName: {} should be unique across tasks for a given workflowDefinition: {}",
                    task.task_reference_name, def.name
                ),
                None,
            ));
        }
        if task.start_delay < 0 {
            errors.push(error(
                format!("{at}.startDelay"),
                format!("startDelay: {} should be minimum 0", task.start_delay),
                Some(task.start_delay.into()),
            ));
        }
        if let Some(embedded) = &task.task_definition {
            errors.extend(validate_task_def(embedded, &format!("{at}.taskDefinition")));
        }
    }
    errors.extend(unsupported_task_types(def, path));
    // Expression references must name a task of this definition (ConstraintParamUtil).
    let refs: HashSet<&str> = all
        .iter()
        .map(|(t, _)| t.task_reference_name.as_str())
        .collect();
    for (task, _) in &all {
        for (key, value) in &task.input_parameters {
            let mut found = Vec::new();
            expr::references(value, &mut found);
            for (root, expression) in found {
                if !SYSTEM_ROOTS.contains(&root.as_str()) && !refs.contains(root.as_str()) {
                    errors.push(error(
                        format!("{path}.tasks"),
                        format!(
                            "taskReferenceName: {} for given task: {} input value: {key} of input parameter: ${{{expression}}} is not defined in workflow definition.",
                            task.task_reference_name, task.name
                        ),
                        None,
                    ));
                }
            }
        }
    }
    errors
}

impl Core {
    /// Registers (or replaces) task definitions, as `POST /api/metadata/taskdefs` does.
    pub fn register_task_defs(&self, defs: Vec<TaskDef>) -> Result<(), ApiError> {
        if defs.is_empty() {
            return Err(ApiError::Validation(vec![ValidationError {
                path: Some("registerTaskDef.taskDefinitions".to_owned()),
                message: Some("TaskDefList is empty".to_owned()),
                invalid_value: None,
            }]));
        }
        let errors: Vec<ValidationError> = defs
            .iter()
            .enumerate()
            .flat_map(|(i, def)| {
                validate_task_def(def, &format!("registerTaskDef.taskDefinitions[{i}]"))
            })
            .collect();
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        let now = self.now_ms();
        let mut state = self.lock();
        for mut def in defs {
            def.create_time.get_or_insert(now);
            state.metadata.task_defs.insert(def.name.clone(), def);
        }
        Ok(())
    }

    /// Replaces one registered task definition (`PUT /api/metadata/taskdefs`); 404 when unknown.
    pub fn update_task_def(&self, mut def: TaskDef) -> Result<(), ApiError> {
        let errors = validate_task_def(&def, "updateTaskDef.taskDefinition");
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        let now = self.now_ms();
        let mut state = self.lock();
        let Some(stored) = state.metadata.task_defs.get_mut(&def.name) else {
            return Err(ApiError::NotFound(format!(
                "No such task by name {}",
                def.name
            )));
        };
        def.create_time = stored.create_time;
        def.created_by.clone_from(&stored.created_by);
        def.update_time = Some(now);
        *stored = def;
        Ok(())
    }

    /// The task definition `name`.
    pub fn task_def(&self, name: &str) -> Result<TaskDef, ApiError> {
        self.lock()
            .metadata
            .task_defs
            .get(name)
            .cloned()
            .ok_or_else(|| ApiError::NotFound(format!("No such taskType found by name: {name}")))
    }

    /// Every registered task definition, by name.
    pub fn task_defs(&self) -> Vec<TaskDef> {
        self.lock().metadata.task_defs.values().cloned().collect()
    }

    /// Removes the task definition `name`; 404 when unknown.
    pub fn delete_task_def(&self, name: &str) -> Result<(), ApiError> {
        match self.lock().metadata.task_defs.remove(name) {
            Some(_) => Ok(()),
            None => Err(ApiError::NotFound(format!(
                "No such taskType found by name: {name}"
            ))),
        }
    }

    /// Registers a workflow definition (`POST /api/metadata/workflow`); 409 when its
    /// (name, version) exists, unless `overwrite`.
    pub fn register_workflow_def(&self, def: WorkflowDef, overwrite: bool) -> Result<(), ApiError> {
        let errors = validate_workflow_def(&def, "create.workflowDef");
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        let now = self.now_ms();
        let mut state = self.lock();
        let versions = state
            .metadata
            .workflows
            .entry(def.name.clone())
            .or_default();
        if !overwrite && versions.contains_key(&def.version) {
            return Err(ApiError::Conflict(format!(
                "Workflow with {}.{} already exists!",
                def.name, def.version
            )));
        }
        let mut def = def;
        def.create_time.get_or_insert(now);
        versions.insert(def.version, Arc::new(def));
        Ok(())
    }

    /// Creates or replaces each definition (`PUT /api/metadata/workflow`); the whole list is
    /// validated first.
    pub fn put_workflow_defs(&self, defs: Vec<WorkflowDef>) -> Result<BulkResponse, ApiError> {
        let errors: Vec<ValidationError> = defs
            .iter()
            .enumerate()
            .flat_map(|(i, def)| validate_workflow_def(def, &format!("update.workflowDefs[{i}]")))
            .collect();
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        let now = self.now_ms();
        let mut state = self.lock();
        let mut response = BulkResponse::default();
        for mut def in defs {
            def.update_time = Some(now);
            response.bulk_successful_results.push(def.name.clone());
            let versions = state
                .metadata
                .workflows
                .entry(def.name.clone())
                .or_default();
            if let Some(old) = versions.get(&def.version) {
                def.create_time = old.create_time;
            }
            versions.insert(def.version, Arc::new(def));
        }
        response.message = Some("Bulk Request has been processed.".to_owned());
        Ok(response)
    }

    /// The workflow definition `name` at `version`, or its latest version.
    pub fn workflow_def(&self, name: &str, version: Option<i32>) -> Result<WorkflowDef, ApiError> {
        self.lock()
            .metadata
            .workflow(name, version)
            .map(|def| WorkflowDef::clone(&def))
            .ok_or_else(|| ApiError::NotFound(no_such_workflow(name, version)))
    }

    /// Every registered workflow definition (all versions), by name then version.
    pub fn workflow_defs(&self) -> Vec<WorkflowDef> {
        let state = self.lock();
        state
            .metadata
            .workflows
            .values()
            .flat_map(|versions| versions.values().map(|def| WorkflowDef::clone(def)))
            .collect()
    }

    /// Removes version `version` of workflow definition `name`; 404 when unknown.
    pub fn delete_workflow_def(&self, name: &str, version: i32) -> Result<(), ApiError> {
        let mut state = self.lock();
        let versions = state.metadata.workflows.get_mut(name);
        let removed = versions.and_then(|versions| versions.remove(&version));
        if state
            .metadata
            .workflows
            .get(name)
            .is_some_and(BTreeMap::is_empty)
        {
            state.metadata.workflows.remove(name);
        }
        match removed {
            Some(_) => Ok(()),
            None => Err(ApiError::NotFound(no_such_workflow(name, Some(version)))),
        }
    }
}

/// `version` as the server prints it (`null` when absent).
pub(super) fn version_text(version: Option<i32>) -> String {
    version.map_or_else(|| "null".to_owned(), |v| v.to_string())
}

/// The server's 404 message for an unknown workflow definition.
pub(super) fn no_such_workflow(name: &str, version: Option<i32>) -> String {
    format!(
        "No such workflow found by name: {name}, version: {}",
        version_text(version)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_model::WorkflowTask;

    fn messages(errors: &[ValidationError]) -> Vec<&str> {
        errors.iter().filter_map(|e| e.message.as_deref()).collect()
    }

    #[test]
    fn task_defs_are_checked_like_the_server() {
        assert!(validate_task_def(&TaskDef::new("ok"), "d").is_empty());
        let mut def = TaskDef::new("");
        def.retry_count = -1;
        def.response_timeout_seconds = 0;
        let errors = validate_task_def(&def, "d");
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert_eq!(errors[0].path.as_deref(), Some("d.retryCount"));
        let mut def = TaskDef::new("t");
        def.timeout_seconds = 10; // default responseTimeoutSeconds 3600 > 10
        let errors = validate_task_def(&def, "d");
        assert_eq!(
            messages(&errors),
            ["TaskDef: t responseTimeoutSeconds: 3600 must be less than timeoutSeconds: 10"]
        );
    }

    #[test]
    fn workflow_defs_need_tasks_unique_refs_and_known_references() {
        let empty = WorkflowDef::new("w", vec![]);
        assert_eq!(
            messages(&validate_workflow_def(&empty, "w")),
            ["WorkflowTask list cannot be empty"]
        );
        let twice = WorkflowDef::new(
            "w",
            vec![
                WorkflowTask::simple("a", "x"),
                WorkflowTask::simple("b", "x"),
            ],
        );
        assert_eq!(validate_workflow_def(&twice, "w").len(), 1);
        let good = WorkflowDef::new(
            "w",
            vec![
                WorkflowTask::simple("a", "first").input("f", "${workflow.input.f}"),
                WorkflowTask::simple("b", "second").input("g", "x-${first.output.y}-$${lit}"),
            ],
        );
        assert!(validate_workflow_def(&good, "w").is_empty());
        let bad = WorkflowDef::new(
            "w",
            vec![WorkflowTask::simple("a", "first").input("f", "${nobody.output.y}")],
        );
        let errors = validate_workflow_def(&bad, "w");
        assert_eq!(errors.len(), 1);
        assert!(messages(&errors)[0].contains("${nobody.output.y}"));
    }
}
