//! [`FnWorker`]: a function or closure as a worker, sync or async, with its settings given by
//! builder methods.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use crate::config::{WorkerOptions, worker_properties};
use crate::model::{Task, TaskResult};
use crate::worker::{FromTask, IntoTaskResult, TaskContext, WorkerError, WorkerSpec};

/// A function or closure as a worker.
///
/// [`FnWorker::new`] takes an async function, run on the worker's arbiter;
/// [`FnWorker::blocking`] takes a synchronous one, run on a thread pool of its own with
/// `concurrency` threads. Either takes one argument ([`Task`] or [`Input<T>`](crate::Input)),
/// optionally followed by a [`TaskContext`], and returns anything that implements
/// [`IntoTaskResult`].
///
/// ```
/// use baton::{FnWorker, Input, Json, TaskContext, WorkerError, model::Task};
///
/// #[derive(serde::Deserialize)]
/// struct Order { amount: u64 }
/// #[derive(serde::Serialize)]
/// struct Receipt { charged: u64 }
///
/// // Synchronous, typed input and output, settings in code.
/// let charge = FnWorker::blocking("charge", |Input(order): Input<Order>| {
///     if order.amount == 0 {
///         return Err(WorkerError::terminal("nothing to charge"));
///     }
///     Ok(Json(Receipt { charged: order.amount }))
/// })
/// .concurrency(8);
///
/// // Async, the whole task plus its context.
/// let notify = FnWorker::new("notify", |task: Task, ctx: TaskContext| async move {
///     ctx.add_log(format!("notifying for {}", task.task_id));
///     Json(serde_json::json!({"sent": true}))
/// });
/// # let _ = (charge, notify);
/// ```
pub struct FnWorker {
    task_type: String,
    options: WorkerOptions,
    blocking: bool,
    execute: Arc<dyn Fn(Task, TaskContext) -> BoxFuture<'static, TaskResult> + Send + Sync>,
}

impl std::fmt::Debug for FnWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FnWorker")
            .field("task_type", &self.task_type)
            .field("options", &self.options)
            .field("blocking", &self.blocking)
            .finish_non_exhaustive()
    }
}

impl FnWorker {
    /// An async function worker for `task_type`.
    pub fn new<Args, H: AsyncHandler<Args>>(task_type: impl Into<String>, handler: H) -> Self {
        let handler = Arc::new(handler);
        Self {
            task_type: task_type.into(),
            options: WorkerOptions::default(),
            blocking: false,
            execute: Arc::new(move |task, ctx| handler.call(task, ctx)),
        }
    }

    /// A synchronous function worker for `task_type`, run on a thread pool of its own.
    pub fn blocking<Args, H: BlockingHandler<Args>>(
        task_type: impl Into<String>,
        handler: H,
    ) -> Self {
        let handler = Arc::new(handler);
        Self {
            task_type: task_type.into(),
            options: WorkerOptions::default(),
            blocking: true,
            execute: Arc::new(move |task, ctx| {
                // Runs the function right here, on the pool thread that starts the execution.
                let result = handler.call(task, ctx);
                Box::pin(std::future::ready(result))
            }),
        }
    }

    /// Replaces every setting given in code so far with `options` (the setters below change
    /// one value each).
    #[must_use]
    pub fn options(mut self, options: WorkerOptions) -> Self {
        self.options = options;
        self
    }
}

/// Defines one `FnWorker` setter per worker property, each a shorthand for the
/// [`WorkerOptions`] setter of the same property.
macro_rules! define_fn_worker_setters {
    ($(
        #[doc = $doc:literal]
        $variant:ident $field:ident: $value:ty, code $code:ty, set $setter:ident($arg:ty) {
            $($spec:tt)*
        }
    )+) => {
        impl FnWorker {
            $(
                #[doc = concat!("Sets `", stringify!($field), "`:", $doc)]
                #[doc = ""]
                #[doc = concat!("Shorthand for [`WorkerOptions::", stringify!($setter), "`].")]
                #[must_use]
                pub fn $field(mut self, value: $arg) -> Self {
                    self.options = self.options.$setter(value);
                    self
                }
            )+
        }
    };
}

worker_properties!(define_fn_worker_setters);

impl From<FnWorker> for WorkerSpec {
    fn from(worker: FnWorker) -> Self {
        Self {
            task_type: worker.task_type,
            options: worker.options,
            blocking: worker.blocking,
            execute: worker.execute,
        }
    }
}

/// A synchronous function usable by [`FnWorker::blocking`]: `Fn(I) -> R` or
/// `Fn(I, TaskContext) -> R`, where `I:` [`FromTask`] and `R:` [`IntoTaskResult`].
pub trait BlockingHandler<Args>: Send + Sync + 'static {
    /// Executes one task.
    fn call(&self, task: Task, ctx: TaskContext) -> TaskResult;
}

impl<F, I, R> BlockingHandler<(I,)> for F
where
    F: Fn(I) -> R + Send + Sync + 'static,
    I: FromTask,
    R: IntoTaskResult,
{
    fn call(&self, task: Task, ctx: TaskContext) -> TaskResult {
        with_input(task, &ctx, |input| self(input).into_task_result(&ctx))
    }
}

impl<F, I, R> BlockingHandler<(I, TaskContext)> for F
where
    F: Fn(I, TaskContext) -> R + Send + Sync + 'static,
    I: FromTask,
    R: IntoTaskResult,
{
    fn call(&self, task: Task, ctx: TaskContext) -> TaskResult {
        with_input(task, &ctx, |input| {
            self(input, ctx.clone()).into_task_result(&ctx)
        })
    }
}

/// Decodes the input and runs `run` on it; an input that does not decode is a FAILED result.
fn with_input<I: FromTask>(
    task: Task,
    ctx: &TaskContext,
    run: impl FnOnce(I) -> TaskResult,
) -> TaskResult {
    match I::from_task(task) {
        Ok(input) => run(input),
        Err(err) => WorkerError::from(err).into_task_result(ctx),
    }
}

/// Like [`with_input`], for async functions: `start` begins the execution.
fn start_with_input<I: FromTask, Fut, R>(
    task: Task,
    ctx: TaskContext,
    start: impl FnOnce(I) -> Fut,
) -> BoxFuture<'static, TaskResult>
where
    Fut: Future<Output = R> + Send + 'static,
    R: IntoTaskResult,
{
    match I::from_task(task) {
        Ok(input) => {
            let running = start(input);
            Box::pin(async move { running.await.into_task_result(&ctx) })
        }
        Err(err) => Box::pin(std::future::ready(
            WorkerError::from(err).into_task_result(&ctx),
        )),
    }
}

/// An async function usable by [`FnWorker::new`]: `Fn(I) -> impl Future<Output = R>` or
/// `Fn(I, TaskContext) -> impl Future<Output = R>`, where `I:` [`FromTask`] and `R:`
/// [`IntoTaskResult`].
pub trait AsyncHandler<Args>: Send + Sync + 'static {
    /// Starts executing one task.
    fn call(&self, task: Task, ctx: TaskContext) -> BoxFuture<'static, TaskResult>;
}

impl<F, I, Fut, R> AsyncHandler<(I,)> for F
where
    F: Fn(I) -> Fut + Send + Sync + 'static,
    I: FromTask,
    Fut: Future<Output = R> + Send + 'static,
    R: IntoTaskResult,
{
    fn call(&self, task: Task, ctx: TaskContext) -> BoxFuture<'static, TaskResult> {
        start_with_input(task, ctx, self)
    }
}

impl<F, I, Fut, R> AsyncHandler<(I, TaskContext)> for F
where
    F: Fn(I, TaskContext) -> Fut + Send + Sync + 'static,
    I: FromTask,
    Fut: Future<Output = R> + Send + 'static,
    R: IntoTaskResult,
{
    fn call(&self, task: Task, ctx: TaskContext) -> BoxFuture<'static, TaskResult> {
        let for_worker = ctx.clone();
        start_with_input(task, ctx, |input| self(input, for_worker))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::FnWorker;
    use crate::config::WorkerOptions;
    use crate::model::Task;

    #[test]
    fn setters_are_shorthands_for_worker_options() {
        let worker = FnWorker::blocking("t", |_: Task| ())
            .concurrency(3)
            .domain("eu")
            .shutdown_grace(Duration::from_secs(5))
            .update_retries(7);
        let expected = WorkerOptions::default()
            .with_concurrency(3)
            .with_domain("eu")
            .with_shutdown_grace(Duration::from_secs(5))
            .with_update_retries(7);
        assert_eq!(worker.options, expected);
        let replaced = worker.options(WorkerOptions::default().with_paused(true));
        assert_eq!(replaced.options, WorkerOptions::default().with_paused(true));
    }
}
