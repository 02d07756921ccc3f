//! Baton's no-op worker for the benchmark harness: returns `{"ok": true}` for every task, on
//! threads or (`--placement processes`) in a child process of its own, until SIGINT or
//! SIGTERM, then drains. Like `engine/examples/noop_worker.rs`, plus the placement setting and
//! two knobs for the harness's scaling runs:
//!
//! - `--task-types N` runs N workers, `<task-type>-0` … `<task-type>-{N-1}` (with N = 1 the
//!   one worker keeps the plain `<task-type>` name), the total `--concurrency` split evenly
//!   over them, at least one slot each ([`baton_bench::workload`]);
//! - `--work-ms MS` makes every task await `tokio::time::sleep` for MS milliseconds before
//!   answering: asynchronous, so thousands of tasks can be in flight on a few threads.
//!
//! The server comes from `CONDUCTOR_SERVER_URL`.
//!
//! ```text
//! CONDUCTOR_SERVER_URL=http://127.0.0.1:8080/api \
//!   baton_worker --task-type bench --concurrency 256 --placement processes
//! CONDUCTOR_SERVER_URL=http://127.0.0.1:8080/api \
//!   baton_worker --task-type bench --concurrency 256 --task-types 100 --work-ms 5
//! ```

use std::process::ExitCode;
use std::time::Duration;

use baton::model::Task;
use baton::{FnWorker, HostError, Placement, WorkerHost};
use baton_bench::workload::{split_concurrency, task_type_names};
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
    /// Tasks executed at once (in all, split evenly over the task types).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Task types (workers): 1 polls `--task-type`; N > 1 polls `<task-type>-0` …
    /// `<task-type>-{N-1}`.
    #[arg(long, default_value_t = 1)]
    task_types: usize,
    /// Milliseconds every task awaits (asynchronously) before it answers.
    #[arg(long, default_value_t = 0)]
    work_ms: u64,
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
    let work = Duration::from_millis(args.work_ms);
    let placement = match args.placement {
        Where::Threads => Placement::Threads,
        Where::Processes => Placement::Processes,
    };
    let mut builder = WorkerHost::builder().placement(placement);
    let names = task_type_names(&args.task_type, args.task_types);
    let slots = split_concurrency(args.concurrency, names.len());
    for (name, concurrency) in names.iter().zip(slots) {
        let mut worker = FnWorker::new(name, move |_: Task| async move {
            if !work.is_zero() {
                tokio::time::sleep(work).await;
            }
            json!({"ok": true})
        })
        .concurrency(concurrency)
        .processes(args.processes);
        if let Some(batch_size) = args.batch_size {
            worker = worker.batch_size(batch_size);
        }
        builder = builder.worker(worker);
    }
    let host = match builder.build() {
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
