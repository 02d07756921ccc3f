//! Routing: a request's method and path segments to a [`Route`], plus query-string parsing.

use std::borrow::Cow;

use hyper::Method;

/// Every endpoint the mock serves. Task routes answer under both `/api/tasks` and the
/// singular `/api/task` alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    /// `GET /api/tasks/poll/{taskType}`
    Poll(String),
    /// `GET /api/tasks/poll/batch/{taskType}`
    BatchPoll(String),
    /// `POST /api/tasks`
    Update,
    /// `POST /api/tasks/update-v2`
    UpdateV2,
    /// `POST /api/tasks/{taskId}/log`
    AddLog(String),
    /// `GET /api/tasks/{taskId}/log`
    GetLogs(String),
    /// `GET /api/tasks/{taskId}`
    GetTask(String),
    /// `POST /api/tasks/{taskId}/ack` (removed from the server: 404)
    Ack(String),
    /// `GET /api/tasks/queue/size`
    QueueSize,
    /// `GET /api/tasks/queue/sizes`
    QueueSizes,
    /// `GET /api/tasks/queue/all`
    QueueAll,
    /// `GET /api/tasks/queue/all/verbose`
    QueueAllVerbose,
    /// `GET /api/tasks/queue/polldata`
    PollData,
    /// `GET /api/tasks/queue/polldata/all`
    PollDataAll,
    /// `POST /api/token`
    Token,
    /// `POST /api/metadata/taskdefs` (a list)
    RegisterTaskDefs,
    /// `PUT /api/metadata/taskdefs` (one)
    UpdateTaskDef,
    /// `GET /api/metadata/taskdefs`
    TaskDefs,
    /// `GET /api/metadata/taskdefs/{name}`
    GetTaskDef(String),
    /// `DELETE /api/metadata/taskdefs/{name}`
    DeleteTaskDef(String),
    /// `POST /api/metadata/workflow`
    RegisterWorkflowDef,
    /// `PUT /api/metadata/workflow` (a list)
    PutWorkflowDefs,
    /// `GET /api/metadata/workflow`
    WorkflowDefs,
    /// `GET /api/metadata/workflow/{name}`
    GetWorkflowDef(String),
    /// `DELETE /api/metadata/workflow/{name}/{version}`
    DeleteWorkflowDef(String, String),
    /// `POST /api/workflow` (a StartWorkflowRequest)
    StartWorkflow,
    /// `POST /api/workflow/{name}` (the input)
    StartWorkflowByName(String),
    /// `POST /api/workflow/execute/{name}/{version}` (synchronous execution)
    ExecuteWorkflow(String, String),
    /// `GET /api/workflow/{workflowId}`
    GetWorkflow(String),
    /// `GET /api/workflow/running/{name}`
    RunningWorkflows(String),
    /// `GET /api/workflow/{name}/correlated/{correlationId}`
    CorrelatedWorkflows(String, String),
    /// `GET /api/workflow/search`
    SearchWorkflows,
    /// `PUT /api/workflow/{workflowId}/pause`
    PauseWorkflow(String),
    /// `PUT /api/workflow/{workflowId}/resume`
    ResumeWorkflow(String),
    /// `POST /api/workflow/{workflowId}/retry`
    RetryWorkflow(String),
    /// `POST /api/workflow/{workflowId}/restart`
    RestartWorkflow(String),
    /// `POST /api/workflow/{workflowId}/rerun`
    RerunWorkflow(String),
    /// `DELETE /api/workflow/{workflowId}`
    TerminateWorkflow(String),
    /// `GET /api/tasks/externalstoragelocation`
    ExternalLocation,
    /// `GET /external/{path}`: a payload in external storage (outside `/api`, no token)
    ExternalPayload(String),
    /// `POST /admin/enqueue`
    AdminEnqueue,
    /// `POST /admin/enqueue-external`
    AdminEnqueueExternal,
    /// `GET /admin/ledger`
    AdminLedger,
    /// `POST /admin/reset`
    AdminReset,
    /// `POST /admin/sweep`
    AdminSweep,
    /// `GET /admin/faults`
    AdminListFaults,
    /// `POST /admin/faults`
    AdminAddFaults,
    /// `DELETE /admin/faults`
    AdminClearFaults,
    /// Anything else.
    Unknown,
}

impl Route {
    /// The name fault rules use for this route.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Self::Poll(_) => "poll",
            Self::BatchPoll(_) => "batch_poll",
            Self::Update => "update",
            Self::UpdateV2 => "update_v2",
            Self::AddLog(_) => "add_log",
            Self::GetLogs(_) => "get_logs",
            Self::GetTask(_) => "get_task",
            Self::Ack(_) => "ack",
            Self::QueueSize => "queue_size",
            Self::QueueSizes => "queue_sizes",
            Self::QueueAll | Self::QueueAllVerbose => "queue_all",
            Self::PollData | Self::PollDataAll => "poll_data",
            Self::Token => "token",
            Self::RegisterTaskDefs
            | Self::UpdateTaskDef
            | Self::TaskDefs
            | Self::GetTaskDef(_)
            | Self::DeleteTaskDef(_)
            | Self::RegisterWorkflowDef
            | Self::PutWorkflowDefs
            | Self::WorkflowDefs
            | Self::GetWorkflowDef(_)
            | Self::DeleteWorkflowDef(..) => "metadata",
            Self::StartWorkflow | Self::StartWorkflowByName(_) => "start_workflow",
            Self::ExecuteWorkflow(..) => "execute_workflow",
            Self::RunningWorkflows(_) | Self::CorrelatedWorkflows(..) | Self::SearchWorkflows => {
                "search_workflows"
            }
            Self::PauseWorkflow(_)
            | Self::ResumeWorkflow(_)
            | Self::RetryWorkflow(_)
            | Self::RestartWorkflow(_)
            | Self::RerunWorkflow(_) => "control_workflow",
            Self::GetWorkflow(_) => "get_workflow",
            Self::TerminateWorkflow(_) => "terminate_workflow",
            Self::ExternalLocation => "external_location",
            Self::ExternalPayload(_) => "external_payload",
            Self::AdminEnqueue
            | Self::AdminEnqueueExternal
            | Self::AdminLedger
            | Self::AdminReset
            | Self::AdminSweep
            | Self::AdminListFaults
            | Self::AdminAddFaults
            | Self::AdminClearFaults => "admin",
            Self::Unknown => "unknown",
        }
    }

    /// Whether this is a Conductor API route (under `/api`), subject to faults.
    pub(crate) fn is_api(&self) -> bool {
        !matches!(self.name(), "admin" | "unknown" | "external_payload")
    }

    /// Whether, with auth on, the route needs a token: every `/api` route but the token
    /// endpoint itself, and every admin route (which can reset the mock or inject faults).
    pub(crate) fn needs_token(&self) -> bool {
        (self.is_api() && *self != Self::Token) || self.name() == "admin"
    }
}

/// Finds the route of `method` + `path` (path without the query).
pub(crate) fn route(method: &Method, path: &str) -> Route {
    let segments: Vec<Cow<'_, str>> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let segs: Vec<&str> = segments.iter().map(AsRef::as_ref).collect();
    let get = method == Method::GET;
    let post = method == Method::POST;
    match segs.as_slice() {
        ["api", "token"] if post => Route::Token,
        ["api", "tasks" | "task", rest @ ..] => task_route(method, rest),
        ["api", "metadata", rest @ ..] => metadata_route(method, rest),
        ["api", "workflow", rest @ ..] => workflow_route(method, rest),
        ["external", path @ ..] if get && !path.is_empty() => {
            Route::ExternalPayload(path.join("/"))
        }
        ["admin", "enqueue"] if post => Route::AdminEnqueue,
        ["admin", "enqueue-external"] if post => Route::AdminEnqueueExternal,
        ["admin", "ledger"] if get => Route::AdminLedger,
        ["admin", "reset"] if post => Route::AdminReset,
        ["admin", "sweep"] if post => Route::AdminSweep,
        ["admin", "faults"] if get => Route::AdminListFaults,
        ["admin", "faults"] if post => Route::AdminAddFaults,
        ["admin", "faults"] if method == Method::DELETE => Route::AdminClearFaults,
        _ => Route::Unknown,
    }
}

fn task_route(method: &Method, rest: &[&str]) -> Route {
    let get = method == Method::GET;
    let post = method == Method::POST;
    match rest {
        [] if post => Route::Update,
        ["update-v2"] if post => Route::UpdateV2,
        ["poll", "batch", task_type] if get => Route::BatchPoll((*task_type).to_owned()),
        ["poll", task_type] if get => Route::Poll((*task_type).to_owned()),
        ["queue", "size"] if get => Route::QueueSize,
        ["queue", "sizes"] if get => Route::QueueSizes,
        ["queue", "all"] if get => Route::QueueAll,
        ["queue", "all", "verbose"] if get => Route::QueueAllVerbose,
        ["queue", "polldata"] if get => Route::PollData,
        ["queue", "polldata", "all"] if get => Route::PollDataAll,
        ["externalstoragelocation"] if get => Route::ExternalLocation,
        [task_id, "log"] if post => Route::AddLog((*task_id).to_owned()),
        [task_id, "log"] if get => Route::GetLogs((*task_id).to_owned()),
        [task_id, "ack"] if post => Route::Ack((*task_id).to_owned()),
        [task_id] if get => Route::GetTask((*task_id).to_owned()),
        _ => Route::Unknown,
    }
}

fn metadata_route(method: &Method, rest: &[&str]) -> Route {
    let name = |s: &&str| (*s).to_owned();
    match (rest, method.clone()) {
        (["taskdefs"], Method::POST) => Route::RegisterTaskDefs,
        (["taskdefs"], Method::PUT) => Route::UpdateTaskDef,
        (["taskdefs"], Method::GET) => Route::TaskDefs,
        (["taskdefs", n], Method::GET) => Route::GetTaskDef(name(n)),
        (["taskdefs", n], Method::DELETE) => Route::DeleteTaskDef(name(n)),
        (["workflow"], Method::POST) => Route::RegisterWorkflowDef,
        (["workflow"], Method::PUT) => Route::PutWorkflowDefs,
        (["workflow"], Method::GET) => Route::WorkflowDefs,
        (["workflow", n], Method::GET) => Route::GetWorkflowDef(name(n)),
        (["workflow", n, v], Method::DELETE) => Route::DeleteWorkflowDef(name(n), name(v)),
        _ => Route::Unknown,
    }
}

fn workflow_route(method: &Method, rest: &[&str]) -> Route {
    match (rest, method.clone()) {
        ([], Method::POST) => Route::StartWorkflow,
        (["execute", name, version], Method::POST) => {
            Route::ExecuteWorkflow((*name).to_owned(), (*version).to_owned())
        }
        ([name], Method::POST) => Route::StartWorkflowByName((*name).to_owned()),
        (["search"], Method::GET) => Route::SearchWorkflows,
        (["running", name], Method::GET) => Route::RunningWorkflows((*name).to_owned()),
        ([name, "correlated", correlation_id], Method::GET) => {
            Route::CorrelatedWorkflows((*name).to_owned(), (*correlation_id).to_owned())
        }
        ([id, "pause"], Method::PUT) => Route::PauseWorkflow((*id).to_owned()),
        ([id, "resume"], Method::PUT) => Route::ResumeWorkflow((*id).to_owned()),
        ([id, "retry"], Method::POST) => Route::RetryWorkflow((*id).to_owned()),
        ([id, "restart"], Method::POST) => Route::RestartWorkflow((*id).to_owned()),
        ([id, "rerun"], Method::POST) => Route::RerunWorkflow((*id).to_owned()),
        ([id], Method::GET) => Route::GetWorkflow((*id).to_owned()),
        ([id], Method::DELETE) => Route::TerminateWorkflow((*id).to_owned()),
        _ => Route::Unknown,
    }
}

/// The decoded `key=value` pairs of a query string, in order (`+` is a space).
pub(crate) fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (form_decode(key), form_decode(value))
        })
        .collect()
}

/// A query key or value decoded: `+` is a space, then `%XX` escapes.
fn form_decode(raw: &str) -> String {
    if raw.contains('+') {
        percent_decode(&raw.replace('+', " ")).into_owned()
    } else {
        percent_decode(raw).into_owned()
    }
}

/// The first value of `key`, if present (an empty value is `Some("")`).
pub(crate) fn query_value<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Decodes `%XX` escapes; invalid escapes stay as they are, invalid UTF-8 is replaced.
fn percent_decode(input: &str) -> Cow<'_, str> {
    if !input.contains('%') {
        return Cow::Borrowed(input);
    }
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).and_then(|&b| hex(b)),
                bytes.get(i + 2).and_then(|&b| hex(b)),
            )
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_cover_plural_and_singular_paths() {
        let get = Method::GET;
        let post = Method::POST;
        assert_eq!(
            route(&get, "/api/tasks/poll/a%20b"),
            Route::Poll("a b".into())
        );
        assert_eq!(route(&get, "/api/task/poll/x"), Route::Poll("x".into()));
        assert_eq!(
            route(&get, "/api/tasks/poll/batch/x"),
            Route::BatchPoll("x".into())
        );
        assert_eq!(route(&post, "/api/tasks"), Route::Update);
        assert_eq!(route(&post, "/api/task"), Route::Update);
        assert_eq!(route(&post, "/api/tasks/update-v2"), Route::UpdateV2);
        assert_eq!(route(&get, "/api/tasks/queue/all"), Route::QueueAll);
        assert_eq!(route(&get, "/api/tasks/t1"), Route::GetTask("t1".into()));
        assert_eq!(
            route(&post, "/api/tasks/t1/log"),
            Route::AddLog("t1".into())
        );
        assert_eq!(route(&post, "/api/tasks/t1/ack"), Route::Ack("t1".into()));
        assert_eq!(route(&Method::PUT, "/api/tasks"), Route::Unknown);
        assert_eq!(
            route(&Method::DELETE, "/admin/faults"),
            Route::AdminClearFaults
        );
        assert!(!Route::AdminLedger.is_api() && Route::Update.is_api());
        assert_eq!(
            route(&Method::PUT, "/api/metadata/taskdefs"),
            Route::UpdateTaskDef
        );
        assert_eq!(
            route(&Method::DELETE, "/api/metadata/workflow/w/2"),
            Route::DeleteWorkflowDef("w".into(), "2".into())
        );
        assert_eq!(route(&post, "/api/workflow"), Route::StartWorkflow);
        assert_eq!(
            route(&post, "/api/workflow/media"),
            Route::StartWorkflowByName("media".into())
        );
        assert_eq!(
            route(&post, "/api/workflow/execute/media/0"),
            Route::ExecuteWorkflow("media".into(), "0".into())
        );
        assert_eq!(route(&get, "/api/workflow/search"), Route::SearchWorkflows);
        assert_eq!(
            route(&get, "/api/workflow/running/media"),
            Route::RunningWorkflows("media".into())
        );
        assert_eq!(
            route(&get, "/api/workflow/media/correlated/c%201"),
            Route::CorrelatedWorkflows("media".into(), "c 1".into())
        );
        assert_eq!(
            route(&Method::PUT, "/api/workflow/w1/pause"),
            Route::PauseWorkflow("w1".into())
        );
        assert_eq!(
            route(&get, "/api/workflow/w1"),
            Route::GetWorkflow("w1".into())
        );
        assert_eq!(
            route(&Method::DELETE, "/api/workflow/w1"),
            Route::TerminateWorkflow("w1".into())
        );
    }

    #[test]
    fn query_values_decode_and_keep_empty_ones() {
        let pairs = query_pairs(Some("workerid=w%201&domain=&count=5&x=a+b"));
        assert_eq!(query_value(&pairs, "workerid"), Some("w 1"));
        assert_eq!(query_value(&pairs, "domain"), Some(""));
        assert_eq!(query_value(&pairs, "count"), Some("5"));
        assert_eq!(query_value(&pairs, "x"), Some("a b"));
        assert_eq!(query_value(&pairs, "timeout"), None);
        assert_eq!(percent_decode("100%"), "100%");
    }
}
