//! A worker process for the drain-on-SIGTERM tests: one blocking worker whose tasks take
//! `PROBE_TASK_MS` milliseconds, run with `WorkerHost::run` against `CONDUCTOR_SERVER_URL`
//! until SIGINT or SIGTERM. Exits 0 only if the drain was clean; after a second signal, with
//! 128 + its number. Prints `given up <task id>: <reason>` for every result given up.

use std::time::Duration;

use baton::model::Task;
use baton::{FnWorker, WorkerHost};

fn main() {
    let task_ms = std::env::var("PROBE_TASK_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .unwrap_or(500);
    let worker = FnWorker::blocking("probe", move |_: Task| {
        std::thread::sleep(Duration::from_millis(task_ms));
    })
    .concurrency(4);
    let outcome = WorkerHost::builder()
        .on_result_given_up(|result, reason| println!("given up {}: {reason}", result.task_id))
        .worker(worker)
        .build()
        .and_then(WorkerHost::run);
    match outcome {
        Ok(report) if report.clean => println!("drained cleanly"),
        Ok(report) => {
            eprintln!("drain incomplete: {report:?}");
            std::process::exit(2);
        }
        Err(err) => {
            eprintln!("error: {err}");
            std::process::exit(err.exit_code());
        }
    }
}
