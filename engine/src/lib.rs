//! Baton: a high-throughput task-worker engine for the [Conductor] workflow server.
//!
//! A worker executes the tasks of one task type; a [`WorkerHost`] polls the server for them,
//! runs them and posts their results back. Per worker, three actix actors form a pipeline:
//!
//! - the **Poller** reserves free execution slots *before* it polls, then batch long-polls for
//!   exactly that many tasks, so a busy worker never takes work it cannot start;
//! - the **Executor** runs each task (blocking workers on threads of their own, async workers
//!   on the worker's arbiter) and turns every outcome, panics and bad input included, into a
//!   result;
//! - the **Updater** posts results over keep-alive connections with bounded concurrency,
//!   retrying with backoff; its bounded queue is where backpressure starts.
//!
//! See `docs/architecture.md` for how a task travels, and `docs/workers.md` for every worker
//! style.
//!
//! # Quick start
//!
//! ```no_run
//! use baton::{FnWorker, Input, Json, WorkerHost};
//!
//! #[derive(serde::Deserialize)]
//! struct Add { a: i64, b: i64 }
//!
//! fn main() -> Result<(), baton::HostError> {
//!     let add = FnWorker::blocking("add", |Input(args): Input<Add>| Json(args.a + args.b))
//!         .concurrency(4);
//!     WorkerHost::builder()
//!         .server_url("http://localhost:8080/api") // or CONDUCTOR_SERVER_URL
//!         .worker(add)
//!         .build()?
//!         .run()?; // until SIGINT or SIGTERM, then drain
//!     Ok(())
//! }
//! ```
//!
//! # Modules
//!
//! | module | what it holds |
//! |---|---|
//! | crate root | the worker API ([`Worker`], [`FnWorker`], [`Input`], [`Json`], [`Outcome`], [`WorkerError`], [`TaskContext`]) and the host ([`WorkerHost`], [`HostHandle`]) |
//! | [`config`] | layered configuration: code, `worker.ini`, environment; provenance |
//! | [`model`] | the Conductor wire types (re-exported `baton-model`) |
//!
//! [Conductor]: https://github.com/conductor-oss/conductor

pub use baton_model as model;

mod actors;
mod backoff;
mod client;
pub mod config;
mod host;
pub mod logging;
mod ops;
mod pool;
mod worker;

pub use actors::GiveUpReason;
pub use client::{ClientError, ErrorBody};
pub use host::{
    HostError, HostHandle, HostStatus, Placement, ProcessStatus, ShutdownReport, ShutdownSignal,
    WorkerHost, WorkerHostBuilder, WorkerStatus,
};
pub use worker::{
    AsyncHandler, BlockingHandler, FnWorker, FromTask, Input, InputError, IntoTaskResult, Json,
    Outcome, TaskContext, Worker, WorkerError, WorkerSpec, decode_input,
};

/// The code in `docs/workers.md` and `README.md`, compiled as doc tests.
#[cfg(doctest)]
mod documentation {
    #[doc = include_str!("../../docs/workers.md")]
    struct Workers;

    #[doc = include_str!("../../README.md")]
    struct Readme;

    #[doc = include_str!("../../docs/reliability.md")]
    struct Reliability;

    #[doc = include_str!("../../docs/processes.md")]
    struct Processes;
}
