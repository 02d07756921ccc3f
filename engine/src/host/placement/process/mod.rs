//! Process placement: each worker in supervised OS processes of its own, as the Python SDKs
//! run them, so that a worker calling native code that may crash costs, when it does, one
//! restart and FAILED tasks with the reason, never the host.
//!
//! The parent re-runs its own executable `processes` times per worker with
//! `BATON_WORKER_PROCESS=<worker index>`; the program builds the same host, and
//! `WorkerHost::start` in the child runs only that worker, on threads as usual (`child`).
//! Each child's stdin is one end of a Unix socket pair (`wire`): up it journals the tasks it
//! holds and reports its status; down the parent pauses, resumes, resizes and drains it.
//! When the parent goes away, even by SIGKILL, the child reads end-of-file and drains.
//!
//! The parent (`supervisor`) posts the tasks a dead child held FAILED at once, with the
//! cause in the reason, and a task held at `process_crash_limit` exits in a row
//! FAILED_WITH_TERMINAL_ERROR (`exit`, posted by `exit_posts`); it restarts the child by the
//! restart rule (`restart`). On shutdown it tells every child to drain, waits for them within
//! the grace period, and kills the ones that outlast it.

mod child;
mod exit;
mod exit_posts;
mod restart;
mod supervisor;
mod wire;

use std::sync::Arc;
use std::thread;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;
use tokio::sync::oneshot;

use crate::host::placement::Connector;
use crate::host::{HostError, HostHandle, HostStatus, Stop, WorkerHost};
use crate::ops::{HostMetrics, OpsEndpoint, OpsState, encode_rows};
pub(crate) use child::start as start_child;
use exit_posts::ExitPoster;
pub(crate) use supervisor::Supervision;
use supervisor::Supervisor;
pub(crate) use wire::Control;

/// The variable that tells a child process which worker it runs.
pub(crate) const CHILD_ENV: &str = "BATON_WORKER_PROCESS";
/// Set for a child whose worker was paused or resumed since the host started: `true`/`false`.
pub(crate) const PAUSED_ENV: &str = "BATON_WORKER_PROCESS_PAUSED";
/// Set for a child whose worker's concurrency was changed since the host started.
pub(crate) const CONCURRENCY_ENV: &str = "BATON_WORKER_PROCESS_CONCURRENCY";

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

/// Starts every worker's processes and the supervisor thread that runs until
/// `stop.requested`; returns the handle that watches, controls and stops them.
pub(crate) fn start_children(host: WorkerHost, stop: Stop) -> Result<HostHandle, HostError> {
    let grace = host.grace();
    let poster = ExitPoster::start(Connector::new(&host).client(8)?)?;
    let settings: Vec<_> = host.worker_settings().cloned().collect();
    let shared = Arc::new(Supervision::new(
        &settings,
        host.server.poll_error_backoff_max,
        host.server.poll_deadline_margin,
    ));
    // The endpoint first: a bad address fails the start before any child runs.
    let ops = match host.server.metrics_addr {
        Some(addr) => Some(OpsEndpoint::start(addr, ops_state(&shared))?),
        None => None,
    };
    let mut supervisor = Supervisor::new(Arc::clone(&shared), poster, host.process_command.clone());
    supervisor.start_all();
    let (done_tx, done) = oneshot::channel();
    let supervisor_stop = stop.clone();
    let thread = thread::Builder::new()
        .name("baton-supervisor".into())
        .spawn(move || {
            let _ = done_tx.send(supervisor.run(&supervisor_stop, grace));
        })
        .map_err(HostError::thread("baton-supervisor"))?;
    Ok(HostHandle::processes(shared, stop, done, thread, ops))
}

/// What the operations endpoint of a process-placed host serves: its children's status,
/// metrics added up from their reports, and their health.
fn ops_state(shared: &Arc<Supervision>) -> OpsState {
    let mut metrics = HostMetrics::new();
    let figures = Arc::clone(shared);
    metrics.collect(Box::new(move || figures.figures()));
    metrics.collect_with(Box::new(ProcessCollector(Arc::clone(shared))));
    let (status, vitals) = (Arc::clone(shared), Arc::clone(shared));
    OpsState {
        metrics: Some(metrics),
        status: Box::new(move || HostStatus {
            workers: Vec::new(),
            processes: status.status(),
        }),
        vitals: Box::new(move || vitals.vitals()),
    }
}

/// The metrics of the worker processes themselves.
#[derive(Debug)]
struct ProcessCollector(Arc<Supervision>);

impl Collector for ProcessCollector {
    fn encode(&self, encoder: DescriptorEncoder) -> std::fmt::Result {
        let descriptors = [
            (
                "baton_worker_processes",
                "Worker processes running",
                MetricType::Gauge,
            ),
            (
                "baton_worker_process_restarts",
                "Worker processes restarted after they exited",
                MetricType::Counter,
            ),
            (
                "baton_tasks_failed_on_process_exit",
                "Tasks a worker process held when it exited, posted FAILED (or FAILED_WITH_TERMINAL_ERROR) by the host",
                MetricType::Counter,
            ),
            (
                "baton_poison_tasks",
                "Tasks posted FAILED_WITH_TERMINAL_ERROR after process_crash_limit exits in a row",
                MetricType::Counter,
            ),
        ];
        encode_rows(encoder, &descriptors, &self.0.process_figures())
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
