//! [`Host`]: a `baton::WorkerHost` driven from Python.

use std::sync::Mutex;
use std::time::Duration;

use baton::config::{ConfigSources, WorkerOptions};
use baton::{FnWorker, HostHandle, Placement, WorkerHost, WorkerHostBuilder, model::Task};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use crate::queue::{self, TaskQueue};

/// What a host is between construction and shutdown.
enum State {
    /// Collecting workers.
    Building(Box<WorkerHostBuilder>),
    /// Running.
    Running(HostHandle),
    /// Started and stopped, or failed to start.
    Done,
}

/// A Baton worker host: add workers, start it, shut it down (drain).
#[pyclass(module = "baton_conductor._native", frozen)]
pub struct Host {
    state: Mutex<State>,
    /// The environment and worker.ini, read once when the host is created; each worker is
    /// resolved through them when added, and the engine resolves it the same way at start.
    sources: ConfigSources,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host").finish_non_exhaustive()
    }
}

fn lock_error<T>(_: T) -> PyErr {
    PyRuntimeError::new_err("host lock poisoned")
}

#[pymethods]
impl Host {
    /// A host for `server_url` (with or without `/api`; `None`: configuration decides), with
    /// token auth when both `auth_key` and `auth_secret` are given, serving the operations
    /// endpoint on `metrics_addr` (`host:port`; `CONDUCTOR_METRICS_ADDR` overrides it).
    /// With `process_command` (a program and its arguments), each worker runs in OS
    /// processes of its own, started with that command (Baton's process placement: the
    /// program must build the same host, and a dead process is restarted, its tasks posted
    /// FAILED). Configuration is read here (environment, worker.ini); a malformed source
    /// raises `ValueError`.
    #[new]
    #[pyo3(signature = (server_url=None, auth_key=None, auth_secret=None, update_v2=None,
                        metrics_addr=None, process_command=None))]
    fn new(
        server_url: Option<String>,
        auth_key: Option<String>,
        auth_secret: Option<String>,
        update_v2: Option<bool>,
        metrics_addr: Option<String>,
        process_command: Option<Vec<String>>,
    ) -> PyResult<Self> {
        let sources = read_sources()?;
        let mut builder = WorkerHost::builder().config_sources(sources.clone());
        if let Some(url) = server_url {
            builder = builder.server_url(url);
        }
        if let (Some(key), Some(secret)) = (auth_key, auth_secret) {
            builder = builder.auth(key, secret);
        }
        if let Some(enabled) = update_v2 {
            builder = builder.update_v2(enabled);
        }
        if let Some(addr) = metrics_addr {
            let addr = addr.parse().map_err(|e| {
                PyValueError::new_err(format!("metrics address {addr:?} is not host:port: {e}"))
            })?;
            builder = builder.metrics_addr(addr);
        }
        if let Some(command) = process_command {
            let Some((program, args)) = command.split_first() else {
                return Err(PyValueError::new_err("process_command is empty"));
            };
            builder = builder
                .placement(Placement::Processes)
                .process_command(program, args);
        }
        Ok(Self {
            state: Mutex::new(State::Building(Box::new(builder))),
            sources,
        })
    }

    /// Adds a worker for `task_type`; returns the queue its tasks arrive on and its effective
    /// settings (JSON text, as `resolve_worker_settings`). The arguments are the code layer:
    /// `worker.ini` and the environment override them, Baton's defaults fill the rest. Invalid
    /// settings raise `ValueError`.
    #[pyo3(signature = (task_type, concurrency=None, poll_interval_ms=None, domain=None,
                        worker_id=None, paused=None, poll_timeout_ms=None))]
    #[allow(clippy::too_many_arguments)]
    fn add_worker(
        &self,
        task_type: String,
        concurrency: Option<usize>,
        poll_interval_ms: Option<u64>,
        domain: Option<String>,
        worker_id: Option<String>,
        paused: Option<bool>,
        poll_timeout_ms: Option<u64>,
    ) -> PyResult<(TaskQueue, String)> {
        let options = code_options(
            concurrency,
            poll_interval_ms,
            domain,
            worker_id,
            paused,
            poll_timeout_ms,
        );
        let settings = self
            .sources
            .resolve_worker(&task_type, &options)
            .map_err(|e| PyValueError::new_err(e.to_string()))?
            .to_json()
            .to_string();
        let mut state = self.state.lock().map_err(lock_error)?;
        let State::Building(builder) = std::mem::replace(&mut *state, State::Done) else {
            return Err(PyRuntimeError::new_err(
                "workers must be added before start()",
            ));
        };
        let (bridge, queue) = queue::channel();
        let worker = FnWorker::new(task_type, move |task: Task| {
            let bridge = bridge.clone();
            async move { bridge.execute(task).await }
        })
        .options(options);
        *state = State::Building(Box::new(builder.worker(worker)));
        Ok((queue, settings))
    }

    /// Validates the configuration and starts polling; configuration errors raise
    /// `ValueError`.
    fn start(&self, py: Python<'_>) -> PyResult<()> {
        let mut state = self.state.lock().map_err(lock_error)?;
        let State::Building(builder) = std::mem::replace(&mut *state, State::Done) else {
            return Err(PyRuntimeError::new_err("the host has already been started"));
        };
        let handle = py
            .detach(|| builder.build().and_then(WorkerHost::start))
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        *state = State::Running(handle);
        Ok(())
    }

    /// Stops polling, waits (GIL released) for the tasks in hand to finish and their results
    /// to be posted, within the shutdown grace period. Returns the shutdown report as text, or
    /// `None` when the host was not running.
    fn shutdown(&self, py: Python<'_>) -> PyResult<Option<String>> {
        let handle = {
            let mut state = self.state.lock().map_err(lock_error)?;
            match std::mem::replace(&mut *state, State::Done) {
                State::Running(handle) => handle,
                _ => return Ok(None),
            }
        };
        let report = py.detach(|| handle.shutdown());
        Ok(Some(format!("{report:?}")))
    }

    /// Where the operations endpoint (`/metrics`, `/status`, `/health`) listens, as
    /// `host:port`; `None` when it is off or the host is not running.
    fn ops_addr(&self) -> PyResult<Option<String>> {
        let state = self.state.lock().map_err(lock_error)?;
        Ok(match &*state {
            State::Running(handle) => handle.ops_addr().map(|addr| addr.to_string()),
            _ => None,
        })
    }

    /// Whether the running host has been asked to stop: in a worker process, by its parent
    /// (drain) or the parent's going away.
    fn stop_requested(&self) -> PyResult<bool> {
        let state = self.state.lock().map_err(lock_error)?;
        Ok(match &*state {
            State::Running(handle) => handle.is_stop_requested(),
            _ => false,
        })
    }

    /// Per-worker counters as text (for diagnostics).
    fn status(&self) -> PyResult<Option<String>> {
        let state = self.state.lock().map_err(lock_error)?;
        Ok(match &*state {
            State::Running(handle) => Some(format!("{:?}", handle.status())),
            _ => None,
        })
    }
}

/// The effective settings of a worker for `task_type` (JSON text: every property by
/// canonical name, durations in milliseconds, and `sources`, where each value came from),
/// resolved as a host resolves it: the environment over `worker.ini` over these arguments (the
/// code layer) over Baton's defaults. Reads the environment and worker.ini on each call;
/// invalid settings raise `ValueError`.
#[pyfunction]
#[pyo3(signature = (task_type, concurrency=None, poll_interval_ms=None, domain=None,
                    worker_id=None, paused=None, poll_timeout_ms=None))]
#[allow(clippy::too_many_arguments)]
pub fn resolve_worker_settings(
    task_type: String,
    concurrency: Option<usize>,
    poll_interval_ms: Option<u64>,
    domain: Option<String>,
    worker_id: Option<String>,
    paused: Option<bool>,
    poll_timeout_ms: Option<u64>,
) -> PyResult<String> {
    let options = code_options(
        concurrency,
        poll_interval_ms,
        domain,
        worker_id,
        paused,
        poll_timeout_ms,
    );
    let settings = read_sources()?
        .resolve_worker(&task_type, &options)
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(settings.to_json().to_string())
}

/// The process's configuration sources: its environment and `./worker.ini` (or
/// `$CONDUCTOR_WORKER_CONFIG`).
fn read_sources() -> PyResult<ConfigSources> {
    ConfigSources::from_process().map_err(|e| PyValueError::new_err(e.to_string()))
}

/// The code layer of a worker's settings: what its `Worker` arguments say.
fn code_options(
    concurrency: Option<usize>,
    poll_interval_ms: Option<u64>,
    domain: Option<String>,
    worker_id: Option<String>,
    paused: Option<bool>,
    poll_timeout_ms: Option<u64>,
) -> WorkerOptions {
    WorkerOptions {
        concurrency,
        polling_interval: poll_interval_ms.map(Duration::from_millis),
        domain,
        worker_id,
        paused,
        poll_timeout: poll_timeout_ms.map(Duration::from_millis),
        ..WorkerOptions::default()
    }
}
