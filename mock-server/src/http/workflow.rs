//! Handlers of the metadata (`/api/metadata/...`) and workflow (`/api/workflow/...`) endpoints.
//! All synchronous: parse, call the core, serialize.

use baton_model::{JsonMap, StartWorkflowRequest, TaskDef, WorkflowDef};
use bytes::Bytes;
use hyper::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::body::{self, Resp};
use super::router::{Route, query_value};
use crate::core::{Core, RerunRequest};
use crate::error::ApiError;

type Query = [(String, String)];

/// Jackson errors are not mapped by the server: 500.
fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::Internal(format!("JSON parse error: {e}")))
}

fn int(query: &Query, name: &str) -> Result<Option<i32>, ApiError> {
    match query_value(query, name) {
        None | Some("") => Ok(None),
        Some(raw) => raw
            .parse()
            .map(Some)
            .map_err(|_| ApiError::BadRequest(format!("Invalid value for {name}: {raw}"))),
    }
}

fn flag(query: &Query, name: &str, default: bool) -> bool {
    match query_value(query, name) {
        None | Some("") => default,
        Some(raw) => raw.eq_ignore_ascii_case("true"),
    }
}

fn ok() -> Resp {
    body::empty(StatusCode::OK)
}

/// Answers `route` when it is a metadata or workflow route; `None` for any other route.
pub(crate) fn answer(
    core: &Core,
    route: &Route,
    query: &Query,
    body: &Bytes,
) -> Option<Result<Resp, ApiError>> {
    let result = match route {
        Route::RegisterTaskDefs => parse::<Vec<TaskDef>>(body)
            .and_then(|defs| core.register_task_defs(defs))
            .map(|()| ok()),
        Route::UpdateTaskDef => parse::<TaskDef>(body)
            .and_then(|def| core.update_task_def(def))
            .map(|()| ok()),
        Route::TaskDefs => Ok(body::json(&core.task_defs())),
        Route::GetTaskDef(name) => core.task_def(name).map(|def| body::json(&def)),
        Route::DeleteTaskDef(name) => core.delete_task_def(name).map(|()| ok()),
        Route::RegisterWorkflowDef => parse::<WorkflowDef>(body)
            .and_then(|def| core.register_workflow_def(def, flag(query, "overwrite", false)))
            .map(|()| ok()),
        Route::PutWorkflowDefs => parse::<Vec<WorkflowDef>>(body)
            .and_then(|defs| core.put_workflow_defs(defs))
            .map(|bulk| body::json(&bulk)),
        Route::WorkflowDefs => Ok(body::json(&core.workflow_defs())),
        Route::GetWorkflowDef(name) => int(query, "version")
            .and_then(|version| core.workflow_def(name, version))
            .map(|def| body::json(&def)),
        Route::DeleteWorkflowDef(name, version) => version
            .parse::<i32>()
            .map_err(|_| ApiError::BadRequest(format!("Invalid value for version: {version}")))
            .and_then(|version| core.delete_workflow_def(name, version))
            .map(|()| ok()),
        Route::StartWorkflow => start(core, body),
        Route::StartWorkflowByName(name) => start_by_name(core, name, query, body),
        Route::GetWorkflow(id) => core
            .workflow(id, flag(query, "includeTasks", true))
            .map(|workflow| body::json(&workflow)),
        Route::RunningWorkflows(name) => int(query, "version")
            .map(|version| body::json(&core.running_workflows(name, version.unwrap_or(1)))),
        Route::CorrelatedWorkflows(name, correlation_id) => {
            Ok(body::json(&core.correlated_workflows(
                name,
                correlation_id,
                flag(query, "includeClosed", false),
                flag(query, "includeTasks", false),
            )))
        }
        Route::SearchWorkflows => search(core, query),
        Route::PauseWorkflow(id) => core.pause_workflow(id).map(|()| ok()),
        Route::ResumeWorkflow(id) => core.resume_workflow(id).map(|()| ok()),
        Route::RetryWorkflow(id) => core
            .retry_workflow(id)
            .map(|()| body::empty(StatusCode::NO_CONTENT)),
        Route::RestartWorkflow(id) => core
            .restart_workflow(id, flag(query, "useLatestDefinitions", false))
            .map(|()| body::empty(StatusCode::NO_CONTENT)),
        Route::RerunWorkflow(id) => parse::<RerunRequest>(body)
            .and_then(|request| core.rerun_workflow(id, request))
            .map(body::text),
        Route::TerminateWorkflow(id) => {
            let reason = query_value(query, "reason").map(str::to_owned);
            core.terminate_workflow(id, reason).map(|()| ok())
        }
        _ => return None,
    };
    Some(result)
}

/// `POST /api/workflow/{name}`: the body is the input object.
fn start_by_name(core: &Core, name: &str, query: &Query, body: &Bytes) -> Result<Resp, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest(
            "Required request body is missing".to_owned(),
        ));
    }
    let input: JsonMap = parse(body)?;
    let correlation_id = query_value(query, "correlationId")
        .filter(|c| !c.is_empty())
        .map(str::to_owned);
    let priority = int(query, "priority")?.unwrap_or(0);
    let id = core.start_workflow_by_name(
        name,
        int(query, "version")?,
        correlation_id,
        priority,
        input,
    )?;
    Ok(body::text(id))
}

/// `POST /api/workflow`: the body is a StartWorkflowRequest.
fn start(core: &Core, body: &Bytes) -> Result<Resp, ApiError> {
    let raw: Value = parse(body)?;
    if raw.get("input").is_some_and(Value::is_null) {
        return Err(ApiError::BadRequest(
            "NULL input passed when starting workflow".to_owned(),
        ));
    }
    let request: StartWorkflowRequest = serde_json::from_value(raw)
        .map_err(|e| ApiError::Internal(format!("JSON parse error: {e}")))?;
    Ok(body::text(core.start_workflow(request)?))
}

/// `GET /api/workflow/search?start=&size=&freeText=&query=`.
fn search(core: &Core, query: &Query) -> Result<Resp, ApiError> {
    let start = int(query, "start")?.unwrap_or(0);
    let size = int(query, "size")?.unwrap_or(100);
    let result = core.search_workflows(
        usize::try_from(start).unwrap_or(0),
        usize::try_from(size).unwrap_or(0),
        query_value(query, "freeText").unwrap_or("*"),
        query_value(query, "query").unwrap_or(""),
    )?;
    Ok(body::json(&result))
}
