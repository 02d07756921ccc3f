use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use baton::model::{Task, TaskDef};
use baton::{FnWorker, WorkerSpec};
use baton_mock::{Credentials, EnqueueRequest, FaultAction, FaultRule, MockServer};
use baton_tests::{DEADLINE, assert_exactly_once, host_for, mock, start_host, wait_for};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

/// A task definition whose lost tasks time out quickly and are retried as new tasks.
fn short_lease(name: &str) -> TaskDef {
    let mut def = TaskDef::new(name);
    def.response_timeout_seconds = 1;
    def.retry_delay_seconds = 0;
    def.retry_count = 5;
    def
}

/// A fast no-op worker that retries its posts quickly.
fn quick_worker(task_type: &str, concurrency: usize) -> WorkerSpec {
    FnWorker::new(task_type, |_: Task| async {
        serde_json::json!({"ok": true})
    })
    .concurrency(concurrency)
    .update_retries(20)
    .update_retry_backoff(Duration::from_millis(5))
    .into()
}

/// Waits until `count` task lineages completed (retries of lost tasks included).
async fn wait_for_completed(mock: &MockServer, count: u64) {
    wait_for(&format!("{count} completed"), || async {
        mock.ledger().completed >= count
    })
    .await;
}

fn every_fault(route: &str, probability: f64) -> Vec<FaultRule> {
    [
        FaultAction::Status { status: 503 },
        FaultAction::Status { status: 500 },
        FaultAction::DropBefore,
        FaultAction::DropAfter,
        FaultAction::Delay { delay_ms: 20 },
        FaultAction::Malformed,
        FaultAction::Truncated,
    ]
    .into_iter()
    .map(|action| FaultRule::new(route, action).probability(probability))
    .collect()
}

#[tokio::test]
async fn every_result_is_posted_once_under_update_faults() {
    let mock = mock().await;
    mock.install_faults(every_fault("update", 0.03));
    mock.install_faults(every_fault("update_v2", 0.03));
    mock.enqueue(EnqueueRequest::new("faulty", 1500).task_def(short_lease("faulty")));
    let host = start_host(&mock, [quick_worker("faulty", 16)]);

    wait_for_completed(&mock, 1500).await;
    let report = host.shutdown_async().await;
    let ledger = mock.ledger();
    assert!(
        ledger.faults_fired > 50,
        "too few faults to mean anything: {ledger:?}"
    );
    assert_eq!(ledger.completed, 1500);
    assert_eq!(ledger.lost, 0, "{ledger:?}");
    assert_eq!(ledger.duplicate_conflicting, 0, "{ledger:?}");
    assert!(
        ledger.duplicate_identical <= ledger.drop_after_fired,
        "{ledger:?}"
    );
    assert_eq!(report.workers[0].results_given_up, 0, "{report:?}");
}

#[tokio::test]
async fn polls_recover_from_every_fault() {
    // Without update-v2 every task comes through a poll.
    let mock = MockServer::builder()
        .update_v2(false)
        .sweeper_period(Duration::from_millis(50))
        .start()
        .await
        .unwrap();
    mock.install_faults(every_fault("batch_poll", 0.05));
    // Tasks whose poll answer was lost come back through the response timeout.
    mock.enqueue(EnqueueRequest::new("bumpy", 600).task_def(short_lease("bumpy")));
    let host = start_host(&mock, [quick_worker("bumpy", 8)]);

    wait_for_completed(&mock, 600).await;
    host.shutdown_async().await;
    let ledger = mock.ledger();
    assert!(ledger.faults_fired > 5, "{ledger:?}");
    assert_eq!(ledger.completed, 600, "{ledger:?}");
    assert_eq!(ledger.duplicate_conflicting, 0, "{ledger:?}");
    assert_eq!(ledger.lost, 0, "{ledger:?}");
}

#[tokio::test]
async fn a_server_that_goes_away_and_comes_back_is_picked_up_again() {
    let first = mock().await;
    let addr = first.addr();
    first.enqueue(EnqueueRequest::new("phoenix", 50));
    let host = start_host(&first, [quick_worker("phoenix", 4)]);
    wait_for_completed(&first, 50).await;
    first.shutdown().await;

    wait_for("polls to fail", || async {
        host.status().workers[0].poll_errors >= 2
    })
    .await;
    let second = MockServer::builder()
        .port(addr.port())
        .start()
        .await
        .expect("the port is free again");
    second.enqueue(EnqueueRequest::new("phoenix", 50));
    wait_for_completed(&second, 50).await;
    assert_exactly_once(&second.ledger());
    assert!(host.shutdown_async().await.clean);
}

#[tokio::test]
async fn a_stalled_server_never_wedges_a_worker() {
    // Accepts connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api", listener.local_addr().unwrap());
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = held.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            keep.lock().unwrap().push(stream);
        }
    });
    let mock = mock().await;
    let host = host_for(&mock)
        .server_url(url)
        .http_timeout(Duration::from_millis(300))
        .worker(quick_worker("stalled", 2))
        .build()
        .unwrap()
        .start()
        .unwrap();

    wait_for("polls to time out", || async {
        host.status().workers[0].poll_errors >= 2
    })
    .await;
    let shutdown = tokio::time::timeout(DEADLINE, host.shutdown_async()).await;
    assert!(shutdown.expect("shutdown finishes").clean);
    assert!(!held.lock().unwrap().is_empty());
}

#[tokio::test]
async fn update_v2_chains_tasks_and_v1_is_used_without_it() {
    for v2_on_server in [true, false] {
        let mock = MockServer::builder()
            .update_v2(v2_on_server)
            .start()
            .await
            .unwrap();
        mock.enqueue(EnqueueRequest::new("chained", 60));
        let host = start_host(&mock, [quick_worker("chained", 1)]);
        wait_for_completed(&mock, 60).await;
        let status = host.status().workers[0].clone();
        host.shutdown_async().await;
        assert_exactly_once(&mock.ledger());
        assert_eq!(status.tasks_polled, 60);
        if v2_on_server {
            // After the first poll, each update answers with the next task.
            assert!(status.polls < 30, "update-v2 not used: {status:?}");
        } else {
            assert!(status.polls >= 60, "{status:?}");
        }
        mock.shutdown().await;
    }
}

#[tokio::test]
async fn results_the_server_refuses_are_given_up_to_the_hook() {
    let mock = mock().await;
    mock.enqueue(EnqueueRequest::new("refused", 1));
    // Every post answers 503, so the retries run out.
    mock.install_faults([
        FaultRule::new("update", FaultAction::Status { status: 503 }),
        FaultRule::new("update_v2", FaultAction::Status { status: 503 }),
    ]);
    let given_up = Arc::new(Mutex::new(Vec::new()));
    let sink = given_up.clone();
    let worker = FnWorker::new("refused", |_: Task| async {})
        .update_retries(2)
        .update_retry_backoff(Duration::from_millis(5));
    let host = host_for(&mock)
        .on_result_given_up(move |result, err| {
            sink.lock()
                .unwrap()
                .push((result.task_id.clone(), err.to_string()));
        })
        .worker(worker)
        .build()
        .unwrap()
        .start()
        .unwrap();

    wait_for("the hook", || async {
        !given_up.lock().unwrap().is_empty()
    })
    .await;
    let status = host.status().workers[0].clone();
    assert_eq!(status.results_given_up, 1);
    assert_eq!(status.update_retries, 2);
    let (task_id, error) = given_up.lock().unwrap()[0].clone();
    assert!(task_id.starts_with("00000000-"), "{task_id}");
    assert!(error.contains("503"), "{error}");
    host.shutdown_async().await;
}

#[tokio::test]
async fn unknown_tasks_are_not_retried() {
    let mock = mock().await;
    mock.enqueue(EnqueueRequest::new("forgotten", 1));
    let started = Arc::new(tokio::sync::Notify::new());
    let release = Arc::new(tokio::sync::Notify::new());
    let (on_start, on_release) = (started.clone(), release.clone());
    let worker = FnWorker::new("forgotten", move |_: Task| {
        let (on_start, on_release) = (on_start.clone(), on_release.clone());
        async move {
            on_start.notify_one();
            on_release.notified().await;
        }
    });
    let host = start_host(&mock, [worker.into()]);
    started.notified().await;
    mock.reset(); // the server forgets the task: its update gets 404
    release.notify_one();

    wait_for("the result to be given up", || async {
        host.status().workers[0].results_given_up == 1
    })
    .await;
    assert_eq!(host.status().workers[0].update_retries, 0);
    host.shutdown_async().await;
}

#[tokio::test]
async fn sigterm_drains_a_worker_process() {
    let mock = mock().await;
    mock.enqueue(EnqueueRequest::new("probe", 4));
    let mut probe = Command::new(env!("CARGO_BIN_EXE_drain_probe"))
        .env("CONDUCTOR_SERVER_URL", mock.base_url())
        .env("PROBE_TASK_MS", "400")
        .env_remove("CONDUCTOR_WORKER_CONFIG")
        .current_dir(std::env::temp_dir())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("four tasks in flight", || async {
        mock.ledger().in_flight == 4
    })
    .await;

    let killed = Command::new("kill")
        .args(["-TERM", &probe.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = tokio::task::spawn_blocking(move || {
        let status = probe.wait().unwrap();
        let mut stdout = String::new();
        if let Some(mut out) = probe.stdout.take() {
            std::io::Read::read_to_string(&mut out, &mut stdout).unwrap();
        }
        (status, stdout)
    })
    .await
    .unwrap();
    assert!(output.0.success(), "probe exited with {:?}", output.0);
    assert!(output.1.contains("drained cleanly"), "{}", output.1);
    let ledger = mock.ledger();
    assert_eq!(ledger.completed, 4);
    assert_exactly_once(&ledger);
}

#[tokio::test]
async fn orkes_tokens_are_minted_sent_and_refreshed() {
    let mock = MockServer::builder()
        .auth(Credentials {
            key_id: "key".into(),
            key_secret: "secret".into(),
        })
        .token_ttl(Duration::from_millis(300))
        .start()
        .await
        .unwrap();
    mock.enqueue(EnqueueRequest::new("secured", 40));
    let host = host_for(&mock)
        .auth("key", "secret")
        .worker(quick_worker("secured", 4))
        .build()
        .unwrap()
        .start()
        .unwrap();
    wait_for_completed(&mock, 40).await;

    // Tokens expire every 300 ms: later tasks need refreshed ones.
    tokio::time::sleep(Duration::from_millis(400)).await;
    mock.enqueue(EnqueueRequest::new("secured", 40));
    wait_for_completed(&mock, 80).await;
    let status = host.status().workers[0].clone();
    assert_eq!(status.results_given_up, 0, "{status:?}");
    assert_exactly_once(&mock.ledger());
    host.shutdown_async().await;
}

#[tokio::test]
async fn wrong_credentials_are_an_error_not_a_crash() {
    let mock = MockServer::builder()
        .auth(Credentials {
            key_id: "key".into(),
            key_secret: "secret".into(),
        })
        .start()
        .await
        .unwrap();
    mock.enqueue(EnqueueRequest::new("locked", 1));
    let host = host_for(&mock)
        .auth("key", "wrong")
        .worker(quick_worker("locked", 1))
        .build()
        .unwrap()
        .start()
        .unwrap();
    wait_for("failed polls", || async {
        host.status().workers[0].poll_errors >= 1
    })
    .await;
    assert_eq!(mock.ledger().handed_out, 0);
    assert!(host.shutdown_async().await.clean);
}

#[tokio::test]
async fn a_server_without_token_endpoint_turns_auth_off() {
    let mock = mock().await; // no auth: POST /api/token is 404, as on Conductor OSS
    mock.enqueue(EnqueueRequest::new("open", 20));
    let host = host_for(&mock)
        .auth("key", "secret")
        .worker(quick_worker("open", 2))
        .build()
        .unwrap()
        .start()
        .unwrap();
    wait_for_completed(&mock, 20).await;
    assert_exactly_once(&mock.ledger());
    host.shutdown_async().await;
}

#[tokio::test]
async fn leases_of_long_tasks_are_extended_when_enabled() {
    let mock = mock().await;
    let lease = |name: &str| {
        let mut def = TaskDef::new(name);
        def.response_timeout_seconds = 2;
        def.retry_count = 0;
        def
    };
    let leased = mock.enqueue(EnqueueRequest::new("leased", 1).task_def(lease("leased")));
    let unleased = mock.enqueue(EnqueueRequest::new("unleased", 1).task_def(lease("unleased")));
    let slow = |name: &str, extend: bool| -> WorkerSpec {
        FnWorker::blocking(name, |_: Task| {
            std::thread::sleep(Duration::from_millis(2500))
        })
        .lease_extend_enabled(extend)
        .into()
    };
    let host = start_host(&mock, [slow("leased", true), slow("unleased", false)]);

    wait_for("both tasks to end", || async {
        let ledger = mock.ledger();
        ledger.completed + ledger.timed_out >= 2
    })
    .await;
    let ledger = mock.ledger();
    // One extension at 1.6 s moves the deadline past the task's 2.5 s.
    assert!(ledger.lease_extensions >= 1, "{ledger:?}");
    let kept = mock.core().task(&leased.first_task_id).unwrap();
    assert_eq!(kept.status, Some(baton::model::TaskStatus::Completed));
    let lost = mock.core().task(&unleased.first_task_id).unwrap();
    assert_eq!(lost.status, Some(baton::model::TaskStatus::TimedOut));
    host.shutdown_async().await;
}

/// A proxy in front of `mock` that answers every `POST …/tasks/update-v2` with 404 and
/// `body`, as a server without the route does, and forwards everything else. Returns its API
/// URL and the number of update-v2 calls it refused.
async fn without_update_v2(mock: &MockServer, body: &'static str) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api", listener.local_addr().unwrap());
    let upstream: hyper::Uri = mock.base_url().parse().unwrap();
    let origin = format!("http://{}", upstream.authority().unwrap());
    let refused = Arc::new(AtomicUsize::new(0));
    let counter = refused.clone();
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (origin, counter, client) = (origin.clone(), counter.clone(), client.clone());
            let service = service_fn(move |request: Request<Incoming>| {
                let (origin, counter, client) = (origin.clone(), counter.clone(), client.clone());
                async move {
                    if request.uri().path().ends_with("/tasks/update-v2") {
                        counter.fetch_add(1, Ordering::SeqCst);
                        let mut answer =
                            Response::new(Full::new(Bytes::from_static(body.as_bytes())));
                        *answer.status_mut() = StatusCode::NOT_FOUND;
                        return Ok::<_, hyper_util::client::legacy::Error>(answer);
                    }
                    let (parts, incoming) = request.into_parts();
                    let payload = incoming.collect().await.unwrap().to_bytes();
                    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
                    let mut forwarded = Request::builder()
                        .method(parts.method)
                        .uri(format!("{origin}{target}"))
                        .body(Full::new(payload))
                        .unwrap();
                    *forwarded.headers_mut() = parts.headers;
                    let (parts, incoming) = client.request(forwarded).await?.into_parts();
                    let payload = incoming.collect().await.unwrap().to_bytes();
                    Ok(Response::from_parts(parts, Full::new(payload)))
                }
            });
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (url, refused)
}

#[tokio::test]
async fn a_missing_update_v2_route_is_recognised_from_the_error_body() {
    let spring_default = r#"{"timestamp":"2026-01-01T00:00:00.000+00:00","status":404,"error":"Not Found","path":"/api/tasks/update-v2"}"#;
    let problem_detail = r#"{"type":"about:blank","title":"Not Found","status":404,"detail":"No static resource api/tasks/update-v2.","instance":"/api/tasks/update-v2"}"#;
    for body in [spring_default, problem_detail] {
        let mock = mock().await;
        let (url, refused) = without_update_v2(&mock, body).await;
        mock.enqueue(EnqueueRequest::new("old-server", 40));
        let host = host_for(&mock)
            .server_url(url)
            .worker(quick_worker("old-server", 1))
            .build()
            .unwrap()
            .start()
            .unwrap();
        wait_for_completed(&mock, 40).await;
        let status = host.status().workers[0].clone();
        assert!(host.shutdown_async().await.clean);
        assert_exactly_once(&mock.ledger());
        // One refused update-v2 switched the worker to v1 for good; nothing was given up.
        assert_eq!(refused.load(Ordering::SeqCst), 1, "{body}");
        assert_eq!(status.results_given_up, 0, "{status:?}");
        assert!(status.polls >= 40, "{status:?}");
    }
}
