//! [`HostHandle`]: watches and controls a running host (status, pause and resume, shutdown).

use std::sync::Arc;
use std::thread;

use tokio::sync::oneshot;

use crate::actors::Pipeline;
use crate::config::Prop;
use crate::host::placement::process::{Control, Supervision};
use crate::host::{HostError, HostStatus, ShutdownReport, Stop, WorkerStatus};
use crate::ops::OpsEndpoint;

/// Controls a running host. Dropping it shuts the host down (without waiting).
#[derive(Debug)]
pub struct HostHandle {
    pipelines: Vec<Arc<Pipeline>>,
    /// With process placement: the children and their supervision.
    supervision: Option<Arc<Supervision>>,
    stop: Stop,
    done: Option<oneshot::Receiver<ShutdownReport>>,
    thread: Option<thread::JoinHandle<()>>,
    /// The operations endpoint, when it is on.
    ops: Option<OpsEndpoint>,
}

impl HostHandle {
    /// A handle on workers running in this process: `thread` runs them and sends the drain's
    /// report on `done` once `shutdown` is cancelled.
    pub(crate) fn threads(
        pipelines: Vec<Arc<Pipeline>>,
        stop: Stop,
        done: oneshot::Receiver<ShutdownReport>,
        thread: thread::JoinHandle<()>,
        ops: Option<OpsEndpoint>,
    ) -> Self {
        Self {
            pipelines,
            supervision: None,
            stop,
            done: Some(done),
            thread: Some(thread),
            ops,
        }
    }

    /// A handle on supervised worker processes: `thread` supervises them and sends the report
    /// on `done` once `shutdown` is cancelled.
    pub(crate) fn processes(
        supervision: Arc<Supervision>,
        stop: Stop,
        done: oneshot::Receiver<ShutdownReport>,
        thread: thread::JoinHandle<()>,
        ops: Option<OpsEndpoint>,
    ) -> Self {
        Self {
            pipelines: Vec::new(),
            supervision: Some(supervision),
            stop,
            done: Some(done),
            thread: Some(thread),
            ops,
        }
    }

    /// Where the operations endpoint listens (`/metrics`, `/status`, `/health`), when
    /// `CONDUCTOR_METRICS_ADDR` or `metrics_addr` turned it on: the real port when port 0 was
    /// asked for.
    pub fn ops_addr(&self) -> Option<std::net::SocketAddr> {
        self.ops.as_ref().map(OpsEndpoint::addr)
    }

    /// A snapshot of every worker (with process placement: of every worker process).
    pub fn status(&self) -> HostStatus {
        HostStatus {
            workers: self.pipelines.iter().map(|p| WorkerStatus::of(p)).collect(),
            processes: self
                .supervision
                .as_ref()
                .map(|s| s.status())
                .unwrap_or_default(),
        }
    }

    /// The workers running in this process.
    pub(crate) fn pipelines(&self) -> &[Arc<Pipeline>] {
        &self.pipelines
    }

    /// Pauses polling for every worker of `task_type` (tasks in hand still finish). Returns
    /// how many workers were paused (with process placement: how many running processes
    /// were told; one that restarts later starts paused too).
    pub fn pause(&self, task_type: &str) -> usize {
        self.set_paused(Some(task_type), true)
    }

    /// Resumes polling for every worker of `task_type`. Returns how many were resumed.
    pub fn resume(&self, task_type: &str) -> usize {
        self.set_paused(Some(task_type), false)
    }

    /// Pauses polling for every worker; returns how many were paused.
    pub fn pause_all(&self) -> usize {
        self.set_paused(None, true)
    }

    /// Resumes polling for every worker; returns how many were resumed.
    pub fn resume_all(&self) -> usize {
        self.set_paused(None, false)
    }

    /// Sets the concurrency of every worker of `task_type` in this process, live: growing
    /// takes effect at once (a blocking worker gets more threads); shrinking takes slots away
    /// as running tasks finish, never cancelling one. `concurrency` must be 1 to 10000 (the
    /// property's bounds). Returns how many workers changed (with process placement: how many
    /// running processes were told, each taking `concurrency` as its own; one that restarts
    /// later gets it too). Reflected in `status()` and the metrics.
    pub fn set_concurrency(&self, task_type: &str, concurrency: usize) -> Result<usize, HostError> {
        let spec = Prop::Concurrency.spec();
        let (min, max) = (spec.min as usize, spec.max as usize);
        if !(min..=max).contains(&concurrency) {
            return Err(HostError::Concurrency { concurrency, max });
        }
        if let Some(supervision) = &self.supervision {
            return Ok(supervision.control(Some(task_type), Control::Concurrency { concurrency }));
        }
        let mut changed = 0;
        for pipeline in self
            .pipelines
            .iter()
            .filter(|p| p.settings.task_type == task_type)
        {
            pipeline
                .set_concurrency(concurrency)
                .map_err(HostError::thread(format!(
                    "blocking pool of worker {task_type:?}"
                )))?;
            changed += 1;
        }
        Ok(changed)
    }

    fn set_paused(&self, task_type: Option<&str>, paused: bool) -> usize {
        if let Some(supervision) = &self.supervision {
            let control = if paused {
                Control::Pause
            } else {
                Control::Resume
            };
            return supervision.control(task_type, control);
        }
        self.pipelines
            .iter()
            .filter(|p| task_type.is_none_or(|t| p.settings.task_type == t))
            .inspect(|p| p.set_paused(paused))
            .count()
    }

    /// Drains and stops the host; blocks until done (at most the shutdown grace period, plus
    /// the longest poll in flight). Results still undelivered when the grace period ends are
    /// given up (logged with their ids, counted, passed to the hook) before it returns. Inside
    /// an async runtime it would block a runtime thread: it then answers
    /// [`HostError::ShutdownInsideRuntime`] and the host shuts down without anyone waiting,
    /// as when a handle is dropped (use [`shutdown_async`](Self::shutdown_async) there).
    pub fn shutdown(mut self) -> Result<ShutdownReport, HostError> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(HostError::ShutdownInsideRuntime);
        }
        self.request_shutdown();
        let report = match self.done.take().map(oneshot::Receiver::blocking_recv) {
            Some(Ok(report)) => report,
            _ => self.lost_report(),
        };
        self.join();
        Ok(report)
    }

    /// Drains and stops the host, from async code.
    pub async fn shutdown_async(mut self) -> ShutdownReport {
        self.request_shutdown();
        let report = match self.done.take() {
            Some(done) => done.await.ok(),
            None => None,
        };
        let report = report.unwrap_or_else(|| self.lost_report());
        // The host thread only stops its arbiters now; joining it takes milliseconds.
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        report
    }

    /// Resolves once the host is asked to stop: by [`shutdown`](Self::shutdown), or, in a
    /// worker process of a process-placed host, when its parent tells it to drain (or goes
    /// away). A program that starts its host with [`WorkerHost::start`](crate::WorkerHost::start)
    /// rather than `run` awaits this in the worker process, then calls
    /// [`shutdown_async`](Self::shutdown_async).
    pub async fn stop_requested(&self) {
        self.stop.requested.cancelled().await;
    }

    /// Whether the host has been asked to stop, without waiting: the polling form of
    /// [`stop_requested`](Self::stop_requested), for a caller with no async runtime.
    pub fn is_stop_requested(&self) -> bool {
        self.stop.requested.is_cancelled()
    }

    /// How this host is asked to stop (a shutdown request; stopping at once).
    pub(crate) fn stop(&self) -> Stop {
        self.stop.clone()
    }

    fn request_shutdown(&mut self) {
        self.stop.requested.cancel();
    }

    fn join(&mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    /// The report when the host thread died without sending one.
    fn lost_report(&self) -> ShutdownReport {
        ShutdownReport {
            clean: false,
            workers: self.status().workers,
        }
    }
}

impl Drop for HostHandle {
    fn drop(&mut self) {
        self.request_shutdown();
    }
}
