//! A no-op worker for benchmarking: returns `{"ok": true}` for every task, until SIGINT or
//! SIGTERM, then drains and prints its counters.
//!
//! ```text
//! CONDUCTOR_SERVER_URL=http://127.0.0.1:8080/api \
//!   cargo run --release -p baton --example noop_worker -- --task-type noop --concurrency 256
//! ```

use baton::model::Task;
use baton::{FnWorker, HostError, WorkerHost};
use clap::Parser;
use serde_json::json;

/// Command-line arguments.
#[derive(Debug, Parser)]
struct Args {
    /// The task type to poll for.
    #[arg(long, default_value = "noop")]
    task_type: String,
    /// Tasks executed at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Most tasks per poll (default: the concurrency).
    #[arg(long)]
    batch_size: Option<usize>,
    /// Arbiter threads (default: one per core).
    #[arg(long)]
    arbiters: Option<usize>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "baton=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mut worker = FnWorker::new(&args.task_type, |_: Task| async { json!({"ok": true}) })
        .concurrency(args.concurrency);
    if let Some(batch_size) = args.batch_size {
        worker = worker.batch_size(batch_size);
    }
    let mut builder = WorkerHost::builder().worker(worker);
    if let Some(arbiters) = args.arbiters {
        builder = builder.arbiters(arbiters);
    }
    let host = builder.build()?;
    for settings in host.worker_settings() {
        eprintln!("{}", settings.to_json());
    }
    let report = match host.run() {
        Ok(report) => report,
        // A second SIGINT/SIGTERM: exit as the shell expects (128 + the signal's number).
        Err(err @ HostError::Interrupted { .. }) => {
            eprintln!("{err}");
            std::process::exit(err.exit_code());
        }
        Err(err) => return Err(err.into()),
    };
    for worker in &report.workers {
        eprintln!(
            "{}: polled {} executed {} posted {} given up {} (drained cleanly: {})",
            worker.task_type,
            worker.tasks_polled,
            worker.tasks_executed,
            worker.results_posted,
            worker.results_given_up,
            report.clean
        );
    }
    Ok(())
}
