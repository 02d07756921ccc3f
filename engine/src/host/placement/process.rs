//! Process placement: each worker in an OS process of its own, as the Python SDKs run them.
//!
//! The parent re-runs its own executable once per worker with `BATON_WORKER_PROCESS=<index>`;
//! the program builds the same host, and `WorkerHost::start` in the child runs only that
//! worker, on threads as usual. Each child's stdin is a pipe from the parent: when it closes
//! (the parent shuts down, or dies) the child drains and exits. The parent supervises: a child
//! that exits while the host runs is restarted with backoff (1 s doubling to 60 s, back to 1 s
//! after a minute of good running). On shutdown the parent closes the pipes, waits for the
//! children to drain within the grace period, and kills any that outlast it.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::host::{HostError, HostHandle, HostStatus, ProcessStatus, ShutdownReport, Stop};
use crate::ops::{OpsEndpoint, OpsState};

/// The variable that tells a child process which worker it runs.
pub(crate) const CHILD_ENV: &str = "BATON_WORKER_PROCESS";

/// How often the supervisor looks at its children.
const SUPERVISE_EVERY: Duration = Duration::from_millis(50);
/// Restart backoff bounds.
const FIRST_RESTART_DELAY: Duration = Duration::from_secs(1);
const MAX_RESTART_DELAY: Duration = Duration::from_secs(60);
/// Extra time a child gets, beyond the grace period, to exit after draining.
const EXIT_MARGIN: Duration = Duration::from_secs(5);

/// The worker index this process runs, when it is a child of a process-placed host.
pub(crate) fn child_index() -> Result<Option<usize>, HostError> {
    let Some(value) = std::env::var_os(CHILD_ENV) else {
        return Ok(None);
    };
    parse_child_index(&value.to_string_lossy()).map(Some)
}

/// A `BATON_WORKER_PROCESS` value as a worker index.
fn parse_child_index(value: &str) -> Result<usize, HostError> {
    value.parse().map_err(|_| HostError::WorkerProcessVariable {
        variable: CHILD_ENV,
        value: value.to_owned(),
    })
}

/// In a child: cancels `shutdown` when the parent closes our stdin (or dies).
pub(crate) fn watch_parent(shutdown: CancellationToken) -> Result<(), HostError> {
    thread::Builder::new()
        .name("baton-parent-watch".into())
        .spawn(move || {
            let mut stdin = std::io::stdin();
            let mut buffer = [0u8; 64];
            while matches!(stdin.read(&mut buffer), Ok(n) if n > 0) {}
            tracing::info!("parent process gone or shutting down; draining");
            shutdown.cancel();
        })
        .map(|_| ())
        .map_err(HostError::thread("baton-parent-watch"))
}

/// One supervised child.
struct Supervised {
    index: usize,
    task_type: String,
    child: Option<Child>,
    started: Instant,
    restart_at: Option<Instant>,
    backoff: Duration,
    restarts: u32,
}

impl Supervised {
    fn status(&self) -> ProcessStatus {
        ProcessStatus {
            task_type: self.task_type.clone(),
            pid: self.child.as_ref().map(Child::id),
            restarts: self.restarts,
        }
    }

    /// Starts (or restarts) the child; on failure, schedules another try.
    fn spawn(&mut self) {
        match spawn_child(self.index) {
            Ok(child) => {
                tracing::info!(task_type = %self.task_type, pid = child.id(), "worker process started");
                self.child = Some(child);
                self.started = Instant::now();
                self.restart_at = None;
            }
            Err(err) => {
                tracing::error!(task_type = %self.task_type, error = %err, "cannot start worker process");
                self.schedule_restart();
            }
        }
    }

    fn schedule_restart(&mut self) {
        if self.started.elapsed() > MAX_RESTART_DELAY {
            self.backoff = FIRST_RESTART_DELAY;
        }
        self.restart_at = Some(Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(MAX_RESTART_DELAY);
    }

    /// Restarts a child that exited, after its backoff.
    fn supervise(&mut self) {
        if let Some(child) = &mut self.child {
            match child.try_wait() {
                Ok(None) => return,
                Ok(Some(status)) => {
                    tracing::warn!(task_type = %self.task_type, %status, retry_in = ?self.backoff, "worker process exited; restarting");
                }
                Err(err) => {
                    tracing::warn!(task_type = %self.task_type, error = %err, "lost track of a worker process; restarting");
                }
            }
            self.child = None;
            self.schedule_restart();
        }
        if self.restart_at.is_some_and(|at| at <= Instant::now()) {
            self.restarts += 1;
            self.spawn();
        }
    }
}

fn spawn_child(index: usize) -> std::io::Result<Child> {
    Command::new(std::env::current_exe()?)
        .args(std::env::args_os().skip(1))
        .env(CHILD_ENV, index.to_string())
        .stdin(Stdio::piped())
        .spawn()
}

/// Starts one child per task type and a supervisor thread that runs until `shutdown`; returns
/// the handle that watches and stops them.
pub(crate) fn start_children(
    task_types: Vec<String>,
    grace: Duration,
    stop: Stop,
    ops_addr: Option<std::net::SocketAddr>,
) -> Result<HostHandle, HostError> {
    let mut supervised: Vec<Supervised> = task_types
        .into_iter()
        .enumerate()
        .map(|(index, task_type)| Supervised {
            index,
            task_type,
            child: None,
            started: Instant::now(),
            restart_at: None,
            backoff: FIRST_RESTART_DELAY,
            restarts: 0,
        })
        .collect();
    for child in &mut supervised {
        child.spawn();
    }
    let status: Arc<Mutex<Vec<ProcessStatus>>> = Arc::new(Mutex::new(
        supervised.iter().map(Supervised::status).collect(),
    ));
    let (done_tx, done) = oneshot::channel();
    let shared = Arc::clone(&status);
    let supervisor_shutdown = stop.requested.clone();
    let handle_stop = stop.clone();
    let thread = thread::Builder::new()
        .name("baton-supervisor".into())
        .spawn(move || {
            while !supervisor_shutdown.is_cancelled() {
                for child in &mut supervised {
                    child.supervise();
                }
                *shared.lock().unwrap_or_else(PoisonError::into_inner) =
                    supervised.iter().map(Supervised::status).collect();
                thread::sleep(SUPERVISE_EVERY);
            }
            let _ = done_tx.send(stop_children(&mut supervised, grace, &stop.now));
        })
        .map_err(HostError::thread("baton-supervisor"))?;
    // The parent serves its children's status; their metrics and health need the child →
    // parent channel (not there yet), so /metrics says so and /health covers no worker.
    let ops = match ops_addr {
        Some(addr) => {
            let children = Arc::clone(&status);
            Some(OpsEndpoint::start(
                addr,
                OpsState {
                    metrics: None,
                    status: Box::new(move || HostStatus {
                        workers: Vec::new(),
                        processes: children
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .clone(),
                    }),
                    vitals: Box::new(Vec::new),
                },
            )?)
        }
        None => None,
    };
    Ok(HostHandle::processes(
        status,
        handle_stop,
        done,
        thread,
        ops,
    ))
}

/// Closes every child's stdin (they drain and exit), waits up to `grace` plus a margin, and
/// kills the ones still running. When `now` is cancelled (a second signal), each child still
/// draining is sent SIGTERM, which makes a child under `WorkerHost::run` give up its
/// undelivered results at once and exit.
fn stop_children(
    supervised: &mut [Supervised],
    grace: Duration,
    now: &CancellationToken,
) -> ShutdownReport {
    for child in supervised.iter_mut().filter_map(|s| s.child.as_mut()) {
        drop(child.stdin.take());
    }
    let deadline = Instant::now() + grace + EXIT_MARGIN;
    let mut clean = true;
    let mut hurried = false;
    for supervised in supervised.iter_mut() {
        let Some(child) = supervised.child.as_mut() else {
            continue;
        };
        loop {
            if now.is_cancelled() && !hurried {
                hurried = true;
                let pid = child.id().to_string();
                let _ = Command::new("kill").args(["-TERM", &pid]).status();
            }
            match child.try_wait() {
                Ok(Some(status)) => {
                    clean &= status.success();
                    break;
                }
                Ok(None) if Instant::now() < deadline => thread::sleep(SUPERVISE_EVERY),
                _ => {
                    tracing::warn!(task_type = %supervised.task_type, "worker process outlived the grace period; killing it");
                    let _ = child.kill();
                    let _ = child.wait();
                    clean = false;
                    break;
                }
            }
        }
    }
    ShutdownReport {
        clean,
        workers: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_worker_process_variable_is_its_own_error() {
        assert_eq!(parse_child_index("3").ok(), Some(3));
        for bad in ["", "one", "-1"] {
            match parse_child_index(bad) {
                Err(err @ HostError::WorkerProcessVariable { .. }) => {
                    assert!(err.to_string().contains(CHILD_ENV), "{err}");
                }
                other => panic!("{bad:?} parsed as {other:?}"),
            }
        }
    }
}
