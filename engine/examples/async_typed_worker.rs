//! An async function worker with typed input and output, logs and a terminal error, run
//! against an embedded `baton-mock`.
//!
//! ```text
//! cargo run -p baton --example async_typed_worker
//! ```

use baton::{FnWorker, Input, Json, TaskContext, WorkerError, WorkerHost, config::ConfigSources};
use baton_mock::{EnqueueRequest, MockServer};
use serde::{Deserialize, Serialize};

/// The task's input, decoded from `inputData`.
#[derive(Debug, Deserialize)]
struct Charge {
    amount_cents: u64,
    currency: String,
}

/// The task's output, encoded into `outputData`.
#[derive(Debug, Serialize)]
struct Receipt {
    charged: String,
}

async fn charge(
    Input(charge): Input<Charge>,
    ctx: TaskContext,
) -> Result<Json<Receipt>, WorkerError> {
    if charge.amount_cents == 0 {
        // Retrying will not help: FAILED_WITH_TERMINAL_ERROR.
        return Err(WorkerError::terminal("nothing to charge"));
    }
    ctx.add_log(format!(
        "charging {} {}",
        charge.amount_cents, charge.currency
    ));
    tokio::time::sleep(std::time::Duration::from_millis(5)).await; // e.g. a call to a payment API
    Ok(Json(Receipt {
        charged: format!(
            "{:.2} {}",
            charge.amount_cents as f64 / 100.0,
            charge.currency
        ),
    }))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mock = MockServer::start().await?;
    let input = serde_json::json!({"amount_cents": 1999, "currency": "EUR"});
    let enqueued = mock.enqueue(
        EnqueueRequest::new("charge", 50).input(input.as_object().cloned().unwrap_or_default()),
    );

    let host = WorkerHost::builder()
        .config_sources(ConfigSources::new(Vec::new(), None)?)
        .server_url(mock.base_url())
        .worker(FnWorker::new("charge", charge).concurrency(16))
        .build()?
        .start()?;
    while mock.ledger().completed < 50 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    host.shutdown_async().await;

    let task = mock.core().task(&enqueued.first_task_id)?;
    println!("output: {}", serde_json::Value::Object(task.output_data));
    println!("logs: {:?}", mock.core().logs(&enqueued.first_task_id));
    mock.shutdown().await;
    Ok(())
}
