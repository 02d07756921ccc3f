use std::time::Duration;

use baton_mock::{EnqueueRequest, MAX_ENQUEUE_COUNT, MockServer};
use baton_model::{JsonMap, RetryLogic, TaskDef, TaskExecLog, TaskResult};
use hyper::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{Fixture, eventually};

#[tokio::test]
async fn bulk_enqueue_above_the_maximum_is_400_and_creates_nothing() {
    let f = Fixture::start().await;
    let answer = f
        .client
        .post_json(
            &f.admin("/enqueue"),
            &json!({"taskType": "big", "count": MAX_ENQUEUE_COUNT + 1}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        answer.json()["message"]
            .as_str()
            .unwrap_or("")
            .contains(&MAX_ENQUEUE_COUNT.to_string()),
        "{}",
        answer.text()
    );
    let external = f
        .client
        .post_json(
            &f.admin("/enqueue-external"),
            &json!({"taskType": "big", "count": u64::MAX}),
        )
        .await;
    assert_eq!(external.status, StatusCode::BAD_REQUEST);
    assert_eq!(f.mock.ledger().enqueued, 0);
    assert_eq!(f.mock.core().queue_size("big", None), 0);
}

#[tokio::test]
async fn task_def_numbers_out_of_range_are_400_with_the_field_named() {
    let f = Fixture::start().await;
    for (field, value) in [
        ("backoffJitterMs", json!(3_000_000_000_i64)),
        ("backoffJitterMs", json!(-1)),
        ("retryDelaySeconds", json!(i64::MAX)),
        ("maxRetryDelaySeconds", json!(-5)),
        ("responseTimeoutSeconds", json!(0)),
        ("retryCount", json!(-1)),
    ] {
        let mut task_def = json!({"responseTimeoutSeconds": 10});
        task_def[field] = value.clone();
        let enqueue = json!({"taskType": "t", "count": 1, "taskDef": task_def});
        let answer = f.client.post_json(&f.admin("/enqueue"), &enqueue).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{field} = {value}");
        let errors = answer.json()["validationErrors"].clone();
        assert_eq!(
            errors[0]["path"],
            format!("enqueue.taskDef.{field}"),
            "{errors}"
        );
        let mut def = task_def.clone();
        def["name"] = json!("t");
        let registered = f
            .client
            .post_json(&f.api("/metadata/taskdefs"), &json!([def]))
            .await;
        assert_eq!(
            registered.status,
            StatusCode::BAD_REQUEST,
            "{field} = {value}"
        );
    }
    // A number that does not even fit the model's type is a parse error, still a 400.
    let answer = f
        .client
        .post_json(
            &f.admin("/enqueue"),
            &json!({"taskType": "t", "taskDef": {"concurrentExecLimit": 1_u64 << 40}}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(f.mock.ledger().enqueued, 0);
}

#[tokio::test]
async fn the_largest_accepted_numbers_retry_without_overflow() {
    let f = Fixture::start().await;
    let mut def = TaskDef::new("ignored");
    def.retry_count = i32::MAX;
    def.retry_logic = RetryLogic::ExponentialBackoff;
    def.retry_delay_seconds = i64::from(i32::MAX);
    def.backoff_jitter_ms = i64::from(i32::MAX);
    def.backoff_scale_factor = i32::MAX;
    def.timeout_seconds = i64::MAX;
    def.response_timeout_seconds = i64::MAX;
    def.total_timeout_seconds = i64::MAX;
    def.poll_timeout_seconds = Some(i64::MAX);
    def.concurrent_exec_limit = Some(i32::MAX);
    def.rate_limit_per_frequency = Some(i32::MAX);
    def.rate_limit_frequency_in_seconds = Some(i32::MAX);
    let request = EnqueueRequest::new("huge", 1).task_def(def);
    let answer = f
        .client
        .post_json(&f.admin("/enqueue"), &request_json(&request))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let task = f.take("huge", "").await;
    let failed = f.update(&TaskResult::failed(&task, "again")).await;
    assert_eq!(failed.status, StatusCode::OK);
    assert_eq!(f.mock.core().sweep(), 0);
    // The retry exists, due in about 68 years.
    assert_eq!(f.mock.ledger().retried, 1);
    assert_eq!(f.mock.core().queue_size("huge", None), 1);
    assert!(f.batch("huge", 1, 0, "").await.is_empty());
}

/// The admin enqueue body for `request`.
fn request_json(request: &EnqueueRequest) -> serde_json::Value {
    json!({
        "taskType": request.task_type,
        "count": request.count,
        "taskDef": request.task_def,
    })
}

/// Reads from `stream` until EOF or error; returns what arrived, or `None` past `limit`.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    tokio::time::timeout(limit, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .ok()?;
    Some(got)
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let f =
        Fixture::with(MockServer::builder().header_read_timeout(Duration::from_millis(200))).await;
    let mut slow = TcpStream::connect(f.mock.addr()).await.unwrap();
    slow.write_all(b"GET /api/tasks/queue/all HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut slow, Duration::from_secs(5)).await;
    assert!(answer.is_some(), "the connection stayed open");
    // A client that sends its headers in time is served.
    let url = f.api("/tasks/queue/all");
    assert_eq!(f.client.get(&url).await.status, StatusCode::OK);
}

const REQUEST: &[u8] = b"GET /api/tasks/queue/all HTTP/1.1\r\nHost: x\r\n\r\n";

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let f = Fixture::with(MockServer::builder().max_connections(1)).await;
    let mut first = TcpStream::connect(f.mock.addr()).await.unwrap();
    first.write_all(REQUEST).await.unwrap();
    let mut buf = [0u8; 1024];
    let n = first.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    // The first connection stays open (keep-alive): the second is not served meanwhile.
    let mut second = TcpStream::connect(f.mock.addr()).await.unwrap();
    second.write_all(REQUEST).await.unwrap();
    let waited = tokio::time::timeout(Duration::from_millis(300), second.read(&mut buf)).await;
    assert!(waited.is_err(), "served past the cap");
    drop(first);
    let n = tokio::time::timeout(Duration::from_secs(5), second.read(&mut buf))
        .await
        .expect("served once the first connection closed")
        .unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
}

#[tokio::test]
async fn idle_task_types_lose_their_queue_poll_data_and_logs() {
    let f = Fixture::with(MockServer::builder().idle_evict(Duration::from_secs(1))).await;
    // "ghost": long-polled (a queue with a signal, and poll data), then never used again.
    assert!(f.batch("ghost", 1, 10, "").await.is_empty());
    // "done": one task run to the end, with a log line.
    f.enqueue("done", 1);
    let task = f.take("done", "").await;
    let log = TaskExecLog::new("working", task.task_id.clone(), 0);
    let result = TaskResult::completed(&task, JsonMap::new()).with_log(log);
    assert_eq!(f.update(&result).await.status, StatusCode::OK);
    // Logs posted for an id that names no task.
    let url = f.api("/tasks/no-such-task/log");
    let posted = f.client.post_raw(&url, "hello").await;
    assert_eq!(posted.status, StatusCode::OK);
    // "kept": queued tasks keep their type alive however long nobody polls.
    f.enqueue("kept", 2);
    let logs = |id: String| f.api(&format!("/tasks/{id}/log"));
    assert_eq!(
        f.client.get(&logs(task.task_id.clone())).await.status,
        StatusCode::OK
    );
    let all = f.api("/tasks/queue/all");
    assert!(f.client.get(&all).await.json().get("ghost").is_some());
    let evicted = eventually(Duration::from_secs(5), async || {
        let queues = f.client.get(&all).await.json();
        let poll_data = f
            .client
            .get(&f.api("/tasks/queue/polldata/all"))
            .await
            .json();
        queues.get("ghost").is_none()
            && queues.get("done").is_none()
            && poll_data.as_array().is_some_and(Vec::is_empty)
            && f.client.get(&logs(task.task_id.clone())).await.status == StatusCode::NO_CONTENT
            && f.client.get(&url).await.status == StatusCode::NO_CONTENT
    })
    .await;
    assert!(evicted, "idle types were not evicted");
    let queues = f.client.get(&all).await.json();
    assert_eq!(queues["kept"], 2);
    assert_eq!(f.batch("kept", 5, 0, "").await.len(), 2);
}

#[tokio::test]
async fn reset_clears_queues_poll_data_logs_and_limits() {
    let f = Fixture::start().await;
    let mut def = TaskDef::new("ignored");
    def.concurrent_exec_limit = Some(1);
    f.mock
        .enqueue(EnqueueRequest::new("limited", 2).task_def(def.clone()));
    let task = f.take("limited", "").await;
    let log_url = f.api(&format!("/tasks/{}/log", task.task_id));
    assert_eq!(
        f.client.post_raw(&log_url, "x").await.status,
        StatusCode::OK
    );
    let reset = f
        .client
        .send(
            hyper::Method::POST,
            &f.admin("/reset"),
            "application/json",
            bytes::Bytes::new(),
        )
        .await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT);
    let queues = f.client.get(&f.api("/tasks/queue/all")).await.json();
    assert_eq!(queues, json!({}));
    let poll_data = f
        .client
        .get(&f.api("/tasks/queue/polldata/all"))
        .await
        .json();
    assert_eq!(poll_data, json!([]));
    assert_eq!(f.client.get(&log_url).await.status, StatusCode::NO_CONTENT);
    // The in-progress count went with the reset: the limit admits a task again.
    f.mock
        .enqueue(EnqueueRequest::new("limited", 1).task_def(def));
    assert_eq!(f.batch("limited", 1, 0, "").await.len(), 1);
}
