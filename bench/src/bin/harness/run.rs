//! One run of one configuration: a fresh baton-mock (or the external server), the client in a
//! process group of its own, a warm-up, the measured window, a bounded drain with feeding
//! stopped, then the client stopped and the ledger read for losses, duplicates and latency.
//! Also the scaling runs' variants: a window sampled every second (the soak), and a run that
//! reads the client's memory once a given number of tasks are in flight at once.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStdin, Stdio};
use std::time::{Duration, Instant};

use baton_bench::BenchError;
use baton_bench::admin::{AdminClient, Ledger};
use baton_bench::processes::{signal, start_mock_with, wait_exit};
use baton_bench::procfs;
use baton_bench::window::{self, Feeder, Sample, WindowFigures};
use serde::Serialize;

use crate::configs::{Config, Programs};

/// The task type every run uses.
pub const TASK_TYPE: &str = "bench";
/// How long a client may take to complete its first task.
const START_LIMIT: Duration = Duration::from_secs(60);
/// How long the in-flight run waits after reaching its target before reading memory.
const SETTLE: Duration = Duration::from_secs(1);
/// How long a client may take to exit once stopped.
const EXIT_LIMIT: Duration = Duration::from_secs(15);

/// The timing of a run.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// After the first completed task, before measuring.
    pub warmup: Duration,
    /// Measured.
    pub window: Duration,
    /// The most the drain may take.
    pub drain: Duration,
}

/// Where the run's server is.
#[derive(Debug, Clone, Copy)]
pub enum Server<'a> {
    /// A fresh baton-mock from this binary per run.
    Spawn(&'a Path),
    /// An already running baton-mock at this API URL.
    External(&'a str),
}

/// What one run measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunFigures {
    /// Tasks completed in the window.
    pub tasks: u64,
    /// Completed tasks per second in the window.
    pub tasks_per_s: f64,
    /// CPU of the client's process tree per task, in µs.
    pub client_cpu_us_per_task: Option<f64>,
    /// CPU of the server per task, in µs (`None` for an external server).
    pub server_cpu_us_per_task: Option<f64>,
    /// The machine's busy share in the window (0..1).
    pub busy_share: f64,
    /// Cores' worth of CPU used by anything but the client and the server.
    pub other_load_cores: f64,
    /// Median schedule-to-completion latency over the run, in ms (spawned servers only).
    pub latency_p50_ms: Option<f64>,
    /// 99th percentile of the same.
    pub latency_p99_ms: Option<f64>,
    /// Summed peak RSS of the client's processes, in MiB.
    pub peak_rss_mib: f64,
    /// Summed PSS of the client's processes, in MiB.
    pub pss_mib: f64,
    /// Processes in the client's tree.
    pub processes: usize,
    /// HTTP calls to the server per completed task in the window (spawned servers only).
    pub http_calls_per_task: Option<f64>,
    /// Tasks handed out and never updated, after the client stopped.
    pub lost: u64,
    /// Repeated updates of an ended task.
    pub duplicates: u64,
    /// Whether every task was done before the client was stopped.
    pub drained: bool,
    /// Whether the client exited by itself once stopped (not killed).
    pub clean_exit: bool,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Talking to the server or reading `/proc` failed.
    #[error(transparent)]
    Bench(#[from] BenchError),
    /// A file or process call failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The client exited or did nothing.
    #[error("{0}")]
    Client(String),
}

/// A started client: its own process group, killed as a group when dropped.
struct Started {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Started {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the client (SIGTERM, or closing stdin for the Python scripts) and waits for it;
    /// whether it exited by itself.
    async fn stop(&mut self, by_stdin: bool) -> bool {
        if by_stdin {
            drop(self.stdin.take());
        } else {
            signal(self.pid(), "TERM");
        }
        wait_exit(&mut self.child, EXIT_LIMIT).await.is_some()
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        // Whatever is left of the group (SDK worker processes included).
        signal_group(self.child.id());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn signal_group(pid: u32) {
    let _ = std::process::Command::new("kill")
        .args(["-KILL", "--", &format!("-{pid}")])
        .stderr(Stdio::null())
        .status();
}

/// Runs `config` once; its client's output goes to `log`.
pub async fn run_once(
    config: &Config,
    programs: &Programs<'_>,
    server: Server<'_>,
    timing: Timing,
    log: &Path,
) -> Result<RunFigures, RunError> {
    run_sampled(config, programs, server, timing, None, log)
        .await
        .map(|(figures, _)| figures)
}

/// [`run_once`], plus a [`Sample`] of the client's memory and completed count every `every`
/// through the window (for a soak).
pub async fn run_sampled(
    config: &Config,
    programs: &Programs<'_>,
    server: Server<'_>,
    timing: Timing,
    every: Option<Duration>,
    log: &Path,
) -> Result<(RunFigures, Vec<Sample>), RunError> {
    let (mut mock, url) = start_server(config, server)?;
    let outcome = run_client(
        config,
        programs,
        &url,
        mock.as_ref().map(Child::id),
        timing,
        every,
        log,
    )
    .await;
    stop_server(mock.as_mut()).await;
    outcome
}

/// A fresh mock (with `config`'s setting) or the external server; its API URL.
fn start_server(config: &Config, server: Server<'_>) -> Result<(Option<Child>, String), RunError> {
    match server {
        Server::Spawn(binary) => {
            let extra: &[&str] = if config.no_update_v2 {
                &["--no-update-v2"]
            } else {
                &[]
            };
            let (child, url) = start_mock_with(binary, extra)?;
            Ok((Some(child), url))
        }
        Server::External(url) => Ok((None, url.to_owned())),
    }
}

/// Stops a spawned mock (SIGTERM, then SIGKILL after 10 s).
async fn stop_server(mock: Option<&mut Child>) {
    if let Some(mock) = mock {
        signal(mock.id(), "TERM");
        if wait_exit(mock, Duration::from_secs(10)).await.is_none() {
            let _ = mock.kill();
            let _ = mock.wait();
        }
    }
}

/// Starts `config`'s client against `url` in a process group of its own, output to `log`.
fn start_client(
    config: &Config,
    programs: &Programs<'_>,
    url: &str,
    log: &Path,
) -> Result<Started, RunError> {
    let out = File::create(log)?;
    let child = config
        .command(programs, url, TASK_TYPE)
        .stdin(Stdio::piped())
        .stdout(out.try_clone()?)
        .stderr(out)
        .process_group(0)
        .spawn()?;
    let mut client = Started { stdin: None, child };
    client.stdin = client.child.stdin.take();
    Ok(client)
}

async fn run_client(
    config: &Config,
    programs: &Programs<'_>,
    url: &str,
    mock_pid: Option<u32>,
    timing: Timing,
    every: Option<Duration>,
    log: &Path,
) -> Result<(RunFigures, Vec<Sample>), RunError> {
    let admin = AdminClient::new(url);
    let mut feeder = Feeder::with_types(config.task_types(TASK_TYPE), config.input());
    let before = feeder.feed_until(&admin, Instant::now()).await?;
    let mut client = start_client(config, programs, url, log)?;

    let measured = async {
        // Started: its first task completed (Python clients take a second or two to import).
        let deadline = Instant::now() + START_LIMIT;
        loop {
            let ledger = feeder
                .feed_until(&admin, Instant::now() + Duration::from_millis(100))
                .await?;
            if ledger.completed > before.completed {
                break;
            }
            if let Ok(Some(status)) = client.child.try_wait() {
                return Err(RunError::Client(format!(
                    "the client exited ({status}) before completing a task; see {}",
                    log.display()
                )));
            }
            if Instant::now() >= deadline {
                return Err(RunError::Client(format!(
                    "no task completed within {START_LIMIT:?} of starting; see {}",
                    log.display()
                )));
            }
        }
        feeder
            .feed_until(&admin, Instant::now() + timing.warmup)
            .await?;
        let measured = window::measure_sampled(
            &admin,
            &mut feeder,
            client.pid(),
            mock_pid,
            timing.window,
            every,
        )
        .await?;
        if let Ok(Some(status)) = client.child.try_wait() {
            return Err(RunError::Client(format!(
                "the client exited ({status}) during the window; see {}",
                log.display()
            )));
        }
        Ok(measured)
    }
    .await;
    // Feeding has stopped: let the client finish what is queued and held, then stop it.
    let drained = match &measured {
        Ok(_) => window::drain(&admin, timing.drain).await?,
        Err(_) => false,
    };
    let clean_exit = client.stop(config.stops_on_stdin_close()).await;
    drop(client);
    let (figures, samples): (WindowFigures, Vec<Sample>) = measured?;
    let after: Ledger = admin.ledger().await?;
    let spawned = mock_pid.is_some();
    let figures = RunFigures {
        tasks: figures.tasks,
        tasks_per_s: figures.tasks_per_s(),
        client_cpu_us_per_task: figures.client_cpu_us_per_task(),
        server_cpu_us_per_task: figures.server_cpu_us_per_task().filter(|_| spawned),
        busy_share: figures.busy_share,
        other_load_cores: figures.other_load_cores,
        latency_p50_ms: spawned.then_some(after.latency_p50_ms),
        latency_p99_ms: spawned.then_some(after.latency_p99_ms),
        peak_rss_mib: figures.peak_rss_mib,
        pss_mib: figures.pss_mib,
        processes: figures.processes,
        http_calls_per_task: figures.http_calls_per_task().filter(|_| spawned),
        lost: after.in_flight,
        duplicates: after.duplicates().saturating_sub(before.duplicates()),
        drained,
        clean_exit,
    };
    Ok((figures, samples))
}

/// What the in-flight memory run measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct InFlightFigures {
    /// Tasks in flight the run aimed at.
    pub target: u64,
    /// The most tasks in flight seen (the mock's ledger) when memory was read.
    pub in_flight: u64,
    /// Whether `target` tasks were in flight at once.
    pub reached: bool,
    /// Summed resident set size of the client's processes then, in MiB.
    pub rss_mib: f64,
    /// Summed peak RSS of the client's processes then, in MiB.
    pub peak_rss_mib: f64,
    /// Summed PSS of the client's processes then, in MiB.
    pub pss_mib: f64,
    /// Processes in the client's tree.
    pub processes: usize,
    /// Tasks handed out and never updated, after the client stopped.
    pub lost: u64,
    /// Repeated updates of an ended task.
    pub duplicates: u64,
    /// Whether every task was done before the client was stopped.
    pub drained: bool,
    /// Whether the client exited by itself once stopped (not killed).
    pub clean_exit: bool,
}

/// Enqueues `target` tasks for `config`'s client (whose tasks wait long enough to pile up),
/// waits up to `limit` for all of them to be in flight at once, reads the client's memory
/// then, and drains (up to `drain`).
pub async fn run_in_flight(
    config: &Config,
    programs: &Programs<'_>,
    server: Server<'_>,
    target: u64,
    limit: Duration,
    drain: Duration,
    log: &Path,
) -> Result<InFlightFigures, RunError> {
    let (mut mock, url) = start_server(config, server)?;
    let outcome = in_flight_client(config, programs, &url, target, limit, drain, log).await;
    stop_server(mock.as_mut()).await;
    outcome
}

async fn in_flight_client(
    config: &Config,
    programs: &Programs<'_>,
    url: &str,
    target: u64,
    limit: Duration,
    drain: Duration,
    log: &Path,
) -> Result<InFlightFigures, RunError> {
    let admin = AdminClient::new(url);
    let before = admin.ledger().await?;
    let types = config.task_types(TASK_TYPE);
    let input = config.input();
    let per_type = target.div_ceil(types.len().max(1) as u64);
    for task_type in &types {
        admin.enqueue(task_type, per_type, &input).await?;
    }
    let mut client = start_client(config, programs, url, log)?;
    let deadline = Instant::now() + limit;
    let mut most = 0;
    let peak = loop {
        let ledger = admin.ledger().await?;
        most = most.max(ledger.in_flight);
        if ledger.in_flight >= target || Instant::now() >= deadline {
            break ledger.in_flight;
        }
        if let Ok(Some(status)) = client.child.try_wait() {
            return Err(RunError::Client(format!(
                "the client exited ({status}) before {target} tasks were in flight; see {}",
                log.display()
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // Let the client settle with everything in flight (its tasks wait far longer), then read.
    tokio::time::sleep(SETTLE).await;
    let usage = procfs::tree_usage(client.pid())?;
    let drained = window::drain(&admin, drain).await?;
    let clean_exit = client.stop(config.stops_on_stdin_close()).await;
    drop(client);
    let after = admin.ledger().await?;
    Ok(InFlightFigures {
        target,
        in_flight: most.max(peak),
        reached: peak >= target,
        rss_mib: usage.rss_kib as f64 / 1024.0,
        peak_rss_mib: usage.peak_rss_kib as f64 / 1024.0,
        pss_mib: usage.pss_kib as f64 / 1024.0,
        processes: usage.processes,
        lost: after.in_flight,
        duplicates: after.duplicates().saturating_sub(before.duplicates()),
        drained,
        clean_exit,
    })
}
