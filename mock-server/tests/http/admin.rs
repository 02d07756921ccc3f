use std::time::{Duration, Instant};

use baton_mock::{Credentials, EnqueueRequest, FaultAction, FaultRule, MockServer};
use baton_model::{JsonMap, TaskResult};
use bytes::Bytes;
use hyper::{Method, StatusCode};
use serde_json::json;

use crate::common::{Client, Fixture, eventually};

#[tokio::test]
async fn admin_enqueue_ledger_and_reset() {
    let f = Fixture::start().await;
    let body = json!({
        "count": 3, "taskType": "encode", "domain": "gpu", "input": {"file": "a.mp4"},
        "priority": 7, "taskDef": {"retryCount": 0, "responseTimeoutSeconds": 30}
    });
    let answer = f.client.post_json(&f.admin("/enqueue"), &body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let enqueued = answer.json();
    assert_eq!(enqueued["count"], 3);
    let tasks = f.batch("encode", 5, 0, "&domain=gpu").await;
    assert_eq!(tasks.len(), 3);
    assert_eq!(tasks[0].task_id, enqueued["firstTaskId"].as_str().unwrap());
    assert_eq!(tasks[2].task_id, enqueued["lastTaskId"].as_str().unwrap());
    assert_eq!(
        tasks[0].workflow_id(),
        enqueued["workflowInstanceId"].as_str().unwrap()
    );
    assert_eq!(tasks[0].input_data["file"], "a.mp4");
    assert_eq!(tasks[0].workflow_priority, 7);
    assert_eq!(tasks[0].response_timeout_seconds, 30);
    f.update(&TaskResult::completed(&tasks[0], JsonMap::new()))
        .await;
    f.update(&TaskResult::failed(&tasks[1], "no retries")).await;
    let ledger = f.client.get(&f.admin("/ledger")).await.json();
    assert_eq!(ledger["enqueued"], 3);
    assert_eq!(ledger["handed_out"], 3);
    assert_eq!(ledger["completed"], 1);
    assert_eq!(ledger["failed"], 1);
    assert_eq!(ledger["retried"], 0);
    assert_eq!(ledger["in_flight"], 1);
    assert_eq!(ledger["lost"], 1);
    assert_eq!(ledger["latency_samples"], 2);
    // One batch poll and two updates; admin calls are not counted.
    assert_eq!(ledger["api_requests"], 3);
    assert!(
        ledger["latency_p99_ms"].as_f64().unwrap() >= ledger["latency_p50_ms"].as_f64().unwrap()
    );
    let reset = f
        .client
        .send(Method::POST, &f.admin("/reset"), "", "")
        .await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT);
    let ledger = f.client.get(&f.admin("/ledger")).await.json();
    assert_eq!(
        (ledger["enqueued"].clone(), ledger["lost"].clone()),
        (json!(0), json!(0))
    );
    // Ids from before the reset are unknown now.
    let late = f
        .update(&TaskResult::completed(&tasks[2], JsonMap::new()))
        .await;
    assert_eq!(late.status, StatusCode::NOT_FOUND);
    let bad = f
        .client
        .post_json(&f.admin("/enqueue"), &json!({"count": 1}))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn admin_routes_are_not_under_api_and_enqueue_wakes_waiting_polls() {
    // Waiting polls re-check only every 30 s here: only the enqueue's wake-up can deliver the
    // task within the 5 s poll.
    let f = Fixture::with(MockServer::builder().long_poll_recheck(Duration::from_secs(30))).await;
    let poll = {
        let client = f.client.clone();
        let url = f.api("/tasks/poll/batch/encode?count=1&timeout=5000");
        tokio::spawn(async move { client.get(&url).await.tasks() })
    };
    let mock = &f.mock;
    let waiting = eventually(Duration::from_secs(5), async || mock.waiting_polls() == 1).await;
    assert!(waiting, "the poll never started waiting");
    let enqueued = Instant::now();
    f.client
        .post_json(
            &f.admin("/enqueue"),
            &json!({"count": 1, "taskType": "encode"}),
        )
        .await;
    let tasks = poll.await.unwrap();
    let waited = enqueued.elapsed();
    assert_eq!(tasks.len(), 1);
    assert!(
        waited < Duration::from_secs(2),
        "woke {waited:?} after the enqueue"
    );
    let wrong = f.client.get(&f.api("/admin/ledger")).await;
    assert_eq!(wrong.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn status_fault_answers_an_error_without_applying() {
    let f = Fixture::start().await;
    f.enqueue("encode", 1);
    let rule = json!({"route": "batch_poll", "kind": "status", "status": 503, "first": 1});
    let installed = f.client.post_json(&f.admin("/faults"), &rule).await.json();
    assert_eq!(installed["installed"], 1);
    let answer = f
        .client
        .get(&f.api("/tasks/poll/batch/encode?timeout=0"))
        .await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.json()["status"], 503);
    assert_eq!(f.mock.ledger().handed_out, 0);
    assert_eq!(f.batch("encode", 1, 0, "").await.len(), 1);
    let listed = f.client.get(&f.admin("/faults")).await.json();
    assert_eq!(listed[0]["fired"], 1);
    assert_eq!(listed[0]["seen"], 2);
    assert_eq!(f.mock.ledger().faults_fired, 1);
    let cleared = f.client.delete(&f.admin("/faults")).await;
    assert_eq!(cleared.status, StatusCode::NO_CONTENT);
    assert_eq!(f.client.get(&f.admin("/faults")).await.json(), json!([]));
}

#[tokio::test]
async fn delay_fault_holds_the_answer() {
    let f = Fixture::start().await;
    f.mock.install_faults([FaultRule::new(
        "queue_size",
        FaultAction::Delay { delay_ms: 300 },
    )]);
    let started = Instant::now();
    let answer = f.client.get(&f.api("/tasks/queue/size?taskType=x")).await;
    assert_eq!(answer.json(), json!(0));
    assert!(started.elapsed() >= Duration::from_millis(290));
}

/// The faults that break an update's connection: whether the update was applied before the
/// break decides whether the client's retry is the first application or an identical duplicate
/// (counted against `drop_after_fired`).
#[tokio::test]
async fn broken_update_connections_apply_as_the_fault_says_and_retries_count_accordingly() {
    struct Case {
        fault: FaultAction,
        /// Applied before the connection broke.
        applied: bool,
    }
    let cases = [
        Case {
            fault: FaultAction::DropBefore,
            applied: false,
        },
        Case {
            fault: FaultAction::DropAfter,
            applied: true,
        },
        Case {
            fault: FaultAction::Truncated,
            applied: true,
        },
    ];
    for Case { fault, applied } in cases {
        let name = format!("{fault:?}");
        let f = Fixture::start().await;
        f.enqueue("encode", 1);
        let task = f.batch("encode", 1, 0, "").await.remove(0);
        f.mock
            .install_faults([FaultRule::new("update", fault).first(1)]);
        let done = TaskResult::completed(&task, JsonMap::new());
        let body = serde_json::to_vec(&done).unwrap();
        let broken = f
            .client
            .try_send(Method::POST, &f.api("/tasks"), "application/json", body)
            .await;
        assert!(broken.is_err(), "{name}: answered {broken:?}");
        let ledger = f.mock.ledger();
        assert_eq!(ledger.completed, u64::from(applied), "{name}: {ledger:?}");
        assert_eq!(ledger.faults_fired, 1, "{name}");
        // The client's retry goes through: the first application after a drop before, an
        // identical duplicate (within the allowance) after a drop after.
        assert_eq!(f.update(&done).await.status, StatusCode::OK, "{name}");
        let ledger = f.mock.ledger();
        let lost_answers = u64::from(applied);
        assert_eq!(ledger.completed, 1, "{name}: {ledger:?}");
        assert_eq!(
            (ledger.duplicate_identical, ledger.drop_after_fired),
            (lost_answers, lost_answers),
            "{name}: {ledger:?}"
        );
        assert_eq!(
            (ledger.lost, ledger.duplicate_conflicting),
            (0, 0),
            "{name}"
        );
    }
}

#[tokio::test]
async fn malformed_and_truncated_faults_break_the_answer_after_applying() {
    let f = Fixture::start().await;
    f.enqueue("encode", 2);
    f.mock
        .install_faults([FaultRule::new("batch_poll", FaultAction::Malformed).first(1)]);
    let answer = f
        .client
        .get(&f.api("/tasks/poll/batch/encode?timeout=0"))
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(serde_json::from_slice::<serde_json::Value>(&answer.body).is_err());
    assert_eq!(
        f.mock.ledger().handed_out,
        1,
        "malformed answers still apply the poll"
    );
    f.mock.faults().clear();
    f.mock
        .install_faults([FaultRule::new("batch_poll", FaultAction::Truncated).first(1)]);
    let broken = f
        .client
        .try_send(
            Method::GET,
            &f.api("/tasks/poll/batch/encode?timeout=0"),
            "",
            "",
        )
        .await;
    assert!(broken.is_err(), "answered in full: {broken:?}");
    assert_eq!(f.mock.ledger().handed_out, 2);
    // And the server keeps serving.
    assert_eq!(f.batch("encode", 1, 0, "").await.len(), 0);
}

#[tokio::test]
async fn fault_lists_with_fractional_probabilities_install_over_http() {
    let f = Fixture::start().await;
    let rules = json!([
        {"route": "update", "kind": "delay", "delayMs": 1, "probability": 0.5},
        {"route": "poll", "kind": "drop_before", "probability": 1e-3}
    ]);
    let answer = f.client.post_json(&f.admin("/faults"), &rules).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(answer.json()["installed"], 2);
    let one = json!({"route": "poll", "kind": "status", "status": 500, "probability": 0.25});
    let answer = f.client.post_json(&f.admin("/faults"), &one).await;
    assert_eq!(answer.json()["installed"], 1, "{}", answer.text());
    let listed = f.client.get(&f.admin("/faults")).await.json();
    assert_eq!(listed[0]["probability"].as_f64(), Some(0.5));
    assert_eq!(listed[2]["probability"].as_f64(), Some(0.25));
    let bad = json!([{"route": "poll", "kind": "status"}]);
    let answer = f.client.post_json(&f.admin("/faults"), &bad).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.text().contains("status"), "{}", answer.text());
}

#[tokio::test]
async fn probability_faults_are_reproducible_from_the_seed() {
    async fn pattern(seed: u64) -> Vec<u16> {
        let f = Fixture::with(MockServer::builder().seed(seed)).await;
        f.mock.install_faults([
            FaultRule::new("queue_size", FaultAction::Status { status: 500 }).probability(0.5),
        ]);
        let mut statuses = Vec::new();
        for _ in 0..40 {
            statuses.push(
                f.client
                    .get(&f.api("/tasks/queue/size?taskType=x"))
                    .await
                    .status
                    .as_u16(),
            );
        }
        statuses
    }
    let a = pattern(11).await;
    assert_eq!(a, pattern(11).await);
    assert!(a.contains(&500) && a.contains(&200));
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let f = Fixture::with(MockServer::builder().max_body_bytes(1024)).await;
    let big = vec![b'x'; 4096];
    let answer = f
        .client
        .send(Method::POST, &f.api("/tasks/t/log"), "text/plain", big)
        .await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer.json()["status"], 413);
    // Below the limit still works on a fresh request.
    let ok = f
        .client
        .send(Method::POST, &f.api("/tasks/t/log"), "text/plain", "small")
        .await;
    assert_eq!(ok.status, StatusCode::OK);
}

#[tokio::test]
async fn auth_mints_tokens_checks_them_and_expires_them() {
    let creds: Credentials = "key:secret".parse().unwrap();
    let f = Fixture::with(
        MockServer::builder()
            .auth(creds)
            .token_ttl(Duration::from_millis(300)),
    )
    .await;
    let url = f.api("/tasks/queue/size?taskType=x");
    let missing = f.client.get(&url).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.json()["error"], "INVALID_TOKEN");
    let wrong = f
        .client
        .post_json(
            &f.api("/token"),
            &json!({"keyId": "key", "keySecret": "nope"}),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let minted = f
        .client
        .post_json(
            &f.api("/token"),
            &json!({"keyId": "key", "keySecret": "secret"}),
        )
        .await
        .json();
    let token = minted["token"].as_str().unwrap().to_owned();
    let mut authed = Client::new();
    authed.token = Some(token);
    assert_eq!(authed.get(&url).await.status, StatusCode::OK);
    // Admin routes need the same token: without it nobody can reset the mock or add faults.
    for (method, path) in [
        (Method::GET, "/ledger"),
        (Method::POST, "/reset"),
        (Method::POST, "/sweep"),
        (Method::POST, "/faults"),
        (Method::DELETE, "/faults"),
        (Method::POST, "/enqueue"),
        (Method::POST, "/enqueue-external"),
    ] {
        let refused = f
            .client
            .send(
                method.clone(),
                &f.admin(path),
                "application/json",
                Bytes::new(),
            )
            .await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{method} {path}");
    }
    f.mock.enqueue(EnqueueRequest::new("kept", 1));
    assert_eq!(
        f.mock.ledger().enqueued,
        1,
        "a refused reset changed nothing"
    );
    assert_eq!(authed.get(&f.admin("/ledger")).await.status, StatusCode::OK);
    let reset = authed
        .send(
            Method::POST,
            &f.admin("/reset"),
            "application/json",
            Bytes::new(),
        )
        .await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT);
    assert_eq!(f.mock.ledger().enqueued, 0);
    let expired = eventually(Duration::from_secs(5), async || {
        authed.get(&url).await.status == StatusCode::UNAUTHORIZED
    })
    .await;
    assert!(expired, "token never expired");
    let expired = authed.get(&url).await;
    assert_eq!(expired.json()["error"], "EXPIRED_TOKEN");
}

#[tokio::test]
async fn token_is_404_without_auth_like_oss() {
    let f = Fixture::start().await;
    let answer = f
        .client
        .post_json(&f.api("/token"), &json!({"keyId": "k", "keySecret": "s"}))
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn shutdown_ends_waiting_long_polls_and_returns() {
    let f = Fixture::start().await;
    let client = f.client.clone();
    let url = f.api("/tasks/poll/batch/encode?count=1&timeout=5000");
    let poll = tokio::spawn(async move { client.try_send(Method::GET, &url, "", "").await });
    let mock = &f.mock;
    let waiting = eventually(Duration::from_secs(5), async || mock.waiting_polls() == 1).await;
    assert!(waiting, "the poll never started waiting");
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(3), f.mock.shutdown())
        .await
        .expect("shutdown hung");
    assert!(started.elapsed() < Duration::from_secs(3));
    let _ = poll.await.unwrap();
}

/// A simple retrying client under every fault kind at once meets the definition of
/// "correct under faults": lost = 0, conflicting = 0, identical duplicates ≤ answers lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retrying_client_is_correct_under_mixed_faults() {
    const TASKS: u64 = 200;
    let f = Fixture::with(
        MockServer::builder()
            .seed(42)
            .sweeper_period(Duration::from_millis(50)),
    )
    .await;
    let mut def = baton_model::TaskDef::new("x");
    def.retry_count = 20;
    def.retry_delay_seconds = 0;
    def.response_timeout_seconds = 1;
    f.mock
        .enqueue(baton_mock::EnqueueRequest::new("work", TASKS).task_def(def));
    let mut rules = Vec::new();
    for route in ["batch_poll", "update"] {
        rules.push(FaultRule::new(route, FaultAction::DropBefore).probability(0.05));
        rules.push(FaultRule::new(route, FaultAction::DropAfter).probability(0.05));
        rules.push(FaultRule::new(route, FaultAction::Status { status: 503 }).probability(0.05));
        rules.push(FaultRule::new(route, FaultAction::Truncated).probability(0.03));
        rules.push(FaultRule::new(route, FaultAction::Delay { delay_ms: 20 }).probability(0.05));
    }
    rules.push(FaultRule::new("batch_poll", FaultAction::Malformed).probability(0.03));
    f.mock.install_faults(rules);
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for w in 0..4 {
        let client = f.client.clone();
        let poll_url = f.api(&format!(
            "/tasks/poll/batch/work?count=10&timeout=100&workerid=w{w}"
        ));
        let update_url = f.api("/tasks");
        let done = std::sync::Arc::clone(&done);
        workers.push(tokio::spawn(async move {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let Ok(answer) = client.try_send(Method::GET, &poll_url, "", "").await else {
                    continue;
                };
                let Ok(tasks) = serde_json::from_slice::<Vec<baton_model::Task>>(&answer.body)
                else {
                    continue;
                };
                for task in tasks {
                    let result = TaskResult::completed(&task, JsonMap::new())
                        .with_output("id", task.task_id.clone());
                    let body = serde_json::to_vec(&result).unwrap();
                    for _ in 0..50 {
                        match client
                            .try_send(Method::POST, &update_url, "application/json", body.clone())
                            .await
                        {
                            Ok(a) if a.status == StatusCode::OK => break,
                            _ => continue,
                        }
                    }
                }
            }
        }));
    }
    let core = std::sync::Arc::clone(f.mock.core());
    let drained = eventually(Duration::from_secs(30), async || {
        let l = core.ledger();
        l.completed == TASKS && l.in_flight == 0 && l.queued == 0
    })
    .await;
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    let ledger = f.mock.ledger();
    assert!(drained, "never drained: {ledger:?}");
    eprintln!("{ledger:?}");
    assert!(ledger.faults_fired > 0);
    assert_eq!(ledger.lost, 0, "{ledger:?}");
    assert_eq!(ledger.duplicate_conflicting, 0, "{ledger:?}");
    assert!(
        ledger.duplicate_identical <= ledger.drop_after_fired,
        "{ledger:?}"
    );
}
