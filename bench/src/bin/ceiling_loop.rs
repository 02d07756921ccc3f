//! The ceiling loop: the least a Conductor worker can do, with no engine, to measure what the
//! machine and the server allow.
//!
//! One thread (a current_thread tokio runtime) batch-polls up to 100 tasks (long-poll timeout
//! 100 ms) and posts `{"ok": true}` for each with up to K posts in flight over a keep-alive,
//! TCP_NODELAY connection pool. It never holds more tasks than two batches, counting the posts
//! in flight, and asks for exactly the room it has. It runs until SIGINT or SIGTERM (then stops
//! polling, posts what it holds and exits) or until `--tasks N` results are posted, and prints
//! `posted N failed_posts M` on stdout.
//!
//! ```text
//! ceiling_loop --server http://127.0.0.1:8080/api --task-type noop --updates 16
//! ```

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use clap::Parser;
use futures_util::StreamExt;
use futures_util::future::OptionFuture;
use futures_util::stream::FuturesUnordered;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use serde::{Deserialize, Serialize};
use tokio::signal::unix::{SignalKind, signal};

/// How often one result is tried before it is counted as failed.
const MAX_ATTEMPTS: u32 = 5;
/// The deadline of a post (a poll adds its long-poll timeout).
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(about = "Minimal Conductor worker loop with no engine (the throughput ceiling)")]
struct Args {
    /// The task type to poll for.
    #[arg(long, default_value = "noop")]
    task_type: String,
    /// Result posts in flight at once (K).
    #[arg(long, default_value_t = 16)]
    updates: usize,
    /// The server's API URL.
    #[arg(
        long,
        env = "CONDUCTOR_SERVER_URL",
        default_value = "http://127.0.0.1:8080/api"
    )]
    server: String,
    /// Stop after posting this many results (default: run until SIGINT/SIGTERM).
    #[arg(long)]
    tasks: Option<u64>,
    /// Most tasks per poll.
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Long-poll timeout in milliseconds.
    #[arg(long, default_value_t = 100)]
    poll_timeout_ms: u64,
    /// The worker id sent with polls and results.
    #[arg(long, default_value = "ceiling-loop")]
    worker_id: String,
}

/// The two fields of a polled task the loop needs.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Polled {
    task_id: String,
    #[serde(default)]
    workflow_instance_id: String,
}

/// The result posted for every task.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Completed<'a> {
    workflow_instance_id: &'a str,
    task_id: &'a str,
    worker_id: &'a str,
    status: &'static str,
    output_data: Output,
}

/// `{"ok": true}`.
#[derive(Debug, Serialize)]
struct Output {
    ok: bool,
}

/// A task held until its result is posted.
#[derive(Debug)]
struct Held {
    task: Polled,
    attempts: u32,
}

type Http = Client<HttpConnector, Full<Bytes>>;

/// Buffers reused by every poll: the body and simd-json's scratch space.
struct PollBuffers {
    body: Vec<u8>,
    simd: simd_json::Buffers,
}

type PollFuture = Pin<Box<dyn Future<Output = (Result<Vec<Polled>, String>, PollBuffers)>>>;

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("ceiling_loop: cannot start a runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("ceiling_loop: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let base = args.server.trim_end_matches('/');
    let base = if base.ends_with("/api") {
        base.to_owned()
    } else {
        format!("{base}/api")
    };
    let updates = args.updates.max(1);
    let batch = args.batch.max(1);
    let capacity = 2 * batch;
    let limit = args.tasks.unwrap_or(u64::MAX);
    let poll_timeout = Duration::from_millis(args.poll_timeout_ms);
    let poll_prefix = format!(
        "{base}/tasks/poll/batch/{}?workerid={}&timeout={}",
        args.task_type, args.worker_id, args.poll_timeout_ms
    );
    let post_url: hyper::Uri = format!("{base}/tasks")
        .parse()
        .map_err(|err| format!("bad server URL: {err}"))?;

    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_keepalive(Some(Duration::from_secs(60)));
    let http: Http = Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(updates + 2)
        .build(connector);

    let mut sigterm = signal(SignalKind::terminate()).map_err(|err| err.to_string())?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(|err| err.to_string())?;

    let mut held: VecDeque<Held> = VecDeque::with_capacity(capacity);
    let mut posts = FuturesUnordered::new();
    let mut poll: Option<PollFuture> = None;
    let mut buffers = Some(PollBuffers {
        body: Vec::with_capacity(128 * 1024),
        simd: simd_json::Buffers::new(128 * 1024),
    });
    let (mut polled, mut posted, mut failed) = (0u64, 0u64, 0u64);
    let mut stopping = false;

    loop {
        while posts.len() < updates
            && let Some(next) = held.pop_front()
        {
            let body = serde_json::to_vec(&Completed {
                workflow_instance_id: &next.task.workflow_instance_id,
                task_id: &next.task.task_id,
                worker_id: &args.worker_id,
                status: "COMPLETED",
                output_data: Output { ok: true },
            })
            .map_err(|err| err.to_string())?;
            posts.push(post(http.clone(), post_url.clone(), body, next));
        }
        let room = capacity.saturating_sub(held.len() + posts.len());
        let wanted = limit.saturating_sub(polled).min(batch as u64) as usize;
        if !stopping
            && poll.is_none()
            && wanted > 0
            && room >= wanted
            && let Some(buffers) = buffers.take()
        {
            let url = format!("{poll_prefix}&count={wanted}");
            poll = Some(Box::pin(poll_batch(
                http.clone(),
                url,
                poll_timeout,
                buffers,
            )));
        }
        if poll.is_none() && held.is_empty() && posts.is_empty() && (stopping || wanted == 0) {
            break;
        }
        tokio::select! {
            Some((outcome, returned)) = OptionFuture::from(poll.as_mut()), if poll.is_some() => {
                poll = None;
                buffers = Some(returned);
                match outcome {
                    Ok(tasks) => {
                        polled += tasks.len() as u64;
                        held.extend(tasks.into_iter().map(|task| Held { task, attempts: 0 }));
                    }
                    Err(err) => {
                        eprintln!("ceiling_loop: poll failed: {err}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
            Some((outcome, mut task)) = posts.next(), if !posts.is_empty() => {
                match outcome {
                    Ok(()) => posted += 1,
                    Err(err) => {
                        task.attempts += 1;
                        if task.attempts < MAX_ATTEMPTS {
                            held.push_back(task);
                        } else {
                            eprintln!("ceiling_loop: giving up {}: {err}", task.task.task_id);
                            failed += 1;
                        }
                    }
                }
            }
            _ = sigterm.recv(), if !stopping => stopping = true,
            _ = sigint.recv(), if !stopping => stopping = true,
        }
    }
    println!("posted {posted} failed_posts {failed} polled {polled}");
    Ok(())
}

/// One batch poll; answers the tasks and gives the buffers back.
async fn poll_batch(
    http: Http,
    url: String,
    poll_timeout: Duration,
    mut buffers: PollBuffers,
) -> (Result<Vec<Polled>, String>, PollBuffers) {
    buffers.body.clear();
    let outcome = async {
        let request = Request::builder()
            .method(Method::GET)
            .uri(url)
            .header(ACCEPT, HeaderValue::from_static("application/json"))
            .body(Full::new(Bytes::new()))
            .map_err(|err| err.to_string())?;
        let response = tokio::time::timeout(HTTP_TIMEOUT + poll_timeout, async {
            let response = http.request(request).await.map_err(|err| err.to_string())?;
            let status = response.status();
            read_body(response.into_body(), &mut buffers.body).await?;
            Ok::<_, String>(status)
        })
        .await
        .map_err(|_| "poll timed out".to_owned())??;
        if response == hyper::StatusCode::NO_CONTENT || buffers.body.is_empty() {
            return Ok(Vec::new());
        }
        if !response.is_success() {
            return Err(format!("poll answered {response}"));
        }
        simd_json::serde::from_slice_with_buffers(&mut buffers.body, &mut buffers.simd)
            .map_err(|err| err.to_string())
    }
    .await;
    (outcome, buffers)
}

/// Posts one result; answers the task back so a failure can be retried.
async fn post(
    http: Http,
    url: hyper::Uri,
    body: Vec<u8>,
    task: Held,
) -> (Result<(), String>, Held) {
    let outcome = async {
        let request = Request::builder()
            .method(Method::POST)
            .uri(url)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(ACCEPT, HeaderValue::from_static("text/plain"))
            .body(Full::new(Bytes::from(body)))
            .map_err(|err| err.to_string())?;
        tokio::time::timeout(HTTP_TIMEOUT, async {
            let response = http.request(request).await.map_err(|err| err.to_string())?;
            let status = response.status();
            let mut sink = Vec::new();
            read_body(response.into_body(), &mut sink).await?;
            if status.is_success() {
                Ok(())
            } else {
                Err(format!("update answered {status}"))
            }
        })
        .await
        .map_err(|_| "update timed out".to_owned())?
    }
    .await;
    (outcome, task)
}

/// Reads a body to its end (so the connection goes back to the pool).
async fn read_body(mut body: Incoming, into: &mut Vec<u8>) -> Result<(), String> {
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|err| err.to_string())?;
        if let Some(data) = frame.data_ref() {
            into.extend_from_slice(data);
        }
    }
    Ok(())
}
