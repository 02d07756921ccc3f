//! A synchronous function worker that takes the whole `Task` and returns a `TaskResult`, run
//! against an embedded `baton-mock`.
//!
//! ```text
//! cargo run -p baton --example function_worker
//! ```

use baton::model::{Task, TaskResult, TaskResultStatus};
use baton::{FnWorker, WorkerHost, config::ConfigSources};
use baton_mock::{EnqueueRequest, MockServer};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mock = MockServer::start().await?;
    let enqueued = mock.enqueue(EnqueueRequest::new("greet", 100));

    // Runs on the worker's own thread pool: blocking code is fine here.
    let greet = FnWorker::blocking("greet", |task: Task| {
        TaskResult::for_task(&task, TaskResultStatus::Completed)
            .with_output("greeting", format!("hello from {}", task.task_id))
    })
    .concurrency(4);

    let host = WorkerHost::builder()
        .config_sources(ConfigSources::new(Vec::new(), None)?)
        .server_url(mock.base_url())
        .worker(greet)
        .build()?
        .start()?;
    while mock.ledger().completed < 100 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let report = host.shutdown_async().await;

    let last = mock.core().task(&enqueued.last_task_id)?;
    println!("{}", last.output_data["greeting"]);
    println!("completed 100 tasks; drained cleanly: {}", report.clean);
    mock.shutdown().await;
    Ok(())
}
