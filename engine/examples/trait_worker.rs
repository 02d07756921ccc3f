//! A worker written as a type implementing `Worker`, with its settings overridden in code,
//! run against an embedded `baton-mock`.
//!
//! ```text
//! cargo run -p baton --example trait_worker
//! ```

use std::time::Duration;

use baton::config::{ConfigSources, WorkerOptions};
use baton::model::Task;
use baton::{Outcome, TaskContext, Worker, WorkerError, WorkerHost};
use baton_mock::{EnqueueRequest, MockServer};

/// Sums the numbers in its input: CPU work, so it runs on its own threads.
struct Summer;

impl Worker for Summer {
    fn task_type(&self) -> &str {
        "sum"
    }

    async fn execute(&self, task: Task, ctx: TaskContext) -> Result<Outcome, WorkerError> {
        let numbers = task
            .input_data
            .get("numbers")
            .and_then(|v| v.as_array())
            .ok_or_else(|| WorkerError::terminal("input `numbers` must be an array"))?;
        let sum: i64 = numbers.iter().filter_map(|n| n.as_i64()).sum();
        ctx.add_log(format!("summed {} numbers", numbers.len()));
        Ok(Outcome::completed().with_output("sum", sum))
    }

    fn is_blocking(&self) -> bool {
        true
    }

    fn options(&self) -> WorkerOptions {
        WorkerOptions::default()
            .with_concurrency(2)
            .with_polling_interval(Duration::from_millis(250))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mock = MockServer::start().await?;
    let input = serde_json::json!({"numbers": [1, 2, 3, 4]});
    let enqueued = mock.enqueue(
        EnqueueRequest::new("sum", 10).input(input.as_object().cloned().unwrap_or_default()),
    );

    let host = WorkerHost::builder()
        .config_sources(ConfigSources::new(Vec::new(), None)?)
        .server_url(mock.base_url())
        .worker(Summer)
        .build()?;
    for settings in host.worker_settings() {
        println!("effective settings: {}", settings.to_json());
    }
    let host = host.start()?;
    while mock.ledger().completed < 10 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    host.shutdown_async().await;
    let task = mock.core().task(&enqueued.last_task_id)?;
    println!("sum = {}", task.output_data["sum"]);
    mock.shutdown().await;
    Ok(())
}
