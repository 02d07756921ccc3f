//! Pause, resume, retry, restart and rerun (`PUT /api/workflow/{id}/pause`, `/resume`, `POST
//! /api/workflow/{id}/retry`, `/restart`, `/rerun`), as the server's `WorkflowExecutorOps`
//! does them.
//!
//! Retry reschedules the workflow's failed, timed-out or canceled task (a new attempt, at
//! once) and runs the workflow again; restart forgets its tasks and starts it over under the
//! same id; rerun starts it over with a new input, or from one of its top-level tasks: the
//! tasks after it are forgotten and a worker task runs again under its own id (a system task
//! as a new task).
//!
//! A paused workflow's open tasks stay pollable and updatable, but nothing is decided: a task
//! that ends while it is paused is not followed by the next one (nor retried) until the
//! workflow is resumed, which decides it then.

use std::collections::HashMap;
use std::sync::Arc;

use baton_model::{JsonMap, TaskStatus, TimeoutPolicy, WorkflowDef, WorkflowStatus};

use super::plan::Plan;
use super::{Instance, WorkflowRecord};
use crate::core::ledger::FP_OPEN;
use crate::core::metadata::DO_WHILE;
use crate::core::retry::RetryDelay;
use crate::core::{Core, State};
use crate::error::ApiError;
use crate::ids;

impl Core {
    /// Pauses workflow `workflow_id`: 409 when it has ended, a no-op when already paused.
    pub fn pause_workflow(&self, workflow_id: &str) -> Result<(), ApiError> {
        let now = self.clock.now();
        let mut state = self.lock();
        let not_found = || ApiError::WorkflowNotFound(workflow_id.to_owned());
        let id = ids::parse_workflow_id(workflow_id).ok_or_else(not_found)?;
        let Some(WorkflowRecord::Instance(instance)) = state.workflows.get_mut(&id) else {
            return Err(not_found());
        };
        if instance.status.is_terminal() {
            return Err(ApiError::Conflict(format!(
                "Workflow {}.{}/{workflow_id} has ended, status cannot be updated.",
                instance.def.name, instance.def.version
            )));
        }
        if instance.status != WorkflowStatus::Paused {
            instance.status = WorkflowStatus::Paused;
            instance.update_time = now;
        }
        Ok(())
    }

    /// Resumes paused workflow `workflow_id` and decides what ended while it was paused; the
    /// server's 500 when it is not paused.
    pub fn resume_workflow(&self, workflow_id: &str) -> Result<(), ApiError> {
        let now = self.clock.now();
        let mut state = self.lock();
        let not_found = || ApiError::WorkflowNotFound(workflow_id.to_owned());
        let id = ids::parse_workflow_id(workflow_id).ok_or_else(not_found)?;
        let Some(WorkflowRecord::Instance(mut instance)) = state.workflows.remove(&id) else {
            return Err(not_found());
        };
        let result = if instance.status == WorkflowStatus::Paused {
            instance.status = WorkflowStatus::Running;
            instance.update_time = now;
            for seq in std::mem::take(&mut instance.pending_decisions) {
                // A decision that ended the workflow leaves the others' records as they are.
                if instance.status != WorkflowStatus::Running {
                    break;
                }
                if let Some(record) = instance.ended.remove(&seq) {
                    state.decide_ended(id, &mut instance, seq, record, now);
                }
            }
            Ok(())
        } else {
            Err(ApiError::Internal(format!(
                "The workflow {workflow_id} is not PAUSED so cannot resume. Current status is {}",
                instance.status
            )))
        };
        state
            .workflows
            .insert(id, WorkflowRecord::Instance(instance));
        state.evict_workflows();
        result
    }

    /// Retries ended workflow `workflow_id` from its failed task (`POST .../retry`, 204).
    pub fn retry_workflow(&self, workflow_id: &str) -> Result<(), ApiError> {
        let now = self.clock.now();
        let mut state = self.lock();
        let not_found = || ApiError::WorkflowNotFound(workflow_id.to_owned());
        let id = ids::parse_workflow_id(workflow_id).ok_or_else(not_found)?;
        let Some(WorkflowRecord::Instance(mut instance)) = state.workflows.remove(&id) else {
            return Err(not_found());
        };
        let result = state.retry(id, &mut instance, now);
        state
            .workflows
            .insert(id, WorkflowRecord::Instance(instance));
        result
    }

    /// Restarts ended workflow `workflow_id` from its first task, with its snapshotted
    /// definition or the latest registered one (`POST .../restart`, 204).
    pub fn restart_workflow(
        &self,
        workflow_id: &str,
        use_latest_definitions: bool,
    ) -> Result<(), ApiError> {
        let now = self.clock.now();
        let mut state = self.lock();
        let not_found = || ApiError::WorkflowNotFound(workflow_id.to_owned());
        let id = ids::parse_workflow_id(workflow_id).ok_or_else(not_found)?;
        let Some(WorkflowRecord::Instance(mut instance)) = state.workflows.remove(&id) else {
            return Err(not_found());
        };
        let result = state.restart(id, &mut instance, use_latest_definitions, now);
        state
            .workflows
            .insert(id, WorkflowRecord::Instance(instance));
        result
    }
}

/// The body of `POST /api/workflow/{id}/rerun` (the server's `RerunWorkflowRequest`).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct RerunRequest {
    /// The workflow to rerun: accepted and not needed, as on the server, which sets it from
    /// the path's id.
    pub re_run_from_workflow_id: Option<String>,
    /// A new workflow input; `None` keeps the old one.
    pub workflow_input: Option<JsonMap>,
    /// The task to rerun from; `None` reruns the whole workflow.
    pub re_run_from_task_id: Option<String>,
    /// A new input for that task; `None` keeps its old one.
    pub task_input: Option<JsonMap>,
    /// A new correlation id; `None` keeps the old one.
    pub correlation_id: Option<String>,
}

impl Core {
    /// Reruns ended workflow `workflow_id` (`POST .../rerun`); returns its id. As on the
    /// server, the workflow is the one the path names, whatever the body's
    /// `reRunFromWorkflowId` says.
    pub fn rerun_workflow(
        &self,
        workflow_id: &str,
        request: RerunRequest,
    ) -> Result<String, ApiError> {
        let now = self.clock.now();
        let mut state = self.lock();
        let not_found = || ApiError::WorkflowNotFound(workflow_id.to_owned());
        let id = ids::parse_workflow_id(workflow_id).ok_or_else(not_found)?;
        let Some(WorkflowRecord::Instance(mut instance)) = state.workflows.remove(&id) else {
            return Err(not_found());
        };
        let result = state.rerun(id, &mut instance, request, now);
        state
            .workflows
            .insert(id, WorkflowRecord::Instance(instance));
        state.evict_workflows();
        result.map(|()| workflow_id.to_owned())
    }
}

/// The server's `WorkflowModel.toString`: `name.version/id.STATUS`.
fn describe(id: u64, instance: &Instance) -> String {
    format!(
        "{}.{}/{}.{}",
        instance.def.name,
        instance.def.version,
        ids::workflow_id(id),
        instance.status
    )
}

impl State {
    fn retry(&mut self, id: u64, instance: &mut Instance, now: u64) -> Result<(), ApiError> {
        if !instance.status.is_terminal() {
            return Err(ApiError::NotFound(format!(
                "Workflow is still running.  status={}",
                instance.status
            )));
        }
        if instance.tasks.is_empty() {
            return Err(ApiError::Conflict(
                "Workflow has not started yet".to_owned(),
            ));
        }
        // The last attempt of each reference, when it ended unsuccessfully.
        let mut retriable: HashMap<String, u64> = HashMap::new();
        for &seq in &instance.tasks {
            let Some(record) = instance.ended.get(&seq) else {
                continue;
            };
            let reference = record.spec.reference().to_owned();
            match record.status {
                TaskStatus::Failed
                | TaskStatus::FailedWithTerminalError
                | TaskStatus::TimedOut
                | TaskStatus::Canceled => {
                    retriable.insert(reference, seq);
                }
                _ => {
                    retriable.remove(&reference);
                }
            }
        }
        if retriable.is_empty() && instance.status != WorkflowStatus::TimedOut {
            return Err(ApiError::Conflict(
                "There are no retryable tasks! Use restart if you want to attempt entire workflow execution again."
                    .to_owned(),
            ));
        }
        self.reopen(id, instance, now);
        let mut seqs: Vec<u64> = retriable.into_values().collect();
        seqs.sort_unstable();
        for seq in seqs {
            let Some(mut old) = instance.ended.remove(&seq) else {
                continue;
            };
            if old.spec.key.task_type == DO_WHILE {
                // A loop goes on with its iteration: it is open again, and its retried tasks
                // end the iteration.
                old.status = TaskStatus::InProgress;
                old.end_time = 0;
                old.reason = None;
                old.update_time = now;
                self.ledger.set_ending(seq, FP_OPEN);
                self.live.insert(seq, old);
                continue;
            }
            old.retried = true;
            let (node, iteration) = old
                .spec
                .workflow_task
                .as_ref()
                .map_or((0, 0), |info| (info.node, info.iteration));
            let delay = RetryDelay {
                seconds: 0,
                jitter_ms: 0,
            };
            self.schedule_node(id, instance, node, iteration, Some((seq, &old, delay)), now);
            instance.ended.insert(seq, old);
        }
        self.drain(id, instance, now);
        Ok(())
    }

    fn restart(
        &mut self,
        id: u64,
        instance: &mut Instance,
        use_latest_definitions: bool,
        now: u64,
    ) -> Result<(), ApiError> {
        if !instance.status.is_terminal() {
            return Err(ApiError::Conflict(format!(
                "Workflow: {} is not in terminal state, unable to restart.",
                describe(id, instance)
            )));
        }
        let def = if use_latest_definitions {
            let latest = self
                .metadata
                .workflow(&instance.def.name, None)
                .ok_or_else(|| {
                    ApiError::NotFound(format!(
                        "Unable to find latest definition for {}",
                        ids::workflow_id(id)
                    ))
                })?;
            let mut def = WorkflowDef::clone(&latest);
            self.embed_task_defs(&mut def);
            Arc::new(def)
        } else {
            Arc::clone(&instance.def)
        };
        if !def.restartable && instance.status == WorkflowStatus::Completed {
            return Err(ApiError::NotFound(format!(
                "Workflow: {} is non-restartable",
                describe(id, instance)
            )));
        }
        for seq in instance.tasks.drain(..) {
            self.task_workflow.remove(&seq);
        }
        instance.ended.clear();
        instance.plan = Arc::new(Plan::new(&def));
        instance.def = def;
        instance.last_task_seq = 0;
        instance.create_time = now;
        instance.output.clear();
        self.reopen(id, instance, now);
        self.begin(id, instance, now);
        Ok(())
    }

    fn rerun(
        &mut self,
        id: u64,
        instance: &mut Instance,
        request: RerunRequest,
        now: u64,
    ) -> Result<(), ApiError> {
        if !instance.status.is_terminal() {
            return Err(ApiError::Conflict(format!(
                "Workflow: {} is not in terminal state, unable to rerun.",
                describe(id, instance)
            )));
        }
        let from = match &request.re_run_from_task_id {
            None => None,
            Some(task_id) => {
                let found = ids::parse_task_id(task_id)
                    .filter(|seq| instance.tasks.contains(seq) && instance.ended.contains_key(seq));
                let Some(seq) = found else {
                    return Err(ApiError::BadRequest(format!("Task {task_id} not found")));
                };
                let nested = instance
                    .ended
                    .get(&seq)
                    .and_then(|record| record.spec.workflow_task.as_ref())
                    .is_some_and(|info| {
                        instance
                            .plan
                            .node(info.node)
                            .is_none_or(|n| n.parent.is_some())
                    });
                if nested {
                    return Err(ApiError::BadRequest(format!(
                        "baton-mock reruns from top-level tasks only; task {task_id} is inside a SWITCH, FORK_JOIN or DO_WHILE"
                    )));
                }
                Some(seq)
            }
        };
        if let Some(input) = request.workflow_input {
            instance.input = input;
        }
        if let Some(correlation_id) = request.correlation_id {
            instance.correlation_id = Some(correlation_id);
        }
        instance.failed_refs.clear();
        instance.failed_names.clear();
        instance.output.clear();
        let Some(from) = from else {
            for seq in instance.tasks.drain(..) {
                self.task_workflow.remove(&seq);
            }
            instance.ended.clear();
            instance.last_task_seq = 0;
            self.reopen(id, instance, now);
            self.begin(id, instance, now);
            return Ok(());
        };
        let Some(mut record) = instance.ended.remove(&from) else {
            return Ok(());
        };
        let (node, position) = record
            .spec
            .workflow_task
            .as_ref()
            .map_or((0, 0), |info| (info.node, info.seq));
        // Forget every task scheduled after it.
        let keep: Vec<u64> = instance
            .tasks
            .iter()
            .copied()
            .filter(|&seq| seq < from)
            .collect();
        for &seq in instance.tasks.iter().filter(|&&seq| seq > from) {
            instance.ended.remove(&seq);
            self.task_workflow.remove(&seq);
        }
        instance.tasks = keep;
        instance.last_task_seq = position - 1;
        self.reopen(id, instance, now);
        instance.flow_done = false;
        if record.spec.is_system() {
            // A system task runs again as a new task.
            self.task_workflow.remove(&from);
            self.schedule_node(id, instance, node, 0, None, now);
            self.drain(id, instance, now);
            return Ok(());
        }
        // A worker task is queued again under its own id, as the server does.
        if let Some(input) = request.task_input {
            record.spec = Arc::new(record.spec.with_input(input));
        }
        instance.last_task_seq = position;
        record.status = TaskStatus::Scheduled;
        record.scheduled = now;
        record.due = now;
        record.start_time = 0;
        record.update_time = now;
        record.end_time = 0;
        record.output = None;
        record.reason = None;
        record.retried = false;
        record.poll_count = 0;
        record.worker_id = None;
        record.callback_after_seconds = 0;
        self.ledger.set_ending(from, FP_OPEN);
        let key = record.spec.key.clone();
        self.queues.entry(key.clone()).or_default().push(
            from,
            record.spec.priority,
            record.due,
            now,
        );
        self.watch_timeouts(from, &record);
        self.live.insert(from, record);
        instance.tasks.push(from);
        self.wake(&key);
        Ok(())
    }

    /// Makes ended workflow `id` RUNNING again.
    fn reopen(&mut self, id: u64, instance: &mut Instance, now: u64) {
        instance.status = WorkflowStatus::Running;
        instance.reason = None;
        instance.end_time = 0;
        instance.update_time = now;
        instance.pending_decisions.clear();
        if instance.listed_as_ended {
            instance.listed_as_ended = false;
            self.ended_workflows.retain(|&ended| ended != id);
        }
        // The workflow timeout counts again from now (the server's lastRetriedTime).
        if instance.def.timeout_seconds > 0
            && instance.def.timeout_policy == TimeoutPolicy::TimeOutWf
        {
            let seconds = u64::try_from(instance.def.timeout_seconds).unwrap_or(0);
            let deadline = now.saturating_add(seconds.saturating_mul(1_000_000));
            if let Some(old) = instance.deadline.replace(deadline) {
                self.workflow_deadlines.remove(old, id);
            }
            self.workflow_deadlines.insert(deadline, id);
        }
    }
}
