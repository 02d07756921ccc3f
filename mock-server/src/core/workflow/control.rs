//! Pause and resume (`PUT /api/workflow/{id}/pause`, `/resume`), as the server's
//! `WorkflowExecutorOps.pauseWorkflow` / `resumeWorkflow` do them.
//!
//! A paused workflow's open tasks stay pollable and updatable, but nothing is decided: a task
//! that ends while it is paused is not followed by the next one (nor retried) until the
//! workflow is resumed, which decides it then.

use baton_model::WorkflowStatus;

use super::WorkflowRecord;
use crate::core::Core;
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
}
