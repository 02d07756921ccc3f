//! The decider: what follows when a workflow task ends (the next task of its list, the
//! container's next step, a retry, COMPLETED_WITH_ERRORS for an optional task, or the end of
//! the workflow), decided synchronously under the core's lock; plus scheduling a workflow task
//! of any type, termination, workflow timeouts and eviction.
//!
//! Positions are nodes of the workflow's [`Plan`]. System tasks the mock runs at once do not
//! recurse into the decider: their ends are queued on the workflow's agenda ([`Step`]) and
//! [`State::drain`] works it off, so a long loop of system tasks costs no stack, and a workflow
//! that runs more than `max_system_steps` steps in one go without waiting for anything is
//! failed instead of holding the lock forever.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use baton_model::{JsonMap, TaskDef, TaskStatus, TimeoutPolicy, WorkflowDef, WorkflowStatus};
use serde_json::{Value, json};

use super::plan::Plan;
use super::{Instance, Start, TerminateError, WorkflowRecord};
use crate::core::State;
use crate::core::clock::Clock;
use crate::core::domains;
use crate::core::expr::Resolver;
use crate::core::ledger::FP_SERVER;
use crate::core::metadata::{DO_WHILE, DYNAMIC, FORK_JOIN, SIMPLE, TERMINATE};
use crate::core::queue::QueueKey;
use crate::core::record::{TaskRecord, TaskSpec, WorkflowTaskInfo};
use crate::core::retry::{self, RetryDelay};
use crate::ids;

/// A step of a workflow's agenda.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Decide what follows the ended task (sequence number), kept in the workflow's ended map.
    Decide(u64),
    /// Check whether the JOIN at this node (in this loop iteration) can complete.
    Join {
        /// The JOIN's node.
        node: usize,
        /// The loop iteration (0 outside loops).
        iteration: i32,
    },
}

/// A previous attempt being retried: its sequence number, its record and the retry delay.
pub(crate) type Retry<'a> = Option<(u64, &'a TaskRecord, RetryDelay)>;

/// The reference name of a task of `base` in loop iteration `iteration` (`base__N`).
pub(crate) fn iteration_reference(base: &str, iteration: i32) -> String {
    if iteration > 0 {
        format!("{base}__{iteration}")
    } else {
        base.to_owned()
    }
}

impl State {
    /// Creates a RUNNING workflow from `start` and schedules its first task; returns its number.
    pub(in crate::core) fn start_workflow(&mut self, start: Start, now: u64) -> u64 {
        let mut def = start.def;
        self.embed_task_defs(&mut def);
        let mut input = def.input_template.clone();
        input.extend(start.input);
        let id = self.next_workflow;
        self.next_workflow += 1;
        let deadline = (def.timeout_seconds > 0 && def.timeout_policy == TimeoutPolicy::TimeOutWf)
            .then(|| {
                let seconds = u64::try_from(def.timeout_seconds).unwrap_or(0);
                now.saturating_add(seconds.saturating_mul(1_000_000))
            });
        let mut instance = Instance {
            variables: def.variables.clone(),
            plan: Arc::new(Plan::new(&def)),
            def: Arc::new(def),
            status: WorkflowStatus::Running,
            input,
            output: JsonMap::new(),
            correlation_id: start.correlation_id,
            priority: start.priority,
            task_to_domain: start.task_to_domain,
            reason: None,
            failed_refs: Vec::new(),
            failed_names: Vec::new(),
            create_time: now,
            update_time: now,
            end_time: 0,
            tasks: Vec::new(),
            ended: HashMap::new(),
            last_task_seq: 0,
            deadline,
            listed_as_ended: false,
            pending_decisions: Vec::new(),
            parent: start.parent,
            agenda: VecDeque::new(),
            flow_done: false,
        };
        if let Some(deadline) = deadline {
            self.workflow_deadlines.insert(deadline, id);
        }
        self.begin(id, &mut instance, now);
        self.workflows
            .insert(id, WorkflowRecord::Instance(Box::new(instance)));
        id
    }

    /// Schedules the first task of `instance` and runs what follows at once.
    pub(super) fn begin(&mut self, id: u64, instance: &mut Instance, now: u64) {
        instance.flow_done = false;
        instance.agenda.clear();
        match instance.plan.first() {
            Some(first) => self.schedule_node(id, instance, first, 0, None, now),
            None => instance.flow_done = true,
        }
        self.drain(id, instance, now);
    }

    /// Embeds in each task of `def` (nested ones included) without one its registered
    /// definition, or the server's ad-hoc default one when none is registered (the snapshot
    /// taken at start).
    pub(super) fn embed_task_defs(&self, def: &mut WorkflowDef) {
        fn embed(state: &State, tasks: &mut [baton_model::WorkflowTask]) {
            for task in tasks {
                if task.task_definition.is_none() {
                    let registered = state.metadata.task_defs.get(&task.name).cloned();
                    task.task_definition =
                        Some(registered.unwrap_or_else(|| TaskDef::new(&task.name)));
                }
                for case in task.decision_cases.values_mut() {
                    embed(state, case);
                }
                embed(state, &mut task.default_case);
                for branch in &mut task.fork_tasks {
                    embed(state, branch);
                }
                embed(state, &mut task.loop_over);
            }
        }
        embed(self, &mut def.tasks);
    }

    /// Schedules the workflow task at `node` of the plan in loop iteration `iteration`: a
    /// first attempt, or with `retry` the next attempt after a failed one.
    pub(in crate::core) fn schedule_node(
        &mut self,
        id: u64,
        instance: &mut Instance,
        node: usize,
        iteration: i32,
        retry: Retry<'_>,
        now: u64,
    ) {
        let plan = Arc::clone(&instance.plan);
        let Some(task) = plan.node(node).map(|n| &n.task) else {
            return;
        };
        let mut def = task
            .task_definition
            .clone()
            .unwrap_or_else(|| TaskDef::new(&task.name));
        if let Some(retry_count) = task.retry_count {
            def.retry_count = retry_count;
        }
        let mut input = self.resolve(id, instance, &task.input_parameters);
        for (key, value) in &def.input_template {
            input.entry(key.clone()).or_insert_with(|| value.clone());
        }
        let at = (node, iteration);
        match task.task_type.as_str() {
            SIMPLE => {
                self.schedule_worker_task(
                    id,
                    instance,
                    at,
                    task.name.clone(),
                    def,
                    input,
                    retry,
                    now,
                );
            }
            DYNAMIC => self.schedule_dynamic(id, instance, at, input, retry, now),
            _ => self.run_system_task(id, instance, at, input, retry, now),
        }
    }

    /// A DYNAMIC task: the worker task named by its input's `dynamicTaskNameParam`, with the
    /// registered definition of that name (conductor-oss `DynamicTaskMapper`).
    fn schedule_dynamic(
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
        let param = task.dynamic_task_name_param.clone().unwrap_or_default();
        let name = match input.get(&param) {
            None | Some(Value::Null) => None,
            Some(Value::String(name)) => Some(name.clone()),
            Some(other) => Some(other.to_string()),
        };
        let Some(name) = name else {
            let reason = format!(
                "Cannot map a dynamic task based on the parameter and input. Parameter= {param}, input= {}",
                Value::Object(input)
            );
            self.fail_workflow(id, instance, reason, now);
            return;
        };
        let Some(mut def) = self.metadata.task_defs.get(&name).cloned() else {
            let reason = format!(
                "Invalid task specified.  Cannot find task by name {name} in the task definitions"
            );
            self.fail_workflow(id, instance, reason, now);
            return;
        };
        if let Some(retry_count) = task.retry_count {
            def.retry_count = retry_count;
        }
        self.schedule_worker_task(id, instance, at, name, def, input, retry, now);
    }

    /// Queues a worker task `name` (with definition `def` and resolved `input`) for the
    /// workflow task at `at` = (node, iteration).
    #[allow(clippy::too_many_arguments)]
    fn schedule_worker_task(
        &mut self,
        id: u64,
        instance: &mut Instance,
        (node, iteration): (usize, i32),
        name: String,
        def: TaskDef,
        input: JsonMap,
        retry: Retry<'_>,
        now: u64,
    ) {
        let plan = Arc::clone(&instance.plan);
        let Some(task) = plan.node(node).map(|n| &n.task) else {
            return;
        };
        let window_ms = i64::try_from(self.config.active_domain_window.as_millis()).unwrap_or(0);
        let active_since = self.clock.epoch_ms(now) - window_ms;
        let domain = domains::choose(&instance.task_to_domain, &name, |domain| {
            self.poll_data
                .get(&(name.clone(), Some(domain.to_owned())))
                .is_some_and(|data| data.last_poll_time > active_since)
        });
        instance.last_task_seq += 1;
        let info = WorkflowTaskInfo {
            reference: iteration_reference(&task.task_reference_name, iteration),
            node,
            iteration,
            system: false,
            seq: instance.last_task_seq,
            workflow_type: instance.def.name.clone(),
            correlation_id: instance.correlation_id.clone(),
            optional: task.optional,
        };
        let key = QueueKey::new(name, domain);
        let spec = Arc::new(TaskSpec::for_workflow(
            key.clone(),
            input,
            def,
            instance.priority,
            info,
        ));
        let delay = match retry {
            Some((_, _, delay)) => delay,
            None => RetryDelay {
                seconds: u64::try_from(task.start_delay).unwrap_or(0),
                jitter_ms: 0,
            },
        };
        let delay_s = delay.seconds;
        let due = now.saturating_add(delay.micros());
        let mut record = TaskRecord::new(id, spec, now, due);
        record.start_delay_seconds = i32::try_from(delay_s).unwrap_or(i32::MAX);
        record.callback_after_seconds = i64::try_from(delay_s).unwrap_or(i64::MAX);
        if let Some((failed_seq, failed, _)) = retry {
            record.retry_count = failed.retry_count + 1;
            record.retried_from = Some(failed_seq);
            record.reason.clone_from(&failed.reason);
        }
        let seq = self.schedule(record, now);
        instance.tasks.push(seq);
        instance.update_time = now;
        self.task_workflow.insert(seq, id);
        self.wake(&key);
    }

    /// `params` with every `${...}` resolved against workflow `id`. A reference name inside a
    /// loop (`${ref.output.x}` for a task of a DO_WHILE) reads its latest iteration.
    pub(in crate::core) fn resolve(
        &self,
        id: u64,
        instance: &Instance,
        params: &JsonMap,
    ) -> JsonMap {
        let clock = self.clock;
        let mut resolver = Resolver::new(|root: &str| {
            if root == "workflow" {
                return Some(json!({
                    "input": instance.input,
                    "output": instance.output,
                    "workflowId": ids::workflow_id(id),
                    "correlationId": instance.correlation_id,
                    "workflowType": instance.def.name,
                    "version": instance.def.version,
                    "variables": instance.variables,
                    "status": instance.status,
                }));
            }
            instance.tasks.iter().rev().find_map(|seq| {
                let record = self.live.get(seq).or_else(|| instance.ended.get(seq))?;
                let base = record
                    .spec
                    .workflow_task
                    .as_ref()
                    .map(|info| instance.plan.reference(info.node));
                (record.spec.reference() == root || base == Some(root))
                    .then(|| task_view(*seq, record, &clock))
            })
        });
        resolver.map(params)
    }

    /// Decides what follows the end of `record` (sequence `seq`), a task of a real workflow
    /// (or, while the workflow is paused, keeps the decision for its resume), and keeps the
    /// record with its workflow.
    pub(in crate::core) fn workflow_task_ended(&mut self, seq: u64, record: TaskRecord, now: u64) {
        let id = record.workflow;
        let Some(WorkflowRecord::Instance(mut instance)) = self.workflows.remove(&id) else {
            self.keep_ended(seq, record);
            return;
        };
        instance.update_time = now;
        if instance.status == WorkflowStatus::Paused {
            // A paused workflow decides nothing until it is resumed.
            instance.pending_decisions.push(seq);
            instance.ended.insert(seq, record);
        } else {
            self.decide_ended(id, &mut instance, seq, record, now);
        }
        self.workflows
            .insert(id, WorkflowRecord::Instance(instance));
        self.evict_workflows();
    }

    /// What follows the end of `record` (sequence `seq`) in `instance`, and everything that
    /// follows at once from that. The record is kept with the workflow.
    pub(super) fn decide_ended(
        &mut self,
        id: u64,
        instance: &mut Instance,
        seq: u64,
        record: TaskRecord,
        now: u64,
    ) {
        self.decide(id, instance, seq, record, now);
        self.drain(id, instance, now);
    }

    /// Works off the agenda of `instance`: the ends of system tasks and JOIN checks, until
    /// nothing follows at once (or the workflow has ended).
    pub(super) fn drain(&mut self, id: u64, instance: &mut Instance, now: u64) {
        let max_steps = self.config.max_system_steps;
        let mut steps = 0;
        while let Some(step) = instance.agenda.pop_front() {
            if instance.status.is_terminal() {
                instance.agenda.clear();
                break;
            }
            steps += 1;
            if steps > max_steps {
                instance.agenda.clear();
                let reason = format!(
                    "baton-mock stopped the workflow after {max_steps} system-task steps in a row without waiting for a worker (an endless loop?)"
                );
                self.fail_workflow(id, instance, reason, now);
                break;
            }
            match step {
                Step::Decide(seq) => {
                    if let Some(record) = instance.ended.remove(&seq) {
                        self.decide(id, instance, seq, record, now);
                    }
                }
                Step::Join { node, iteration } => {
                    self.check_join(id, instance, node, iteration, now)
                }
            }
        }
        self.complete_if_done(id, instance, now);
    }

    /// What follows the end of `record` (sequence `seq`) in `instance`: the next task, a retry,
    /// or the end of the workflow. The record is kept with the workflow.
    fn decide(
        &mut self,
        id: u64,
        instance: &mut Instance,
        seq: u64,
        mut record: TaskRecord,
        now: u64,
    ) {
        let (node, iteration) = record
            .spec
            .workflow_task
            .as_ref()
            .map_or((0, 0), |info| (info.node, info.iteration));
        if instance.status.is_terminal() {
            instance.ended.insert(seq, record);
        } else if matches!(
            record.status,
            TaskStatus::Completed | TaskStatus::CompletedWithErrors
        ) {
            instance.ended.insert(seq, record);
            self.after_node(id, instance, node, iteration, now);
        } else if retry::should_retry(&record) {
            if let Some(elapsed) = retry::total_timeout_spent(&record, now) {
                self.fail_past_total_timeout(id, instance, seq, record, elapsed, now);
                return;
            }
            let delay = retry::retry_delay(&mut self.rng, &record.spec.def, record.retry_count);
            record.retried = true;
            self.ledger.counts.retried += 1;
            self.schedule_node(
                id,
                instance,
                node,
                iteration,
                Some((seq, &record, delay)),
                now,
            );
            instance.ended.insert(seq, record);
        } else if record
            .spec
            .workflow_task
            .as_ref()
            .is_some_and(|info| info.optional)
        {
            record.status = TaskStatus::CompletedWithErrors;
            instance.ended.insert(seq, record);
            self.after_node(id, instance, node, iteration, now);
        } else {
            let status = match record.status {
                TaskStatus::Canceled => WorkflowStatus::Terminated,
                TaskStatus::TimedOut => WorkflowStatus::TimedOut,
                _ => WorkflowStatus::Failed,
            };
            let reason = format!(
                "Task {} failed with status: {status} and reason: '{}'",
                ids::task_id(seq),
                record.reason.as_deref().unwrap_or("null")
            );
            self.fail_by_task(id, instance, seq, record, status, Some(reason), now);
        }
    }

    /// Ends `instance` because its task `record` (sequence `seq`) would be retried but its
    /// definition's `totalTimeoutSeconds` is spent (`elapsed` seconds since its first attempt
    /// was scheduled): TIMED_OUT when the attempt timed out, else FAILED, with the server's
    /// reason.
    fn fail_past_total_timeout(
        &mut self,
        id: u64,
        instance: &mut Instance,
        seq: u64,
        record: TaskRecord,
        elapsed: u64,
        now: u64,
    ) {
        let status = if record.status == TaskStatus::TimedOut {
            WorkflowStatus::TimedOut
        } else {
            WorkflowStatus::Failed
        };
        let reason = format!(
            "Task {}/{} exceeded total timeout of {} seconds (elapsed {elapsed} seconds across all attempts). No further retries will be attempted.",
            ids::task_id(seq),
            record.spec.key.task_type,
            record.spec.def.total_timeout_seconds
        );
        self.fail_by_task(id, instance, seq, record, status, Some(reason), now);
    }

    /// Ends `instance` as `status` for `reason` because of its task `record` (sequence
    /// `seq`), which is named among the failed tasks and kept with the workflow.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn fail_by_task(
        &mut self,
        id: u64,
        instance: &mut Instance,
        seq: u64,
        record: TaskRecord,
        status: WorkflowStatus,
        reason: Option<String>,
        now: u64,
    ) {
        instance
            .failed_refs
            .push(record.spec.reference().to_owned());
        instance
            .failed_names
            .push(record.spec.key.task_type.clone());
        instance.ended.insert(seq, record);
        self.fail(id, instance, status, reason, Some(seq), now);
    }

    /// The workflow task at `node` (in loop iteration `iteration`) is done, with everything
    /// nested in it: the next task of its list is scheduled, or its container goes on (a
    /// SWITCH is done, a fork branch wakes its JOIN, a loop body ends an iteration), or, at the
    /// end of the top-level list, the workflow completes once no task is open.
    pub(in crate::core) fn after_node(
        &mut self,
        id: u64,
        instance: &mut Instance,
        node: usize,
        iteration: i32,
        now: u64,
    ) {
        let plan = Arc::clone(&instance.plan);
        let mut node = node;
        loop {
            let Some(current) = plan.node(node) else {
                return;
            };
            if let Some(next) = current.next {
                self.schedule_node(id, instance, next, iteration, None, now);
                return;
            }
            let Some(parent) = current.parent else {
                instance.flow_done = true;
                return;
            };
            let Some(container) = plan.node(parent) else {
                return;
            };
            match container.task.task_type.as_str() {
                FORK_JOIN => {
                    if let Some(join) = container.next {
                        instance.agenda.push_back(Step::Join {
                            node: join,
                            iteration,
                        });
                    }
                    return;
                }
                DO_WHILE => {
                    self.iteration_done(id, instance, parent, now);
                    return;
                }
                // A SWITCH is done when its case is: go on after it.
                _ => node = parent,
            }
        }
    }

    /// Completes the workflow when its top-level list has run to its end and no task of it is
    /// open (a fork branch that no JOIN waited for may still run).
    fn complete_if_done(&mut self, id: u64, instance: &mut Instance, now: u64) {
        if !instance.flow_done || instance.status != WorkflowStatus::Running {
            return;
        }
        if instance.tasks.iter().any(|seq| self.live.contains_key(seq)) {
            return;
        }
        self.finish(id, instance, WorkflowStatus::Completed, None, now);
    }

    /// A task of a real workflow timed out under `TIME_OUT_WF`: the workflow times out at once
    /// with the task's reason, whatever retries remain.
    pub(in crate::core) fn workflow_task_timed_out_wf(
        &mut self,
        seq: u64,
        record: TaskRecord,
        now: u64,
    ) {
        let id = record.workflow;
        let Some(WorkflowRecord::Instance(mut instance)) = self.workflows.remove(&id) else {
            self.keep_ended(seq, record);
            return;
        };
        instance.update_time = now;
        let reason = record.reason.as_deref().map(str::to_owned);
        if instance.status.is_terminal() {
            instance.ended.insert(seq, record);
        } else {
            let status = WorkflowStatus::TimedOut;
            self.fail_by_task(id, &mut instance, seq, record, status, reason, now);
        }
        self.workflows
            .insert(id, WorkflowRecord::Instance(instance));
        self.evict_workflows();
    }

    /// Ends workflow `id` with `status`: cancels its open tasks, computes its output and
    /// queues it for eviction.
    pub(in crate::core) fn finish(
        &mut self,
        id: u64,
        instance: &mut Instance,
        status: WorkflowStatus,
        reason: Option<String>,
        now: u64,
    ) {
        instance.status = status;
        instance.reason = reason;
        instance.update_time = now;
        instance.end_time = now;
        instance.agenda.clear();
        let mut children = Vec::new();
        for &seq in &instance.tasks {
            let Some(mut record) = self.live.remove(&seq) else {
                continue;
            };
            self.leave_current_place(seq, &record);
            record.status = TaskStatus::Canceled;
            record.end_time = now;
            record.update_time = now;
            self.release_postponed(&record, now);
            // A later update of a canceled task is the server's 200 no-op.
            self.ledger.set_ending(seq, FP_SERVER);
            children.extend(super::subworkflow::child_of(&record));
            instance.ended.insert(seq, record);
        }
        let terminate = instance.tasks.iter().find_map(|seq| {
            let record = instance.ended.get(seq)?;
            (record.spec.key.task_type == TERMINATE && record.status == TaskStatus::Completed)
                .then_some(record)
        });
        instance.output = if let Some(terminate) = terminate {
            // A TERMINATE task's output is the workflow's, whatever its outputParameters.
            terminate.output.as_deref().cloned().unwrap_or_default()
        } else if instance.def.output_parameters.is_empty() {
            instance
                .tasks
                .last()
                .and_then(|seq| instance.ended.get(seq))
                .and_then(|record| record.output.as_deref().cloned())
                .unwrap_or_default()
        } else {
            let params = instance.def.output_parameters.clone();
            self.resolve(id, instance, &params)
        };
        if let Some(deadline) = instance.deadline.take() {
            self.workflow_deadlines.remove(deadline, id);
        }
        if !instance.listed_as_ended {
            instance.listed_as_ended = true;
            self.ended_workflows.push_back(id);
        }
        // Sub-workflows of canceled SUB_WORKFLOW tasks are terminated with their parent.
        for child in children {
            let reason = match &instance.reason {
                Some(reason) if !reason.is_empty() => {
                    format!("Parent workflow has been terminated with reason: {reason}")
                }
                _ => format!("Parent workflow has been terminated with status {status}"),
            };
            let _ = self.terminate_workflow(child, Some(reason), now);
        }
        self.notify_parent(id, instance, now);
    }

    /// Terminates workflow `id` (`DELETE /api/workflow/{id}`).
    pub(in crate::core) fn terminate_workflow(
        &mut self,
        id: u64,
        reason: Option<String>,
        now: u64,
    ) -> Result<(), TerminateError> {
        let Some(WorkflowRecord::Instance(mut instance)) = self.workflows.remove(&id) else {
            return Err(TerminateError::NotFound);
        };
        let result = match instance.status {
            WorkflowStatus::Completed => Err(TerminateError::Completed),
            WorkflowStatus::Terminated => Ok(()),
            _ => {
                self.finish(id, &mut instance, WorkflowStatus::Terminated, reason, now);
                for seq in &instance.tasks {
                    if let Some(record) = instance.ended.get(seq)
                        && matches!(
                            record.status,
                            TaskStatus::Failed | TaskStatus::FailedWithTerminalError
                        )
                    {
                        let reference = record.spec.reference().to_owned();
                        if !instance.failed_refs.contains(&reference) {
                            instance.failed_refs.push(reference);
                            instance
                                .failed_names
                                .push(record.spec.key.task_type.clone());
                        }
                    }
                }
                Ok(())
            }
        };
        self.workflows
            .insert(id, WorkflowRecord::Instance(instance));
        self.evict_workflows();
        result
    }

    /// The sweeper found workflow `id` past its `timeoutSeconds` (TIME_OUT_WF): it times out
    /// unless it has already ended.
    pub(in crate::core) fn time_out_workflow(&mut self, id: u64, now: u64) {
        let Some(WorkflowRecord::Instance(mut instance)) = self.workflows.remove(&id) else {
            return;
        };
        instance.deadline = None;
        if !instance.status.is_terminal() {
            let elapsed = now.saturating_sub(instance.create_time) / 1_000_000;
            let reason = format!(
                "Workflow timed out after {elapsed} seconds. Timeout configured as {} seconds. Timeout policy configured to TIME_OUT_WF",
                instance.def.timeout_seconds
            );
            self.fail(
                id,
                &mut instance,
                WorkflowStatus::TimedOut,
                Some(reason),
                None,
                now,
            );
        }
        self.workflows
            .insert(id, WorkflowRecord::Instance(instance));
    }

    /// Forgets the oldest ended workflows beyond the configured number, with their tasks.
    pub(in crate::core) fn evict_workflows(&mut self) {
        while self.ended_workflows.len() > self.config.keep_workflows {
            let Some(id) = self.ended_workflows.pop_front() else {
                break;
            };
            if let Some(WorkflowRecord::Instance(instance)) = self.workflows.remove(&id) {
                for seq in &instance.tasks {
                    self.task_workflow.remove(seq);
                }
            }
            self.evicted_workflows += 1;
        }
    }
}

/// A task as an expression root: `${ref.output.x}`, `${ref.input.x}`, `${ref.status}`, ...
fn task_view(seq: u64, record: &TaskRecord, clock: &Clock) -> Value {
    let task = record.to_task(seq, clock);
    json!({
        "input": task.input_data,
        "output": task.output_data,
        "status": task.status,
        "taskId": task.task_id,
        "taskType": task.task_type,
        "referenceTaskName": task.reference_task_name,
        "retryCount": task.retry_count,
        "pollCount": task.poll_count,
        "seq": task.seq,
        "domain": task.domain,
        "workerId": task.worker_id,
        "reasonForIncompletion": task.reason_for_incompletion,
        "scheduledTime": task.scheduled_time,
        "startTime": task.start_time,
        "endTime": task.end_time,
        "callbackAfterSeconds": task.callback_after_seconds,
    })
}
