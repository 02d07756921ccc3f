//! One no-op worker spread over supervised OS processes, until SIGINT or SIGTERM.
//!
//! ```text
//! CONDUCTOR_SERVER_URL=http://127.0.0.1:8080/api \
//!   cargo run --release -p baton --example process_host -- --processes 4 --concurrency 8
//! ```
//!
//! The host runs this program again once per process (with `BATON_WORKER_PROCESS` set): each
//! child polls with `--concurrency` slots of its own. Kill a child (`kill -ABRT <pid>`) while
//! `--work-ms` keeps tasks in flight, and the tasks it held are posted FAILED at once with
//! "worker process exited: signal 6 (SIGABRT)" as their reason; the child is restarted. The
//! host's `/status` (with `CONDUCTOR_METRICS_ADDR` set) lists every process.

use std::time::Duration;

use baton::logging::{LogFormat, init_logging};
use baton::model::Task;
use baton::{FnWorker, Placement, WorkerHost};
use clap::Parser;
use serde_json::json;

/// Command-line arguments.
#[derive(Debug, Parser)]
struct Args {
    /// The task type to poll for.
    #[arg(long, default_value = "process_noop")]
    task_type: String,
    /// Worker processes.
    #[arg(long, default_value_t = 2)]
    processes: usize,
    /// Tasks executed at once, per process.
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// Milliseconds each task sleeps before it completes.
    #[arg(long, default_value_t = 0)]
    work_ms: u64,
}

fn main() {
    let _logging = match init_logging(LogFormat::from_env().unwrap_or(LogFormat::Text)) {
        Ok(logging) => logging,
        Err(err) => {
            eprintln!("error: {err}");
            std::process::exit(2);
        }
    };
    let args = Args::parse();
    let work = Duration::from_millis(args.work_ms);
    let worker = FnWorker::new(&args.task_type, move |_: Task| async move {
        if !work.is_zero() {
            tokio::time::sleep(work).await;
        }
        json!({"pid": std::process::id()})
    })
    .processes(args.processes)
    .concurrency(args.concurrency);
    let outcome = WorkerHost::builder()
        .placement(Placement::Processes)
        .worker(worker)
        .build()
        .and_then(WorkerHost::run);
    match outcome {
        Ok(report) if report.clean => {}
        Ok(report) => {
            eprintln!("the drain did not finish cleanly: {report:?}");
            std::process::exit(1);
        }
        Err(err) => {
            eprintln!("error: {err}");
            std::process::exit(err.exit_code());
        }
    }
}
