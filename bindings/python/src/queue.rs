//! The hand-off between the engine and Python threads: a queue of leased tasks.
//!
//! The engine side ([`Bridge`]) is an async `FnWorker` body: it sends the task with a one-shot
//! reply channel and awaits the reply. The Python side ([`TaskQueue::take`]) blocks on the
//! queue with the GIL released. A lease dropped without an answer (the Python thread died, the
//! interpreter is exiting) becomes a FAILED result instead of a lost task.

use std::sync::Mutex;
use std::time::Duration;

use baton::WorkerError;
use baton::model::{Task, TaskResult};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use tokio::sync::oneshot;

/// One task in Python's hands, with the channel its result goes back on.
struct Job {
    /// The task, as JSON (the server's camelCase field names).
    task_json: String,
    reply: oneshot::Sender<String>,
}

/// The engine's end of a queue: what each task of one Python worker goes through.
#[derive(Clone, Debug)]
pub(crate) struct Bridge {
    jobs: Sender<Job>,
}

impl Bridge {
    /// Hands `task` to Python and waits for its result.
    pub(crate) async fn execute(&self, task: Task) -> Result<TaskResult, WorkerError> {
        let task_json = serde_json::to_string(&task)
            .map_err(|e| WorkerError::new(format!("task could not be encoded: {e}")))?;
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { task_json, reply })
            .map_err(|_| WorkerError::new("the Python worker has stopped"))?;
        let result_json = answer
            .await
            .map_err(|_| WorkerError::new("the Python worker dropped the task without a result"))?;
        serde_json::from_str(&result_json)
            .map_err(|e| WorkerError::new(format!("the worker's result is not a TaskResult: {e}")))
    }
}

/// Creates a queue: the engine's end and Python's end.
pub(crate) fn channel() -> (Bridge, TaskQueue) {
    let (jobs, taken) = crossbeam_channel::unbounded();
    (Bridge { jobs }, TaskQueue { taken })
}

/// Python's end of one worker's tasks.
#[pyclass(module = "baton_conductor._native", frozen)]
#[derive(Debug)]
pub struct TaskQueue {
    taken: Receiver<Job>,
}

#[pymethods]
impl TaskQueue {
    /// The next task, waiting at most `timeout` seconds with the GIL released; `None` when
    /// none came in time or the engine has stopped.
    fn take(&self, py: Python<'_>, timeout: f64) -> Option<Lease> {
        let wait = Duration::try_from_secs_f64(timeout.max(0.0)).unwrap_or(Duration::MAX);
        let job = py.detach(|| self.taken.recv_timeout(wait));
        match job {
            Ok(job) => Some(Lease {
                task_json: job.task_json,
                reply: Mutex::new(Some(job.reply)),
            }),
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => None,
        }
    }
}

/// One task taken from a [`TaskQueue`]; answer it once with [`Lease::complete`].
#[pyclass(module = "baton_conductor._native", frozen)]
#[derive(Debug)]
pub struct Lease {
    task_json: String,
    reply: Mutex<Option<oneshot::Sender<String>>>,
}

#[pymethods]
impl Lease {
    /// The task as JSON text, with the server's field names.
    #[getter]
    fn task_json(&self) -> &str {
        &self.task_json
    }

    /// Posts the result (a `TaskResult` as JSON text); a second call is an error.
    fn complete(&self, result_json: String) -> PyResult<()> {
        let reply = self
            .reply
            .lock()
            .map_err(|_| PyRuntimeError::new_err("lease lock poisoned"))?
            .take()
            .ok_or_else(|| PyRuntimeError::new_err("this task has already been completed"))?;
        // The engine stops waiting only when it shuts down past its grace period; the result
        // then has nowhere to go, as with any worker that overruns the grace period.
        let _ = reply.send(result_json);
        Ok(())
    }
}
