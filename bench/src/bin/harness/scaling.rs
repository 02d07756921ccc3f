//! The scaling runs (`--scaling`): Baton on threads (`baton_worker`) swept over concurrency,
//! task types per host and payload size, a soak sampling the client's memory every second,
//! and the client's memory with 10 000 asynchronous tasks in flight. Sweep points run like
//! the normal configurations (fresh mock, warm-up, window, drain, ledger; repetitions
//! interleaved) and are summarised by [`Summary`]. Writes `scaling.json` and `scaling.md`,
//! with each of the issue's targets and whether it was met; the plots are in
//! [`crate::scaling_plot`].

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use baton_bench::window::{Sample, median};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::configs::{Config, Programs};
use crate::report::{self, Outcome, Spread, Status, Summary, cell};
use crate::run::{self, InFlightFigures, RunFigures, Server, Timing};

/// The concurrencies of the concurrency sweep (one task type, empty input).
pub const CONCURRENCIES: [usize; 6] = [1, 4, 16, 64, 256, 1024];
/// The task types per host of the task-type sweep, at [`TYPES_CONCURRENCY`] in all.
pub const TASK_TYPES: [usize; 3] = [1, 10, 100];
/// The total concurrency of the task-type sweep.
pub const TYPES_CONCURRENCY: usize = 256;
/// The input payload sizes of the payload sweep, in bytes, at [`PAYLOAD_CONCURRENCY`].
pub const PAYLOADS: [usize; 4] = [100, 10_000, 100_000, 1_000_000];
/// The concurrency of the payload sweep.
pub const PAYLOAD_CONCURRENCY: usize = 64;
/// The soak's concurrency.
pub const SOAK_CONCURRENCY: usize = 256;
/// The soak's sampling period (memory and completed count).
const SOAK_EVERY: Duration = Duration::from_secs(1);
/// Samples per throughput figure of the soak (10 s at one a second).
const SOAK_RATE_SAMPLES: usize = 10;
/// Tasks in flight at once in the memory run.
pub const IN_FLIGHT: u64 = 10_000;
/// What each task of the memory run awaits: far longer than it takes to poll them all.
const IN_FLIGHT_WORK_MS: u64 = 10_000;
/// The most the memory run waits for every task to be in flight.
const IN_FLIGHT_LIMIT: Duration = Duration::from_secs(30);
/// The name `--only` matches for the soak.
pub const SOAK_NAME: &str = "scaling-soak";
/// The name `--only` matches for the memory run.
pub const IN_FLIGHT_NAME: &str = "scaling-in-flight-10k";

/// One point of a sweep: its x value and the configuration run there.
#[derive(Debug, Clone)]
pub struct Point {
    /// The swept value (concurrency, task types or payload bytes).
    pub x: f64,
    /// What runs there.
    pub config: Config,
}

/// One sweep: a name, what its x axis is, and its points.
#[derive(Debug, Clone)]
pub struct Sweep {
    /// `concurrency`, `task_types` or `payload`.
    pub name: &'static str,
    /// The x axis in words (with its unit).
    pub axis: &'static str,
    /// The points, in increasing x.
    pub points: Vec<Point>,
}

/// A byte count in words: `100 B`, `10 KB`, `1 MB` (decimal units).
pub fn bytes_label(bytes: usize) -> String {
    match bytes {
        b if b >= 1_000_000 && b % 1_000_000 == 0 => format!("{} MB", b / 1_000_000),
        b if b >= 1_000 && b % 1_000 == 0 => format!("{} KB", b / 1_000),
        b => format!("{b} B"),
    }
}

/// The three sweeps, every point a Baton threads configuration.
pub fn sweeps() -> Vec<Sweep> {
    let concurrency = CONCURRENCIES
        .iter()
        .map(|&c| Point {
            x: c as f64,
            config: Config::baton_scaling(
                &format!("scaling-c{c}"),
                &format!("Baton, threads, concurrency {c}"),
                c,
                1,
                0,
                0,
            ),
        })
        .collect();
    let types = TASK_TYPES
        .iter()
        .map(|&t| Point {
            x: t as f64,
            config: Config::baton_scaling(
                &format!("scaling-c{TYPES_CONCURRENCY}-types{t}"),
                &format!(
                    "Baton, threads, {t} task type(s), concurrency {TYPES_CONCURRENCY} in all"
                ),
                TYPES_CONCURRENCY,
                t,
                0,
                0,
            ),
        })
        .collect();
    let payloads = PAYLOADS
        .iter()
        .map(|&b| Point {
            x: b as f64,
            config: Config::baton_scaling(
                &format!(
                    "scaling-c{PAYLOAD_CONCURRENCY}-payload-{}",
                    bytes_label(b).replace(' ', "")
                ),
                &format!(
                    "Baton, threads, concurrency {PAYLOAD_CONCURRENCY}, {} input per task",
                    bytes_label(b)
                ),
                PAYLOAD_CONCURRENCY,
                1,
                0,
                b,
            ),
        })
        .collect();
    vec![
        Sweep {
            name: "concurrency",
            axis: "concurrency (tasks at once)",
            points: concurrency,
        },
        Sweep {
            name: "task_types",
            axis: "task types per host (concurrency 256 in all)",
            points: types,
        },
        Sweep {
            name: "payload",
            axis: "input payload per task, bytes (concurrency 64)",
            points: payloads,
        },
    ]
}

/// The soak's configuration.
pub fn soak_config() -> Config {
    Config::baton_scaling(
        SOAK_NAME,
        &format!("Baton, threads, concurrency {SOAK_CONCURRENCY}, soak"),
        SOAK_CONCURRENCY,
        1,
        0,
        0,
    )
}

/// The memory run's configuration: as many slots as tasks, each task awaiting 10 s.
pub fn in_flight_config() -> Config {
    Config::baton_scaling(
        IN_FLIGHT_NAME,
        &format!(
            "Baton, threads, concurrency {IN_FLIGHT}, each task awaiting {IN_FLIGHT_WORK_MS} ms"
        ),
        IN_FLIGHT as usize,
        1,
        IN_FLIGHT_WORK_MS,
        0,
    )
}

/// How the scaling runs are run.
#[derive(Debug)]
pub struct Settings<'a> {
    /// Repetitions of every sweep point (interleaved).
    pub repetitions: usize,
    /// Warm-up, window and drain of a sweep point (the soak's window is `soak`).
    pub timing: Timing,
    /// The soak's length.
    pub soak: Duration,
    /// Only what matches runs (sweep points by name, [`SOAK_NAME`], [`IN_FLIGHT_NAME`]).
    pub only: Option<&'a regex::Regex>,
    /// The programs.
    pub programs: &'a Programs<'a>,
    /// The server.
    pub server: Server<'a>,
    /// Where each client's output goes.
    pub logs: &'a Path,
}

impl Settings<'_> {
    fn selected(&self, name: &str) -> bool {
        self.only.is_none_or(|re| re.is_match(name))
    }
}

/// The settings `scaling.md` and `scaling.json` state.
#[derive(Debug, Clone, Serialize)]
pub struct ScalingContext {
    /// The machine: cores and CPU model.
    pub machine: String,
    /// Repetitions of every sweep point.
    pub repetitions: usize,
    /// Warm-up seconds.
    pub warmup_secs: f64,
    /// Window seconds of a sweep point.
    pub window_secs: f64,
    /// The soak's window, seconds.
    pub soak_secs: f64,
    /// The machine's busy share in the second before the first run.
    pub busy_before: f64,
    /// Whether a compiler was running when the runs started.
    pub builds_running: bool,
    /// The server.
    pub server: String,
    /// `--only`, when given.
    pub only: Option<String>,
}

/// One sweep point's result.
#[derive(Debug, Clone, Serialize)]
pub struct PointResult {
    /// The swept value.
    pub x: f64,
    /// Medians, ranges and every run, as in `results.json`.
    pub summary: Summary,
}

/// One sweep's results.
#[derive(Debug, Clone, Serialize)]
pub struct SweepResult {
    /// The sweep's name.
    pub name: String,
    /// The x axis in words.
    pub axis: String,
    /// The points that ran, in increasing x.
    pub points: Vec<PointResult>,
}

impl SweepResult {
    fn point(&self, x: f64) -> Option<&Summary> {
        self.points
            .iter()
            .find(|p| p.x == x && p.summary.status == Status::Ok)
            .map(|p| &p.summary)
    }
}

/// The soak's throughput over one stretch of samples.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rate {
    /// Start, seconds into the window.
    pub from_secs: f64,
    /// End, seconds into the window.
    pub to_secs: f64,
    /// Completed tasks per second in between.
    pub tasks_per_s: f64,
}

/// The soak's result.
#[derive(Debug, Clone, Serialize)]
pub struct SoakResult {
    /// Concurrency.
    pub concurrency: usize,
    /// The window's planned length, seconds.
    pub secs: f64,
    /// ok or failed.
    pub status: Status,
    /// Why it failed.
    pub reason: Option<String>,
    /// The whole window's figures.
    pub figures: Option<RunFigures>,
    /// The client's RSS and completed count, every second.
    pub samples: Vec<Sample>,
    /// Tasks per second over every 10 s.
    pub rates: Vec<Rate>,
    /// The smallest RSS sample, MiB.
    pub rss_min_mib: Option<f64>,
    /// The median RSS sample, MiB.
    pub rss_median_mib: Option<f64>,
    /// The largest RSS sample, MiB.
    pub rss_max_mib: Option<f64>,
}

/// The memory run's result.
#[derive(Debug, Clone, Serialize)]
pub struct InFlightResult {
    /// ok or failed.
    pub status: Status,
    /// Why it failed.
    pub reason: Option<String>,
    /// What it measured.
    pub figures: Option<InFlightFigures>,
}

/// Whether a target was met.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Judgement {
    /// The figure meets the target.
    Met,
    /// It does not.
    NotMet,
    /// The figure is missing (its run failed or did not run).
    Unknown,
}

/// One target of the issue, its measured figure and the verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// The target, in words.
    pub target: String,
    /// The measured figure, in words.
    pub measured: String,
    /// The verdict.
    pub met: Judgement,
}

fn verdict(target: &str, measured: Option<(String, bool)>) -> Verdict {
    match measured {
        Some((measured, ok)) => Verdict {
            target: target.to_owned(),
            measured,
            met: if ok {
                Judgement::Met
            } else {
                Judgement::NotMet
            },
        },
        None => Verdict {
            target: target.to_owned(),
            measured: "not measured".to_owned(),
            met: Judgement::Unknown,
        },
    }
}

/// Everything the scaling runs measured: `scaling.json`.
#[derive(Debug, Clone, Serialize)]
pub struct ScalingReport {
    /// The settings.
    pub context: ScalingContext,
    /// The sweeps.
    pub sweeps: Vec<SweepResult>,
    /// The soak (`None`: not run).
    pub soak: Option<SoakResult>,
    /// The memory run (`None`: not run).
    pub in_flight: Option<InFlightResult>,
    /// The issue's targets.
    pub targets: Vec<Verdict>,
}

/// The soak's throughput over every `per` samples (and over the rest, if any), from the
/// completed counts the samples carry.
pub fn rates(samples: &[Sample], per: usize) -> Vec<Rate> {
    let per = per.max(1);
    let mut out = Vec::new();
    let (mut from_secs, mut from_completed) = (0.0, 0);
    for chunk in samples.chunks(per) {
        let Some(last) = chunk.last() else { continue };
        let secs = last.secs - from_secs;
        if secs > 0.0 {
            out.push(Rate {
                from_secs,
                to_secs: last.secs,
                tasks_per_s: last.completed.saturating_sub(from_completed) as f64 / secs,
            });
        }
        (from_secs, from_completed) = (last.secs, last.completed);
    }
    out
}

/// The issue's targets, judged from what was measured. Memory limits are in MiB, as the
/// harness reports memory.
pub fn targets(
    sweeps: &[SweepResult],
    soak: Option<&SoakResult>,
    in_flight: Option<&InFlightResult>,
) -> Vec<Verdict> {
    let sweep = |name: &str| sweeps.iter().find(|s| s.name == name);
    let at = |name: &str, x: usize| sweep(name).and_then(|s| s.point(x as f64));
    let mut out = Vec::new();

    let rate = |s: &Summary| s.tasks_per_s.filter(|r| *r > 0.0);
    out.push(verdict(
        "tasks/s at concurrency 1024 ≥ 0.9 × tasks/s at concurrency 64",
        at("concurrency", 1024)
            .and_then(rate)
            .zip(at("concurrency", 64).and_then(rate))
            .map(|(high, low)| {
                let ratio = high / low;
                (
                    format!("{high:.0} vs {low:.0} tasks/s: {ratio:.2}×"),
                    ratio >= 0.9,
                )
            }),
    ));

    out.push(verdict(
        "peak RSS ≤ 16 MiB at concurrency 256",
        at("concurrency", 256)
            .and_then(|s| s.peak_rss_mib)
            .map(|rss| (format!("{rss:.1} MiB"), rss <= 16.0)),
    ));

    out.push(verdict(
        "RSS flat over the soak: every 1-s sample within ± 1 MiB of the soak's median",
        soak.filter(|s| s.status == Status::Ok && !s.samples.is_empty())
            .and_then(|s| s.rss_min_mib.zip(s.rss_median_mib).zip(s.rss_max_mib))
            .map(|((min, mid), max)| {
                let worst = (mid - min).max(max - mid);
                (
                    format!(
                        "{min:.1}–{max:.1} MiB, median {mid:.1}: {worst:.2} MiB from the median"
                    ),
                    worst <= 1.0,
                )
            }),
    ));

    out.push(verdict(
        &format!("{IN_FLIGHT} async tasks in flight: client peak RSS ≤ 64 MiB"),
        in_flight
            .filter(|r| r.status == Status::Ok)
            .and_then(|r| r.figures.as_ref())
            .map(|f| {
                let held = if f.reached {
                    format!("{} in flight", f.in_flight)
                } else {
                    format!("only {} of {} in flight", f.in_flight, f.target)
                };
                (
                    format!(
                        "peak RSS {:.1} MiB (RSS {:.1}, PSS {:.1}), {held}",
                        f.peak_rss_mib, f.rss_mib, f.pss_mib
                    ),
                    f.reached && f.peak_rss_mib <= 64.0,
                )
            }),
    ));

    let cpu = |s: &Summary| s.client_cpu_us_per_task.filter(|c| *c > 0.0);
    out.push(verdict(
        "client CPU per task with 100 task types ≤ 1.1 × with one (concurrency 256 in all)",
        at("task_types", 100)
            .and_then(cpu)
            .zip(at("task_types", 1).and_then(cpu))
            .map(|(many, one)| {
                let ratio = many / one;
                (
                    format!("{many:.1} vs {one:.1} µs/task: {ratio:.2}×"),
                    ratio <= 1.1,
                )
            }),
    ));
    out
}

impl SoakResult {
    fn new(secs: f64, outcome: Result<(RunFigures, Vec<Sample>), String>) -> Self {
        let (status, reason, figures, samples) = match outcome {
            Ok((figures, samples)) => (Status::Ok, None, Some(figures), samples),
            Err(reason) => (Status::Failed, Some(reason), None, Vec::new()),
        };
        let rss = || samples.iter().map(|s| s.rss_mib);
        let finite = samples.iter().any(|s| s.rss_mib.is_finite());
        Self {
            concurrency: SOAK_CONCURRENCY,
            secs,
            status,
            reason,
            figures,
            rates: rates(&samples, SOAK_RATE_SAMPLES),
            rss_min_mib: finite.then(|| rss().fold(f64::INFINITY, f64::min)),
            rss_median_mib: median(rss()),
            rss_max_mib: finite.then(|| rss().fold(f64::NEG_INFINITY, f64::max)),
            samples,
        }
    }

    /// Why the soak fails the harness, if it does (failed, lost or repeated a task).
    fn failure(&self) -> Option<String> {
        if let Some(reason) = &self.reason {
            return Some(format!("{SOAK_NAME}: {reason}"));
        }
        let f = self.figures.as_ref()?;
        if f.tasks == 0 {
            return Some(format!("{SOAK_NAME}: the soak completed no task"));
        }
        (f.lost > 0 || f.duplicates > 0).then(|| {
            format!(
                "{SOAK_NAME}: {} lost, {} duplicate updates",
                f.lost, f.duplicates
            )
        })
    }
}

impl InFlightResult {
    fn failure(&self) -> Option<String> {
        if let Some(reason) = &self.reason {
            return Some(format!("{IN_FLIGHT_NAME}: {reason}"));
        }
        let f = self.figures.as_ref()?;
        (f.lost > 0 || f.duplicates > 0).then(|| {
            format!(
                "{IN_FLIGHT_NAME}: {} lost, {} duplicate updates",
                f.lost, f.duplicates
            )
        })
    }
}

impl ScalingReport {
    /// What fails the harness: a sweep point, the soak or the memory run that failed, lost or
    /// repeated a task. Targets not met are reported, never failed.
    pub fn failures(&self) -> Vec<String> {
        let points = self
            .sweeps
            .iter()
            .flat_map(|s| &s.points)
            .filter_map(|p| p.summary.failure());
        points
            .chain(self.soak.as_ref().and_then(SoakResult::failure))
            .chain(self.in_flight.as_ref().and_then(InFlightResult::failure))
            .collect()
    }
}

/// How many runs `settings` makes (sweep points × repetitions, plus the soak and the memory
/// run when selected).
fn planned_runs(settings: &Settings<'_>, sweeps: &[Sweep]) -> usize {
    let points = sweeps
        .iter()
        .flat_map(|s| &s.points)
        .filter(|p| settings.selected(&p.config.name))
        .count();
    points * settings.repetitions
        + usize::from(settings.selected(SOAK_NAME))
        + usize::from(settings.selected(IN_FLIGHT_NAME))
}

/// Runs the scaling set; `context` is filled in by the caller.
pub async fn run(settings: &Settings<'_>, context: ScalingContext) -> ScalingReport {
    let plan = sweeps();
    let bar = ProgressBar::new(planned_runs(settings, &plan) as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} runs, {elapsed} elapsed, {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let say = |line: String| {
        // A hidden bar (stderr not a terminal, as in CI) prints nothing: print directly.
        if bar.is_hidden() {
            eprintln!("{line}");
        } else {
            bar.println(line);
        }
    };

    // Sweep points, repetitions interleaved.
    let mut runs: Vec<Vec<Vec<Result<RunFigures, String>>>> = plan
        .iter()
        .map(|s| vec![Vec::new(); s.points.len()])
        .collect();
    for repetition in 1..=settings.repetitions {
        for (s, sweep) in plan.iter().enumerate() {
            for (p, point) in sweep.points.iter().enumerate() {
                let config = &point.config;
                if !settings.selected(&config.name) {
                    continue;
                }
                bar.set_message(format!("{} (repetition {repetition})", config.name));
                let log = settings
                    .logs
                    .join(format!("{}-{repetition}.log", config.name));
                let outcome = run::run_once(
                    config,
                    settings.programs,
                    settings.server,
                    settings.timing,
                    &log,
                )
                .await
                .map_err(|err| err.to_string());
                say(report::line(&config.name, &outcome));
                runs[s][p].push(outcome);
                bar.inc(1);
            }
        }
    }
    let sweeps: Vec<SweepResult> = plan
        .iter()
        .zip(runs)
        .map(|(sweep, runs)| SweepResult {
            name: sweep.name.to_owned(),
            axis: sweep.axis.to_owned(),
            points: sweep
                .points
                .iter()
                .zip(runs)
                .filter(|(_, runs)| !runs.is_empty())
                .map(|(point, runs)| PointResult {
                    x: point.x,
                    summary: Summary::new(&point.config, &Outcome::Ran(runs)),
                })
                .collect(),
        })
        .collect();

    let soak = if settings.selected(SOAK_NAME) {
        let config = soak_config();
        bar.set_message(format!("{SOAK_NAME} ({} s)", settings.soak.as_secs_f64()));
        let timing = Timing {
            window: settings.soak,
            ..settings.timing
        };
        let outcome = run::run_sampled(
            &config,
            settings.programs,
            settings.server,
            timing,
            Some(SOAK_EVERY),
            &settings.logs.join(format!("{SOAK_NAME}.log")),
        )
        .await
        .map_err(|err| err.to_string());
        say(report::line(
            SOAK_NAME,
            &outcome
                .as_ref()
                .map(|(f, _)| f.clone())
                .map_err(Clone::clone),
        ));
        bar.inc(1);
        Some(SoakResult::new(settings.soak.as_secs_f64(), outcome))
    } else {
        None
    };

    let in_flight = if settings.selected(IN_FLIGHT_NAME) {
        let config = in_flight_config();
        bar.set_message(IN_FLIGHT_NAME.to_owned());
        let outcome = run::run_in_flight(
            &config,
            settings.programs,
            settings.server,
            IN_FLIGHT,
            IN_FLIGHT_LIMIT,
            // Every task awaits its work once more at most, then the updates go out.
            Duration::from_millis(IN_FLIGHT_WORK_MS) + settings.timing.drain,
            &settings.logs.join(format!("{IN_FLIGHT_NAME}.log")),
        )
        .await;
        let result = match outcome {
            Ok(figures) => {
                say(format!(
                    "{IN_FLIGHT_NAME:<28} {} in flight  RSS {:.1} MiB  peak RSS {:.1} MiB  PSS {:.1} MiB  lost {}  dup {}",
                    figures.in_flight,
                    figures.rss_mib,
                    figures.peak_rss_mib,
                    figures.pss_mib,
                    figures.lost,
                    figures.duplicates
                ));
                InFlightResult {
                    status: Status::Ok,
                    reason: None,
                    figures: Some(figures),
                }
            }
            Err(err) => {
                say(format!("{IN_FLIGHT_NAME:<28} FAILED: {err}"));
                InFlightResult {
                    status: Status::Failed,
                    reason: Some(err.to_string()),
                    figures: None,
                }
            }
        };
        bar.inc(1);
        Some(result)
    } else {
        None
    };
    bar.finish_and_clear();

    let targets = targets(&sweeps, soak.as_ref(), in_flight.as_ref());
    ScalingReport {
        context,
        sweeps,
        soak,
        in_flight,
        targets,
    }
}

fn status_cell(status: Status) -> &'static str {
    match status {
        Status::Ok => "ok",
        Status::Failed => "**failed**",
        Status::Skipped => "skipped",
    }
}

fn with_range(value: Option<f64>, range: Option<Spread>, digits: usize) -> String {
    match (value, range) {
        (Some(v), Some(r)) => format!("{v:.digits$} ({:.digits$}–{:.digits$})", r.min, r.max),
        (v, _) => cell(v, digits),
    }
}

/// `scaling.md`: the settings, the targets and their verdicts, one table per sweep, the soak
/// and the memory run.
pub fn markdown(report: &ScalingReport) -> String {
    let c = &report.context;
    let mut out = String::new();
    let _ = writeln!(out, "# Baton scaling runs\n");
    let _ = writeln!(
        out,
        "Machine: {}. Baton on threads (`baton_worker`); server: {}. {} \
         repetition(s) per sweep point, interleaved; {} s warm-up after the first completed \
         task, {} s window; soak window {} s. The machine was {:.0}% busy in the second before \
         the first run{}.{}\n",
        c.machine,
        c.server,
        c.repetitions,
        c.warmup_secs,
        c.window_secs,
        c.soak_secs,
        c.busy_before * 100.0,
        if c.builds_running {
            "; a compiler was running then, so the figures are disturbed"
        } else {
            ""
        },
        c.only
            .as_ref()
            .map(|only| format!(" Only runs matching `{only}`."))
            .unwrap_or_default(),
    );
    let _ = writeln!(out, "## Targets\n");
    let _ = writeln!(out, "| target | measured | verdict |");
    let _ = writeln!(out, "|---|---|---|");
    for t in &report.targets {
        let met = match t.met {
            Judgement::Met => "met",
            Judgement::NotMet => "**not met**",
            Judgement::Unknown => "unknown",
        };
        let _ = writeln!(out, "| {} | {} | {met} |", t.target, t.measured);
    }
    let _ = writeln!(
        out,
        "\nMedians over repetitions (min–max). Client CPU is the whole process tree; memory is \
         the client tree's summed peak RSS and PSS at the end of the window. With large \
         payloads the per-task figures are dominated by moving the input (the mock writes it \
         into every poll answer, the client reads and decodes it): that is expected.\n"
    );
    for sweep in &report.sweeps {
        if sweep.points.is_empty() {
            continue;
        }
        let _ = writeln!(out, "## Sweep: {}\n", sweep.axis);
        let _ = writeln!(
            out,
            "| x | configuration | status | tasks/s (min–max) | client CPU µs/task (min–max) | server CPU µs/task | peak RSS MiB | PSS MiB | p50 / p99 ms | lost | dup |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|");
        for point in &sweep.points {
            let s = &point.summary;
            let x = if sweep.name == "payload" {
                bytes_label(point.x as usize)
            } else {
                format!("{}", point.x)
            };
            let _ = writeln!(
                out,
                "| {x} | {} | {} | {} | {} | {} | {} | {} | {} / {} | {} | {} |",
                s.name,
                status_cell(s.status),
                with_range(s.tasks_per_s, s.tasks_per_s_range, 0),
                with_range(s.client_cpu_us_per_task, s.client_cpu_us_per_task_range, 1),
                cell(s.server_cpu_us_per_task, 1),
                cell(s.peak_rss_mib, 1),
                cell(s.pss_mib, 1),
                cell(s.latency_p50_ms, 1),
                cell(s.latency_p99_ms, 1),
                s.lost.map_or_else(|| "–".to_owned(), |l| l.to_string()),
                s.duplicates
                    .map_or_else(|| "–".to_owned(), |d| d.to_string()),
            );
        }
        let _ = writeln!(out);
    }
    if let Some(soak) = &report.soak {
        let _ = writeln!(
            out,
            "## Soak: concurrency {}, {} s\n",
            soak.concurrency, soak.secs
        );
        match (&soak.figures, &soak.reason) {
            (Some(f), _) => {
                let _ = writeln!(
                    out,
                    "Status {}. {:.0} tasks/s over the soak, client CPU {} µs/task, peak RSS \
                     {:.1} MiB, PSS {:.1} MiB at the end, lost {}, duplicates {}. RSS sampled \
                     every second ({} samples): min {} / median {} / max {} MiB (plot: \
                     `soak-rss.svg`).\n",
                    status_cell(soak.status),
                    f.tasks_per_s,
                    cell(f.client_cpu_us_per_task, 1),
                    f.peak_rss_mib,
                    f.pss_mib,
                    f.lost,
                    f.duplicates,
                    soak.samples.len(),
                    cell(soak.rss_min_mib, 1),
                    cell(soak.rss_median_mib, 1),
                    cell(soak.rss_max_mib, 1),
                );
                let _ = writeln!(out, "| from s | to s | tasks/s | RSS MiB at the end |");
                let _ = writeln!(out, "|---|---|---|---|");
                for rate in &soak.rates {
                    let rss = soak
                        .samples
                        .iter()
                        .find(|s| s.secs >= rate.to_secs)
                        .map(|s| s.rss_mib);
                    let _ = writeln!(
                        out,
                        "| {:.0} | {:.0} | {:.0} | {} |",
                        rate.from_secs,
                        rate.to_secs,
                        rate.tasks_per_s,
                        cell(rss, 1)
                    );
                }
                let _ = writeln!(out);
            }
            (None, reason) => {
                let _ = writeln!(
                    out,
                    "**failed**: {}\n",
                    reason.as_deref().unwrap_or("no figures")
                );
            }
        }
    }
    if let Some(in_flight) = &report.in_flight {
        let _ = writeln!(out, "## Memory with {IN_FLIGHT} async tasks in flight\n");
        match (&in_flight.figures, &in_flight.reason) {
            (Some(f), _) => {
                let _ = writeln!(
                    out,
                    "`baton_worker --concurrency {IN_FLIGHT} --work-ms {IN_FLIGHT_WORK_MS}`, \
                     {IN_FLIGHT} tasks enqueued: {} in flight at once ({}). Then: RSS {:.1} MiB, \
                     peak RSS {:.1} MiB, PSS {:.1} MiB over {} process(es). Lost {}, \
                     duplicates {}, drained {}.\n",
                    f.in_flight,
                    if f.reached {
                        "all of them"
                    } else {
                        "**not all of them** within the limit"
                    },
                    f.rss_mib,
                    f.peak_rss_mib,
                    f.pss_mib,
                    f.processes,
                    f.lost,
                    f.duplicates,
                    f.drained
                );
            }
            (None, reason) => {
                let _ = writeln!(
                    out,
                    "**failed**: {}\n",
                    reason.as_deref().unwrap_or("no figures")
                );
            }
        }
    }
    let notes: Vec<&Summary> = report
        .sweeps
        .iter()
        .flat_map(|s| &s.points)
        .map(|p| &p.summary)
        .filter(|s| s.reason.is_some())
        .collect();
    if !notes.is_empty() {
        let _ = writeln!(out, "## Failures\n");
        for s in notes {
            let _ = writeln!(
                out,
                "- {} ({}): {}",
                s.name,
                s.description,
                s.reason.as_deref().unwrap_or_default()
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(rate: f64, cpu: f64, rss: f64) -> RunFigures {
        RunFigures {
            tasks: 100,
            tasks_per_s: rate,
            client_cpu_us_per_task: Some(cpu),
            peak_rss_mib: rss,
            ..RunFigures::default()
        }
    }

    fn sweep_of(name: &str, points: &[(f64, RunFigures)]) -> SweepResult {
        let plan = sweeps();
        let Some(sweep) = plan.iter().find(|s| s.name == name) else {
            panic!("no sweep {name}");
        };
        SweepResult {
            name: name.to_owned(),
            axis: sweep.axis.to_owned(),
            points: points
                .iter()
                .map(|(x, f)| {
                    let point = sweep.points.iter().find(|p| p.x == *x).unwrap();
                    PointResult {
                        x: *x,
                        summary: Summary::new(&point.config, &Outcome::Ran(vec![Ok(f.clone())])),
                    }
                })
                .collect(),
        }
    }

    fn sample(secs: f64, rss_mib: f64, completed: u64) -> Sample {
        Sample {
            secs,
            rss_mib,
            completed,
        }
    }

    #[test]
    fn the_plan_covers_the_issue_and_names_are_unique() {
        let plan = sweeps();
        let xs = |name: &str| -> Vec<f64> {
            plan.iter()
                .find(|s| s.name == name)
                .map(|s| s.points.iter().map(|p| p.x).collect())
                .unwrap_or_default()
        };
        assert_eq!(xs("concurrency"), [1.0, 4.0, 16.0, 64.0, 256.0, 1024.0]);
        assert_eq!(xs("task_types"), [1.0, 10.0, 100.0]);
        assert_eq!(xs("payload"), [100.0, 10_000.0, 100_000.0, 1_000_000.0]);
        let mut names: Vec<String> = plan
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.config.name.clone()))
            .chain([SOAK_NAME.to_owned(), IN_FLIGHT_NAME.to_owned()])
            .collect();
        let all = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all);
        let types = &plan[1].points[2].config;
        assert_eq!(types.task_types("bench").len(), 100);
        let payload = &plan[2].points[3].config;
        assert_eq!(payload.payload_bytes, 1_000_000);
        assert_eq!(payload.name, "scaling-c64-payload-1MB");
        assert_eq!(in_flight_config().task_types("bench"), ["bench"]);
    }

    #[test]
    fn byte_labels() {
        assert_eq!(bytes_label(100), "100 B");
        assert_eq!(bytes_label(10_000), "10 KB");
        assert_eq!(bytes_label(100_000), "100 KB");
        assert_eq!(bytes_label(1_000_000), "1 MB");
        assert_eq!(bytes_label(1_500), "1500 B");
    }

    #[test]
    fn soak_rates_per_ten_samples_and_the_rest() {
        let samples: Vec<Sample> = (1u32..=25)
            .map(|i| sample(f64::from(i), 10.0, u64::from(i) * 100))
            .collect();
        let rates = rates(&samples, 10);
        assert_eq!(rates.len(), 3);
        assert_eq!((rates[0].from_secs, rates[0].to_secs), (0.0, 10.0));
        assert!((rates[0].tasks_per_s - 100.0).abs() < 1e-9);
        assert_eq!((rates[2].from_secs, rates[2].to_secs), (20.0, 25.0));
        assert!((rates[2].tasks_per_s - 100.0).abs() < 1e-9);
        assert!(super::rates(&[], 10).is_empty());
    }

    #[test]
    fn targets_met_not_met_and_unknown() {
        let concurrency = sweep_of(
            "concurrency",
            &[
                (64.0, figures(1000.0, 50.0, 10.0)),
                (256.0, figures(1000.0, 50.0, 12.0)),
                (1024.0, figures(950.0, 50.0, 20.0)),
            ],
        );
        let types = sweep_of(
            "task_types",
            &[
                (1.0, figures(1000.0, 50.0, 10.0)),
                (100.0, figures(1000.0, 60.0, 10.0)),
            ],
        );
        let soak = SoakResult::new(
            10.0,
            Ok((
                figures(1000.0, 50.0, 12.0),
                vec![
                    sample(1.0, 11.0, 1),
                    sample(2.0, 11.5, 2),
                    sample(3.0, 12.6, 3),
                ],
            )),
        );
        let in_flight = InFlightResult {
            status: Status::Ok,
            reason: None,
            figures: Some(InFlightFigures {
                target: IN_FLIGHT,
                in_flight: IN_FLIGHT,
                reached: true,
                peak_rss_mib: 40.0,
                ..InFlightFigures::default()
            }),
        };
        let verdicts = targets(&[concurrency, types], Some(&soak), Some(&in_flight));
        let met: Vec<Judgement> = verdicts.iter().map(|v| v.met).collect();
        assert_eq!(
            met,
            [
                Judgement::Met,
                Judgement::Met,
                Judgement::NotMet,
                Judgement::Met,
                Judgement::NotMet
            ],
            "{verdicts:?}"
        );
        assert!(verdicts[0].measured.contains("0.95×"), "{verdicts:?}");
        assert!(verdicts[4].measured.contains("1.20×"), "{verdicts:?}");

        // Over the bounds the other way; and a memory run that did not get every task in
        // flight does not meet its target, however small its memory.
        let concurrency = sweep_of(
            "concurrency",
            &[
                (64.0, figures(1000.0, 50.0, 10.0)),
                (256.0, figures(1000.0, 50.0, 16.5)),
                (1024.0, figures(899.0, 50.0, 20.0)),
            ],
        );
        let short = InFlightResult {
            status: Status::Ok,
            reason: None,
            figures: Some(InFlightFigures {
                target: IN_FLIGHT,
                in_flight: 9_000,
                reached: false,
                peak_rss_mib: 10.0,
                ..InFlightFigures::default()
            }),
        };
        let verdicts = targets(&[concurrency], None, Some(&short));
        let met: Vec<Judgement> = verdicts.iter().map(|v| v.met).collect();
        assert_eq!(
            met,
            [
                Judgement::NotMet,
                Judgement::NotMet,
                Judgement::Unknown,
                Judgement::NotMet,
                Judgement::Unknown
            ]
        );
        assert!(verdicts[3].measured.contains("only 9000"), "{verdicts:?}");
        assert!(
            targets(&[], None, None)
                .iter()
                .all(|v| v.met == Judgement::Unknown)
        );
    }

    fn context() -> ScalingContext {
        ScalingContext {
            machine: "m".into(),
            repetitions: 1,
            warmup_secs: 1.0,
            window_secs: 2.0,
            soak_secs: 3.0,
            busy_before: 0.0,
            builds_running: false,
            server: "s".into(),
            only: None,
        }
    }

    #[test]
    fn failures_cover_points_soak_and_the_memory_run() {
        let mut lost = figures(1000.0, 50.0, 10.0);
        lost.lost = 2;
        let report = ScalingReport {
            context: context(),
            sweeps: vec![sweep_of("concurrency", &[(64.0, lost.clone())])],
            soak: Some(SoakResult::new(3.0, Err("boom".into()))),
            in_flight: Some(InFlightResult {
                status: Status::Ok,
                reason: None,
                figures: Some(InFlightFigures {
                    duplicates: 1,
                    ..InFlightFigures::default()
                }),
            }),
            targets: Vec::new(),
        };
        let failures = report.failures();
        assert_eq!(failures.len(), 3, "{failures:?}");
        assert!(failures[0].contains("2 lost"));
        assert!(failures[1].contains("boom"));
        assert!(failures[2].contains("1 duplicate"));
    }

    #[test]
    fn json_shape() {
        let report = ScalingReport {
            context: context(),
            sweeps: vec![sweep_of(
                "concurrency",
                &[(64.0, figures(1000.0, 50.0, 10.0))],
            )],
            soak: Some(SoakResult::new(
                3.0,
                Ok((figures(900.0, 40.0, 11.0), vec![sample(1.0, 11.0, 900)])),
            )),
            in_flight: None,
            targets: Vec::new(),
        };
        let report = ScalingReport {
            targets: targets(&report.sweeps, report.soak.as_ref(), None),
            ..report
        };
        let json = serde_json::to_value(&report).unwrap();
        let point = &json["sweeps"][0]["points"][0];
        assert_eq!(json["sweeps"][0]["name"], "concurrency");
        assert_eq!(point["x"], 64.0);
        assert_eq!(point["summary"]["tasks_per_s"], 1000.0);
        assert_eq!(point["summary"]["tasks_per_s_range"]["min"], 1000.0);
        assert_eq!(point["summary"]["tasks_per_s_range"]["max"], 1000.0);
        assert_eq!(json["soak"]["samples"][0]["rss_mib"], 11.0);
        assert_eq!(json["soak"]["rates"][0]["tasks_per_s"], 900.0);
        assert_eq!(json["soak"]["rss_median_mib"], 11.0);
        assert!(json["in_flight"].is_null());
        assert_eq!(json["targets"].as_array().map(Vec::len), Some(5));
        assert_eq!(json["targets"][2]["met"], "met");
        assert_eq!(json["targets"][3]["met"], "unknown");
        let md = markdown(&report);
        assert!(
            md.contains("| 64 | scaling-c64 | ok | 1000 (1000–1000) |"),
            "{md}"
        );
        assert!(md.contains("## Soak"), "{md}");
    }
}
