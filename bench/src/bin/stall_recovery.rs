//! How long a stalled server costs `noop_worker` on default settings: for each stall length S,
//! the time from the stall's start until the completion rate is back to at least 90 % of the
//! rate before it (target: S + 4 s).
//!
//! Spawns a baton-mock and one `noop_worker` (default settings but `--concurrency`), keeps the
//! queue full, and per stall: measures the rate over a window, installs a `stall` fault on every
//! route for S seconds (requests arriving in the window are read and never answered), then
//! samples the ledger every 100 ms until the rate over the last 500 ms is back to 90 %. At the
//! end the worker drains on SIGTERM and the ledger is checked (lost = 0, no conflicting
//! duplicates). Build first, then run the binary directly:
//!
//! ```text
//! cargo build --release -p baton-mock -p baton-bench --bins --example noop_worker -p baton
//! target/release/stall_recovery                   # stalls of 1, 5, 20 and 60 s
//! target/release/stall_recovery --stalls 3 --concurrency 64
//! ```

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use baton_bench::BenchError;
use baton_bench::admin::AdminClient;
use baton_bench::processes::{signal, start_mock, wait_exit};
use clap::Parser;

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(about = "Measures how fast noop_worker is back at full rate after server stalls")]
struct Args {
    /// The baton-mock binary.
    #[arg(long, default_value = "target/release/baton-mock")]
    mock: PathBuf,
    /// The noop_worker example binary.
    #[arg(long, default_value = "target/release/examples/noop_worker")]
    noop: PathBuf,
    /// Stall lengths to measure, in seconds.
    #[arg(long, value_delimiter = ',', default_value = "1,5,20,60")]
    stalls: Vec<f64>,
    /// noop_worker's concurrency.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Seconds over which the rate before each stall is measured.
    #[arg(long, default_value_t = 3.0)]
    window_secs: f64,
    /// Seconds after the stall ends by which recovery counts as missed.
    #[arg(long, default_value_t = 30.0)]
    give_up_secs: f64,
}

/// The share of the pre-stall rate that counts as recovered.
const RECOVERED: f64 = 0.9;
/// How often the ledger is sampled.
const SAMPLE: Duration = Duration::from_millis(100);
/// The window the recovered rate is measured over.
const RATE_WINDOW: usize = 5;
/// Tasks kept queued ahead of the worker, at least.
const LOW_WATER: u64 = 200_000;
/// The task type.
const TASK_TYPE: &str = "stall_noop";

/// One stall's figures.
#[derive(Debug)]
struct Recovery {
    stall: Duration,
    rate_before: f64,
    /// From the stall's start to the rate being back; `None` if it never came back.
    back_after: Option<Duration>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("stall_recovery: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("stall_recovery: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args) -> Result<bool, BenchError> {
    let (mut mock, url) = start_mock(&args.mock)?;
    let admin = AdminClient::new(&url);
    let outcome = measure_all(args, &url, &admin).await;
    signal(mock.id(), "TERM");
    let _ = mock.wait();
    let (recoveries, ledger_ok) = outcome?;
    println!("| stall | rate before (tasks/s) | back to 90 % after | target (S + 4 s) |");
    println!("|---|---|---|---|");
    let mut all_met = ledger_ok;
    for r in &recoveries {
        let target = r.stall + Duration::from_secs(4);
        let back = match r.back_after {
            Some(back) => format!("{:.1} s", back.as_secs_f64()),
            None => "not within the run".to_owned(),
        };
        let met = r.back_after.is_some_and(|back| back <= target);
        all_met &= met;
        println!(
            "| {:.0} s | {:.0} | {back} | {} |",
            r.stall.as_secs_f64(),
            r.rate_before,
            if met { "met" } else { "missed" }
        );
    }
    Ok(all_met)
}

/// Runs every stall against one worker; returns the figures and whether the ledger was clean.
async fn measure_all(
    args: &Args,
    url: &str,
    admin: &AdminClient,
) -> Result<(Vec<Recovery>, bool), BenchError> {
    let input = serde_json::json!({});
    admin.enqueue(TASK_TYPE, LOW_WATER, &input).await?;
    let mut worker = start_worker(args, url)?;
    let mut recoveries = Vec::new();
    let result = async {
        tokio::time::sleep(Duration::from_secs(2)).await; // warm-up
        for &stall in &args.stalls {
            let stall = Duration::from_secs_f64(stall);
            recoveries.push(one_stall(args, admin, &input, stall).await?);
        }
        Ok::<_, BenchError>(())
    }
    .await;
    signal(worker.id(), "TERM");
    let exited = wait_exit(&mut worker, Duration::from_secs(60)).await == Some(true);
    if !exited {
        let _ = worker.kill();
        let _ = worker.wait();
    }
    result?;
    let ledger = admin.ledger().await?;
    let clean = exited && ledger.lost == 0 && ledger.duplicate_conflicting == 0;
    println!(
        "ledger after drain: completed {}, lost {}, duplicate_conflicting {}, duplicate_identical {}",
        ledger.completed, ledger.lost, ledger.duplicate_conflicting, ledger.duplicate_identical
    );
    Ok((recoveries, clean))
}

/// The rate before one stall, and how long after its start the rate is back.
async fn one_stall(
    args: &Args,
    admin: &AdminClient,
    input: &serde_json::Value,
    stall: Duration,
) -> Result<Recovery, BenchError> {
    top_up(admin, input).await?;
    let window = Duration::from_secs_f64(args.window_secs);
    let before = admin.ledger().await?.completed;
    let started = Instant::now();
    tokio::time::sleep(window).await;
    let rate_before =
        (admin.ledger().await?.completed - before) as f64 / started.elapsed().as_secs_f64();

    let stall_ms = u64::try_from(stall.as_millis()).unwrap_or(u64::MAX);
    admin
        .install_faults(&serde_json::json!([{"route": "*", "kind": "stall", "forMs": stall_ms}]))
        .await?;
    let stalled_at = Instant::now();
    let give_up_at = stalled_at + stall + Duration::from_secs_f64(args.give_up_secs);
    let mut samples: VecDeque<(Instant, u64)> = VecDeque::new();
    let mut back_after = None;
    while Instant::now() < give_up_at {
        tokio::time::sleep(SAMPLE).await;
        // The admin routes are never faulted, so the ledger answers during the stall.
        let completed = admin.ledger().await?.completed;
        samples.push_back((Instant::now(), completed));
        if samples.len() > RATE_WINDOW {
            samples.pop_front();
        }
        if stalled_at.elapsed() < stall || samples.len() < RATE_WINDOW {
            continue;
        }
        let (first_at, first) = samples[0];
        let (last_at, last) = samples[RATE_WINDOW - 1];
        let rate = (last - first) as f64 / (last_at - first_at).as_secs_f64();
        if rate >= RECOVERED * rate_before {
            // Counted to the end of the first window at the rate: conservative by up to
            // its length (500 ms).
            back_after = Some(last_at - stalled_at);
            break;
        }
    }
    eprintln!(
        "stall {:.0} s: before {rate_before:.0} tasks/s, back after {back_after:?}",
        stall.as_secs_f64()
    );
    Ok(Recovery {
        stall,
        rate_before,
        back_after,
    })
}

/// Keeps at least [`LOW_WATER`] tasks queued.
async fn top_up(admin: &AdminClient, input: &serde_json::Value) -> Result<(), BenchError> {
    let queued = admin.ledger().await?.queued;
    if queued < LOW_WATER {
        admin
            .enqueue(TASK_TYPE, LOW_WATER * 2 - queued, input)
            .await?;
    }
    Ok(())
}

/// Starts noop_worker against `url` with default settings but its concurrency.
fn start_worker(args: &Args, url: &str) -> Result<Child, BenchError> {
    Command::new(&args.noop)
        .args([
            "--task-type",
            TASK_TYPE,
            "--concurrency",
            &args.concurrency.to_string(),
        ])
        .env("CONDUCTOR_SERVER_URL", url)
        .env("RUST_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|source| BenchError::Spawn {
            what: args.noop.display().to_string(),
            source,
        })
}
