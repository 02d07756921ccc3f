//! Load harness for baton-mock: drives the `baton-mock` binary (in its own process) and a bare
//! hyper server answering constant bodies (also its own process: `mock_load --bare`) with the
//! same client, and prints req/s side by side for single poll, batch poll (count 100) and
//! update, plus the mock's RSS idle, with 1M queued tasks, and after the run.
//!
//! ```sh
//! cargo build --release -p baton-mock -p baton-bench
//! target/release/mock_load --connections 16 --secs 5
//! ```

use std::convert::Infallible;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use baton_model::{JsonMap, Task, TaskStatus};
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

/// Load harness for baton-mock.
#[derive(Debug, Parser)]
struct Args {
    /// Run as the bare constant-body server instead (used internally).
    #[arg(long)]
    bare: bool,
    /// Concurrent client connections.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 5)]
    secs: u64,
    /// Tasks enqueued before the run.
    #[arg(long, default_value_t = 1_000_000)]
    tasks: u64,
    /// Worker threads of each server (the mock's --threads; the bare server's runtime).
    #[arg(long, default_value_t = 1)]
    server_threads: usize,
    /// Worker threads of the load client.
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Rounds of the batch phase: each refills the mock's queue (after a reset), polls it
    /// dry, then drives the bare server for the same time; rates are summed over rounds.
    #[arg(long, default_value_t = 5)]
    batch_rounds: u32,
    /// Phases to run, comma-separated: single, batch, update, worker, memory.
    #[arg(long, default_value = "single,batch,update,worker,memory")]
    phases: String,
    /// Path of the baton-mock binary (default: next to this one).
    #[arg(long)]
    mock: Option<std::path::PathBuf>,
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let threads = if args.bare {
        args.server_threads
    } else {
        args.client_threads
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()?;
    if args.bare {
        runtime.block_on(bare_server())
    } else {
        runtime.block_on(run(args))
    }
}

/// A sample task, shaped like the mock's hand-outs, for the bare server's constant bodies.
fn sample_task(seq: u64) -> Task {
    let mut task = Task::new(
        "load",
        baton_mock::ids::task_id(seq),
        baton_mock::ids::workflow_id(1),
    );
    task.status = Some(TaskStatus::InProgress);
    task.input_data = JsonMap::from_iter([("n".to_owned(), serde_json::json!(1))]);
    task.reference_task_name = Some("load".to_owned());
    task.task_def_name = Some("load".to_owned());
    task.scheduled_time = 1_795_000_000_000;
    task.start_time = 1_795_000_000_010;
    task.update_time = 1_795_000_000_010;
    task.poll_count = 1;
    task.seq = 1;
    task.response_timeout_seconds = 3600;
    task.workflow_type = Some("baton_mock_bulk".to_owned());
    task.worker_id = Some("w".to_owned());
    task.first_start_time = 1_795_000_000_010;
    task.queue_wait_time = 10;
    task
}

/// Answers every request with a constant body: a task for single polls, 100 for batch polls,
/// a task id for everything else.
async fn bare_server() -> Result<(), Box<dyn std::error::Error>> {
    let one = Bytes::from(serde_json::to_vec(&sample_task(1))?);
    let batch: Vec<Task> = (1..=100).map(sample_task).collect();
    let batch = Bytes::from(serde_json::to_vec(&batch)?);
    let id = Bytes::from(baton_mock::ids::task_id(1));
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    println!("bare listening on http://{}/api", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let (one, batch, id) = (one.clone(), batch.clone(), id.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let path = req.uri().path();
                let (body, kind) = if path.contains("/poll/batch/") {
                    (batch.clone(), "application/json")
                } else if path.contains("/poll/") {
                    (one.clone(), "application/json")
                } else {
                    (id.clone(), "text/plain")
                };
                async move {
                    let mut response = Response::new(Full::new(body));
                    response.headers_mut().insert(
                        "content-type",
                        hyper::header::HeaderValue::from_static(kind),
                    );
                    Ok::<_, Infallible>(response)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Starts `command` with stdout piped and returns the child with the URL announced on its
/// first stdout line (`... listening on http://IP:PORT/api`). The rest of stdout is drained on
/// a background thread so the child never blocks on a full pipe.
fn spawn_announced(mut command: Command) -> Result<(Child, String), Box<dyn std::error::Error>> {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    match line.trim_end().rsplit_once(" listening on ") {
        Some((_, url)) if url.starts_with("http://") => Ok((child, url.to_owned())),
        _ => {
            let _ = child.kill();
            Err(format!("unexpected first line: {line:?}").into())
        }
    }
}

/// The resident set size of process `pid` in KiB (`VmRSS` in `/proc/PID/status`).
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Kills the child when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn client(connections: usize) -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(connections)
        .pool_timer(TokioTimer::new())
        .build(connector)
}

async fn send(client: &HttpClient, method: Method, url: &str, body: Bytes) -> Option<(u16, Bytes)> {
    let request = Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json")
        .body(Full::new(body))
        .ok()?;
    let response = client.request(request).await.ok()?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.ok()?.to_bytes();
    Some((status, body))
}

/// What one measurement produced.
#[derive(Debug, Default)]
struct Rate {
    requests: u64,
    elapsed: Duration,
    /// CPU time the server process spent during the run.
    server_cpu: Option<Duration>,
}

impl Rate {
    /// Adds the requests, time and CPU of another run of the same kind.
    fn add(&mut self, other: &Rate) {
        let first = self.requests == 0 && self.elapsed.is_zero();
        self.requests += other.requests;
        self.elapsed += other.elapsed;
        self.server_cpu = match (first, self.server_cpu, other.server_cpu) {
            (true, _, cpu) => cpu,
            (false, Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
    }

    fn per_sec(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Server CPU per request (or per task for the worker loop), in µs.
    fn cpu_us(&self) -> String {
        match self.server_cpu {
            Some(cpu) if self.requests > 0 => {
                format!("{:.1}", cpu.as_secs_f64() * 1e6 / self.requests as f64)
            }
            _ => "?".to_owned(),
        }
    }
}

/// User + system CPU time of process `pid` (`/proc/PID/stat`, 100 ticks per second).
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// Runs `run` and records how much CPU server `pid` used meanwhile.
async fn on_server(pid: u32, run: impl std::future::Future<Output = Rate>) -> Rate {
    let before = cpu_time(pid);
    let mut rate = run.await;
    rate.server_cpu = before.zip(cpu_time(pid)).map(|(a, b)| b.saturating_sub(a));
    rate
}

/// `connections` loops of batch polls (count 100) of `base` for `limit` or until one comes
/// back empty.
async fn batch_polls(http: &HttpClient, base: &str, conns: usize, limit: Duration) -> Rate {
    let url = format!("{base}/tasks/poll/batch/load?count=100&timeout=100&workerid=w");
    let http = http.clone();
    measure_for(conns, limit, move |_| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            matches!(send(&http, Method::GET, &url, Bytes::new()).await, Some((200, b)) if b.len() > 2)
        }
    })
    .await
}

/// Runs `connections` loops of `request(i)` for `secs` or until one returns `false`.
async fn measure<F, Fut>(connections: usize, secs: u64, request: F) -> Rate
where
    F: Fn(u64) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    measure_for(connections, Duration::from_secs(secs), request).await
}

/// Runs `connections` loops of `request(i)` for `limit` or until one returns `false`.
async fn measure_for<F, Fut>(connections: usize, limit: Duration, request: F) -> Rate
where
    F: Fn(u64) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut loops = Vec::new();
    for _ in 0..connections {
        let (stop, count, request) = (Arc::clone(&stop), Arc::clone(&count), request.clone());
        loops.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let n = count.fetch_add(1, Ordering::Relaxed);
                if !request(n).await {
                    count.fetch_sub(1, Ordering::Relaxed);
                    stop.store(true, Ordering::Relaxed);
                }
            }
        }));
    }
    let deadline = tokio::time::sleep(limit);
    tokio::pin!(deadline);
    let watcher = async {
        while !stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::select! {
        () = &mut deadline => {}
        () = watcher => {}
    }
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed();
    for l in loops {
        let _ = l.await;
    }
    Rate {
        requests: count.load(Ordering::Relaxed),
        elapsed,
        server_cpu: None,
    }
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(
        || "?".to_owned(),
        |k| format!("{:.1} MiB", k as f64 / 1024.0),
    )
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().ok_or("no directory for this binary")?;
    let mock_path = args.mock.clone().unwrap_or_else(|| dir.join("baton-mock"));
    let threads = args.server_threads.to_string();
    let mut mock_cmd = Command::new(&mock_path);
    mock_cmd.args(["--port", "0", "--threads", &threads]);
    let (mock_child, mock_url) = spawn_announced(mock_cmd)?;
    let mock = Process(mock_child);
    let mut bare_cmd = Command::new(&exe);
    bare_cmd.args(["--bare", "--server-threads", &threads]);
    let (bare_child, bare_url) = spawn_announced(bare_cmd)?;
    let bare_pid = bare_child.id();
    let _bare = Process(bare_child);
    let pid = mock.0.id();
    let server_pid = |name: &str| if name == "mock" { pid } else { bare_pid };
    let admin = mock_url.trim_end_matches("/api").to_owned() + "/admin";
    let http = client(args.connections);
    let conns = args.connections;

    println!(
        "mock {mock_url} (pid {pid}), bare {bare_url}; {conns} connections, {} s per run, \
         server threads {threads}, client threads {}",
        args.secs, args.client_threads
    );
    let rss_idle = rss_kib(pid);

    let started = Instant::now();
    let (workflow, first_seq) = enqueue(&http, &admin, "load", args.tasks).await?;
    println!("enqueued {} tasks in {:.2?}", args.tasks, started.elapsed());
    let rss_queued = rss_kib(pid);

    let mut rows = Vec::new();
    let phase = |name: &str| args.phases.split(',').any(|p| p.trim() == name);
    // Single poll.
    for (name, base) in servers(phase("single"), &mock_url, &bare_url) {
        let url = format!("{base}/tasks/poll/load?workerid=w");
        let http = http.clone();
        let rate = on_server(
            server_pid(name),
            measure(conns, args.secs, move |_| {
                let (http, url) = (http.clone(), url.clone());
                async move {
                    matches!(
                        send(&http, Method::GET, &url, Bytes::new()).await,
                        Some((200, _))
                    )
                }
            }),
        )
        .await;
        rows.push(("single poll", name, rate));
    }
    // Batch poll, count 100: rounds of polling a queue of `tasks` dry (at most `secs`), each
    // followed by the bare server for the same time, so both see the same machine load.
    let (mut workflow, mut first_seq) = (workflow, first_seq);
    if phase("batch") {
        let mut mock_total = Rate::default();
        let mut bare_total = Rate::default();
        for round in 0..args.batch_rounds.max(1) {
            if round > 0 {
                send(&http, Method::POST, &format!("{admin}/reset"), Bytes::new())
                    .await
                    .ok_or("reset failed")?;
                (workflow, first_seq) = enqueue(&http, &admin, "load", args.tasks).await?;
            } else {
                top_up(&http, &admin, args.tasks).await?;
            }
            let limit = Duration::from_secs(args.secs);
            let mock_rate = on_server(pid, batch_polls(&http, &mock_url, conns, limit)).await;
            let window = mock_rate.elapsed;
            let bare_rate = on_server(bare_pid, batch_polls(&http, &bare_url, conns, window)).await;
            mock_total.add(&mock_rate);
            bare_total.add(&bare_rate);
        }
        rows.push(("batch poll (100)", "mock", mock_total));
        rows.push(("batch poll (100)", "bare", bare_total));
    }
    // Update: COMPLETED for handed-out tasks, in order (their ids are consecutive).
    let handed_out = ledger(&http, &admin).await?["handed_out"]
        .as_u64()
        .unwrap_or(0);
    let mock_cursor = Arc::new(AtomicU64::new(0));
    let job = UpdateJob {
        http: http.clone(),
        workflow: workflow.clone(),
        first_seq,
        count: handed_out,
    };
    if phase("update") {
        let mock_run = job.run(&mock_url, conns, args.secs, Arc::clone(&mock_cursor));
        rows.push(("update", "mock", on_server(pid, mock_run).await));
        let bare_run = job.run(&bare_url, conns, args.secs, Arc::new(AtomicU64::new(0)));
        rows.push(("update", "bare", on_server(bare_pid, bare_run).await));
    }
    let rss_after = rss_kib(pid);
    // Finish every task handed out so far.
    job.run(&mock_url, conns, 3600, mock_cursor).await;
    let rss_drained = rss_kib(pid);

    // A worker-shaped loop: batch poll 100, then update each task, on every connection;
    // the rate is tasks completed per second.
    if phase("worker") {
        top_up(&http, &admin, args.tasks).await?;
        for (name, base) in servers(true, &mock_url, &bare_url) {
            let rate =
                on_server(server_pid(name), worker_loop(&http, base, conns, args.secs)).await;
            rows.push(("worker loop (tasks/s)", name, rate));
        }
    }

    // Memory check: a second full round of `tasks` through batch poll and update; RSS should
    // follow queued tasks, not requests served.
    // Memory: reset, then two full rounds of `tasks` through batch poll and update; RSS should
    // follow queued tasks, not requests served (round 2 ends where round 1 did).
    let mut rounds = Vec::new();
    if phase("memory") {
        // Idempotent, so a connection lost on the way is simply retried.
        let mut reset = None;
        for _ in 0..3 {
            reset = send(&http, Method::POST, &format!("{admin}/reset"), Bytes::new()).await;
            if reset.is_some() {
                break;
            }
        }
        reset.ok_or("reset failed")?;
        rounds.push(("after reset".to_owned(), rss_kib(pid)));
        for n in 1..=2 {
            let (took, requests) = round(&http, &mock_url, &admin, args.tasks, conns).await?;
            rounds.push((
                format!("after round {n} ({requests} requests, {took:.1?})"),
                rss_kib(pid),
            ));
        }
    }
    let ledger = ledger(&http, &admin).await?;

    println!(
        "\n| endpoint | mock req/s | bare req/s | mock/bare | mock CPU µs/req | bare CPU µs/req |"
    );
    println!("|---|---|---|---|---|---|");
    for pair in rows.chunks(2) {
        if let [(what, _, mock), (_, _, bare)] = pair {
            println!(
                "| {what} | {:.0} ({} req) | {:.0} ({} req) | {:.2} | {} | {} |",
                mock.per_sec(),
                mock.requests,
                bare.per_sec(),
                bare.requests,
                mock.per_sec() / bare.per_sec().max(1e-9),
                mock.cpu_us(),
                bare.cpu_us()
            );
        }
    }
    println!(
        "\nmock RSS: idle {}, {} queued {}, after the timed runs {}, all handed-out tasks done {}",
        mib(rss_idle),
        args.tasks,
        mib(rss_queued),
        mib(rss_after),
        mib(rss_drained),
    );
    for (when, rss) in rounds {
        println!("mock RSS {when}: {}", mib(rss));
    }
    println!(
        "ledger: enqueued {} handed_out {} completed {} in_flight {} queued {} \
         duplicates {}/{} unknown {}",
        ledger["enqueued"],
        ledger["handed_out"],
        ledger["completed"],
        ledger["in_flight"],
        ledger["queued"],
        ledger["duplicate_identical"],
        ledger["duplicate_conflicting"],
        ledger["unknown_ids"]
    );
    Ok(())
}

/// Enqueues `load` tasks until at least `target` are queued.
async fn top_up(
    http: &HttpClient,
    admin: &str,
    target: u64,
) -> Result<(), Box<dyn std::error::Error>> {
    let queued = ledger(http, admin).await?["queued"].as_u64().unwrap_or(0);
    if queued < target {
        let body =
            serde_json::json!({"count": target - queued, "taskType": "load", "input": {"n": 1}});
        send(
            http,
            Method::POST,
            &format!("{admin}/enqueue"),
            serde_json::to_vec(&body)?.into(),
        )
        .await
        .ok_or("enqueue failed")?;
    }
    Ok(())
}

/// Both servers when `on`, else none.
fn servers<'a>(on: bool, mock: &'a String, bare: &'a String) -> Vec<(&'static str, &'a String)> {
    if on {
        vec![("mock", mock), ("bare", bare)]
    } else {
        Vec::new()
    }
}

/// The task ids in a poll answer, found by scanning for `"taskId":"` (no JSON parsing).
fn task_ids(body: &[u8]) -> Vec<&str> {
    const KEY: &[u8] = b"\"taskId\":\"";
    let mut ids = Vec::new();
    let mut rest = body;
    while let Some(at) = rest.windows(KEY.len()).position(|w| w == KEY) {
        rest = &rest[at + KEY.len()..];
        let end = rest.iter().position(|&b| b == b'"').unwrap_or(rest.len());
        if let Ok(id) = std::str::from_utf8(&rest[..end]) {
            ids.push(id);
        }
        rest = &rest[end..];
    }
    ids
}

/// `conns` loops of: batch poll 100, then one COMPLETED update per task; counts tasks.
async fn worker_loop(http: &HttpClient, base: &str, conns: usize, secs: u64) -> Rate {
    let poll_url = format!("{base}/tasks/poll/batch/load?count=100&timeout=100&workerid=w");
    let update_url = format!("{base}/tasks");
    let tasks = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&tasks);
    let http = http.clone();
    let rate = measure(conns, secs, move |_| {
        let (http, poll_url, update_url) = (http.clone(), poll_url.clone(), update_url.clone());
        let counter = Arc::clone(&counter);
        async move {
            let Some((200, body)) = send(&http, Method::GET, &poll_url, Bytes::new()).await else {
                return false;
            };
            for id in task_ids(&body) {
                let update = format!(
                    r#"{{"workflowInstanceId":"00000000-0000-4000-9000-000000000001","taskId":"{id}","status":"COMPLETED","outputData":{{"ok":true}}}}"#
                );
                if send(&http, Method::POST, &update_url, Bytes::from(update)).await.is_none() {
                    return false;
                }
                counter.fetch_add(1, Ordering::Relaxed);
            }
            true
        }
    })
    .await;
    Rate {
        requests: tasks.load(Ordering::Relaxed),
        elapsed: rate.elapsed,
        server_cpu: None,
    }
}

/// COMPLETED updates for the consecutive task ids `first_seq .. first_seq + count`.
#[derive(Clone)]
struct UpdateJob {
    http: HttpClient,
    workflow: String,
    first_seq: u64,
    count: u64,
}

impl UpdateJob {
    /// Posts updates to `base` for `secs` or until `cursor` reaches `count`.
    async fn run(&self, base: &str, conns: usize, secs: u64, cursor: Arc<AtomicU64>) -> Rate {
        let url = format!("{base}/tasks");
        let job = self.clone();
        measure(conns, secs, move |_| {
            let (job, url, cursor) = (job.clone(), url.clone(), Arc::clone(&cursor));
            async move {
                let n = cursor.fetch_add(1, Ordering::Relaxed);
                if n >= job.count {
                    return false;
                }
                let body = format!(
                    r#"{{"workflowInstanceId":"{}","taskId":"{}","status":"COMPLETED","outputData":{{"ok":true}}}}"#,
                    job.workflow,
                    baton_mock::ids::task_id(job.first_seq + n)
                );
                matches!(
                    send(&job.http, Method::POST, &url, Bytes::from(body)).await,
                    Some((200, _))
                )
            }
        })
        .await
    }
}

/// Enqueues `count` tasks of `task_type` through the admin API; returns their synthetic
/// workflow id and the sequence number of the first task id.
async fn enqueue(
    http: &HttpClient,
    admin: &str,
    task_type: &str,
    count: u64,
) -> Result<(String, u64), Box<dyn std::error::Error>> {
    let request = serde_json::json!({"count": count, "taskType": task_type, "input": {"n": 1}});
    let (_, body) = send(
        http,
        Method::POST,
        &format!("{admin}/enqueue"),
        serde_json::to_vec(&request)?.into(),
    )
    .await
    .ok_or("enqueue failed")?;
    let enqueued: serde_json::Value = serde_json::from_slice(&body)?;
    let workflow = enqueued["workflowInstanceId"]
        .as_str()
        .ok_or("no workflow id")?
        .to_owned();
    let first_seq = enqueued["firstTaskId"]
        .as_str()
        .and_then(baton_mock::ids::parse_task_id)
        .ok_or("no first task id")?;
    Ok((workflow, first_seq))
}

/// Enqueues `tasks`, batch-polls them all and completes them all; returns the time taken and
/// the requests sent.
async fn round(
    http: &HttpClient,
    mock_url: &str,
    admin: &str,
    tasks: u64,
    conns: usize,
) -> Result<(Duration, u64), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let (workflow, first_seq) = enqueue(http, admin, "round", tasks).await?;
    let url = format!("{mock_url}/tasks/poll/batch/round?count=100&timeout=100&workerid=w");
    let poller = http.clone();
    let polls = measure(conns, 3600, move |_| {
        let (http, url) = (poller.clone(), url.clone());
        async move {
            matches!(send(&http, Method::GET, &url, Bytes::new()).await, Some((200, b)) if b.len() > 2)
        }
    })
    .await;
    let job = UpdateJob {
        http: http.clone(),
        workflow: workflow.to_owned(),
        first_seq,
        count: tasks,
    };
    let updates = job
        .run(mock_url, conns, 3600, Arc::new(AtomicU64::new(0)))
        .await;
    Ok((started.elapsed(), polls.requests + updates.requests))
}

async fn ledger(
    http: &HttpClient,
    admin: &str,
) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    let (_, body) = send(http, Method::GET, &format!("{admin}/ledger"), Bytes::new())
        .await
        .ok_or("ledger failed")?;
    Ok(serde_json::from_slice(&body)?)
}
