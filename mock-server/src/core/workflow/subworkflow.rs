//! SUB_WORKFLOW (conductor-oss `SubWorkflowTaskMapper`, `SubWorkflow`): the task starts the
//! workflow of its `subWorkflowParam` (name and version, `${...}` resolved; the latest version
//! when none; or its inline `workflowDefinition`) with the task's resolved input as the child's
//! input, the parent's correlation id and task-to-domain map (or the param's `taskToDomain`).
//! The task is IN_PROGRESS with `subWorkflowId` in its output and on the Task, and ends with the
//! child: COMPLETED, FAILED, TIMED_OUT, or CANCELED for a terminated child, its output the
//! child's output plus `subWorkflowId`, and for an unsuccessful child the reason "Sub workflow
//! name.version/id failure reason: R". When the parent ends first, the child is terminated.
//! A definition that cannot be found fails the parent workflow, as the server's mapper does.

use std::sync::Arc;

use baton_model::{JsonMap, TaskStatus, WorkflowDef, WorkflowStatus};
use serde_json::{Value, json};

use super::decider::Retry;
use super::{Instance, Start, WorkflowRecord};
use crate::core::State;
use crate::core::ledger::FP_SERVER;
use crate::core::metadata::{SUB_WORKFLOW, unsupported_task_types};
use crate::core::record::TaskRecord;
use crate::ids;

/// The child workflow started by `record`, if it is a SUB_WORKFLOW task that started one.
pub(super) fn child_of(record: &TaskRecord) -> Option<u64> {
    if record.spec.key.task_type != SUB_WORKFLOW {
        return None;
    }
    let id = record.output.as_deref()?.get("subWorkflowId")?.as_str()?;
    ids::parse_workflow_id(id)
}

/// The task status that mirrors a child workflow's end.
fn task_status(child: WorkflowStatus) -> TaskStatus {
    match child {
        WorkflowStatus::Completed => TaskStatus::Completed,
        WorkflowStatus::Failed => TaskStatus::Failed,
        WorkflowStatus::TimedOut => TaskStatus::TimedOut,
        WorkflowStatus::Terminated => TaskStatus::Canceled,
        WorkflowStatus::Running | WorkflowStatus::Paused => TaskStatus::InProgress,
    }
}

impl State {
    /// A SUB_WORKFLOW task: starts its child workflow.
    pub(super) fn sub_workflow_task(
        &mut self,
        id: u64,
        instance: &mut Instance,
        at: (usize, i32),
        input: JsonMap,
        retry: Retry<'_>,
        now: u64,
    ) {
        let plan = Arc::clone(&instance.plan);
        let Some(task) = plan.node(at.0).map(|n| &n.task) else {
            return;
        };
        let Some(params) = &task.sub_workflow_param else {
            let reason = format!(
                "Task {} is defined as sub-workflow and is missing subWorkflowParams. Please check the workflow definition",
                task.name
            );
            self.fail_workflow(id, instance, reason, now);
            return;
        };
        let mut raw = JsonMap::new();
        raw.insert("name".to_owned(), Value::String(params.name.clone()));
        if let Some(version) = params.version {
            raw.insert("version".to_owned(), json!(version));
        }
        if let Some(definition) = &params.workflow_definition {
            raw.insert("workflowDefinition".to_owned(), definition.clone());
        }
        let resolved = self.resolve(id, instance, &raw);
        let name = match resolved.get("name") {
            Some(Value::String(name)) => name.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        let version = resolved
            .get("version")
            .and_then(Value::as_i64)
            .and_then(|v| i32::try_from(v).ok());
        let def = match resolved.get("workflowDefinition").filter(|d| !d.is_null()) {
            Some(definition) => match serde_json::from_value::<WorkflowDef>(definition.clone()) {
                Ok(def) => Ok(def),
                Err(error) => Err(format!("Invalid sub-workflow definition: {error}")),
            },
            None => match self.metadata.workflow(&name, version) {
                Some(def) => Ok(WorkflowDef::clone(&def)),
                None => {
                    let reason = format!(
                        "The Task {} defined as a sub-workflow has no workflow definition available ",
                        task.name
                    );
                    self.fail_workflow(id, instance, reason, now);
                    return;
                }
            },
        };
        let mut task_input = input.clone();
        task_input.insert("subWorkflowName".to_owned(), Value::String(name.clone()));
        task_input.insert(
            "subWorkflowVersion".to_owned(),
            version.map_or(Value::Null, |v| json!(v)),
        );
        task_input.insert("workflowInput".to_owned(), Value::Object(input.clone()));
        let (seq, mut record) =
            self.system_record(id, instance, at, SUB_WORKFLOW, task_input, retry, now);
        let def = def.and_then(|def| {
            let errors = unsupported_task_types(&def, "subWorkflowParam.workflowDefinition");
            match errors.first().and_then(|e| e.message.clone()) {
                Some(message) => Err(message),
                None => Ok(def),
            }
        });
        let def = match def {
            Ok(def) => def,
            Err(reason) => {
                record.reason = Some(reason.into());
                self.end_system_task(instance, seq, record, TaskStatus::Failed, now);
                return;
            }
        };
        let priority = params
            .priority
            .as_ref()
            .and_then(Value::as_i64)
            .and_then(|p| i32::try_from(p).ok())
            .unwrap_or(0);
        // The child may end while it starts (it may hold only system tasks): the record must
        // be open, and the parent sees the end below rather than through the notification.
        self.live.insert(seq, record);
        let child = self.start_workflow(
            Start {
                def,
                input,
                correlation_id: instance.correlation_id.clone(),
                priority,
                task_to_domain: params
                    .task_to_domain
                    .clone()
                    .unwrap_or_else(|| instance.task_to_domain.clone()),
                parent: Some((id, seq)),
            },
            now,
        );
        if let Some(record) = self.live.get_mut(&seq) {
            let output = record.output.get_or_insert_with(Default::default);
            output.insert("subWorkflowId".to_owned(), json!(ids::workflow_id(child)));
        }
        let ended = match self.workflows.get(&child) {
            Some(WorkflowRecord::Instance(child_instance))
                if child_instance.status.is_terminal() =>
            {
                Some(child_outcome(child, child_instance))
            }
            _ => None,
        };
        if let Some((status, output, reason)) = ended
            && let Some(mut record) = self.live.remove(&seq)
        {
            apply_outcome(&mut record, output, reason);
            self.end_system_task(instance, seq, record, status, now);
        }
    }

    /// A sub-workflow `instance` (number `id`) has ended: its parent's SUB_WORKFLOW task ends
    /// with it and the parent goes on. Nothing happens when the parent is being decided right
    /// now (it started or ended this child itself and sees the end there).
    pub(super) fn notify_parent(&mut self, id: u64, instance: &Instance, now: u64) {
        let Some((parent, seq)) = instance.parent else {
            return;
        };
        if !matches!(
            self.workflows.get(&parent),
            Some(WorkflowRecord::Instance(_))
        ) {
            return;
        }
        let Some(mut record) = self.live.remove(&seq) else {
            return;
        };
        let (status, output, reason) = child_outcome(id, instance);
        apply_outcome(&mut record, output, reason);
        record.status = status;
        record.update_time = now;
        self.ledger.set_ending(seq, FP_SERVER);
        self.end(seq, record, now);
    }
}

/// What an ended child means for its SUB_WORKFLOW task: status, output, reason.
fn child_outcome(id: u64, child: &Instance) -> (TaskStatus, JsonMap, Option<String>) {
    let mut output = child.output.clone();
    output.insert("subWorkflowId".to_owned(), json!(ids::workflow_id(id)));
    let reason = (!child.status.is_successful()).then(|| {
        format!(
            "Sub workflow {}.{}/{} failure reason: {}",
            child.def.name,
            child.def.version,
            ids::workflow_id(id),
            child.reason.as_deref().unwrap_or("null")
        )
    });
    (task_status(child.status), output, reason)
}

/// Sets a SUB_WORKFLOW record's output (keeping what it had) and reason from its child.
fn apply_outcome(record: &mut TaskRecord, output: JsonMap, reason: Option<String>) {
    let mut merged = record.output.take().map(|o| *o).unwrap_or_default();
    merged.extend(output);
    record.output = Some(Box::new(merged));
    if let Some(reason) = reason {
        record.reason = Some(reason.into());
    }
}
