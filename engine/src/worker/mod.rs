//! The worker API: what a user writes.
//!
//! A worker is either a type implementing [`Worker`] (its settings overridable method by
//! method, like the Python SDKs' worker classes) or a function or closure wrapped in
//! [`FnWorker`]. Both can be synchronous (run on the worker's own thread pool) or async (run on
//! the worker's arbiter), take the whole [`Task`] or a typed [`Input`], and return a
//! [`TaskResult`](crate::model::TaskResult), an [`Outcome`], typed output ([`Json`]) or a
//! `Result` (an error becomes FAILED, or FAILED_WITH_TERMINAL_ERROR with
//! [`WorkerError::terminal`]).

mod context;
mod func;
mod input;
mod outcome;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use crate::config::WorkerOptions;
use crate::model::{Task, TaskResult};

pub use context::TaskContext;
pub use func::{AsyncHandler, BlockingHandler, FnWorker};
pub use input::{FromTask, Input, InputError, decode_input};
pub use outcome::{IntoTaskResult, Json, Outcome, WorkerError};

/// A worker written as a type. Only [`task_type`](Worker::task_type) and
/// [`execute`](Worker::execute) are required; settings in code come from
/// [`options`](Worker::options), the same [`WorkerOptions`] that [`FnWorker`]'s setters fill,
/// and `worker.ini` and the environment can still override them (see
/// `docs/configuration.md`).
///
/// ```
/// use baton::{Outcome, TaskContext, Worker, WorkerError, config::WorkerOptions, model::Task};
/// use std::time::Duration;
///
/// struct Resize;
///
/// impl Worker for Resize {
///     fn task_type(&self) -> &str {
///         "resize_image"
///     }
///
///     async fn execute(&self, task: Task, ctx: TaskContext) -> Result<Outcome, WorkerError> {
///         let width = task.input_data.get("width").and_then(|w| w.as_u64()).unwrap_or(100);
///         ctx.add_log(format!("resizing to {width}"));
///         Ok(Outcome::completed().with_output("width", width))
///     }
///
///     fn is_blocking(&self) -> bool {
///         true // CPU-bound: run on the worker's own threads
///     }
///
///     fn options(&self) -> WorkerOptions {
///         WorkerOptions::default()
///             .with_concurrency(4)
///             .with_polling_interval(Duration::from_millis(500))
///     }
/// }
/// ```
pub trait Worker: Send + Sync + 'static {
    /// The task type to poll for.
    fn task_type(&self) -> &str;

    /// Executes one task.
    fn execute(
        &self,
        task: Task,
        ctx: TaskContext,
    ) -> impl Future<Output = Result<Outcome, WorkerError>> + Send;

    /// Whether `execute` blocks (CPU-heavy work or blocking I/O). Blocking workers run on a
    /// thread pool of their own with `concurrency` threads; async workers run on their arbiter
    /// and must not block it. Default: `false`.
    fn is_blocking(&self) -> bool {
        false
    }

    /// The worker's settings in code; every property left `None` can still come from
    /// `worker.ini` and the environment, and otherwise Baton's default applies. Default: none
    /// set.
    fn options(&self) -> WorkerOptions {
        WorkerOptions::default()
    }
}

/// The future that executes one task and yields the result to post.
pub(crate) type Execution = BoxFuture<'static, TaskResult>;

/// A worker ready to hand to the host: any [`Worker`] or [`FnWorker`] converts into one.
pub struct WorkerSpec {
    /// The task type to poll for.
    pub(crate) task_type: String,
    /// The settings given in code.
    pub(crate) options: WorkerOptions,
    /// Whether execution blocks (run on a thread pool).
    pub(crate) blocking: bool,
    /// Starts the execution of one task.
    pub(crate) execute: Arc<dyn Fn(Task, TaskContext) -> Execution + Send + Sync>,
}

impl std::fmt::Debug for WorkerSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerSpec")
            .field("task_type", &self.task_type)
            .field("options", &self.options)
            .field("blocking", &self.blocking)
            .finish_non_exhaustive()
    }
}

impl WorkerSpec {
    /// Erases a [`Worker`].
    pub(crate) fn new<W: Worker>(worker: W) -> Self {
        let options = worker.options();
        let task_type = worker.task_type().to_owned();
        let blocking = worker.is_blocking();
        let worker = Arc::new(worker);
        let execute = Arc::new(move |task: Task, ctx: TaskContext| -> Execution {
            let worker = Arc::clone(&worker);
            Box::pin(async move {
                let outcome = worker.execute(task, ctx.clone()).await;
                outcome.into_task_result(&ctx)
            })
        });
        Self {
            task_type,
            options,
            blocking,
            execute,
        }
    }

    /// The task type this worker polls for.
    pub fn task_type(&self) -> &str {
        &self.task_type
    }

    /// Executes one task here and now, without a server, exactly as the engine would (bad
    /// input, errors and panics become FAILED results; logs are attached). For unit tests of
    /// workers, and for benchmarks. Blocking workers run on the calling thread.
    ///
    /// ```
    /// # use baton::{FnWorker, WorkerSpec, model::{Task, TaskResultStatus}};
    /// # futures_executor::block_on(async {
    /// let spec = WorkerSpec::from(FnWorker::blocking("double", |task: Task| {
    ///     let n = task.input_data["n"].as_i64().unwrap_or(0);
    ///     serde_json::json!({"doubled": n * 2})
    /// }));
    /// let mut task = Task::new("double", "t-1", "wf-1");
    /// task.input_data.insert("n".into(), 21.into());
    /// let result = spec.execute(task).await;
    /// assert_eq!(result.status, Some(TaskResultStatus::Completed));
    /// assert_eq!(result.output_data["doubled"], 42);
    /// # });
    /// ```
    pub async fn execute(&self, task: Task) -> TaskResult {
        let worker_id: Arc<str> = Arc::from("local");
        self.run(task, &worker_id).await.result
    }

    /// Runs one task to its result: decoding errors, worker errors and panics all become a
    /// FAILED result with a reason, and the context's logs are attached.
    ///
    /// The worker's function is called here, on the calling thread (for blocking workers, the
    /// pool thread); the returned future finishes the execution.
    pub(crate) fn run(
        &self,
        task: Task,
        worker_id: &Arc<str>,
    ) -> impl Future<Output = Executed> + Send + 'static {
        let ctx = TaskContext::new(&task, Arc::clone(worker_id));
        let worker_id = Arc::clone(worker_id);
        let started =
            std::panic::catch_unwind(AssertUnwindSafe(|| (self.execute)(task, ctx.clone())));
        async move {
            let outcome = match started {
                Ok(execution) => AssertUnwindSafe(execution).catch_unwind().await,
                Err(panic) => Err(panic),
            };
            let panicked = outcome.is_err();
            let mut result = match outcome {
                Ok(result) => result,
                Err(panic) => {
                    let reason = format!("worker panicked: {}", panic_message(&*panic));
                    tracing::error!(task_id = ctx.task_id(), %reason, "worker panicked");
                    WorkerError::new(reason).into_task_result(&ctx)
                }
            };
            let mut logs = ctx.take_logs();
            if !logs.is_empty() {
                logs.append(&mut result.logs);
                result.logs = logs;
            }
            if result.worker_id.is_none() {
                result.worker_id = Some(worker_id.to_string());
            }
            Executed { result, panicked }
        }
    }
}

/// How one execution ended: its result, and whether the worker panicked on the way.
#[derive(Debug)]
pub(crate) struct Executed {
    /// The result (FAILED with the panic's message if it panicked).
    pub(crate) result: TaskResult,
    /// Whether the worker panicked.
    pub(crate) panicked: bool,
}

/// The message of a panic payload (`&str` or `String`), or a placeholder.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    if let Some(message) = payload.downcast_ref::<&str>() {
        message
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message
    } else {
        "(non-string panic payload)"
    }
}

impl<W: Worker> From<W> for WorkerSpec {
    fn from(worker: W) -> Self {
        Self::new(worker)
    }
}
