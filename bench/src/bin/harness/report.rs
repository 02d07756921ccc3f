//! The results: one summary per configuration (median and min..max over its runs), written
//! as `results.json` (a top-level array) and `results.md`.

use std::fmt::Write as _;

use baton_bench::window::median;
use serde::Serialize;

use crate::configs::{Config, Family};
use crate::run::RunFigures;

/// How a configuration ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Every run measured.
    Ok,
    /// A run failed (see `reason`).
    Failed,
    /// A prerequisite is missing (see `reason`); never fails the harness.
    Skipped,
}

/// A figure's median and range over the runs.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Spread {
    /// The median.
    pub median: f64,
    /// The smallest.
    pub min: f64,
    /// The largest.
    pub max: f64,
}

impl Spread {
    fn of(values: impl IntoIterator<Item = f64>) -> Option<Self> {
        let finite: Vec<f64> = values.into_iter().filter(|v| v.is_finite()).collect();
        Some(Self {
            median: median(finite.iter().copied())?,
            min: finite.iter().copied().fold(f64::INFINITY, f64::min),
            max: finite.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        })
    }
}

/// One configuration's line of `results.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// The configuration's name.
    pub name: String,
    /// What it is.
    pub description: String,
    /// Baton, the ceiling loop, or a peer.
    pub family: Family,
    /// ok, failed or skipped.
    pub status: Status,
    /// Why it failed or was skipped.
    pub reason: Option<String>,
    /// Runs measured.
    pub runs_ok: usize,
    /// Median completed tasks per second.
    pub tasks_per_s: Option<f64>,
    /// Its range.
    pub tasks_per_s_range: Option<Spread>,
    /// Median client CPU per task (the whole process tree), µs.
    pub client_cpu_us_per_task: Option<f64>,
    /// Its range.
    pub client_cpu_us_per_task_range: Option<Spread>,
    /// Median server CPU per task, µs.
    pub server_cpu_us_per_task: Option<f64>,
    /// Median share of the machine busy in the windows (0..1).
    pub busy_share: Option<f64>,
    /// Median cores' worth of other load in the windows.
    pub other_load_cores: Option<f64>,
    /// Median of the runs' median schedule-to-completion latency, ms.
    pub latency_p50_ms: Option<f64>,
    /// Median of the runs' 99th-percentile latency, ms.
    pub latency_p99_ms: Option<f64>,
    /// Median summed peak RSS of the client's processes, MiB.
    pub peak_rss_mib: Option<f64>,
    /// Median summed PSS of the client's processes, MiB.
    pub pss_mib: Option<f64>,
    /// Client processes.
    pub processes: Option<usize>,
    /// HTTP calls to the server per completed task (median; spawned servers only).
    pub http_calls_per_task: Option<f64>,
    /// Tasks lost, summed over the runs.
    pub lost: Option<u64>,
    /// Duplicate updates, summed over the runs.
    pub duplicates: Option<u64>,
    /// Whether every run drained before its client was stopped.
    pub drained: Option<bool>,
    /// Every run's figures, in order.
    pub runs: Vec<RunFigures>,
}

/// What happened to a configuration.
#[derive(Debug)]
pub enum Outcome {
    /// Not run: a prerequisite is missing.
    Skipped(String),
    /// Its runs, each measured or failed.
    Ran(Vec<Result<RunFigures, String>>),
}

impl Summary {
    /// The summary of `config` from its outcome.
    pub fn new(config: &Config, outcome: &Outcome) -> Self {
        let mut summary = Self {
            name: config.name.clone(),
            description: config.description.clone(),
            family: config.family,
            status: Status::Ok,
            reason: None,
            runs_ok: 0,
            tasks_per_s: None,
            tasks_per_s_range: None,
            client_cpu_us_per_task: None,
            client_cpu_us_per_task_range: None,
            server_cpu_us_per_task: None,
            busy_share: None,
            other_load_cores: None,
            latency_p50_ms: None,
            latency_p99_ms: None,
            peak_rss_mib: None,
            pss_mib: None,
            processes: None,
            http_calls_per_task: None,
            lost: None,
            duplicates: None,
            drained: None,
            runs: Vec::new(),
        };
        let runs = match outcome {
            Outcome::Skipped(reason) => {
                summary.status = Status::Skipped;
                summary.reason = Some(reason.clone());
                return summary;
            }
            Outcome::Ran(runs) => runs,
        };
        if let Some(Err(reason)) = runs.iter().find(|r| r.is_err()) {
            summary.status = Status::Failed;
            summary.reason = Some(reason.clone());
        }
        let ok: Vec<&RunFigures> = runs.iter().filter_map(|r| r.as_ref().ok()).collect();
        summary.runs = ok.iter().map(|r| (*r).clone()).collect();
        summary.runs_ok = ok.len();
        if ok.is_empty() {
            return summary;
        }
        let pick = |f: fn(&RunFigures) -> Option<f64>| median(ok.iter().filter_map(|r| f(r)));
        let rates = ok.iter().map(|r| r.tasks_per_s);
        summary.tasks_per_s = median(rates.clone());
        summary.tasks_per_s_range = Spread::of(rates);
        let cpu = ok.iter().filter_map(|r| r.client_cpu_us_per_task);
        summary.client_cpu_us_per_task = median(cpu.clone());
        summary.client_cpu_us_per_task_range = Spread::of(cpu);
        summary.server_cpu_us_per_task = pick(|r| r.server_cpu_us_per_task);
        summary.busy_share = pick(|r| Some(r.busy_share));
        summary.other_load_cores = pick(|r| Some(r.other_load_cores));
        summary.latency_p50_ms = pick(|r| r.latency_p50_ms);
        summary.latency_p99_ms = pick(|r| r.latency_p99_ms);
        summary.peak_rss_mib = pick(|r| Some(r.peak_rss_mib));
        summary.pss_mib = pick(|r| Some(r.pss_mib));
        summary.processes = ok.iter().map(|r| r.processes).max();
        summary.http_calls_per_task = pick(|r| r.http_calls_per_task);
        summary.lost = Some(ok.iter().map(|r| r.lost).sum());
        summary.duplicates = Some(ok.iter().map(|r| r.duplicates).sum());
        summary.drained = Some(ok.iter().all(|r| r.drained));
        if summary.status == Status::Ok && ok.iter().any(|r| r.tasks == 0) {
            summary.status = Status::Failed;
            summary.reason = Some("a window completed no task".into());
        }
        summary
    }

    /// Why this configuration fails the harness, if it does: a Baton configuration that
    /// failed, lost or repeated a task, or completed nothing. Peers and skips never do.
    pub fn failure(&self) -> Option<String> {
        if self.family != Family::Baton || self.status == Status::Skipped {
            return None;
        }
        if self.status == Status::Failed {
            return Some(format!(
                "{}: {}",
                self.name,
                self.reason.as_deref().unwrap_or("failed")
            ));
        }
        let lost = self.lost.unwrap_or(0);
        let duplicates = self.duplicates.unwrap_or(0);
        (lost > 0 || duplicates > 0)
            .then(|| format!("{}: {lost} lost, {duplicates} duplicate updates", self.name))
    }
}

/// What `results.md` says about the run as a whole.
#[derive(Debug, Clone)]
pub struct Context {
    /// `quick` or `full`.
    pub mode: &'static str,
    /// Repetitions.
    pub repetitions: usize,
    /// Warm-up seconds.
    pub warmup_secs: f64,
    /// Window seconds.
    pub window_secs: f64,
    /// The machine's busy share in the second before the first run.
    pub busy_before: f64,
    /// Whether a compiler was running when the runs started.
    pub builds_running: bool,
    /// The server: spawned per run, or an external URL.
    pub server: String,
}

/// A table cell: the figure with `digits` decimals, or `–` when it is missing.
pub fn cell(value: Option<f64>, digits: usize) -> String {
    value.map_or_else(|| "–".to_owned(), |v| format!("{v:.digits$}"))
}

/// The machine in words: `N cores, <CPU model>`.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores, {cpu}")
}

/// The line printed after each run: the main figures, or why it failed.
pub fn line(name: &str, outcome: &Result<RunFigures, String>) -> String {
    match outcome {
        Ok(f) => format!(
            "{:<28} {:>9.0} tasks/s  client {:>8.1} µs/task  server {:>6.1} µs/task  busy {:>3.0}%  other {:.2} cores  lost {}  dup {}",
            name,
            f.tasks_per_s,
            f.client_cpu_us_per_task.unwrap_or(f64::NAN),
            f.server_cpu_us_per_task.unwrap_or(f64::NAN),
            f.busy_share * 100.0,
            f.other_load_cores,
            f.lost,
            f.duplicates
        ),
        Err(err) => format!("{name:<28} FAILED: {err}"),
    }
}

/// `results.md`: the machine, the settings, one table row per configuration.
pub fn markdown(context: &Context, summaries: &[Summary]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Baton beside its peers\n");
    let _ = writeln!(
        out,
        "Machine: {}. Mode {}: {} repetition(s), interleaved; {} s warm-up after \
         the first completed task, {} s window. Server: {}. No-op worker returning `{{\"ok\": true}}`. \
         The machine was {:.0}% busy in the second before the first run{}.\n",
        machine(),
        context.mode,
        context.repetitions,
        context.warmup_secs,
        context.window_secs,
        context.server,
        context.busy_before * 100.0,
        if context.builds_running {
            "; a compiler was running then, so the figures are disturbed"
        } else {
            ""
        },
    );
    let _ = writeln!(
        out,
        "Medians over repetitions (min–max for throughput). Client CPU is the whole process tree; \
         busy is the machine's busy share in the window; other load is CPU spent by anything but \
         the client and the server, in cores. Latency is schedule-to-completion over the run \
         (warm-up, window and drain), as the mock's ledger measures it; it includes time queued \
         behind the half-second backlog the harness keeps. Lost and duplicates are summed over \
         repetitions.\n"
    );
    let _ = writeln!(
        out,
        "| configuration | status | tasks/s (min–max) | client CPU µs/task | server CPU µs/task | busy | other load | p50 / p99 ms | peak RSS MiB | PSS MiB | procs | HTTP calls/task | lost | dup |"
    );
    let _ = writeln!(
        out,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for s in summaries {
        let status = match s.status {
            Status::Ok => "ok".to_owned(),
            Status::Failed => "**failed**".to_owned(),
            Status::Skipped => "skipped".to_owned(),
        };
        let rate = match (s.tasks_per_s, s.tasks_per_s_range) {
            (Some(rate), Some(range)) => format!("{rate:.0} ({:.0}–{:.0})", range.min, range.max),
            _ => "–".to_owned(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} / {} | {} | {} | {} | {} | {} | {} |",
            s.name,
            status,
            rate,
            cell(s.client_cpu_us_per_task, 1),
            cell(s.server_cpu_us_per_task, 1),
            s.busy_share
                .map_or_else(|| "–".to_owned(), |b| format!("{:.0}%", b * 100.0)),
            cell(s.other_load_cores, 2),
            cell(s.latency_p50_ms, 1),
            cell(s.latency_p99_ms, 1),
            cell(s.peak_rss_mib, 1),
            cell(s.pss_mib, 1),
            s.processes
                .map_or_else(|| "–".to_owned(), |p| p.to_string()),
            cell(s.http_calls_per_task, 2),
            s.lost.map_or_else(|| "–".to_owned(), |l| l.to_string()),
            s.duplicates
                .map_or_else(|| "–".to_owned(), |d| d.to_string()),
        );
    }
    let notes: Vec<&Summary> = summaries.iter().filter(|s| s.reason.is_some()).collect();
    if !notes.is_empty() {
        let _ = writeln!(out);
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
    let _ = writeln!(out, "\nConfigurations:\n");
    for s in summaries {
        let _ = writeln!(out, "- `{}`: {}", s.name, s.description);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configs;

    fn run(tasks: u64, rate: f64, lost: u64) -> RunFigures {
        RunFigures {
            tasks,
            tasks_per_s: rate,
            client_cpu_us_per_task: Some(10.0),
            lost,
            ..RunFigures::default()
        }
    }

    fn config(family: Family) -> Config {
        configs::all()
            .into_iter()
            .find(|c| c.family == family)
            .unwrap()
    }

    #[test]
    fn medians_ranges_and_sums() {
        let outcome = Outcome::Ran(vec![
            Ok(run(10, 3.0, 0)),
            Ok(run(10, 1.0, 1)),
            Ok(run(10, 2.0, 2)),
        ]);
        let s = Summary::new(&config(Family::Peer), &outcome);
        assert_eq!(s.status, Status::Ok);
        assert_eq!(s.tasks_per_s, Some(2.0));
        let range = s.tasks_per_s_range.unwrap();
        assert_eq!((range.min, range.max), (1.0, 3.0));
        assert_eq!(s.lost, Some(3));
        assert_eq!(
            s.failure(),
            None,
            "a peer's losses are reported, not failed"
        );
    }

    #[test]
    fn baton_losses_failures_and_idle_windows_fail_the_run_but_skips_do_not() {
        let baton = config(Family::Baton);
        let lost = Summary::new(&baton, &Outcome::Ran(vec![Ok(run(10, 1.0, 1))]));
        assert!(lost.failure().is_some_and(|f| f.contains("1 lost")));
        let idle = Summary::new(&baton, &Outcome::Ran(vec![Ok(run(0, 0.0, 0))]));
        assert_eq!(idle.status, Status::Failed);
        assert!(idle.failure().is_some());
        let failed = Summary::new(&baton, &Outcome::Ran(vec![Err("boom".into())]));
        assert!(failed.failure().is_some_and(|f| f.contains("boom")));
        let skipped = Summary::new(&baton, &Outcome::Skipped("absent".into()));
        assert_eq!(skipped.status, Status::Skipped);
        assert_eq!(skipped.failure(), None);
        let good = Summary::new(&baton, &Outcome::Ran(vec![Ok(run(10, 1.0, 0))]));
        assert_eq!(good.failure(), None);
    }

    #[test]
    fn json_is_an_array_with_nulls_for_missing_figures() {
        let skipped = Summary::new(&config(Family::Peer), &Outcome::Skipped("absent".into()));
        let json = serde_json::to_value(vec![skipped]).unwrap();
        let first = &json[0];
        assert_eq!(first["status"], "skipped");
        assert_eq!(first["reason"], "absent");
        for key in [
            "tasks_per_s",
            "client_cpu_us_per_task",
            "peak_rss_mib",
            "lost",
            "duplicates",
        ] {
            assert!(first[key].is_null(), "{key}");
        }
    }
}
