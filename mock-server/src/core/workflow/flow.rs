//! The system tasks that run other tasks of their workflow (conductor-oss `SwitchTaskMapper`,
//! `ForkJoinTaskMapper`, `JoinTaskMapper`, `Join`, `DoWhileTaskMapper`, `DoWhile`):
//!
//! - `SWITCH`: evaluates `expression` with `evaluatorType` (`value-param`: the input parameter
//!   of that name; `javascript` / `graaljs` with the feature) over its input; the case is the
//!   value as text. It is COMPLETED at once with input `case` and output
//!   `{"evaluationResult": [case], "selectedCase": case}`, and the first task of
//!   `decisionCases[case]` (else of `defaultCase`) is scheduled; when the case is done, the task
//!   after the SWITCH follows. An evaluation error fails it.
//! - `FORK_JOIN`: a COMPLETED task of type `FORK`, then the first task of every branch, then
//!   the JOIN that must follow it. A branch that ends wakes the JOIN.
//! - `JOIN`: IN_PROGRESS (input `{"joinOn": [...]}`) until every task of `joinOn` has ended;
//!   then COMPLETED (COMPLETED_WITH_ERRORS when an optional one did) with output
//!   `{ref: that task's output}` for each one whose output is not empty.
//! - `DO_WHILE`: IN_PROGRESS with output `{"iteration": n}`; runs `loopOver` with reference
//!   names `ref__n`; after each iteration its output gets `"n": {ref: output}` and
//!   `loopCondition` (JavaScript) is evaluated over the DO_WHILE's input plus `{its ref: its
//!   output, each loop task's ref: its latest output}`; true runs iteration n+1, false (or no
//!   condition) completes it. A condition that fails to evaluate ends it
//!   FAILED_WITH_TERMINAL_ERROR.

use std::sync::Arc;

use baton_model::{JsonMap, TaskStatus, WorkflowStatus};
use serde_json::{Value, json};

use super::Instance;
use super::decider::{Retry, Step, iteration_reference};
use crate::core::State;
use crate::core::metadata::{DO_WHILE, FORK, JOIN, SWITCH};
use crate::core::script;
use crate::ids;

impl State {
    /// A SWITCH: picks its case and schedules the case's first task.
    pub(super) fn switch_task(
        &mut self,
        id: u64,
        instance: &mut Instance,
        at: (usize, i32),
        mut input: JsonMap,
        retry: Retry<'_>,
        now: u64,
    ) {
        let plan = Arc::clone(&instance.plan);
        let Some(node) = plan.node(at.0) else {
            return;
        };
        let Some(evaluator) = node.task.evaluator_type.as_deref() else {
            let reason = "No evaluator registered for type: null".to_owned();
            self.fail_workflow(id, instance, reason, now);
            return;
        };
        let expression = node.task.expression.as_deref().unwrap_or_default();
        let evaluated = script::evaluate(evaluator, expression, &Value::Object(input.clone()));
        if let Err(script::EvalError::UnknownEvaluator(_)) = &evaluated {
            let reason = format!("No evaluator registered for type: {evaluator}");
            self.fail_workflow(id, instance, reason, now);
            return;
        }
        let case = match evaluated {
            Ok(value) => script::case_text(&value),
            Err(error) => {
                let (seq, mut record) =
                    self.system_record(id, instance, at, SWITCH, input, retry, now);
                record.reason = Some(error.to_string().into());
                self.end_system_task(instance, seq, record, TaskStatus::Failed, now);
                return;
            }
        };
        let first = match node.cases.get(&case) {
            Some(first) => *first,
            None => node.default_case,
        };
        input.insert("case".to_owned(), Value::String(case.clone()));
        if first.is_some() {
            input.insert("hasChildren".to_owned(), json!("true"));
        }
        let (seq, mut record) = self.system_record(id, instance, at, SWITCH, input, retry, now);
        record.output = Some(Box::new(JsonMap::from_iter([
            ("evaluationResult".to_owned(), json!([case])),
            ("selectedCase".to_owned(), Value::String(case)),
        ])));
        record.status = TaskStatus::Completed;
        record.end_time = now;
        self.ledger.set_ending(seq, crate::core::ledger::FP_SERVER);
        instance.ended.insert(seq, record);
        match first {
            Some(first) => self.schedule_node(id, instance, first, at.1, None, now),
            // An empty case: the SWITCH is done at once.
            None => self.after_node(id, instance, at.0, at.1, now),
        }
    }

    /// A FORK_JOIN: the FORK task, every branch's first task, then the JOIN after it.
    pub(super) fn fork_task(
        &mut self,
        id: u64,
        instance: &mut Instance,
        at: (usize, i32),
        input: JsonMap,
        retry: Retry<'_>,
        now: u64,
    ) {
        let plan = Arc::clone(&instance.plan);
        let Some(node) = plan.node(at.0) else {
            return;
        };
        let join = node
            .next
            .filter(|&next| plan.node(next).is_some_and(|n| n.task.task_type == JOIN));
        let Some(join) = join else {
            let reason =
                "Fork task definition is not followed by a join task.  Check the blueprint";
            self.fail(
                id,
                instance,
                WorkflowStatus::Failed,
                Some(reason.to_owned()),
                None,
                now,
            );
            return;
        };
        let (seq, mut record) = self.system_record(id, instance, at, FORK, input, retry, now);
        record.status = TaskStatus::Completed;
        record.end_time = now;
        self.ledger.set_ending(seq, crate::core::ledger::FP_SERVER);
        instance.ended.insert(seq, record);
        for first in node.branches.iter().flatten() {
            self.schedule_node(id, instance, *first, at.1, None, now);
            if instance.status.is_terminal() {
                return;
            }
        }
        self.schedule_node(id, instance, join, at.1, None, now);
    }

    /// A JOIN: open until its `joinOn` tasks have ended.
    pub(super) fn join_task(
        &mut self,
        id: u64,
        instance: &mut Instance,
        at: (usize, i32),
        retry: Retry<'_>,
        now: u64,
    ) {
        let join_on = instance
            .plan
            .node(at.0)
            .map(|n| n.task.join_on.clone())
            .unwrap_or_default();
        let input = JsonMap::from_iter([("joinOn".to_owned(), json!(join_on))]);
        let (seq, record) = self.system_record(id, instance, at, JOIN, input, retry, now);
        self.live.insert(seq, record);
        instance.agenda.push_back(Step::Join {
            node: at.0,
            iteration: at.1,
        });
    }

    /// Completes the open JOIN at `node` (loop iteration `iteration`) if all its `joinOn`
    /// tasks have ended.
    pub(super) fn check_join(
        &mut self,
        _id: u64,
        instance: &mut Instance,
        node: usize,
        iteration: i32,
        now: u64,
    ) {
        let Some(seq) = self.open_task(instance, node, iteration) else {
            return;
        };
        let join_on = instance
            .plan
            .node(node)
            .map(|n| n.task.join_on.clone())
            .unwrap_or_default();
        let mut output = JsonMap::new();
        let mut all_ended = true;
        let mut with_errors = Vec::new();
        let mut failures = Vec::new();
        for base in &join_on {
            let reference = iteration_reference(base, iteration);
            let found = instance.tasks.iter().rev().find_map(|seq| {
                let record = self.live.get(seq).or_else(|| instance.ended.get(seq))?;
                (record.spec.reference() == reference).then_some((*seq, record))
            });
            let Some((joined, record)) = found else {
                all_ended = false;
                continue;
            };
            if !record.status.is_terminal() {
                all_ended = false;
            }
            if let Some(task_output) = record.output.as_deref().filter(|o| !o.is_empty()) {
                output.insert(reference.clone(), Value::Object(task_output.clone()));
            }
            match record.status {
                TaskStatus::CompletedWithErrors => with_errors.push(format!(
                    "{}/{}",
                    record.spec.key.task_type,
                    ids::task_id(joined)
                )),
                status if status.is_terminal() && !status.is_successful() => {
                    let optional = record
                        .spec
                        .workflow_task
                        .as_ref()
                        .is_some_and(|info| info.optional);
                    if !optional {
                        failures.extend(record.reason.as_deref().map(str::to_owned));
                    }
                }
                _ => {}
            }
        }
        if let Some(record) = self.live.get_mut(&seq) {
            record.output = Some(Box::new(output));
            record.update_time = now;
        }
        if !all_ended {
            return;
        }
        let status = if !failures.is_empty() {
            if let Some(record) = self.live.get_mut(&seq) {
                record.reason = Some(failures.join(" ").into());
            }
            TaskStatus::Failed
        } else if !with_errors.is_empty() {
            if let Some(record) = self.live.get_mut(&seq) {
                record.reason =
                    Some(format!("{} completed with errors", with_errors.join(" ")).into());
            }
            TaskStatus::CompletedWithErrors
        } else {
            TaskStatus::Completed
        };
        self.end_open_system_task(instance, seq, status, now);
    }

    /// The newest open task of the workflow task at `node` in loop iteration `iteration`.
    fn open_task(&self, instance: &Instance, node: usize, iteration: i32) -> Option<u64> {
        instance.tasks.iter().rev().copied().find(|seq| {
            self.live.get(seq).is_some_and(|record| {
                record
                    .spec
                    .workflow_task
                    .as_ref()
                    .is_some_and(|info| info.node == node && info.iteration == iteration)
            })
        })
    }

    /// A DO_WHILE: opens it and runs iteration 1 of its loop.
    pub(super) fn loop_task(
        &mut self,
        id: u64,
        instance: &mut Instance,
        at: (usize, i32),
        input: JsonMap,
        retry: Retry<'_>,
        now: u64,
    ) {
        let body = instance.plan.node(at.0).and_then(|n| n.body);
        let (seq, mut record) = self.system_record(id, instance, at, DO_WHILE, input, retry, now);
        record.output = Some(Box::new(JsonMap::from_iter([(
            "iteration".to_owned(),
            json!(1),
        )])));
        match body {
            Some(first) => {
                self.live.insert(seq, record);
                self.schedule_node(id, instance, first, 1, None, now);
            }
            None => self.end_system_task(instance, seq, record, TaskStatus::Completed, now),
        }
    }

    /// An iteration of the DO_WHILE at `node` has run: records its outputs, then runs the next
    /// iteration or completes the loop.
    pub(super) fn iteration_done(
        &mut self,
        id: u64,
        instance: &mut Instance,
        node: usize,
        now: u64,
    ) {
        let plan = Arc::clone(&instance.plan);
        let Some(loop_node) = plan.node(node) else {
            return;
        };
        // The loop itself runs in iteration 0 (loops do not nest).
        let Some(seq) = self.open_task(instance, node, 0) else {
            return;
        };
        let current = self
            .live
            .get(&seq)
            .and_then(|record| record.output.as_deref())
            .and_then(|output| output.get("iteration"))
            .and_then(Value::as_i64)
            .and_then(|n| i32::try_from(n).ok())
            .unwrap_or(1);
        // Each loop task's output, by reference name without the iteration: this iteration's,
        // and every iteration's latest (for the condition). Newest first, so the first seen
        // wins; the scan stops once this iteration is behind it and every loop task was seen.
        let body_nodes = (0..plan.nodes.len())
            .filter(|&n| plan.is_inside(n, node))
            .count();
        let mut this_iteration = JsonMap::new();
        let mut latest = JsonMap::new();
        for task_seq in instance.tasks.iter().rev() {
            if *task_seq == seq {
                break;
            }
            let Some(record) = self
                .live
                .get(task_seq)
                .or_else(|| instance.ended.get(task_seq))
            else {
                continue;
            };
            let Some(info) = record.spec.workflow_task.as_ref() else {
                continue;
            };
            if !plan.is_inside(info.node, node) {
                continue;
            }
            if info.iteration < current && latest.len() >= body_nodes {
                break;
            }
            let output = || Value::Object(record.output.as_deref().cloned().unwrap_or_default());
            let base = plan.reference(info.node);
            if info.iteration == current && !this_iteration.contains_key(base) {
                this_iteration.insert(base.to_owned(), output());
            }
            if !latest.contains_key(base) {
                latest.insert(base.to_owned(), output());
            }
        }
        let loop_output = {
            let Some(record) = self.live.get_mut(&seq) else {
                return;
            };
            let output = record.output.get_or_insert_with(Default::default);
            output.insert(current.to_string(), Value::Object(this_iteration));
            record.update_time = now;
            Value::Object(JsonMap::clone(output))
        };
        let condition = loop_node
            .task
            .loop_condition
            .as_deref()
            .filter(|c| !c.trim().is_empty());
        let go_on = match condition {
            None => Ok(false),
            Some(condition) => {
                let mut input = self.resolve(id, instance, &loop_node.task.input_parameters);
                input.insert(loop_node.task.task_reference_name.clone(), loop_output);
                input.extend(latest);
                script::evaluate("javascript", condition, &Value::Object(input))
                    .map(|value| script::truthy(&value))
                    .map_err(|e| format!("Unable to evaluate condition {condition}, exception {e}"))
            }
        };
        match go_on {
            Ok(true) => {
                if let Some(output) = self.live.get_mut(&seq).and_then(|r| r.output.as_mut()) {
                    output.insert("iteration".to_owned(), json!(current + 1));
                }
                if let Some(first) = loop_node.body {
                    self.schedule_node(id, instance, first, current + 1, None, now);
                }
            }
            Ok(false) => self.end_open_system_task(instance, seq, TaskStatus::Completed, now),
            Err(reason) => {
                if let Some(record) = self.live.get_mut(&seq) {
                    record.reason = Some(reason.into());
                }
                self.end_open_system_task(instance, seq, TaskStatus::FailedWithTerminalError, now);
            }
        }
    }
}
