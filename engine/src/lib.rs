//! Baton: a high-throughput task-worker engine for the Conductor workflow server.

pub use baton_model as model;

mod actors;
mod backoff;
mod client;
pub mod config;
mod host;
mod pool;
mod worker;

pub use client::ClientError;
pub use host::{
    HostError, HostHandle, HostStatus, ShutdownReport, ShutdownSignal, WorkerHost,
    WorkerHostBuilder, WorkerStatus,
};
pub use worker::{
    AsyncHandler, BlockingHandler, FnWorker, FromTask, Input, InputError, IntoTaskResult, Json,
    Outcome, TaskContext, Worker, WorkerError, WorkerSpec, decode_input,
};
