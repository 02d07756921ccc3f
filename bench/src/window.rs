//! One measured run of a client against baton-mock, shared by `compare` and `harness`: keep
//! the queue fed in proportion to the client's pace, measure a window (throughput, CPU of the
//! client's process tree and of the server, memory, the machine's busy share), then stop
//! feeding and wait for the client to drain. Plus the median and the quiet-machine checks.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::BenchError;
use crate::admin::{AdminClient, Ledger};
use crate::procfs::{self, MachineCpu};

/// The queue is never topped up below this many tasks (unless the byte bound says fewer).
const MIN_BACKLOG: u64 = 500;
/// Nor above this many.
const MAX_BACKLOG: u64 = 200_000;
/// Nor above this many bytes of task input in all: with large inputs (1 MB each) a
/// half-second backlog of a fast client would otherwise be gigabytes in the mock.
const MAX_BACKLOG_BYTES: u64 = 128 * 1024 * 1024;
/// Seconds of the client's pace kept queued: enough that it never waits for the feeder,
/// little enough that a drain after the window is short.
const BACKLOG_SECS: f64 = 0.5;
/// How often the feeder looks at the queue.
const FEED_EVERY: Duration = Duration::from_millis(25);

/// The backlog bounds for tasks whose input is `input_bytes` long: `(least, most)` tasks.
/// The byte bound lowers both (never below one task).
fn backlog_bounds(input_bytes: u64) -> (u64, u64) {
    let by_bytes = (MAX_BACKLOG_BYTES / input_bytes.max(1)).max(1);
    (MIN_BACKLOG.min(by_bytes), MAX_BACKLOG.min(by_bytes))
}

/// `count` tasks shared out over `types` task types, starting at type `first` and going
/// round: the first `count % types` types from `first` on get one more. Answers
/// `(type index, count)` for every type that gets at least one task.
fn share_out(count: u64, types: usize, first: usize) -> Vec<(usize, u64)> {
    let types = types.max(1);
    let share = count / types as u64;
    let extra = (count % types as u64) as usize;
    (0..types)
        .map(|k| ((first + k) % types, share + u64::from(k < extra)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// Keeps tasks queued: about half a second of the client's observed pace, bounded by count
/// and by bytes of input, shared round-robin over one or more task types.
#[derive(Debug)]
pub struct Feeder {
    task_types: Vec<String>,
    input: serde_json::Value,
    /// Where the next top-up's remainder starts, so no type is favoured.
    next_type: usize,
    bounds: (u64, u64),
    backlog: u64,
    last: Option<(Instant, u64)>,
}

impl Feeder {
    /// A feeder of `task_type` tasks with `input` as their `inputData`.
    pub fn new(task_type: &str, input: serde_json::Value) -> Self {
        Self::with_types(vec![task_type.to_owned()], input)
    }

    /// A feeder of tasks of every one of `task_types` (in equal shares; none given: one type
    /// named `bench`), each with `input` as its `inputData`.
    pub fn with_types(mut task_types: Vec<String>, input: serde_json::Value) -> Self {
        if task_types.is_empty() {
            task_types.push("bench".to_owned());
        }
        let bounds = backlog_bounds(crate::workload::input_bytes(&input) as u64);
        Self {
            task_types,
            input,
            next_type: 0,
            bounds,
            backlog: bounds.0,
            last: None,
        }
    }

    /// The (first) task type fed.
    pub fn task_type(&self) -> &str {
        self.task_types.first().map_or("", String::as_str)
    }

    /// Every task type fed.
    pub fn task_types(&self) -> &[String] {
        &self.task_types
    }

    /// Enqueues `count` tasks shared over the task types, in requests of at most the mock's
    /// bulk-enqueue bound.
    async fn enqueue(&mut self, admin: &AdminClient, count: u64) -> Result<(), BenchError> {
        let types = self.task_types.len();
        for (index, mut left) in share_out(count, types, self.next_type) {
            while left > 0 {
                let now = left.min(baton_mock::MAX_ENQUEUE_COUNT);
                admin
                    .enqueue(&self.task_types[index], now, &self.input)
                    .await?;
                left -= now;
            }
        }
        self.next_type = (self.next_type + (count % types as u64) as usize) % types;
        Ok(())
    }

    /// Tops the queue up until `until` (at least once); answers the last ledger read.
    pub async fn feed_until(
        &mut self,
        admin: &AdminClient,
        until: Instant,
    ) -> Result<Ledger, BenchError> {
        loop {
            let ledger = admin.ledger().await?;
            let now = Instant::now();
            if let Some((then, completed)) = self.last {
                let secs = now.duration_since(then).as_secs_f64();
                if secs >= 0.2 {
                    let rate = ledger.completed.saturating_sub(completed) as f64 / secs;
                    self.backlog =
                        ((rate * BACKLOG_SECS) as u64).clamp(self.bounds.0, self.bounds.1);
                    self.last = Some((now, ledger.completed));
                }
            } else {
                self.last = Some((now, ledger.completed));
            }
            if ledger.queued < self.backlog * 3 / 4 || ledger.queued == 0 {
                self.enqueue(admin, self.backlog.saturating_sub(ledger.queued))
                    .await?;
            }
            if now >= until {
                return Ok(ledger);
            }
            tokio::time::sleep((until - now).min(FEED_EVERY)).await;
        }
    }
}

/// What one measured window saw.
#[derive(Debug, Clone, Default)]
pub struct WindowFigures {
    /// Tasks completed in the window.
    pub tasks: u64,
    /// The window's length in seconds.
    pub secs: f64,
    /// CPU of the client's process tree in the window, in seconds.
    pub client_cpu_secs: f64,
    /// CPU of the server in the window, in seconds (0 with no server process).
    pub server_cpu_secs: f64,
    /// The share of all cores' time that was busy in the window (0..1).
    pub busy_share: f64,
    /// Cores' worth of CPU spent on anything but the client and the server.
    pub other_load_cores: f64,
    /// The client tree's summed peak RSS at the end of the window, in MiB.
    pub peak_rss_mib: f64,
    /// The client tree's summed resident set size at the end of the window, in MiB.
    pub rss_mib: f64,
    /// The client tree's summed PSS at the end of the window, in MiB.
    pub pss_mib: f64,
    /// Processes in the client's tree at the end of the window.
    pub processes: usize,
    /// `/api` requests the mock received in the window.
    pub api_requests: u64,
}

impl WindowFigures {
    /// Completed tasks per second.
    pub fn tasks_per_s(&self) -> f64 {
        self.tasks as f64 / self.secs.max(f64::MIN_POSITIVE)
    }

    /// Client CPU per task in µs (`None` when no task completed).
    pub fn client_cpu_us_per_task(&self) -> Option<f64> {
        (self.tasks > 0).then(|| self.client_cpu_secs * 1e6 / self.tasks as f64)
    }

    /// Server CPU per task in µs (`None` when no task completed).
    pub fn server_cpu_us_per_task(&self) -> Option<f64> {
        (self.tasks > 0).then(|| self.server_cpu_secs * 1e6 / self.tasks as f64)
    }

    /// HTTP calls to the mock per completed task (`None` when no task completed or the server
    /// counts no requests).
    pub fn http_calls_per_task(&self) -> Option<f64> {
        (self.tasks > 0 && self.api_requests > 0)
            .then(|| self.api_requests as f64 / self.tasks as f64)
    }
}

/// One reading taken during a sampled window ([`measure_sampled`]).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Sample {
    /// Seconds since the window started.
    pub secs: f64,
    /// The client tree's summed resident set size (`VmRSS`), in MiB.
    pub rss_mib: f64,
    /// Tasks completed since the window started.
    pub completed: u64,
}

/// Measures `window` of the running client `client_pid` (its whole process tree) against the
/// mock `server_pid`, feeding the queue throughout.
pub async fn measure(
    admin: &AdminClient,
    feeder: &mut Feeder,
    client_pid: u32,
    server_pid: Option<u32>,
    window: Duration,
) -> Result<WindowFigures, BenchError> {
    measure_sampled(admin, feeder, client_pid, server_pid, window, None)
        .await
        .map(|(figures, _)| figures)
}

/// [`measure`], plus, with `every`, a [`Sample`] of the client's memory and the completed
/// count at each `every` through the window (for a soak).
pub async fn measure_sampled(
    admin: &AdminClient,
    feeder: &mut Feeder,
    client_pid: u32,
    server_pid: Option<u32>,
    window: Duration,
    every: Option<Duration>,
) -> Result<(WindowFigures, Vec<Sample>), BenchError> {
    let ticks = procfs::clock_ticks_per_sec() as f64;
    let server_ticks = || server_pid.map_or(Ok(0), procfs::cpu_ticks);
    let start_ledger = admin.ledger().await?;
    let start_client = procfs::tree_usage(client_pid)?;
    let start_server = server_ticks()?;
    let start_machine = MachineCpu::now()?;
    let start = Instant::now();
    let end = start + window;

    let mut samples = Vec::new();
    match every.filter(|every| !every.is_zero()) {
        None => {
            feeder.feed_until(admin, end).await?;
        }
        Some(every) => {
            let mut next = start + every;
            while next <= end {
                let ledger = feeder.feed_until(admin, next).await?;
                let usage = procfs::tree_usage(client_pid)?;
                samples.push(Sample {
                    secs: start.elapsed().as_secs_f64(),
                    rss_mib: usage.rss_kib as f64 / 1024.0,
                    completed: ledger.completed.saturating_sub(start_ledger.completed),
                });
                next += every;
            }
            feeder.feed_until(admin, end).await?;
        }
    }

    let end_ledger = admin.ledger().await?;
    let end_client = procfs::tree_usage(client_pid)?;
    let end_server = server_ticks()?;
    let end_machine = MachineCpu::now()?;
    let secs = start.elapsed().as_secs_f64();

    let client_cpu_secs =
        end_client.cpu_ticks.saturating_sub(start_client.cpu_ticks) as f64 / ticks;
    let server_cpu_secs = end_server.saturating_sub(start_server) as f64 / ticks;
    let busy_share = end_machine.busy_since(&start_machine);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let ours = (client_cpu_secs + server_cpu_secs) / secs;
    let figures = WindowFigures {
        tasks: end_ledger.completed.saturating_sub(start_ledger.completed),
        secs,
        client_cpu_secs,
        server_cpu_secs,
        busy_share,
        other_load_cores: (busy_share * cores - ours).max(0.0),
        peak_rss_mib: end_client.peak_rss_kib as f64 / 1024.0,
        rss_mib: end_client.rss_kib as f64 / 1024.0,
        pss_mib: end_client.pss_kib as f64 / 1024.0,
        processes: end_client.processes,
        api_requests: end_ledger
            .api_requests
            .saturating_sub(start_ledger.api_requests),
    };
    Ok((figures, samples))
}

/// With feeding stopped: waits up to `max` for the queue to empty and every task handed out
/// to be updated. Answers whether it did.
pub async fn drain(admin: &AdminClient, max: Duration) -> Result<bool, BenchError> {
    let deadline = Instant::now() + max;
    loop {
        let ledger = admin.ledger().await?;
        if ledger.queued == 0 && ledger.in_flight == 0 {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether a compiler is running on this machine (the figures would be disturbed).
pub fn builds_running() -> bool {
    Command::new("pgrep")
        .args(["-x", "rustc"])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Waits up to `max` for the machine to be under 20% busy over half a second; answers the
/// last busy share seen.
pub async fn wait_quiet(max: Duration) -> Result<f64, BenchError> {
    let deadline = Instant::now() + max;
    loop {
        let before = MachineCpu::now()?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let busy = MachineCpu::now()?.busy_since(&before);
        if busy < 0.2 || Instant::now() >= deadline {
            return Ok(busy);
        }
    }
}

/// The median of the finite values (`None` when there are none).
pub fn median(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let mut values: Vec<f64> = values.into_iter().filter(|v| v.is_finite()).collect();
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median([3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median([4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median([f64::NAN, 5.0]), Some(5.0));
        assert_eq!(median([]), None);
    }

    #[test]
    fn the_backlog_is_bounded_by_bytes_for_large_inputs() {
        assert_eq!(backlog_bounds(2), (MIN_BACKLOG, MAX_BACKLOG));
        assert_eq!(backlog_bounds(0), (MIN_BACKLOG, MAX_BACKLOG));
        let (least, most) = backlog_bounds(1_000_011);
        assert_eq!((least, most), (134, 134));
        assert!(most * 1_000_011 <= MAX_BACKLOG_BYTES);
        assert_eq!(backlog_bounds(10_011).1, MAX_BACKLOG_BYTES / 10_011);
        assert_eq!(backlog_bounds(u64::MAX), (1, 1), "never below one task");
    }

    #[test]
    fn top_ups_go_round_the_types() {
        assert_eq!(share_out(10, 1, 0), [(0, 10)]);
        assert_eq!(share_out(7, 3, 0), [(0, 3), (1, 2), (2, 2)]);
        assert_eq!(share_out(7, 3, 2), [(2, 3), (0, 2), (1, 2)]);
        assert_eq!(share_out(2, 5, 4), [(4, 1), (0, 1)]);
        assert_eq!(share_out(0, 3, 0), []);
    }

    #[tokio::test]
    async fn several_types_are_fed_in_equal_shares_with_the_input_given() {
        let mock = baton_mock::MockServer::start().await.unwrap();
        let admin = AdminClient::new(&mock.base_url());
        let types = crate::workload::task_type_names("feed_types", 3);
        let input = crate::workload::payload_input(100);
        let mut feeder = Feeder::with_types(types.clone(), input.clone());
        feeder.feed_until(&admin, Instant::now()).await.unwrap();
        assert_eq!(admin.ledger().await.unwrap().queued, MIN_BACKLOG);
        let mut seen = Vec::new();
        for task_type in &types {
            let polled = mock.core().poll(task_type, None, Some("feeder-test"), 1000);
            assert!(
                polled
                    .iter()
                    .all(|t| serde_json::Value::Object(t.input_data.clone()) == input),
                "{task_type}"
            );
            seen.push(polled.len());
        }
        assert_eq!(seen, [167, 167, 166]);
    }

    #[tokio::test]
    async fn the_feeder_keeps_a_backlog_and_drain_waits_for_it() {
        let mock = baton_mock::MockServer::start().await.unwrap();
        let admin = AdminClient::new(&mock.base_url());
        assert!(
            drain(&admin, Duration::from_millis(100)).await.unwrap(),
            "empty"
        );
        let mut feeder = Feeder::new("feed_test", serde_json::json!({}));
        let ledger = feeder.feed_until(&admin, Instant::now()).await.unwrap();
        assert_eq!(ledger.queued, 0, "the ledger read before the first top-up");
        let queued = admin.ledger().await.unwrap().queued;
        assert_eq!(queued, MIN_BACKLOG);
        // Nothing consumes: the queue stays, and the drain gives up at its bound.
        let started = Instant::now();
        assert!(!drain(&admin, Duration::from_millis(300)).await.unwrap());
        assert!(started.elapsed() >= Duration::from_millis(300));
        // No top-up while the backlog is above three quarters of its target.
        feeder
            .feed_until(&admin, Instant::now() + Duration::from_millis(100))
            .await
            .unwrap();
        assert_eq!(admin.ledger().await.unwrap().enqueued, MIN_BACKLOG);
    }
}
