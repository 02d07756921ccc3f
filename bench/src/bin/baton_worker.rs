//! Baton's no-op worker for the benchmark harness: returns `{"ok": true}` for every task, on
//! threads or (`--placement processes`) in a child process of its own, until SIGINT or
//! SIGTERM, then drains. Like `engine/examples/noop_worker.rs`, plus the placement setting.
//! The server comes from `CONDUCTOR_SERVER_URL`.
//!
//! ```text
//! CONDUCTOR_SERVER_URL=http://127.0.0.1:8080/api \
//!   baton_worker --task-type bench --concurrency 256 --placement processes
//! ```

use std::process::ExitCode;

use baton::model::Task;
use baton::{FnWorker, HostError, Placement, WorkerHost};
use clap::{Parser, ValueEnum};
use serde_json::json;

/// Where the worker runs.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Where {
    /// On arbiter threads of this process.
    Threads,
    /// In a child process supervised by this one.
    Processes,
}

/// Command-line arguments.
#[derive(Debug, Parser)]
struct Args {
    /// The task type to poll for.
    #[arg(long, default_value = "bench")]
    task_type: String,
    /// Tasks executed at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Most tasks per poll (default: Baton's).
    #[arg(long)]
    batch_size: Option<usize>,
    /// Where the worker runs.
    #[arg(long, value_enum, default_value = "threads")]
    placement: Where,
    /// With process placement: worker processes, each with `--concurrency` slots.
    #[arg(long, default_value_t = 1)]
    processes: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut worker = FnWorker::new(&args.task_type, |_: Task| async { json!({"ok": true}) })
        .concurrency(args.concurrency)
        .processes(args.processes);
    if let Some(batch_size) = args.batch_size {
        worker = worker.batch_size(batch_size);
    }
    let placement = match args.placement {
        Where::Threads => Placement::Threads,
        Where::Processes => Placement::Processes,
    };
    let host = match WorkerHost::builder()
        .worker(worker)
        .placement(placement)
        .build()
    {
        Ok(host) => host,
        Err(err) => {
            eprintln!("baton_worker: {err}");
            return ExitCode::FAILURE;
        }
    };
    match host.run() {
        Ok(report) => {
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
            ExitCode::SUCCESS
        }
        Err(err @ HostError::Interrupted { .. }) => {
            eprintln!("baton_worker: {err}");
            ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(1))
        }
        Err(err) => {
            eprintln!("baton_worker: {err}");
            ExitCode::FAILURE
        }
    }
}
