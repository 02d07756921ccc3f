//! Pause, resume, retry and restart (`PUT /api/workflow/{id}/pause`, `/resume`, `POST
//! /api/workflow/{id}/retry`, `/restart`), as the server's `WorkflowExecutorOps` does them.
//!
//! Retry reschedules the workflow's failed, timed-out or canceled task (a new attempt, at
//! once) and runs the workflow again; restart forgets its tasks and starts it over under the
//! same id.
//!
//! A paused workflow's open tasks stay pollable and updatable, but nothing is decided: a task
//! that ends while it is paused is not followed by the next one (nor retried) until the
//! workflow is resumed, which decides it then.

use std::collections::HashMap;
use std::sync::Arc;

use baton_model::{TaskStatus, TimeoutPolicy, WorkflowDef, WorkflowStatus};

use super::{Instance, WorkflowRecord};
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
            if let Some(seq) = instance.pending_decision.take()
                && let Some(record) = instance.ended.remove(&seq)
            {
                state.decide_ended(id, &mut instance, seq, record, now);
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
            old.retried = true;
            let index = old.spec.workflow_task.as_ref().map_or(0, |info| info.index);
            let delay = RetryDelay {
                seconds: 0,
                jitter_ms: 0,
            };
            self.schedule_workflow_task(id, instance, index, Some((seq, &old, delay)), now);
            instance.ended.insert(seq, old);
        }
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
        instance.def = def;
        instance.last_task_seq = 0;
        instance.create_time = now;
        instance.output.clear();
        self.reopen(id, instance, now);
        self.schedule_workflow_task(id, instance, 0, None, now);
        Ok(())
    }

    /// Makes ended workflow `id` RUNNING again.
    fn reopen(&mut self, id: u64, instance: &mut Instance, now: u64) {
        instance.status = WorkflowStatus::Running;
        instance.reason = None;
        instance.end_time = 0;
        instance.update_time = now;
        instance.pending_decision = None;
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
