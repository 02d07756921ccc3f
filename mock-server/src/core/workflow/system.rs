//! The system tasks the decider runs itself, under the core's lock, as the server does for its
//! system tasks (conductor-oss `SetVariable`, `Terminate`, `Inline`,
//! `WorkflowExecutorOps.endExecution`), and the records every system task shares:
//!
//! - `SET_VARIABLE`: its resolved input is merged into the workflow's `variables`; COMPLETED;
//! - `TERMINATE`: `terminationStatus` (COMPLETED, FAILED or TERMINATED) ends the workflow with
//!   that status and `terminationReason` (default "Workflow is S by TERMINATE task: id"); its
//!   output, and the workflow's, is `workflowOutput` (a map, or `{"output": value}`). Any other
//!   status fails the task ("given termination status is not valid"), and with it the workflow.
//! - `INLINE`: evaluates its input's `expression` with its input's `evaluatorType`
//!   (`value-param`, or `javascript` / `graaljs` with the `javascript` feature; JavaScript by
//!   default) over its input; output `{"result": value}`; an error ends it
//!   FAILED_WITH_TERMINAL_ERROR with output `{"error": message}`.
//!
//! SWITCH, FORK_JOIN, JOIN and DO_WHILE are in [`super::flow`], SUB_WORKFLOW in
//! [`super::subworkflow`], WAIT in [`super::wait`]. A system task never enters a queue: it is
//! recorded with `taskType` the system type, ended at once or kept open (IN_PROGRESS, in the
//! live map but in no queue) until the mock or an update ends it.

use std::sync::Arc;

use baton_model::{JsonMap, TaskDef, TaskStatus, WorkflowStatus};
use serde_json::Value;

use super::Instance;
use super::decider::{Retry, Step, iteration_reference};
use crate::core::State;
use crate::core::ledger::FP_SERVER;
use crate::core::metadata::{
    DO_WHILE, FORK_JOIN, INLINE, JOIN, SET_VARIABLE, SUB_WORKFLOW, SWITCH, TERMINATE, WAIT,
};
use crate::core::queue::QueueKey;
use crate::core::record::{TaskRecord, TaskSpec, WorkflowTaskInfo};
use crate::core::script;
use crate::ids;

impl State {
    /// Runs the system task at `at` = (node, loop iteration) with its resolved `input`.
    pub(super) fn run_system_task(
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
        match task.task_type.as_str() {
            SET_VARIABLE => {
                let (seq, record) =
                    self.system_record(id, instance, at, SET_VARIABLE, input.clone(), retry, now);
                instance.variables.extend(input);
                self.end_system_task(instance, seq, record, TaskStatus::Completed, now);
            }
            TERMINATE => {
                let (seq, record) =
                    self.system_record(id, instance, at, TERMINATE, input.clone(), retry, now);
                self.terminate_task(id, instance, seq, record, &input, now);
            }
            INLINE => self.inline_task(id, instance, at, input, retry, now),
            WAIT => self.wait_task(id, instance, at, input, retry, now),
            SWITCH => self.switch_task(id, instance, at, input, retry, now),
            FORK_JOIN => self.fork_task(id, instance, at, input, retry, now),
            JOIN => self.join_task(id, instance, at, retry, now),
            DO_WHILE => self.loop_task(id, instance, at, input, retry, now),
            SUB_WORKFLOW => self.sub_workflow_task(id, instance, at, input, retry, now),
            other => {
                // Refused at registration and at start; never reached.
                let reason = format!("task type {other} is not supported by baton-mock");
                self.fail_workflow(id, instance, reason, now);
            }
        }
    }

    /// A new record of system task `task_type` for the workflow task at `at` = (node, loop
    /// iteration), IN_PROGRESS and started now, registered with its workflow (but kept
    /// nowhere yet: the caller ends it or keeps it open).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn system_record(
        &mut self,
        id: u64,
        instance: &mut Instance,
        (node, iteration): (usize, i32),
        task_type: &str,
        input: JsonMap,
        retry: Retry<'_>,
        now: u64,
    ) -> (u64, TaskRecord) {
        let plan = Arc::clone(&instance.plan);
        let (reference, optional) = plan.node(node).map_or((String::new(), false), |n| {
            (n.task.task_reference_name.clone(), n.task.optional)
        });
        instance.last_task_seq += 1;
        let info = WorkflowTaskInfo {
            reference: iteration_reference(&reference, iteration),
            node,
            iteration,
            system: true,
            seq: instance.last_task_seq,
            workflow_type: instance.def.name.clone(),
            correlation_id: instance.correlation_id.clone(),
            optional,
        };
        // The ad-hoc definition of a system task: no retries, no response timeout.
        let mut def = TaskDef::new(task_type);
        def.retry_count = 0;
        let spec = Arc::new(TaskSpec::for_workflow(
            QueueKey::new(task_type.to_owned(), None::<String>),
            input,
            def,
            instance.priority,
            info,
        ));
        let mut record = TaskRecord::new(id, spec, now, now);
        record.status = TaskStatus::InProgress;
        record.start_time = now;
        record.first_start_time = now;
        record.update_time = now;
        if let Some((failed_seq, failed, _)) = retry {
            record.retry_count = failed.retry_count + 1;
            record.retried_from = Some(failed_seq);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.ledger.created(seq);
        self.task_workflow.insert(seq, id);
        instance.tasks.push(seq);
        instance.update_time = now;
        (seq, record)
    }

    /// Ends system task `seq` with `status` now and queues the decision of what follows.
    pub(super) fn end_system_task(
        &mut self,
        instance: &mut Instance,
        seq: u64,
        mut record: TaskRecord,
        status: TaskStatus,
        now: u64,
    ) {
        record.status = status;
        record.end_time = now;
        record.update_time = now;
        // A worker's update of it is the server's 200 no-op.
        self.ledger.set_ending(seq, FP_SERVER);
        instance.ended.insert(seq, record);
        instance.agenda.push_back(Step::Decide(seq));
    }

    /// Ends the open system task `seq` (kept in the live map) with `status`, and queues the
    /// decision of what follows; a no-op when it is no longer open.
    pub(super) fn end_open_system_task(
        &mut self,
        instance: &mut Instance,
        seq: u64,
        status: TaskStatus,
        now: u64,
    ) {
        if let Some(record) = self.live.remove(&seq) {
            self.end_system_task(instance, seq, record, status, now);
        }
    }

    /// An INLINE task: `{"result": value}` of its expression, or an error.
    fn inline_task(
        &mut self,
        id: u64,
        instance: &mut Instance,
        at: (usize, i32),
        input: JsonMap,
        retry: Retry<'_>,
        now: u64,
    ) {
        let (seq, mut record) =
            self.system_record(id, instance, at, INLINE, input.clone(), retry, now);
        let evaluator = match input.get("evaluatorType") {
            None | Some(Value::Null) => Some("javascript"),
            Some(Value::String(evaluator)) => Some(evaluator.as_str()),
            Some(_) => None,
        };
        let expression = input
            .get("expression")
            .and_then(Value::as_str)
            .filter(|e| !e.trim().is_empty());
        let result = match (evaluator, expression) {
            (Some(evaluator), _) if evaluator.trim().is_empty() => Err(
                "Empty 'evaluatorType' in INLINE task's input parameters. A non-empty String value must be provided.".to_owned(),
            ),
            (None, _) => Err("Unknown evaluator in INLINE task.".to_owned()),
            (Some(evaluator), _)
                if !matches!(evaluator, "value-param") && !script::is_javascript(evaluator) =>
            {
                Err(format!("Unknown evaluator '{evaluator}' in INLINE task."))
            }
            (_, None) => Err(
                "Empty 'expression' in Inline task's input parameters. A non-empty String value must be provided.".to_owned(),
            ),
            (Some(evaluator), Some(expression)) => {
                script::evaluate(evaluator, expression, &Value::Object(input.clone()))
                    .map_err(|e| e.to_string())
            }
        };
        let status = match result {
            Ok(value) => {
                record.output = Some(Box::new(JsonMap::from_iter([("result".to_owned(), value)])));
                TaskStatus::Completed
            }
            Err(message) => {
                record.output = Some(Box::new(JsonMap::from_iter([(
                    "error".to_owned(),
                    Value::String(message.clone()),
                )])));
                record.reason = Some(message.into());
                TaskStatus::FailedWithTerminalError
            }
        };
        self.end_system_task(instance, seq, record, status, now);
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
        record.end_time = now;
        self.ledger.set_ending(seq, FP_SERVER);
        let status = match input.get("terminationStatus").and_then(Value::as_str) {
            Some("COMPLETED") => WorkflowStatus::Completed,
            Some("FAILED") => WorkflowStatus::Failed,
            Some("TERMINATED") => WorkflowStatus::Terminated,
            _ => {
                let reason = "given termination status is not valid";
                record.status = TaskStatus::Failed;
                record.reason = Some(reason.into());
                let reason = format!(
                    "Task {} failed with status: FAILED and reason: '{reason}'",
                    ids::task_id(seq)
                );
                let status = WorkflowStatus::Failed;
                self.fail_by_task(id, instance, seq, record, status, Some(reason), now);
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
