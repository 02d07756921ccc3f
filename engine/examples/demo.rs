//! The Baton demo: an embedded `baton-mock`, about 200k tasks for three workers (a function
//! worker, a trait worker and a typed async worker), a progress bar, then throughput and the
//! mock's ledger (every result posted exactly once).
//!
//! ```text
//! cargo run --release -p baton --example demo [-- --tasks 200000]
//! ```

use std::time::{Duration, Instant};

use baton::model::Task;
use baton::{
    FnWorker, Input, Json, Outcome, TaskContext, Worker, WorkerError, WorkerHost,
    config::{ConfigSources, WorkerOptions},
};
use baton_mock::{EnqueueRequest, MockServer};
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

/// Command-line arguments.
#[derive(Debug, Parser)]
struct Args {
    /// Tasks in all, split evenly over the three workers.
    #[arg(long, default_value_t = 200_000)]
    tasks: u64,
    /// Concurrency of each worker.
    #[arg(long, default_value_t = 128)]
    concurrency: usize,
}

/// A trait worker: a blocking checksum over its input, on its own threads.
struct Checksum;

impl Worker for Checksum {
    fn task_type(&self) -> &str {
        "checksum"
    }

    async fn execute(&self, task: Task, _ctx: TaskContext) -> Result<Outcome, WorkerError> {
        let text = task
            .input_data
            .get("text")
            .and_then(|t| t.as_str())
            .unwrap_or("");
        let sum = text
            .bytes()
            .fold(0u32, |acc, b| acc.rotate_left(5) ^ u32::from(b));
        Ok(Outcome::completed().with_output("checksum", sum))
    }

    fn is_blocking(&self) -> bool {
        true
    }

    fn options(&self) -> WorkerOptions {
        WorkerOptions::default().with_concurrency(4)
    }
}

/// Typed input of the async worker.
#[derive(Debug, Deserialize)]
struct Quote {
    amount: f64,
    rate: f64,
}

/// Typed output of the async worker.
#[derive(Debug, Serialize)]
struct Converted {
    converted: f64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let mock = MockServer::start().await?;
    println!("baton-mock listening on {}", mock.base_url());
    let total = args.tasks;
    // Split evenly; the first workers take the remainder.
    let share = |n: u64| total / 3 + u64::from(n < total % 3);
    let inputs = [
        ("greet", serde_json::json!({"name": "Ada"})),
        ("checksum", serde_json::json!({"text": "baton"})),
        ("convert", serde_json::json!({"amount": 12.5, "rate": 1.08})),
    ];
    for (n, (task_type, input)) in (0..).zip(inputs) {
        let input = input.as_object().cloned().unwrap_or_default();
        mock.enqueue(EnqueueRequest::new(task_type, share(n)).input(input));
    }

    let greet = FnWorker::new("greet", |task: Task| async move {
        let name = task
            .input_data
            .get("name")
            .and_then(|n| n.as_str())
            .unwrap_or("world");
        serde_json::json!({"greeting": format!("hello {name}")})
    })
    .concurrency(args.concurrency);
    let convert = FnWorker::new("convert", |Input(quote): Input<Quote>| async move {
        Json(Converted {
            converted: quote.amount * quote.rate,
        })
    })
    .concurrency(args.concurrency);

    let host = WorkerHost::builder()
        .config_sources(ConfigSources::new(Vec::new(), None)?)
        .server_url(mock.base_url())
        .worker(greet)
        .worker(Checksum)
        .worker(convert)
        .build()?;
    let started = Instant::now();
    let host = host.start()?;

    let bar = ProgressBar::new(total);
    bar.set_style(ProgressStyle::with_template(
        "{bar:40} {pos}/{len} tasks  {per_sec}  eta {eta}",
    )?);
    loop {
        let done = mock.ledger().completed;
        bar.set_position(done);
        if done >= total {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let elapsed = started.elapsed();
    bar.finish();
    let report = host.shutdown_async().await;
    let ledger = mock.ledger();

    println!(
        "{total} tasks in {:.2} s: {:.0} tasks/s",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );
    for worker in &report.workers {
        println!(
            "  {:<9} polled {:>7}  posted {:>7}  retried {:>3}  given up {}",
            worker.task_type,
            worker.tasks_polled,
            worker.results_posted,
            worker.update_retries,
            worker.results_given_up
        );
    }
    println!(
        "ledger: handed out {}, completed {}, lost {}, duplicates {} identical / {} conflicting, unknown ids {}",
        ledger.handed_out,
        ledger.completed,
        ledger.lost,
        ledger.duplicate_identical,
        ledger.duplicate_conflicting,
        ledger.unknown_ids
    );
    mock.shutdown().await;
    let exact = ledger.completed == total
        && ledger.lost == 0
        && ledger.duplicate_identical + ledger.duplicate_conflicting == 0;
    if exact && report.clean {
        println!("every result posted exactly once");
        Ok(())
    } else {
        Err("the ledger does not balance".into())
    }
}
