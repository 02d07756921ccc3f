//! Failing a workflow the way the decider does, which starts the definition's
//! `failureWorkflow` (conductor-oss `WorkflowExecutorOps.terminate` / `terminateWorkflow`).
//!
//! The failure workflow (latest version, or the name read from `${workflow.input.x}`) gets the
//! failed workflow's input plus `workflowId`, `reason`, `failureStatus`, `failureTaskId` (when a
//! task failed it) and `failedWorkflow` (the failed workflow's JSON), and its correlation id and
//! task-to-domain map. Its id goes into the failed workflow's output as
//! `conductor.failure_workflow`, or the reason it could not start. A REST terminate does not
//! start it.

use baton_model::WorkflowStatus;
use serde_json::{Value, json};

use super::{Instance, Start};
use crate::core::State;
use crate::core::metadata::no_such_workflow;
use crate::ids;

/// The output key that names the failure workflow.
const OUTPUT_KEY: &str = "conductor.failure_workflow";
/// How deep failure workflows that fail at once may start one another.
const MAX_FAILURE_CHAIN: u32 = 16;

impl State {
    /// Fails the workflow (FAILED) for `reason`, with no task to blame: a definition or an
    /// input the server refuses at scheduling time.
    pub(super) fn fail_workflow(
        &mut self,
        id: u64,
        instance: &mut Instance,
        reason: String,
        now: u64,
    ) {
        self.fail(
            id,
            instance,
            WorkflowStatus::Failed,
            Some(reason),
            None,
            now,
        );
    }

    /// Ends workflow `id` with a failure `status` (FAILED, TIMED_OUT or TERMINATED) decided by
    /// the decider (`failed_task`: the task that caused it), then starts its failure workflow.
    pub(super) fn fail(
        &mut self,
        id: u64,
        instance: &mut Instance,
        status: WorkflowStatus,
        reason: Option<String>,
        failed_task: Option<u64>,
        now: u64,
    ) {
        self.finish(id, instance, status, reason.clone(), now);
        let Some(name) = failure_workflow_name(instance) else {
            return;
        };
        let started = if self.failure_chain >= MAX_FAILURE_CHAIN {
            Err(format!(
                "more than {MAX_FAILURE_CHAIN} failure workflows failed one inside the other"
            ))
        } else {
            self.start_failure_workflow(id, instance, &name, reason, failed_task, now)
        };
        let note = match started {
            Ok(failure_id) => Value::String(failure_id),
            Err(message) => Value::String(format!(
                "Error workflow {name} failed to start.  reason: {message}"
            )),
        };
        instance.output.insert(OUTPUT_KEY.to_owned(), note);
    }

    fn start_failure_workflow(
        &mut self,
        id: u64,
        instance: &Instance,
        name: &str,
        reason: Option<String>,
        failed_task: Option<u64>,
        now: u64,
    ) -> Result<String, String> {
        let def = self
            .metadata
            .workflow(name, None)
            .ok_or_else(|| no_such_workflow(name, None))?;
        let mut input = instance.input.clone();
        input.insert("workflowId".to_owned(), json!(ids::workflow_id(id)));
        input.insert("reason".to_owned(), json!(reason));
        input.insert("failureStatus".to_owned(), json!(instance.status));
        if let Some(seq) = failed_task {
            input.insert("failureTaskId".to_owned(), json!(ids::task_id(seq)));
        }
        let failed = self.render_instance(id, instance, true);
        input.insert(
            "failedWorkflow".to_owned(),
            serde_json::to_value(&failed).unwrap_or(Value::Null),
        );
        self.failure_chain += 1;
        let failure_id = self.start_workflow(
            Start {
                def: baton_model::WorkflowDef::clone(&def),
                input,
                correlation_id: instance.correlation_id.clone(),
                priority: 0,
                task_to_domain: instance.task_to_domain.clone(),
                parent: None,
            },
            now,
        );
        self.failure_chain -= 1;
        Ok(ids::workflow_id(failure_id))
    }
}

/// The failure workflow's name: the definition's `failureWorkflow`, or, when that is
/// `${workflow.input.x}`, the input's `x`.
fn failure_workflow_name(instance: &Instance) -> Option<String> {
    let name = instance.def.failure_workflow.as_deref()?;
    let name = if name.starts_with('$') {
        let key = name
            .trim_start_matches("${")
            .trim_end_matches('}')
            .split('.')
            .nth(2)?;
        instance.input.get(key)?.as_str()?
    } else {
        name
    };
    (!name.trim().is_empty()).then(|| name.to_owned())
}
