//! The decider for linear workflows: what follows when a workflow task ends (the next task, a
//! retry, COMPLETED_WITH_ERRORS for an optional task, or the end of the workflow), decided
//! synchronously under the core's lock; plus scheduling, termination, workflow timeouts and
//! eviction.

use std::collections::HashMap;
use std::sync::Arc;

use baton_model::{JsonMap, TaskDef, TaskStatus, TimeoutPolicy, WorkflowDef, WorkflowStatus};
use serde_json::{Value, json};

use super::{Instance, Start, TerminateError, WorkflowRecord};
use crate::core::State;
use crate::core::clock::Clock;
use crate::core::domains;
use crate::core::expr::Resolver;
use crate::core::ledger::FP_SERVER;
use crate::core::metadata::{SIMPLE, TERMINATE};
use crate::core::queue::QueueKey;
use crate::core::record::{TaskRecord, TaskSpec, WorkflowTaskInfo};
use crate::core::retry::{self, RetryDelay};
use crate::ids;

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
            pending_decision: None,
        };
        if let Some(deadline) = deadline {
            self.workflow_deadlines.insert(deadline, id);
        }
        self.schedule_workflow_task(id, &mut instance, 0, None, now);
        self.workflows
            .insert(id, WorkflowRecord::Instance(Box::new(instance)));
        id
    }

    /// Embeds in each task of `def` without one its registered definition, or the server's
    /// ad-hoc default one when none is registered (the snapshot taken at start).
    pub(super) fn embed_task_defs(&self, def: &mut WorkflowDef) {
        for task in &mut def.tasks {
            if task.task_definition.is_none() {
                let registered = self.metadata.task_defs.get(&task.name).cloned();
                task.task_definition = Some(registered.unwrap_or_else(|| TaskDef::new(&task.name)));
            }
        }
    }

    /// Schedules the workflow task at `index`: a first attempt, or with `retry` = (the failed
    /// attempt's sequence, its record, the retry delay) the next attempt.
    pub(in crate::core) fn schedule_workflow_task(
        &mut self,
        id: u64,
        instance: &mut Instance,
        index: usize,
        retry: Option<(u64, &TaskRecord, RetryDelay)>,
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
        if task.task_type != SIMPLE {
            self.run_system_task(id, instance, index, task, input, now);
            return;
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

    /// `params` with every `${...}` resolved against workflow `id`.
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
                (record.spec.reference() == root).then(|| task_view(*seq, record, &clock))
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
            instance.pending_decision = Some(seq);
            instance.ended.insert(seq, record);
        } else {
            self.decide_ended(id, &mut instance, seq, record, now);
        }
        self.workflows
            .insert(id, WorkflowRecord::Instance(instance));
        self.evict_workflows();
    }

    /// What follows the end of `record` (sequence `seq`) in `instance`: the next task, a retry,
    /// or the end of the workflow. The record is kept with the workflow.
    pub(super) fn decide_ended(
        &mut self,
        id: u64,
        instance: &mut Instance,
        seq: u64,
        mut record: TaskRecord,
        now: u64,
    ) {
        let index = record
            .spec
            .workflow_task
            .as_ref()
            .map_or(0, |info| info.index);
        if instance.status.is_terminal() {
            instance.ended.insert(seq, record);
        } else if record.status == TaskStatus::Completed {
            instance.ended.insert(seq, record);
            self.advance(id, instance, index, now);
        } else {
            if retry::should_retry(&record) {
                let delay = retry::retry_delay(&mut self.rng, &record.spec.def, record.retry_count);
                record.retried = true;
                self.ledger.counts.retried += 1;
                self.schedule_workflow_task(id, instance, index, Some((seq, &record, delay)), now);
                instance.ended.insert(seq, record);
            } else if record
                .spec
                .workflow_task
                .as_ref()
                .is_some_and(|info| info.optional)
            {
                record.status = TaskStatus::CompletedWithErrors;
                instance.ended.insert(seq, record);
                self.advance(id, instance, index, now);
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
                self.fail(id, instance, status, Some(reason), Some(seq), now);
            }
        }
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
            instance
                .failed_refs
                .push(record.spec.reference().to_owned());
            instance
                .failed_names
                .push(record.spec.key.task_type.clone());
            instance.ended.insert(seq, record);
            self.fail(
                id,
                &mut instance,
                WorkflowStatus::TimedOut,
                reason,
                Some(seq),
                now,
            );
        }
        self.workflows
            .insert(id, WorkflowRecord::Instance(instance));
        self.evict_workflows();
    }

    /// The task at `index` is done: schedule the next one, or complete the workflow.
    pub(in crate::core) fn advance(
        &mut self,
        id: u64,
        instance: &mut Instance,
        index: usize,
        now: u64,
    ) {
        if index + 1 < instance.def.tasks.len() {
            self.schedule_workflow_task(id, instance, index + 1, None, now);
        } else {
            self.finish(id, instance, WorkflowStatus::Completed, None, now);
        }
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
