//! A no-op worker on the Rust `conductor-sdk` 0.2.x: returns `{"ok": true}` for every task of
//! `--task-type` with `--thread-count` tasks at once, until SIGTERM or SIGINT, then stops the
//! SDK's task handler. The server comes from `CONDUCTOR_SERVER_URL`.
//!
//! ```text
//! CONDUCTOR_SERVER_URL=http://127.0.0.1:8080/api rust-sdk-peer --task-type bench --thread-count 16
//! ```

use clap::Parser;
use conductor::configuration::Configuration;
use conductor::models::Task;
use conductor::worker::{FnWorker, TaskHandler, WorkerOutput};
use tokio::signal::unix::{SignalKind, signal};

/// Command-line arguments.
#[derive(Debug, Parser)]
struct Args {
    /// The task type to poll for.
    #[arg(long, default_value = "bench")]
    task_type: String,
    /// The SDK's `thread_count`: tasks executed at once.
    #[arg(long, default_value_t = 16)]
    thread_count: usize,
    /// The SDK's poll interval in milliseconds.
    #[arg(long, default_value_t = 1)]
    poll_interval_ms: u64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let config = Configuration::default(); // reads CONDUCTOR_SERVER_URL
    let worker = FnWorker::new(args.task_type, |_: Task| async {
        let mut output = std::collections::HashMap::new();
        output.insert("ok".to_owned(), serde_json::Value::Bool(true));
        Ok(WorkerOutput::Completed(output))
    })
    .with_thread_count(args.thread_count)
    .with_poll_interval_millis(args.poll_interval_ms);
    let mut handler = TaskHandler::new(config)?;
    handler.add_worker(worker);
    handler.start().await?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    handler.stop().await?;
    Ok(())
}
