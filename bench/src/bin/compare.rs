//! The engine-vs-machine runner: `noop_worker` at several concurrencies and the ceiling loop,
//! against one `baton-mock` process, interleaved in the same run, with CPU, memory and
//! correctness figures. Prints a markdown table.
//!
//! It builds nothing; build first (release), then run the binary directly (not through
//! `cargo run`, which would count as a build running):
//!
//! ```text
//! cargo build --release -p baton-mock -p baton-bench --bins --example noop_worker -p baton
//! target/release/compare                      # defaults: 3 rounds, 2 s warm-up, 6 s window
//! target/release/compare --rounds 2 --window-secs 10 --concurrency 16,256
//! ```
//!
//! For every run: enqueue enough tasks (topped up while it runs, `baton_bench::window`), start the client, wait out
//! the warm-up, then measure over the window: throughput (ledger `completed` delta / time),
//! client and server CPU per task (utime + stime from `/proc/PID/stat`), the client's peak RSS
//! (`VmHWM`) and the machine's busy share (`/proc/stat`). Then stop feeding, wait (bounded) for
//! the queue to empty, SIGTERM the client, wait for it to drain and exit, and check the ledger: lost (tasks still in flight) = 0 and no duplicate
//! updates. Only loopback addresses are used.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};

use std::time::{Duration, Instant};

use baton_bench::BenchError;
use baton_bench::admin::{AdminClient, Ledger};
use baton_bench::processes::{signal, start_mock, wait_exit};
use baton_bench::procfs::MachineCpu;
use baton_bench::window::{self, Feeder, builds_running, wait_quiet};
use clap::Parser;

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(about = "Runs noop_worker and the ceiling loop against one baton-mock, interleaved")]
struct Args {
    /// The baton-mock binary.
    #[arg(long, default_value = "target/release/baton-mock")]
    mock: PathBuf,
    /// The noop_worker example binary.
    #[arg(long, default_value = "target/release/examples/noop_worker")]
    noop: PathBuf,
    /// The ceiling loop binary.
    #[arg(long, default_value = "target/release/ceiling_loop")]
    ceiling: PathBuf,
    /// noop_worker concurrencies to measure.
    #[arg(long, value_delimiter = ',', default_value = "16,64,256,1024")]
    concurrency: Vec<usize>,
    /// Result posts in flight for the ceiling loop (K).
    #[arg(long, default_value_t = 16)]
    updates: usize,
    /// Rounds; each round runs every configuration once, in the same order (ABAB...).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Seconds after a client starts before measuring.
    #[arg(long, default_value_t = 2.0)]
    warmup_secs: f64,
    /// Seconds measured per run.
    #[arg(long, default_value_t = 6.0)]
    window_secs: f64,
    /// The task type used.
    #[arg(long, default_value = "bench")]
    task_type: String,
    /// The inputData of every enqueued task, as JSON.
    #[arg(long, default_value = "{}")]
    input: String,
    /// Before each run, wait up to this many seconds for the machine to be quiet (under 20%
    /// busy without our client running); 0 disables the wait.
    #[arg(long, default_value_t = 8.0)]
    quiet_wait_secs: f64,
    /// Where each client's stderr goes (one file per run).
    #[arg(long, default_value = "target/compare-logs")]
    log_dir: PathBuf,
}

/// A client configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Config {
    /// `noop_worker --concurrency C`.
    Noop(usize),
    /// `ceiling_loop --updates K`.
    Ceiling(usize),
}

impl Config {
    fn label(&self) -> String {
        match self {
            Self::Noop(c) => format!("noop_worker, concurrency {c}"),
            Self::Ceiling(k) => format!("ceiling loop, batch 100, {k} updates"),
        }
    }

    fn slug(&self) -> String {
        match self {
            Self::Noop(c) => format!("noop-{c}"),
            Self::Ceiling(k) => format!("ceiling-{k}"),
        }
    }
}

/// What one run measured.
#[derive(Debug, Clone, Default)]
struct Sample {
    tasks_per_sec: f64,
    client_cpu_us: f64,
    server_cpu_us: f64,
    client_peak_rss_mib: f64,
    busy_share: f64,
    other_cores: f64,
    background_before: f64,
    lost: u64,
    duplicates: u64,
    clean_exit: bool,
}

/// Why the runner stopped.
#[derive(Debug, thiserror::Error)]
enum CompareError {
    #[error(
        "{0} not found: build first with `cargo build --release -p baton-mock -p baton-bench --bins --example noop_worker -p baton`"
    )]
    Missing(PathBuf),
    #[error("could not start {what}: {source}")]
    Spawn {
        what: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Bench(#[from] BenchError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// How long a client may take to drain and exit after SIGTERM.
const DRAIN_DEADLINE: Duration = Duration::from_secs(30);

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("compare: cannot start a runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("compare: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<String, CompareError> {
    for binary in [&args.mock, &args.noop, &args.ceiling] {
        if !binary.is_file() {
            return Err(CompareError::Missing(binary.clone()));
        }
    }
    let input: serde_json::Value = serde_json::from_str(&args.input)
        .map_err(|err| BenchError::Decode(format!("--input: {err}")))?;
    std::fs::create_dir_all(&args.log_dir)?;
    if builds_running() {
        eprintln!("compare: WARNING: rustc is running; the figures will be disturbed");
    }
    // How busy the machine is before anything of ours runs: other load skews every figure.
    let quiet_before = MachineCpu::now()?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let busy_before = MachineCpu::now()?.busy_since(&quiet_before);
    eprintln!(
        "compare: machine {:.0}% busy before the runs",
        busy_before * 100.0
    );
    let mut configs: Vec<Config> = args.concurrency.iter().map(|c| Config::Noop(*c)).collect();
    configs.push(Config::Ceiling(args.updates));

    let (mut mock, url) = start_mock(&args.mock)?;
    let mock_pid = mock.id();
    eprintln!("compare: baton-mock at {url} (pid {mock_pid})");
    let admin = AdminClient::new(&url);
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); configs.len()];
    let outcome = async {
        for round in 1..=args.rounds.max(1) {
            for (index, config) in configs.iter().enumerate() {
                let sample = measure(&args, config, round, &url, mock_pid, &admin, &input)
                    .await?;
                eprintln!(
                    "compare: round {round} {:<40} {:>9.0} tasks/s, client {:>5.1} µs/task, server {:>5.1} µs/task, rss {:>5.1} MiB, busy {:>3.0}% (other load {:.2} cores), lost {}, dup {}",
                    config.label(),
                    sample.tasks_per_sec,
                    sample.client_cpu_us,
                    sample.server_cpu_us,
                    sample.client_peak_rss_mib,
                    sample.busy_share * 100.0,
                    sample.other_cores,
                    sample.lost,
                    sample.duplicates,
                );
                samples[index].push(sample);
            }
        }
        Ok::<_, CompareError>(())
    }
    .await;
    signal(mock_pid, "TERM");
    let _ = wait_exit(&mut mock, Duration::from_secs(10)).await;
    outcome?;
    Ok(render(&args, busy_before, &configs, &samples))
}

/// One run of one configuration.
#[allow(clippy::too_many_arguments)]
async fn measure(
    args: &Args,
    config: &Config,
    round: usize,
    url: &str,
    mock_pid: u32,
    admin: &AdminClient,
    input: &serde_json::Value,
) -> Result<Sample, CompareError> {
    let mut feeder = Feeder::new(&args.task_type, input.clone());
    feeder.feed_until(admin, Instant::now()).await?;
    let background_before = wait_quiet(Duration::from_secs_f64(args.quiet_wait_secs)).await?;
    let before_run = admin.ledger().await?;
    let log = std::fs::File::create(
        args.log_dir
            .join(format!("round{round}-{}.log", config.slug())),
    )?;
    let mut command = match config {
        Config::Noop(concurrency) => {
            let mut command = Command::new(&args.noop);
            command.args([
                "--task-type",
                &args.task_type,
                "--concurrency",
                &concurrency.to_string(),
            ]);
            command
        }
        Config::Ceiling(updates) => {
            let mut command = Command::new(&args.ceiling);
            command.args([
                "--task-type",
                &args.task_type,
                "--updates",
                &updates.to_string(),
                "--server",
                url,
            ]);
            command
        }
    };
    let mut child = command
        .env("CONDUCTOR_SERVER_URL", url)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .map_err(|source| CompareError::Spawn {
            what: config.label(),
            source,
        })?;
    let pid = child.id();
    let measured = async {
        let warm = Instant::now() + Duration::from_secs_f64(args.warmup_secs);
        feeder.feed_until(admin, warm).await?;
        let figures = window::measure(
            admin,
            &mut feeder,
            pid,
            Some(mock_pid),
            Duration::from_secs_f64(args.window_secs),
        )
        .await?;
        window::drain(admin, DRAIN_DEADLINE).await?;
        Ok::<_, CompareError>(Sample {
            tasks_per_sec: figures.tasks_per_s(),
            client_cpu_us: figures.client_cpu_us_per_task().unwrap_or(f64::NAN),
            server_cpu_us: figures.server_cpu_us_per_task().unwrap_or(f64::NAN),
            client_peak_rss_mib: figures.peak_rss_mib,
            busy_share: figures.busy_share,
            other_cores: figures.other_load_cores,
            background_before,
            ..Sample::default()
        })
    }
    .await;
    signal(pid, "TERM");
    let exited = wait_exit(&mut child, DRAIN_DEADLINE).await;
    if exited.is_none() {
        eprintln!(
            "compare: {} did not exit within {DRAIN_DEADLINE:?}; killing it",
            config.label()
        );
        let _ = child.kill();
        let _ = child.wait();
    }
    let mut sample = measured?;
    let after: Ledger = admin.ledger().await?;
    sample.lost = after.in_flight;
    sample.duplicates = (after.duplicates()).saturating_sub(before_run.duplicates());
    sample.clean_exit = exited == Some(true);
    Ok(sample)
}

/// The markdown report: the machine, the settings, the median table, the ratios, every run.
fn render(args: &Args, busy_before: f64, configs: &[Config], samples: &[Vec<Sample>]) -> String {
    let mut out = String::new();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let _ = writeln!(
        out,
        "Machine: {cores} cores, {cpu}. {} rounds, {} s warm-up, {} s window per run, \
         one baton-mock process; the machine was {:.0}% busy in the second before the runs. \
         Medians over rounds (min–max for throughput).\n",
        args.rounds,
        args.warmup_secs,
        args.window_secs,
        busy_before * 100.0
    );
    let _ = writeln!(
        out,
        "| configuration | tasks/s (min–max) | client CPU/task | server CPU/task | client peak RSS | machine busy | other load | lost | duplicates | clean exit |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|");
    let mut medians = Vec::new();
    for (config, runs) in configs.iter().zip(samples) {
        let pick = |f: fn(&Sample) -> f64| window::median(runs.iter().map(f)).unwrap_or(f64::NAN);
        let rate = pick(|s| s.tasks_per_sec);
        let min = runs
            .iter()
            .map(|s| s.tasks_per_sec)
            .fold(f64::INFINITY, f64::min);
        let max = runs.iter().map(|s| s.tasks_per_sec).fold(0.0, f64::max);
        let cpu = pick(|s| s.client_cpu_us);
        let _ = writeln!(
            out,
            "| {} | {:.0} ({:.0}–{:.0}) | {:.1} µs | {:.1} µs | {:.1} MiB | {:.0}% | {:.2} cores | {} | {} | {} |",
            config.label(),
            rate,
            min,
            max,
            cpu,
            pick(|s| s.server_cpu_us),
            pick(|s| s.client_peak_rss_mib),
            pick(|s| s.busy_share) * 100.0,
            pick(|s| s.other_cores),
            runs.iter().map(|s| s.lost).max().unwrap_or(0),
            runs.iter().map(|s| s.duplicates).sum::<u64>(),
            if runs.iter().all(|s| s.clean_exit) {
                "yes"
            } else {
                "NO"
            },
        );
        medians.push((config.clone(), rate, cpu));
    }
    if let Some((_, ceiling_rate, ceiling_cpu)) = medians
        .iter()
        .find(|(c, _, _)| matches!(c, Config::Ceiling(_)))
    {
        let _ = writeln!(
            out,
            "\n| noop_worker vs ceiling loop | throughput ratio | CPU/task ratio |"
        );
        let _ = writeln!(out, "|---|---|---|");
        for (config, rate, cpu) in medians
            .iter()
            .filter(|(c, _, _)| matches!(c, Config::Noop(_)))
        {
            if let Config::Noop(c) = config {
                let _ = writeln!(
                    out,
                    "| concurrency {c} | {:.2}× | {:.2}× |",
                    rate / ceiling_rate,
                    cpu / ceiling_cpu
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "\nEvery run, in order: tasks/s (machine busy share in the half second before it, \
         with no client running):\n"
    );
    let _ = writeln!(
        out,
        "| configuration | {} |",
        (1..=args.rounds)
            .map(|r| format!("round {r}"))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(out, "|---|{}", "---|".repeat(args.rounds));
    for (config, runs) in configs.iter().zip(samples) {
        let cells: Vec<String> = runs
            .iter()
            .map(|s| {
                format!(
                    "{:.0} ({:.0}%)",
                    s.tasks_per_sec,
                    s.background_before * 100.0
                )
            })
            .collect();
        let _ = writeln!(out, "| {} | {} |", config.label(), cells.join(" | "));
    }
    out
}
