//! The system tasks the decider runs itself, at once and under the core's lock, as the server
//! does for its synchronous system tasks (conductor-oss `SetVariable`, `Terminate`,
//! `WorkflowExecutorOps.endExecution`):
//!
//! - `SET_VARIABLE`: its resolved input is merged into the workflow's `variables`; COMPLETED;
//! - `TERMINATE`: `terminationStatus` (COMPLETED, FAILED or TERMINATED) ends the workflow with
//!   that status and `terminationReason` (default "Workflow is S by TERMINATE task: id"); its
//!   output, and the workflow's, is `workflowOutput` (a map, or `{"output": value}`). Any other
//!   status fails the task ("given termination status is not valid"), and with it the workflow.
//!
//! Such a task never enters a queue: it is recorded ended, with `taskType` the system type.

use std::sync::Arc;

use baton_model::{JsonMap, TaskDef, TaskStatus, WorkflowStatus, WorkflowTask};
use serde_json::Value;

use super::Instance;
use crate::core::State;
use crate::core::ledger::FP_SERVER;
use crate::core::metadata::{SET_VARIABLE, TERMINATE};
use crate::core::queue::QueueKey;
use crate::core::record::{TaskRecord, TaskSpec, WorkflowTaskInfo};
use crate::ids;

impl State {
    /// Runs the system task `task` (at `index` of the definition) with its resolved `input`,
    /// then goes on with the workflow (or ends it).
    pub(super) fn run_system_task(
        &mut self,
        id: u64,
        instance: &mut Instance,
        index: usize,
        task: &WorkflowTask,
        input: JsonMap,
        now: u64,
    ) {
        instance.last_task_seq += 1;
        let info = WorkflowTaskInfo {
            reference: task.task_reference_name.clone(),
            index,
            seq: instance.last_task_seq,
            workflow_type: instance.def.name.clone(),
            correlation_id: instance.correlation_id.clone(),
            optional: task.optional,
        };
        // The ad-hoc definition of a system task: no retries, no response timeout.
        let mut def = TaskDef::new(&task.name);
        def.retry_count = 0;
        let spec = Arc::new(TaskSpec::for_workflow(
            QueueKey::new(task.task_type.clone(), None::<String>),
            input.clone(),
            def,
            instance.priority,
            info,
        ));
        let mut record = TaskRecord::new(id, spec, now, now);
        record.start_time = now;
        record.first_start_time = now;
        record.update_time = now;
        record.end_time = now;
        let seq = self.next_seq;
        self.next_seq += 1;
        self.ledger.created(seq);
        // A worker's update of it is the server's 200 no-op.
        self.ledger.set_ending(seq, FP_SERVER);
        self.task_workflow.insert(seq, id);
        instance.tasks.push(seq);
        instance.update_time = now;
        match task.task_type.as_str() {
            SET_VARIABLE => {
                instance.variables.extend(input);
                record.status = TaskStatus::Completed;
                instance.ended.insert(seq, record);
                self.advance(id, instance, index, now);
            }
            TERMINATE => self.terminate_task(id, instance, seq, record, &input, now),
            other => {
                // Refused at registration and at start; never reached.
                record.status = TaskStatus::FailedWithTerminalError;
                let reason = format!("task type {other} is not supported by baton-mock");
                record.reason = Some(reason.clone().into());
                instance.ended.insert(seq, record);
                self.finish(id, instance, WorkflowStatus::Failed, Some(reason), now);
            }
        }
    }

    /// A TERMINATE task: ends the workflow with its `terminationStatus`.
    fn terminate_task(
        &mut self,
        id: u64,
        instance: &mut Instance,
        seq: u64,
        mut record: TaskRecord,
        input: &JsonMap,
        now: u64,
    ) {
        let status = match input.get("terminationStatus").and_then(Value::as_str) {
            Some("COMPLETED") => WorkflowStatus::Completed,
            Some("FAILED") => WorkflowStatus::Failed,
            Some("TERMINATED") => WorkflowStatus::Terminated,
            _ => {
                let reason = "given termination status is not valid";
                record.status = TaskStatus::Failed;
                record.reason = Some(reason.into());
                instance
                    .failed_refs
                    .push(record.spec.reference().to_owned());
                instance
                    .failed_names
                    .push(record.spec.key.task_type.clone());
                instance.ended.insert(seq, record);
                let reason = format!(
                    "Task {} failed with status: FAILED and reason: '{reason}'",
                    ids::task_id(seq)
                );
                self.fail(
                    id,
                    instance,
                    WorkflowStatus::Failed,
                    Some(reason),
                    Some(seq),
                    now,
                );
                return;
            }
        };
        let output = match input.get("workflowOutput") {
            None | Some(Value::Null) => JsonMap::new(),
            Some(Value::Object(map)) => map.clone(),
            Some(other) => JsonMap::from_iter([("output".to_owned(), other.clone())]),
        };
        let reason = input
            .get("terminationReason")
            .and_then(Value::as_str)
            .filter(|r| !r.trim().is_empty())
            .map_or_else(
                || {
                    format!(
                        "Workflow is {status} by TERMINATE task: {}",
                        ids::task_id(seq)
                    )
                },
                str::to_owned,
            );
        record.status = TaskStatus::Completed;
        record.output = Some(Box::new(output));
        instance.ended.insert(seq, record);
        if status == WorkflowStatus::Completed {
            self.finish(id, instance, status, Some(reason), now);
        } else {
            self.fail(id, instance, status, Some(reason), Some(seq), now);
        }
    }
}
