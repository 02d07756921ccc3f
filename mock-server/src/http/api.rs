//! Handlers of the Conductor task API (`/api/tasks/...`, `/api/token`), including the long-poll
//! wait.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use baton_model::TaskResult;
use bytes::Bytes;
use hyper::StatusCode;
use serde::Deserialize;
use tokio::time::Instant;

use super::App;
use super::body::{self, Resp};
use super::router::query_value;
use crate::core::{HandedOut, QueueKey};
use crate::error::ApiError;

/// A single poll waits this long on an empty queue (the server's fixed value).
const SINGLE_POLL_WAIT: Duration = Duration::from_millis(100);
/// The server rejects batch-poll timeouts above this.
const MAX_LONG_POLL_MS: i64 = 5000;

type Query = [(String, String)];

/// Collects up to `count` tasks from `key`, waiting up to `wait` for them; then records the
/// poll (poll data is written after the wait, as on the server).
async fn long_poll(
    app: &App,
    key: &QueueKey,
    worker_id: Option<&str>,
    count: usize,
    wait: Duration,
) -> HandedOut {
    if wait.is_zero() || count == 0 {
        return poll_now(app, key, worker_id, count);
    }
    let domain = key.domain.as_deref();
    let deadline = Instant::now() + wait;
    let mut tasks = app
        .core
        .poll_handed(&key.task_type, domain, worker_id, count);
    if tasks.popped() < count {
        let signal = app.core.signal(key);
        let _waiting = Waiting::start(&app.waiting_polls);
        loop {
            // Register for wake-ups before looking, so a push between the look and the wait
            // is not missed.
            let notified = signal.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let more = app.core.poll_handed(
                &key.task_type,
                domain,
                worker_id,
                count.saturating_sub(tasks.popped()),
            );
            tasks.append(more);
            let now = Instant::now();
            if tasks.popped() >= count || now >= deadline {
                break;
            }
            let mut nap = (deadline - now).min(app.options.recheck);
            if let Some(due) = app.core.next_due_in(key) {
                nap = nap.min(due);
            }
            tokio::select! {
                () = notified => {}
                () = tokio::time::sleep(nap) => {}
                () = app.shutdown.cancelled() => break,
            }
        }
    }
    app.core.record_poll(&key.task_type, domain, worker_id);
    tasks
}

/// Counts one waiting long poll in `App::waiting_polls` while it lives.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn start(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Hands out up to `count` tasks of `key` without waiting, and records the poll.
fn poll_now(app: &App, key: &QueueKey, worker_id: Option<&str>, count: usize) -> HandedOut {
    let domain = key.domain.as_deref();
    let tasks = app
        .core
        .poll_handed(&key.task_type, domain, worker_id, count);
    app.core.record_poll(&key.task_type, domain, worker_id);
    tasks
}

fn one_task(app: &App, tasks: &HandedOut) -> Resp {
    match tasks.first_json() {
        Some(task) => body::json_bytes(app.external.externalize(task)),
        None => body::empty(StatusCode::NO_CONTENT),
    }
}

fn queue_key(task_type: &str, query: &Query) -> QueueKey {
    QueueKey::new(task_type, query_value(query, "domain"))
}

/// `GET /api/tasks/poll/{taskType}`: one task, or 204 after about 100 ms.
pub(crate) async fn poll(app: &App, task_type: &str, query: &Query) -> Resp {
    let key = queue_key(task_type, query);
    let worker = query_value(query, "workerid");
    one_task(
        app,
        &long_poll(app, &key, worker, 1, SINGLE_POLL_WAIT).await,
    )
}

/// A single poll answered at once (no 100 ms hold): the synchronous front ends.
pub(crate) fn poll_at_once(app: &App, task_type: &str, query: &Query) -> Resp {
    let key = queue_key(task_type, query);
    one_task(app, &poll_now(app, &key, query_value(query, "workerid"), 1))
}

fn int_param(query: &Query, name: &str, default: i64) -> Result<i64, ApiError> {
    match query_value(query, name) {
        None | Some("") => Ok(default),
        Some(raw) => raw
            .parse()
            .map_err(|_| ApiError::BadRequest(format!("Invalid value for {name}: {raw}"))),
    }
}

/// `GET /api/tasks/poll/batch/{taskType}`: up to `count` tasks within `timeout` ms, `[]` when
/// none.
pub(crate) async fn batch_poll(
    app: &App,
    task_type: &str,
    query: &Query,
) -> Result<Resp, ApiError> {
    let (count, wait) = batch_params(query)?;
    let key = queue_key(task_type, query);
    let tasks = long_poll(app, &key, query_value(query, "workerid"), count, wait).await;
    Ok(batch_answer(app, tasks))
}

/// The answer to a batch poll: the tasks as a JSON array; none is `[]`, or 204 with
/// `empty_batch_204` (servers before v3.21.20).
fn batch_answer(app: &App, tasks: HandedOut) -> Resp {
    if tasks.is_empty() && app.options.empty_batch_204 {
        return body::empty(StatusCode::NO_CONTENT);
    }
    body::json_bytes(app.external.externalize(tasks.into_json_array()))
}

/// `count` and the wait of a batch poll; 400 above the server's 5 s.
fn batch_params(query: &Query) -> Result<(usize, Duration), ApiError> {
    let count = int_param(query, "count", 1)?;
    let timeout = int_param(query, "timeout", 100)?;
    if timeout > MAX_LONG_POLL_MS {
        return Err(ApiError::BadRequest(
            "Long Poll Timeout value cannot be more than 5 seconds".to_owned(),
        ));
    }
    // The server passes the count to its queue as is: 0 pops nothing, and a negative count
    // fails inside the poll, which answers `[]`; neither waits.
    let count = usize::try_from(count).unwrap_or(0);
    Ok((
        count,
        Duration::from_millis(u64::try_from(timeout).unwrap_or(0)),
    ))
}

/// A batch poll answered at once with what is due (no long-poll hold).
pub(crate) fn batch_poll_at_once(
    app: &App,
    task_type: &str,
    query: &Query,
) -> Result<Resp, ApiError> {
    let (count, _) = batch_params(query)?;
    let key = queue_key(task_type, query);
    let tasks = poll_now(app, &key, query_value(query, "workerid"), count);
    Ok(batch_answer(app, tasks))
}

fn parse_result(body: &Bytes) -> Result<TaskResult, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::Internal(format!("JSON parse error: {e}")))
}

/// `POST /api/tasks`: applies the result; answers the bare task id as text.
pub(crate) fn update(app: &App, body: Bytes) -> Result<Resp, ApiError> {
    let result = parse_result(&body)?;
    let task_id = result.task_id.clone();
    app.core.update(result)?;
    Ok(body::text(task_id))
}

/// `POST /api/tasks/update-v2`: applies the result, then (for an ended task) hands out the
/// next task of the same queue, or 204.
pub(crate) async fn update_v2(app: &App, body: Bytes) -> Result<Resp, ApiError> {
    let (key, worker) = match apply_v2(app, &body)? {
        Some(next) => next,
        None => return Ok(body::empty(StatusCode::NO_CONTENT)),
    };
    let tasks = long_poll(app, &key, worker.as_deref(), 1, SINGLE_POLL_WAIT).await;
    Ok(one_task(app, &tasks))
}

/// Applies an update-v2 body; returns the queue to poll next and the worker, if any.
fn apply_v2(app: &App, body: &Bytes) -> Result<Option<(QueueKey, Option<String>)>, ApiError> {
    let result = parse_result(body)?;
    let worker = result.worker_id.clone();
    // The server validates here with @Valid, whose failure is not mapped: 500.
    let outcome = app.core.update(result).map_err(|e| match e {
        ApiError::Validation(_) => ApiError::Internal(e.to_string()),
        other => other,
    })?;
    Ok(outcome.poll_next.map(|key| (key, worker)))
}

/// Update-v2 answered at once: the next task if one is due, else 204.
pub(crate) fn update_v2_at_once(app: &App, body: Bytes) -> Result<Resp, ApiError> {
    Ok(match apply_v2(app, &body)? {
        Some((key, worker)) => one_task(app, &poll_now(app, &key, worker.as_deref(), 1)),
        None => body::empty(StatusCode::NO_CONTENT),
    })
}

/// `GET /api/tasks/{taskId}/log`: the lines, or 204 with none.
pub(crate) fn logs(app: &App, task_id: &str) -> Resp {
    let logs = app.core.logs(task_id);
    if logs.is_empty() {
        body::empty(StatusCode::NO_CONTENT)
    } else {
        body::json(&logs)
    }
}

/// `GET /api/tasks/queue/size?taskType=&domain=`: an int.
pub(crate) fn queue_size(app: &App, query: &Query) -> Resp {
    let task_type = query_value(query, "taskType").unwrap_or("");
    body::json(&app.core.queue_size(task_type, query_value(query, "domain")))
}

/// `GET /api/tasks/queue/sizes?taskType=a&taskType=b`: `{type: size}`.
pub(crate) fn queue_sizes(app: &App, query: &Query) -> Resp {
    let sizes: BTreeMap<&str, usize> = query
        .iter()
        .filter(|(k, _)| k == "taskType")
        .map(|(_, t)| (t.as_str(), app.core.queue_size(t, None)))
        .collect();
    body::json(&sizes)
}

/// `GET /api/tasks/queue/all/verbose`: `{queue: {shard: {size, uacked}}}` with one shard.
pub(crate) fn queue_all_verbose(app: &App) -> Resp {
    let verbose: BTreeMap<String, serde_json::Value> = app
        .core
        .queue_sizes()
        .into_iter()
        .map(|(name, size)| (name, serde_json::json!({"a": {"size": size, "uacked": 0}})))
        .collect();
    body::json(&verbose)
}

/// `GET /api/tasks/queue/polldata?taskType=X`.
pub(crate) fn poll_data(app: &App, query: &Query) -> Resp {
    let task_type = query_value(query, "taskType").unwrap_or("");
    body::json(&app.core.poll_data(Some(task_type)))
}

/// The body of `POST /api/token`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenRequest {
    #[serde(default)]
    key_id: String,
    #[serde(default)]
    key_secret: String,
}

/// `POST /api/token`: `{"token": ...}`; 404 when auth is off, as on OSS servers.
pub(crate) fn token(app: &App, body: Bytes) -> Result<Resp, ApiError> {
    let Some(auth) = &app.auth else {
        return Err(ApiError::NoRoute("No endpoint POST /api/token.".to_owned()));
    };
    let request: TokenRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::Internal(format!("JSON parse error: {e}")))?;
    let token = auth.mint(&request.key_id, &request.key_secret)?;
    Ok(body::json(&serde_json::json!({ "token": token })))
}
