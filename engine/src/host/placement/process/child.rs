//! The worker process's side: run the one worker on threads, journal its tasks to the parent,
//! report its status, and obey the parent's control messages.

use std::io::{BufReader, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::wire::{self, Control, Report, TasksLine};
use super::{CONCURRENCY_ENV, PAUSED_ENV};
use crate::actors::{HeldTask, Pipeline, TaskJournal};
use crate::config::WorkerSettings;
use crate::host::placement::start_threads;
use crate::host::{HostError, HostHandle, Stop, WorkerHost, WorkerStatus};

/// How often ended tasks are sent up when nothing else carries them.
const FLUSH_EVERY: Duration = Duration::from_millis(50);
/// How often the status is sent up.
const REPORT_EVERY: Duration = Duration::from_millis(500);
/// Ended tasks that are sent at once, without waiting for the next flush.
const ENDED_BATCH: usize = 256;

/// Runs `host`'s one worker in this process (a child of a process-placed host), linked to
/// the parent through stdin.
pub(crate) fn start(mut host: WorkerHost, stop: Stop) -> Result<HostHandle, HostError> {
    for (_, settings) in &mut host.workers {
        told_since_start(settings);
    }
    let stream = parent_stream().map_err(HostError::ParentLink)?;
    let reader = stream.try_clone().map_err(HostError::ParentLink)?;
    let link = Arc::new(ParentLink {
        outbox: Mutex::new(Outbox {
            stream,
            noted: TasksLine::default(),
            line: Vec::with_capacity(1024),
            broken: false,
        }),
        draining: stop.requested.clone(),
    });
    let journal: Arc<dyn TaskJournal> = link.clone();
    let handle = start_threads(host, stop.clone(), false, Some(journal))?;
    let pipelines = handle.pipelines().to_vec();
    let controlled = pipelines.clone();
    thread::Builder::new()
        .name("baton-parent-control".into())
        .spawn(move || obey(reader, &controlled, &stop))
        .map_err(HostError::thread("baton-parent-control"))?;
    thread::Builder::new()
        .name("baton-parent-report".into())
        .spawn(move || report(&link, &pipelines))
        .map_err(HostError::thread("baton-parent-report"))?;
    Ok(handle)
}

/// Applies what the parent told the worker since the host started (see `spawn_child`).
fn told_since_start(settings: &mut WorkerSettings) {
    if let Ok(paused) = std::env::var(PAUSED_ENV) {
        settings.paused = paused == "true";
    }
    if let Some(concurrency) = std::env::var(CONCURRENCY_ENV)
        .ok()
        .and_then(|n| n.parse().ok())
    {
        settings.concurrency = concurrency;
    }
}

/// This process's stdin, as the socket it is.
fn parent_stream() -> std::io::Result<UnixStream> {
    let fd = std::io::stdin().as_fd().try_clone_to_owned()?;
    Ok(UnixStream::from(fd))
}

/// Reads the parent's control messages until it goes away; then drains.
fn obey(stream: UnixStream, pipelines: &[Arc<Pipeline>], stop: &Stop) {
    let mut input = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        match wire::receive::<Control>(&mut input, &mut line) {
            Ok(Some(control)) => apply(control, pipelines, stop),
            Ok(None) => break,
            Err(err) if err.kind() == std::io::ErrorKind::InvalidData => {
                tracing::warn!(error = %err, "ignoring a control message from the parent process");
            }
            Err(err) => {
                tracing::warn!(error = %err, "lost the link to the parent process");
                break;
            }
        }
    }
    if !stop.requested.is_cancelled() {
        tracing::info!("parent process gone; draining");
        stop.requested.cancel();
    }
}

fn apply(control: Control, pipelines: &[Arc<Pipeline>], stop: &Stop) {
    match control {
        Control::Pause => pipelines.iter().for_each(|p| p.set_paused(true)),
        Control::Resume => pipelines.iter().for_each(|p| p.set_paused(false)),
        Control::Concurrency { concurrency } => {
            for pipeline in pipelines {
                if let Err(err) = pipeline.set_concurrency(concurrency) {
                    tracing::error!(error = %err, concurrency, "could not change the concurrency");
                }
            }
        }
        Control::Drain => {
            tracing::info!("the host shuts down; draining");
            stop.requested.cancel();
        }
        Control::StopNow => {
            tracing::warn!("the host stops now; giving up what is left");
            stop.requested.cancel();
            stop.now.cancel();
        }
    }
}

/// Flushes ended tasks and sends the status, on their cadences, for as long as the process
/// runs (or the parent listens).
fn report(link: &ParentLink, pipelines: &[Arc<Pipeline>]) {
    let mut last_status: Option<Instant> = None;
    loop {
        thread::sleep(FLUSH_EVERY);
        let alive = if last_status.is_none_or(|at| at.elapsed() >= REPORT_EVERY) {
            last_status = Some(Instant::now());
            pipelines
                .iter()
                .all(|pipeline| link.send_status(WorkerStatus::of(pipeline)))
        } else {
            link.flush()
        };
        if !alive {
            return;
        }
    }
}

/// The journal of a worker process: writes held tasks to the parent.
#[derive(Debug)]
struct ParentLink {
    outbox: Mutex<Outbox>,
    /// Once the host drains, ended tasks are sent at once (the process exits soon).
    draining: CancellationToken,
}

#[derive(Debug)]
struct Outbox {
    stream: UnixStream,
    /// The tasks started and ended since the last line was written.
    noted: TasksLine,
    /// The line being written (kept to reuse its allocation).
    line: Vec<u8>,
    /// Whether the parent stopped listening: nothing more is written.
    broken: bool,
}

impl Outbox {
    /// Writes the tasks noted since the last line; false once the parent is gone.
    fn write_tasks(&mut self) -> bool {
        if self.broken {
            return false;
        }
        self.line.clear();
        self.noted.take(&mut self.line);
        let written = self.stream.write_all(&self.line);
        self.settle(written)
    }

    fn write_status(&mut self, status: WorkerStatus) -> bool {
        if self.broken {
            return false;
        }
        self.line.clear();
        let report: Report<&str> = Report::Status {
            status: Box::new(status),
        };
        let written =
            wire::encode(&mut self.line, &report).and_then(|()| self.stream.write_all(&self.line));
        self.settle(written)
    }

    fn settle(&mut self, written: std::io::Result<()>) -> bool {
        if let Err(err) = written {
            tracing::warn!(error = %err, "cannot report to the parent process");
            self.broken = true;
        }
        !self.broken
    }
}

impl ParentLink {
    fn outbox(&self) -> std::sync::MutexGuard<'_, Outbox> {
        self.outbox.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends the tasks noted and not sent yet; false once the parent is gone.
    fn flush(&self) -> bool {
        let mut outbox = self.outbox();
        if outbox.noted.is_empty() {
            return !outbox.broken;
        }
        outbox.write_tasks()
    }

    fn send_status(&self, status: WorkerStatus) -> bool {
        let mut outbox = self.outbox();
        if !outbox.noted.is_empty() {
            outbox.write_tasks();
        }
        outbox.write_status(status)
    }
}

impl TaskJournal for ParentLink {
    fn started(&self, tasks: &[HeldTask<&str>]) {
        let mut outbox = self.outbox();
        for task in tasks {
            outbox.noted.start(task);
        }
    }

    fn commit(&self) {
        let mut outbox = self.outbox();
        if outbox.noted.has_started() {
            outbox.write_tasks();
        }
    }

    fn ended(&self, task_id: &str) {
        let mut outbox = self.outbox();
        if outbox.broken {
            return;
        }
        outbox.noted.end(task_id);
        if outbox.noted.ended_count() >= ENDED_BATCH || self.draining.is_cancelled() {
            outbox.write_tasks();
        }
    }
}
