//! The harness: Baton beside every peer on this machine, in one command, as a table and a plot.
//!
//! ```text
//! cargo run --release -p baton-bench --bin harness -- [--quick] [--only REGEX] --out DIR
//! ```
//!
//! It builds what it runs (the workspace's release binaries, copied into `target/harness/bin`;
//! the Rust conductor-sdk peer in its own workspace; a venv with the pinned Python SDKs, all
//! under `target/harness/`), then runs every configuration ([`configs`]) once per repetition,
//! repetitions interleaved, each run against a fresh baton-mock ([`run`]). It writes, only
//! under `--out`, `results.json`, `results.md` and `throughput.svg` ([`report`], [`plot`]),
//! plus each client's output in `logs/`, and prints the table. It exits non-zero when a Baton
//! configuration failed, lost or repeated a task, or completed nothing; peers' losses are
//! reported, and a configuration whose prerequisite is missing is `skipped`.
//!
//! | module | what it does |
//! |---|---|
//! | [`configs`] | the configurations and their commands |
//! | [`prepare`] | builds, copies and installs what the configurations need |
//! | [`run`] | one run: server, client, warm-up, window, drain, ledger |
//! | [`report`] | medians and ranges, `results.json`, `results.md`, what fails the run |
//! | [`plot`] | `throughput.svg` |

mod configs;
mod plot;
mod prepare;
mod report;
mod run;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use baton_bench::procfs::MachineCpu;
use baton_bench::window::builds_running;
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};

use crate::configs::{Config, Needs, Programs};
use crate::prepare::{Layout, PrepareError};
use crate::report::{Context, Outcome, Summary};
use crate::run::{Server, Timing};

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(
    about = "Runs Baton, the ceiling loop and the peer SDKs on this machine; writes a table and a plot"
)]
struct Args {
    /// A few seconds per configuration, one repetition, a subset (Baton, the ceiling loop,
    /// conductor-python): for CI.
    #[arg(long)]
    quick: bool,
    /// Run only the configurations whose name matches this regular expression.
    #[arg(long)]
    only: Option<String>,
    /// Where results.json, results.md, throughput.svg and logs/ go.
    #[arg(long)]
    out: PathBuf,
    /// Repetitions (default: 3, or 1 with --quick).
    #[arg(long)]
    repetitions: Option<usize>,
    /// Warm-up seconds after the client's first completed task (default: 2, or 1 with --quick).
    #[arg(long)]
    warmup_secs: Option<f64>,
    /// Measured seconds (default: 8, or 3 with --quick).
    #[arg(long)]
    window_secs: Option<f64>,
    /// Use an already running baton-mock at this API URL instead of a fresh one per run
    /// (server CPU and latency are then not reported; `--no-update-v2` cannot be set).
    #[arg(long)]
    server: Option<String>,
}

/// Why the harness stopped early.
#[derive(Debug, thiserror::Error)]
enum HarnessError {
    #[error("--only: {0}")]
    Only(#[from] regex::Error),
    #[error("no configuration matches")]
    NothingToRun,
    #[error("preparing: {0}")]
    Prepare(#[from] PrepareError),
    #[error("{0}")]
    Bench(#[from] baton_bench::BenchError),
    #[error("writing {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Plot(#[from] plot::PlotError),
    #[error("cannot start a runtime: {0}")]
    Runtime(std::io::Error),
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("harness: {}", HarnessError::Runtime(err));
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(harness(args)) {
        Ok(failures) if failures.is_empty() => ExitCode::SUCCESS,
        Ok(failures) => {
            for failure in failures {
                eprintln!("harness: FAILED {failure}");
            }
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("harness: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Runs everything; answers the failures that make the run fail.
async fn harness(args: Args) -> Result<Vec<String>, HarnessError> {
    let only = args.only.as_deref().map(regex::Regex::new).transpose()?;
    let configs: Vec<Config> = configs::all()
        .into_iter()
        .filter(|c| !args.quick || c.quick)
        .filter(|c| only.as_ref().is_none_or(|re| re.is_match(&c.name)))
        .collect();
    if configs.is_empty() {
        return Err(HarnessError::NothingToRun);
    }
    let repetitions = args
        .repetitions
        .unwrap_or(if args.quick { 1 } else { 3 })
        .max(1);
    let timing = Timing {
        warmup: Duration::from_secs_f64(args.warmup_secs.unwrap_or(if args.quick {
            1.0
        } else {
            2.0
        })),
        window: Duration::from_secs_f64(args.window_secs.unwrap_or(if args.quick {
            3.0
        } else {
            8.0
        })),
        drain: Duration::from_secs(if args.quick { 10 } else { 20 }),
    };
    let write = |path: PathBuf, text: &[u8]| {
        std::fs::write(&path, text).map_err(|source| HarnessError::Write {
            path: path.display().to_string(),
            source,
        })
    };
    let logs = args.out.join("logs");
    std::fs::create_dir_all(&logs).map_err(|source| HarnessError::Write {
        path: logs.display().to_string(),
        source,
    })?;

    // Build and install; a missing prerequisite skips the configurations that need it.
    let layout = Layout::discover();
    eprintln!("harness: building into {}", layout.harness.display());
    prepare::workspace(&layout)?;
    let mut absent: HashMap<Needs, String> = HashMap::new();
    let mut needs: Vec<Needs> = configs.iter().map(Config::needs).collect();
    needs.dedup();
    for need in needs {
        if need == Needs::Workspace || absent.contains_key(&need) {
            continue;
        }
        eprintln!("harness: preparing {need:?}");
        match prepare::prepare(&layout, need) {
            Ok(()) => {}
            Err(PrepareError::Absent(reason)) => {
                absent.insert(need, reason);
            }
            Err(err) => {
                absent.insert(need, format!("FAILED: {err}"));
            }
        }
    }

    let busy_before = {
        let before = MachineCpu::now()?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        MachineCpu::now()?.busy_since(&before)
    };
    let compiling = builds_running();
    let bin = layout.bin();
    let python = layout.python();
    let programs = Programs {
        root: &layout.root,
        bin: &bin,
        python: &python,
    };
    let mock = bin.join("baton-mock");
    let server = match &args.server {
        Some(url) => Server::External(url),
        None => Server::Spawn(&mock),
    };

    let runnable = configs
        .iter()
        .filter(|c| !absent.contains_key(&c.needs()))
        .count();
    let bar = ProgressBar::new((runnable * repetitions) as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} runs, {elapsed} elapsed, {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut results: Vec<Vec<Result<run::RunFigures, String>>> = vec![Vec::new(); configs.len()];
    for repetition in 1..=repetitions {
        for (index, config) in configs.iter().enumerate() {
            if absent.contains_key(&config.needs()) {
                continue;
            }
            bar.set_message(format!("{} (repetition {repetition})", config.name));
            let log = logs.join(format!("{}-{repetition}.log", config.name));
            let outcome = run::run_once(config, &programs, server, timing, &log)
                .await
                .map_err(|err| err.to_string());
            let line = match &outcome {
                Ok(f) => format!(
                    "{:<28} {:>9.0} tasks/s  client {:>8.1} µs/task  server {:>6.1} µs/task  busy {:>3.0}%  other {:.2} cores  lost {}  dup {}",
                    config.name,
                    f.tasks_per_s,
                    f.client_cpu_us_per_task.unwrap_or(f64::NAN),
                    f.server_cpu_us_per_task.unwrap_or(f64::NAN),
                    f.busy_share * 100.0,
                    f.other_load_cores,
                    f.lost,
                    f.duplicates
                ),
                Err(err) => format!("{:<28} FAILED: {err}", config.name),
            };
            // A hidden bar (stderr not a terminal, as in CI) prints nothing: print directly.
            if bar.is_hidden() {
                eprintln!("{line}");
            } else {
                bar.println(line);
            }
            results[index].push(outcome);
            bar.inc(1);
        }
    }
    bar.finish_and_clear();

    let summaries: Vec<Summary> = configs
        .iter()
        .zip(results)
        .map(|(config, runs)| {
            let outcome = match absent.get(&config.needs()) {
                Some(reason) => Outcome::Skipped(reason.clone()),
                None => Outcome::Ran(runs),
            };
            Summary::new(config, &outcome)
        })
        .collect();
    let context = Context {
        mode: if args.quick { "quick" } else { "full" },
        repetitions,
        warmup_secs: timing.warmup.as_secs_f64(),
        window_secs: timing.window.as_secs_f64(),
        busy_before,
        builds_running: compiling,
        server: args
            .server
            .clone()
            .unwrap_or_else(|| "a fresh baton-mock per run".to_owned()),
    };
    let json = serde_json::to_vec_pretty(&summaries).unwrap_or_default();
    write(args.out.join("results.json"), &json)?;
    let table = report::markdown(&context, &summaries);
    write(args.out.join("results.md"), table.as_bytes())?;
    plot::draw(&args.out.join("throughput.svg"), &summaries)?;
    println!("{table}");
    eprintln!("harness: wrote {}", args.out.display());
    Ok(summaries.iter().filter_map(Summary::failure).collect())
}
