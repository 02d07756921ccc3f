//! A process-placed host for the crash tests. Worker `crashy`: a task whose input has
//! `"crash": "abort"` aborts its process (`"exit"`: exits with code 3), after sleeping
//! `sleepMs` milliseconds if given. Worker `steady`: completes at once. Both output the id of
//! the process that ran them; both read the rest of their configuration from the environment
//! (`CONDUCTOR_WORKER_CRASHY_PROCESSES=2`, ...).
//!
//! The host prints `ops <addr>` once started (set `CONDUCTOR_METRICS_ADDR=127.0.0.1:0`), then
//! reads commands on stdin, answering each with a line: `pause T`, `resume T`,
//! `concurrency T N`. It drains on SIGINT, SIGTERM or end of stdin, prints `drained cleanly`
//! after a clean drain (else exits 2).

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use baton::model::Task;
use baton::{FnWorker, HostHandle, Placement, ShutdownSignal, WorkerHost};
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

fn crashy(task: Task) -> Value {
    let input = &task.input_data;
    if let Some(ms) = input.get("sleepMs").and_then(Value::as_u64) {
        std::thread::sleep(Duration::from_millis(ms));
    }
    match input.get("crash").and_then(Value::as_str) {
        Some("abort") => std::process::abort(),
        Some("exit") => std::process::exit(3),
        _ => json!({"pid": std::process::id()}),
    }
}

fn main() {
    let _logging = baton::logging::init_logging(baton::logging::LogFormat::Text);
    let host = WorkerHost::builder()
        .placement(Placement::Processes)
        .worker(FnWorker::blocking("crashy", crashy))
        .worker(FnWorker::new("steady", |_: Task| async {
            json!({"pid": std::process::id()})
        }))
        .build()
        .and_then(WorkerHost::start);
    let handle = match host {
        Ok(handle) => handle,
        Err(err) => {
            eprintln!("error: {err}");
            std::process::exit(1);
        }
    };
    if std::env::var_os("BATON_WORKER_PROCESS").is_some() {
        // A worker process: it stops when its parent tells it to.
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let report = runtime.block_on(async {
            handle.stop_requested().await;
            handle.shutdown_async().await
        });
        std::process::exit(i32::from(!report.clean));
    }
    if let Some(addr) = handle.ops_addr() {
        println!("ops {addr}");
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    std::process::exit(runtime.block_on(serve(handle)));
}

/// Obeys stdin until a signal or end of input; drains; returns the exit code.
async fn serve(handle: HostHandle) -> i32 {
    let mut signals = ShutdownSignal::new().unwrap();
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            _ = signals.recv() => break,
            line = lines.next_line() => match line {
                Ok(Some(line)) => println!("{}", command(&handle, &line)),
                _ => break,
            },
        }
    }
    let report = handle.shutdown_async().await;
    if report.clean {
        println!("drained cleanly");
        0
    } else {
        eprintln!("drain incomplete: {report:?}");
        2
    }
}

fn command(handle: &HostHandle, line: &str) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["pause", task_type] => format!("paused {}", handle.pause(task_type)),
        ["resume", task_type] => format!("resumed {}", handle.resume(task_type)),
        ["concurrency", task_type, n] => match n.parse() {
            Ok(n) => match handle.set_concurrency(task_type, n) {
                Ok(changed) => format!("resized {changed}"),
                Err(err) => format!("error {err}"),
            },
            Err(err) => format!("error {err}"),
        },
        _ => format!("error unknown command {line:?}"),
    }
}
