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
//! With `--scaling` it runs the scaling set instead ([`scaling`], never with `--quick`): Baton
//! on threads swept over concurrency (1 to 1024), task types per host (1 to 100) and payload
//! size (100 B to 1 MB), a soak (`--soak-secs`, default 600) sampling the client's RSS every
//! second, and the client's memory with 10 000 async tasks in flight; it writes
//! `scaling.json`, `scaling.md` (with each target of the issue: met or not) and the plots
//! `scaling-concurrency.svg`, `scaling-task-types.svg`, `scaling-payload.svg` and
//! `soak-rss.svg` ([`scaling_plot`]). `--only` then matches the sweep points' names
//! (`scaling-c64`, `scaling-c256-types10`, `scaling-c64-payload-1MB`, …), `scaling-soak` and
//! `scaling-in-flight-10k`.
//!
//! | module | what it does |
//! |---|---|
//! | [`configs`] | the configurations and their commands |
//! | [`prepare`] | builds, copies and installs what the configurations need |
//! | [`run`] | one run: server, client, warm-up, window, drain, ledger |
//! | [`report`] | medians and ranges, `results.json`, `results.md`, what fails the run |
//! | [`plot`] | `throughput.svg` |
//! | [`scaling`] | `--scaling`: the sweeps, the soak, the in-flight memory run, targets, `scaling.json`, `scaling.md` |
//! | [`scaling_plot`] | the scaling runs' SVG plots |

mod configs;
mod plot;
mod prepare;
mod report;
mod run;
mod scaling;
mod scaling_plot;

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
    about = "Runs Baton, the ceiling loop and the peer SDKs on this machine; writes a table and a plot",
    after_help = "With --scaling, only the scaling set runs (not the configurations above): \
Baton on threads at concurrency 1, 4, 16, 64, 256 and 1024; 1, 10 and 100 task types at \
concurrency 256; inputs of 100 B, 10 KB, 100 KB and 1 MB at concurrency 64; a soak at \
concurrency 256 for --soak-secs; and the memory with 10 000 async tasks in flight. It writes \
scaling.json, scaling.md and scaling-*.svg, soak-rss.svg under --out. --only then matches \
the sweep points' names (scaling-c64, scaling-c256-types10, scaling-c64-payload-1MB, ...), \
scaling-soak and scaling-in-flight-10k."
)]
struct Args {
    /// A few seconds per configuration, one repetition, a subset (Baton, the ceiling loop,
    /// conductor-python): for CI.
    #[arg(long)]
    quick: bool,
    /// Run only the configurations whose name matches this regular expression (with
    /// --scaling: the scaling runs whose name matches).
    #[arg(long)]
    only: Option<String>,
    /// Run the scaling set instead of the configurations: sweeps over concurrency, task
    /// types and payload size, a soak and a memory run with 10 000 tasks in flight. Not with
    /// --quick.
    #[arg(long)]
    scaling: bool,
    /// The soak's length in seconds, with --scaling.
    #[arg(long, default_value_t = 600.0)]
    soak_secs: f64,
    /// Where results.json, results.md, throughput.svg and logs/ go (with --scaling:
    /// scaling.json, scaling.md, scaling-*.svg, soak-rss.svg and logs/).
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
    #[error(
        "--scaling cannot run with --quick: the scaling runs take minutes; shorten them with \
         --repetitions, --warmup-secs, --window-secs and --soak-secs instead"
    )]
    ScalingQuick,
    #[error("--soak-secs must be a positive number of seconds")]
    SoakSecs,
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
    if args.scaling && args.quick {
        return Err(HarnessError::ScalingQuick);
    }
    if args.scaling && !(args.soak_secs.is_finite() && args.soak_secs > 0.0) {
        return Err(HarnessError::SoakSecs);
    }
    let only = args.only.as_deref().map(regex::Regex::new).transpose()?;
    let configs: Vec<Config> = configs::all()
        .into_iter()
        .filter(|c| !args.quick || c.quick)
        .filter(|c| only.as_ref().is_none_or(|re| re.is_match(&c.name)))
        .collect();
    if configs.is_empty() && !args.scaling {
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
    // The scaling set runs workspace binaries only.
    let mut needs: Vec<Needs> = if args.scaling {
        Vec::new()
    } else {
        configs.iter().map(Config::needs).collect()
    };
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

    if args.scaling {
        let settings = scaling::Settings {
            repetitions,
            timing,
            soak: Duration::from_secs_f64(args.soak_secs),
            only: only.as_ref(),
            programs: &programs,
            server,
            logs: &logs,
        };
        let context = scaling::ScalingContext {
            machine: report::machine(),
            repetitions,
            warmup_secs: timing.warmup.as_secs_f64(),
            window_secs: timing.window.as_secs_f64(),
            soak_secs: args.soak_secs,
            busy_before,
            builds_running: compiling,
            server: args
                .server
                .clone()
                .unwrap_or_else(|| "a fresh baton-mock per run".to_owned()),
            only: args.only.clone(),
        };
        let report = scaling::run(&settings, context).await;
        let json = serde_json::to_vec_pretty(&report).unwrap_or_default();
        write(args.out.join("scaling.json"), &json)?;
        let table = scaling::markdown(&report);
        write(args.out.join("scaling.md"), table.as_bytes())?;
        for sweep in report.sweeps.iter().filter(|s| !s.points.is_empty()) {
            scaling_plot::draw_sweep(&args.out.join(scaling_plot::sweep_file(&sweep.name)), sweep)?;
        }
        if let Some(soak) = &report.soak {
            scaling_plot::draw_soak(&args.out.join("soak-rss.svg"), soak)?;
        }
        println!("{table}");
        eprintln!("harness: wrote {}", args.out.display());
        return Ok(report.failures());
    }

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
            let line = report::line(&config.name, &outcome);
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
