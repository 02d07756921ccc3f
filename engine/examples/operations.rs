//! A worker with the operations endpoint on: Prometheus metrics, JSON status and a health
//! check, and its concurrency changed live. Runs against an embedded `baton-mock`, scrapes its
//! own endpoint and prints what an operator would see.
//!
//! ```text
//! cargo run -p baton --example operations
//! CONDUCTOR_LOG_FORMAT=json RUST_LOG=baton=debug cargo run -p baton --example operations
//! ```
//!
//! In a deployment, set `CONDUCTOR_METRICS_ADDR=0.0.0.0:9991` instead of `metrics_addr` in
//! code, and point Prometheus and the liveness probe at it (see `docs/operations.md`).

use std::net::SocketAddr;
use std::time::Duration;

use baton::logging::{LogFormat, init_logging};
use baton::model::Task;
use baton::{FnWorker, WorkerHost, config::ConfigSources};
use baton_mock::{EnqueueRequest, MockServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _logging = init_logging(LogFormat::from_env()?)?;
    let mock = MockServer::start().await?;
    mock.enqueue(EnqueueRequest::new("resize_image", 2000));

    let worker = FnWorker::new("resize_image", |_: Task| async {
        tokio::time::sleep(Duration::from_millis(2)).await;
        serde_json::json!({"resized": true})
    })
    .concurrency(4);
    let host = WorkerHost::builder()
        .config_sources(ConfigSources::new(Vec::new(), None)?)
        .server_url(mock.base_url())
        .metrics_addr("127.0.0.1:0".parse()?)
        .worker(worker)
        .build()?
        .start()?;
    let ops = host.ops_addr().ok_or("the operations endpoint is off")?;
    println!("operations endpoint on http://{ops}");

    while mock.ledger().completed < 500 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // More capacity, live: no restart.
    host.set_concurrency("resize_image", 32)?;
    while mock.ledger().completed < 2000 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let (status, metrics) = get(ops, "/metrics").await?;
    println!("GET /metrics -> {status}");
    for line in metrics.lines().filter(|l| {
        l.starts_with("task_poll_total")
            || l.starts_with("task_execution_started_total")
            || l.starts_with("baton_slots_available")
            || l.starts_with("task_execute_time_seconds_count")
    }) {
        println!("  {line}");
    }
    let (status, body) = get(ops, "/health").await?;
    println!("GET /health -> {status} {body}");
    let (status, body) = get(ops, "/status").await?;
    println!("GET /status -> {status} {}", &body[..body.len().min(160)]);

    let report = host.shutdown_async().await;
    println!("drained cleanly: {}", report.clean);
    mock.shutdown().await;
    Ok(())
}

/// A bare HTTP/1.0 GET: the status code and the body.
async fn get(addr: SocketAddr, path: &str) -> Result<(u16, String), Box<dyn std::error::Error>> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await?;
    let (head, body) = answer.split_once("\r\n\r\n").ok_or("no HTTP answer")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or("no status code")?;
    Ok((status, body.to_owned()))
}
