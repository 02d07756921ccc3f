//! Synchronous execution, `POST /api/workflow/execute/{name}/{version}`: start a workflow, wait
//! until it ends or blocks (one of the `waitUntilTaskRef` tasks has ended, or a WAIT waits for
//! a signal, in it or in a running sub-workflow; at most `waitForSeconds`), and
//! answer the server's WorkflowRun (conductor-oss `WorkflowResource.executeWorkflow`,
//! `WorkflowSignalResponder`, `NotificationResult`).
//!
//! The server looks at the workflow every 100 ms; the mock every [`RECHECK`]. When the wait
//! runs out the answer is the workflow as it stands, with `signalTimeout: true`.

use std::time::Duration;

use baton_model::{StartWorkflowRequest, TaskStatus, Workflow};
use bytes::Bytes;
use serde_json::{Value, json};

use super::App;
use super::body::{self, Resp};
use super::router::query_value;
use crate::core::{Core, waits_for_signal};
use crate::error::ApiError;

/// The server's default (and the value of `waitForSeconds=0`).
const DEFAULT_WAIT_SECONDS: u64 = 10;
/// How often a waiting execute looks at its workflow.
const RECHECK: Duration = Duration::from_millis(20);
/// How deep into sub-workflows a waiting execute looks for blocking tasks.
const MAX_SUB_WORKFLOW_DEPTH: usize = 32;
/// The answer shape the mock gives: the workflow that was started.
const TARGET_WORKFLOW: &str = "TARGET_WORKFLOW";
/// The server's other shape over whole workflows; without sub-workflows it is the same
/// workflow.
const BLOCKING_WORKFLOW: &str = "BLOCKING_WORKFLOW";

type Query = [(String, String)];

/// A started synchronous execution, awaiting its answer.
#[derive(Debug)]
pub(crate) struct Execution {
    workflow_id: String,
    refs: Vec<String>,
    wait: Duration,
    request_id: String,
    return_strategy: &'static str,
}

/// Parses the request and starts the workflow.
pub(crate) fn start(
    core: &Core,
    name: &str,
    version: &str,
    query: &Query,
    body: &Bytes,
) -> Result<Execution, ApiError> {
    let version: i32 = version
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("Invalid value for version: {version}")))?;
    let wait_seconds = match query_value(query, "waitForSeconds") {
        None | Some("") => DEFAULT_WAIT_SECONDS,
        Some(raw) => raw.parse::<u64>().map_err(|_| {
            ApiError::BadRequest(format!("Invalid value for waitForSeconds: {raw}"))
        })?,
    };
    let wait_seconds = if wait_seconds == 0 {
        DEFAULT_WAIT_SECONDS
    } else {
        wait_seconds
    };
    let return_strategy = match query_value(query, "returnStrategy") {
        None | Some("") => TARGET_WORKFLOW,
        Some(TARGET_WORKFLOW) => TARGET_WORKFLOW,
        Some(BLOCKING_WORKFLOW) => BLOCKING_WORKFLOW,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "returnStrategy {other} is not supported by baton-mock (supported: {TARGET_WORKFLOW}, {BLOCKING_WORKFLOW})"
            )));
        }
    };
    let refs = query_value(query, "waitUntilTaskRef")
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect();
    let request_id = match query_value(query, "requestId") {
        Some(id) if !id.trim().is_empty() => id.to_owned(),
        _ => random_uuid(),
    };
    let raw: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::Internal(format!("JSON parse error: {e}")))?;
    if raw.get("input").is_some_and(Value::is_null) {
        return Err(ApiError::BadRequest(
            "NULL input passed when starting workflow".to_owned(),
        ));
    }
    let mut request: StartWorkflowRequest = serde_json::from_value(raw)
        .map_err(|e| ApiError::Internal(format!("JSON parse error: {e}")))?;
    request.name = Some(name.to_owned());
    // Version 0 means the latest.
    request.version = (version != 0).then_some(version);
    let workflow_id = core.start_workflow(request)?;
    Ok(Execution {
        workflow_id,
        refs,
        wait: Duration::from_secs(wait_seconds),
        request_id,
        return_strategy,
    })
}

impl Execution {
    /// The workflow now, and whether the wait is over for it: it has ended, or it has a
    /// blocking task.
    fn look(&self, core: &Core) -> Result<(Workflow, bool), ApiError> {
        let workflow = core.workflow(&self.workflow_id, true)?;
        let settled = workflow.status.is_terminal() || self.blocked(core, &workflow, 0);
        Ok((workflow, settled))
    }

    /// Whether `workflow`, or a running sub-workflow of it at any depth, has a blocking task,
    /// as the server's `WorkflowSignalResponder.findBlockingTasks` finds them: an awaited task
    /// (`waitUntilTaskRef`) that has ended, or an open WAIT that waits for a signal.
    fn blocked(&self, core: &Core, workflow: &Workflow, depth: usize) -> bool {
        workflow.tasks.iter().any(|task| {
            let ended = task.status.is_some_and(TaskStatus::is_terminal);
            let awaited = || {
                task.reference_task_name
                    .as_deref()
                    .is_some_and(|r| self.refs.iter().any(|want| want == r))
            };
            let in_child = || {
                task.task_type == "SUB_WORKFLOW"
                    && depth < MAX_SUB_WORKFLOW_DEPTH
                    && task
                        .sub_workflow_id
                        .as_deref()
                        .and_then(|child| core.workflow(child, true).ok())
                        .is_some_and(|child| self.blocked(core, &child, depth + 1))
            };
            if ended {
                awaited()
            } else {
                (task.task_type == "WAIT" && waits_for_signal(&task.input_data)) || in_child()
            }
        })
    }

    /// The WorkflowRun answer for `workflow`.
    fn answer(&self, workflow: &Workflow, timed_out: bool) -> Resp {
        let mut run = json!({
            "responseType": self.return_strategy,
            "targetWorkflowId": workflow.workflow_id,
            "targetWorkflowStatus": workflow.status,
            "requestId": self.request_id,
            "workflowId": workflow.workflow_id,
            "input": workflow.input,
            "output": workflow.output,
            "signalTimeout": timed_out,
            "priority": workflow.priority,
            "variables": workflow.variables,
            "tasks": workflow.tasks,
            "createTime": workflow.create_time,
            "status": workflow.status,
            "updateTime": workflow.update_time,
        });
        if let (Some(correlation_id), Some(map)) = (&workflow.correlation_id, run.as_object_mut()) {
            map.insert("correlationId".to_owned(), json!(correlation_id));
        }
        body::json(&run)
    }
}

/// Starts the workflow and waits for its answer (the hyper server).
pub(crate) async fn execute(
    app: &App,
    name: &str,
    version: &str,
    query: &Query,
    body: &Bytes,
) -> Result<Resp, ApiError> {
    let execution = start(&app.core, name, version, query, body)?;
    let deadline = tokio::time::Instant::now() + execution.wait;
    loop {
        let (workflow, settled) = execution.look(&app.core)?;
        if settled {
            return Ok(execution.answer(&workflow, false));
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(execution.answer(&workflow, true));
        }
        tokio::select! {
            () = tokio::time::sleep(RECHECK) => {}
            () = app.shutdown.cancelled() => return Ok(execution.answer(&workflow, true)),
        }
    }
}

/// Starts the workflow and answers at once with its state (front ends that cannot wait).
pub(crate) fn execute_at_once(
    core: &Core,
    name: &str,
    version: &str,
    query: &Query,
    body: &Bytes,
) -> Result<Resp, ApiError> {
    let execution = start(core, name, version, query, body)?;
    let (workflow, settled) = execution.look(core)?;
    Ok(execution.answer(&workflow, !settled))
}

/// A random version-4 UUID, the server's default `requestId`.
fn random_uuid() -> String {
    let hi = fastrand::u64(..);
    let lo = fastrand::u64(..);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        hi & 0x0fff,
        ((lo >> 48) & 0x3fff) | 0x8000,
        lo & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_version_4_uuids() {
        let id = random_uuid();
        let parts: Vec<&str> = id.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'));
        assert!(matches!(
            parts[3].chars().next(),
            Some('8' | '9' | 'a' | 'b')
        ));
        assert_ne!(random_uuid(), id);
    }
}
