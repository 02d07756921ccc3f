//! A process-placed host for the process-placement test: two async workers ("proc_a",
//! "proc_b") whose output is the id of the process that ran them, run with `WorkerHost::run`
//! against `CONDUCTOR_SERVER_URL`. The parent prints "drained cleanly" after a clean stop.

use baton::model::Task;
use baton::{FnWorker, Placement, WorkerHost};

fn main() {
    let worker = |name: &str| {
        FnWorker::new(name, |_: Task| async {
            serde_json::json!({"pid": std::process::id()})
        })
        .concurrency(4)
    };
    let outcome = WorkerHost::builder()
        .placement(Placement::Processes)
        .worker(worker("proc_a"))
        .worker(worker("proc_b"))
        .build()
        .and_then(WorkerHost::run);
    match outcome {
        Ok(report) if report.clean => {
            if std::env::var_os("BATON_WORKER_PROCESS").is_none() {
                println!("drained cleanly");
            }
        }
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
