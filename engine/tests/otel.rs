//! The OTLP export (cargo feature `otel`): a host's task spans reach a collector over HTTP.
//! Run with `cargo test -p baton --features otel --test otel`.

#![cfg(feature = "otel")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use baton::config::ConfigSources;
use baton::logging::{LogFormat, init_logging_with_otlp};
use baton::model::Task;
use baton::{FnWorker, WorkerHost};
use baton_mock::{EnqueueRequest, MockServer};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// A collector that keeps the body of every request to `/v1/traces`.
async fn collector() -> (String, Arc<Mutex<Vec<Bytes>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&bodies);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let kept = Arc::clone(&kept);
            let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                let kept = Arc::clone(&kept);
                async move {
                    let traces = request.uri().path() == "/v1/traces";
                    let body = request.into_body().collect().await?.to_bytes();
                    if traces {
                        kept.lock().unwrap().push(body);
                    }
                    Ok::<_, hyper::Error>(Response::new(Full::new(Bytes::new())))
                }
            });
            tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        }
    });
    (url, bodies)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_spans_are_exported_over_otlp() {
    let (url, bodies) = collector().await;
    let logging = init_logging_with_otlp(LogFormat::Text, url).unwrap();
    let mock = MockServer::start().await.unwrap();
    let enqueued = mock.enqueue(EnqueueRequest::new("traced", 3));
    let host = WorkerHost::builder()
        .config_sources(ConfigSources::new(Vec::<(String, String)>::new(), None).unwrap())
        .server_url(mock.base_url())
        .worker(FnWorker::new("traced", |_: Task| async {}))
        .build()
        .unwrap()
        .start()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while mock.ledger().completed < 3 {
        assert!(Instant::now() < deadline, "tasks not completed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    host.shutdown_async().await;
    // Dropping the guard flushes the spans still batched.
    tokio::task::spawn_blocking(move || drop(logging))
        .await
        .unwrap();
    let exported: Vec<u8> = bodies.lock().unwrap().iter().flatten().copied().collect();
    let has = |needle: &str| {
        exported
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
    };
    assert!(
        has("task"),
        "no task span exported ({} bytes)",
        exported.len()
    );
    assert!(
        has(&enqueued.first_task_id),
        "the task id is not among the span fields"
    );
    assert!(has("baton"), "no service name");
}
