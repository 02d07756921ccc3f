//! Workflow instances and the decider for linear workflows of SIMPLE tasks
//! (conductor-api.md §7.3–§7.5).
//!
//! A workflow is started with its definition snapshotted (task definitions embedded), its first
//! task scheduled before the start call returns. Every time one of its tasks ends,
//! [`State::workflow_task_ended`] decides synchronously what follows: the next task, a retry,
//! COMPLETED_WITH_ERRORS for an optional task, or the end of the workflow. Ended workflows are
//! kept readable up to [`CoreConfig::keep_workflows`](super::CoreConfig::keep_workflows), then
//! evicted with their tasks.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use baton_model::{
    JsonMap, TaskDef, TaskStatus, TimeoutPolicy, Workflow, WorkflowDef, WorkflowStatus,
};
use serde_json::{Value, json};

use super::expr::Resolver;
use super::ledger::FP_SERVER;
use super::record::{TaskRecord, TaskSpec, WorkflowRecord, WorkflowTaskInfo};
use super::{Clock, QueueKey, State, domains};
use crate::ids;

/// One workflow instance.
#[derive(Debug)]
pub(crate) struct Instance {
    /// The definition as it was at start, task definitions embedded.
    pub(crate) def: Arc<WorkflowDef>,
    pub(crate) status: WorkflowStatus,
    pub(crate) input: JsonMap,
    pub(crate) output: JsonMap,
    pub(crate) correlation_id: Option<String>,
    pub(crate) priority: i32,
    pub(crate) task_to_domain: BTreeMap<String, String>,
    pub(crate) reason: Option<String>,
    pub(crate) failed_refs: Vec<String>,
    pub(crate) failed_names: Vec<String>,
    pub(crate) variables: JsonMap,
    /// Times in µs on the core's clock; `end_time` 0 while running.
    pub(crate) create_time: u64,
    pub(crate) update_time: u64,
    pub(crate) end_time: u64,
    /// Task sequence numbers in schedule order.
    pub(crate) tasks: Vec<u64>,
    /// The records of its ended tasks (live ones are in the core's live map).
    pub(crate) ended: HashMap<u64, TaskRecord>,
    /// The last `seq` given to one of its tasks.
    last_task_seq: i32,
    /// The workflow-timeout deadline registered with the sweeper, if any.
    deadline: Option<u64>,
    /// Whether it is already counted among the ended workflows awaiting eviction.
    listed_as_ended: bool,
}

/// What started a workflow, for the not-found message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StartedBy {
    /// `POST /api/workflow/{name}`.
    Name,
    /// `POST /api/workflow` with a StartWorkflowRequest.
    Request,
}

/// A validated start: the definition to run and the request's settings.
#[derive(Debug)]
pub(crate) struct Start {
    pub(crate) def: WorkflowDef,
    pub(crate) input: JsonMap,
    pub(crate) correlation_id: Option<String>,
    pub(crate) priority: i32,
    pub(crate) task_to_domain: BTreeMap<String, String>,
}

impl State {
    /// Creates a RUNNING workflow from `start` and schedules its first task; returns its number.
    pub(crate) fn start_workflow(&mut self, start: Start, now: u64) -> u64 {
        let mut def = start.def;
        for task in &mut def.tasks {
            if task.task_definition.is_none() {
                // No registered definition: the server's ad-hoc default one.
                let registered = self.metadata.task_defs.get(&task.name).cloned();
                task.task_definition = Some(registered.unwrap_or_else(|| TaskDef::new(&task.name)));
            }
        }
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
        };
        if let Some(deadline) = deadline {
            self.workflow_deadlines.insert((deadline, id));
        }
        self.schedule_workflow_task(id, &mut instance, 0, None, now);
        self.workflows
            .insert(id, WorkflowRecord::Instance(Box::new(instance)));
        id
    }

    /// Schedules the workflow task at `index`: a first attempt, or with `retry` = (the failed
    /// attempt's sequence, its record, the delay in seconds) the next attempt.
    fn schedule_workflow_task(
        &mut self,
        id: u64,
        instance: &mut Instance,
        index: usize,
        retry: Option<(u64, &TaskRecord, u64)>,
        now: u64,
    ) {
        let workflow_def = Arc::clone(&instance.def);
        let Some(task) = workflow_def.tasks.get(index) else {
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
        let window_ms = i64::try_from(self.config.active_domain_window.as_millis()).unwrap_or(0);
        let active_since = self.clock.epoch_ms(now) - window_ms;
        let domain = domains::choose(&instance.task_to_domain, &task.name, |domain| {
            self.poll_data
                .get(&(task.name.clone(), Some(domain.to_owned())))
                .is_some_and(|data| data.last_poll_time > active_since)
        });
        instance.last_task_seq += 1;
        let info = WorkflowTaskInfo {
            reference: task.task_reference_name.clone(),
            index,
            seq: instance.last_task_seq,
            workflow_type: instance.def.name.clone(),
            correlation_id: instance.correlation_id.clone(),
            optional: task.optional,
        };
        let key = QueueKey::new(task.name.clone(), domain);
        let spec = Arc::new(TaskSpec::for_workflow(
            key.clone(),
            input,
            def,
            instance.priority,
            info,
        ));
        let delay_s = match retry {
            Some((_, _, delay_s)) => delay_s,
            None => u64::try_from(task.start_delay).unwrap_or(0),
        };
        let due = now.saturating_add(delay_s.saturating_mul(1_000_000));
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

    /// `params` with every `${...}` resolved against workflow `id`.
    fn resolve(&self, id: u64, instance: &Instance, params: &JsonMap) -> JsonMap {
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
                (record.spec.reference() == root).then(|| task_view(*seq, record, &clock))
            })
        });
        resolver.map(params)
    }

    /// Decides what follows the end of `record` (sequence `seq`), a task of a real workflow,
    /// and keeps the record with its workflow.
    pub(crate) fn workflow_task_ended(&mut self, seq: u64, mut record: TaskRecord, now: u64) {
        let id = record.workflow;
        let Some(WorkflowRecord::Instance(mut instance)) = self.workflows.remove(&id) else {
            self.keep_ended(seq, record);
            return;
        };
        instance.update_time = now;
        let index = record
            .spec
            .workflow_task
            .as_ref()
            .map_or(0, |info| info.index);
        if instance.status.is_terminal() {
            instance.ended.insert(seq, record);
        } else if record.status == TaskStatus::Completed {
            instance.ended.insert(seq, record);
            self.advance(id, &mut instance, index, now);
        } else {
            let retriable = matches!(record.status, TaskStatus::Failed | TaskStatus::TimedOut);
            if retriable && record.retry_count < record.spec.def.retry_count {
                let delay_s = self.retry_delay(&record.spec.def, record.retry_count);
                record.retried = true;
                self.ledger.counts.retried += 1;
                self.schedule_workflow_task(
                    id,
                    &mut instance,
                    index,
                    Some((seq, &record, delay_s)),
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
                self.advance(id, &mut instance, index, now);
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
                instance
                    .failed_refs
                    .push(record.spec.reference().to_owned());
                instance
                    .failed_names
                    .push(record.spec.key.task_type.clone());
                instance.ended.insert(seq, record);
                self.finish(id, &mut instance, status, Some(reason), now);
            }
        }
        self.workflows
            .insert(id, WorkflowRecord::Instance(instance));
        self.evict_workflows();
    }

    /// The task at `index` is done: schedule the next one, or complete the workflow.
    fn advance(&mut self, id: u64, instance: &mut Instance, index: usize, now: u64) {
        if index + 1 < instance.def.tasks.len() {
            self.schedule_workflow_task(id, instance, index + 1, None, now);
        } else {
            self.finish(id, instance, WorkflowStatus::Completed, None, now);
        }
    }

    /// Ends workflow `id` with `status`: cancels its open tasks, computes its output and
    /// queues it for eviction.
    fn finish(
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
        for &seq in &instance.tasks {
            let Some(mut record) = self.live.remove(&seq) else {
                continue;
            };
            self.leave_current_place(seq, &record);
            record.status = TaskStatus::Canceled;
            record.end_time = now;
            record.update_time = now;
            // A later update of a canceled task is the server's 200 no-op.
            self.ledger.set_ending(seq, FP_SERVER);
            instance.ended.insert(seq, record);
        }
        instance.output = if instance.def.output_parameters.is_empty() {
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
            self.workflow_deadlines.remove(&(deadline, id));
        }
        if !instance.listed_as_ended {
            instance.listed_as_ended = true;
            self.ended_workflows.push_back(id);
        }
    }

    /// Terminates workflow `id` (`DELETE /api/workflow/{id}`).
    pub(crate) fn terminate_workflow(
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

    /// Times out every running workflow past its `timeoutSeconds` (TIME_OUT_WF); returns how
    /// many.
    pub(crate) fn sweep_workflows(&mut self, now: u64) -> usize {
        let mut expired = Vec::new();
        while let Some(&(deadline, id)) = self.workflow_deadlines.first() {
            if deadline > now {
                break;
            }
            self.workflow_deadlines.pop_first();
            expired.push(id);
        }
        for &id in &expired {
            let Some(WorkflowRecord::Instance(mut instance)) = self.workflows.remove(&id) else {
                continue;
            };
            instance.deadline = None;
            if !instance.status.is_terminal() {
                let elapsed = now.saturating_sub(instance.create_time) / 1_000_000;
                let reason = format!(
                    "Workflow timed out after {elapsed} seconds. Timeout configured as {} seconds. Timeout policy configured to TIME_OUT_WF",
                    instance.def.timeout_seconds
                );
                self.finish(
                    id,
                    &mut instance,
                    WorkflowStatus::TimedOut,
                    Some(reason),
                    now,
                );
            }
            self.workflows
                .insert(id, WorkflowRecord::Instance(instance));
        }
        self.evict_workflows();
        expired.len()
    }

    /// Forgets the oldest ended workflows beyond the configured number, with their tasks.
    fn evict_workflows(&mut self) {
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

    /// The wire form of workflow `id`.
    pub(crate) fn render_workflow(&self, id: u64, include_tasks: bool) -> Option<Workflow> {
        let Some(WorkflowRecord::Instance(instance)) = self.workflows.get(&id) else {
            return None;
        };
        let clock = &self.clock;
        let ms = |micros: u64| {
            if micros == 0 {
                0
            } else {
                clock.epoch_ms(micros)
            }
        };
        let mut workflow = Workflow::default();
        workflow.workflow_id = ids::workflow_id(id);
        workflow.status = instance.status;
        workflow.input = instance.input.clone();
        workflow.output = instance.output.clone();
        if include_tasks {
            workflow.tasks = instance
                .tasks
                .iter()
                .filter_map(|seq| {
                    let record = self.live.get(seq).or_else(|| instance.ended.get(seq))?;
                    Some(record.to_task(*seq, clock))
                })
                .collect();
        }
        workflow.correlation_id.clone_from(&instance.correlation_id);
        workflow.priority = instance.priority;
        workflow.task_to_domain.clone_from(&instance.task_to_domain);
        workflow
            .reason_for_incompletion
            .clone_from(&instance.reason);
        workflow
            .failed_reference_task_names
            .clone_from(&instance.failed_refs);
        workflow
            .failed_task_names
            .clone_from(&instance.failed_names);
        workflow.create_time = ms(instance.create_time);
        workflow.start_time = ms(instance.create_time);
        workflow.update_time = ms(instance.update_time);
        workflow.end_time = ms(instance.end_time);
        workflow.workflow_definition = Some(WorkflowDef::clone(&instance.def));
        workflow.workflow_name = Some(instance.def.name.clone());
        workflow.workflow_version = instance.def.version;
        workflow.variables.clone_from(&instance.variables);
        Some(workflow)
    }

    /// The record of an ended task of a workflow, by sequence number.
    pub(crate) fn workflow_task_record(&self, seq: u64) -> Option<&TaskRecord> {
        let id = self.task_workflow.get(&seq)?;
        match self.workflows.get(id)? {
            WorkflowRecord::Instance(instance) => instance.ended.get(&seq),
            WorkflowRecord::Bulk { .. } => None,
        }
    }
}

/// Why a terminate was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TerminateError {
    /// No such (real) workflow.
    NotFound,
    /// It has completed: 409.
    Completed,
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
