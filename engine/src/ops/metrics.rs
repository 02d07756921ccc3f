//! The metric catalog: conductor-python's canonical names and label shapes (shared with the
//! Java SDK's metrics module), plus Baton's own, in one Prometheus registry per host.
//!
//! What happens on the hot path (poll, execution and post times, result sizes, tasks per poll)
//! is recorded into histograms through handles each worker resolves once ([`WorkerMetrics`]);
//! errors go to counters labelled with their kind (rare, so looked up when they happen). What
//! the pipeline already counts (polls, executions started, slots, retries, give-ups) is read
//! at scrape time from its counters by a collector: it costs the hot path nothing.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::host::WorkerStatus;
use crate::model::TaskResultStatus;

/// The `Content-Type` of [`HostMetrics::render`]'s text.
pub(crate) const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// A metric's labels: `taskType`, and `exception` or `status` where the catalog has them.
type Labels = Vec<(&'static str, String)>;

/// Builds a histogram with the catalog's buckets for its kind.
type Constructor = fn() -> Histogram;

/// Seconds: 1 ms to about 65 s.
fn time_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

/// Bytes: 64 B to 64 MiB.
fn size_buckets() -> Histogram {
    Histogram::new(exponential_buckets(64.0, 4.0, 11))
}

/// Tasks per poll: 1 to 1024.
fn count_buckets() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 11))
}

/// The families every worker's handles come from.
#[derive(Debug)]
struct Families {
    poll_time: Family<Labels, Histogram, Constructor>,
    execute_time: Family<Labels, Histogram, Constructor>,
    update_time: Family<Labels, Histogram, Constructor>,
    result_size: Family<Labels, Histogram, Constructor>,
    tasks_per_poll: Family<Labels, Histogram, Constructor>,
    poll_errors: Family<Labels, Counter>,
    execute_errors: Family<Labels, Counter>,
    update_errors: Family<Labels, Counter>,
    uncaught: Family<Labels, Counter>,
}

/// A host's metrics: the registry `/metrics` renders, and the families workers record into.
#[derive(Debug)]
pub(crate) struct HostMetrics {
    registry: Registry,
    families: Arc<Families>,
}

impl HostMetrics {
    /// The catalog, with no worker yet.
    pub(crate) fn new() -> Self {
        let families = Families {
            poll_time: Family::new_with_constructor(time_buckets),
            execute_time: Family::new_with_constructor(time_buckets),
            update_time: Family::new_with_constructor(time_buckets),
            result_size: Family::new_with_constructor(size_buckets),
            tasks_per_poll: Family::new_with_constructor(count_buckets),
            poll_errors: Family::default(),
            execute_errors: Family::default(),
            update_errors: Family::default(),
            uncaught: Family::default(),
        };
        let mut registry = Registry::default();
        let f = &families;
        registry.register(
            "task_poll_error",
            "Polls that failed, by exception (the error's kind)",
            f.poll_errors.clone(),
        );
        registry.register(
            "task_execute_error",
            "Executions that ended FAILED or FAILED_WITH_TERMINAL_ERROR, by exception",
            f.execute_errors.clone(),
        );
        registry.register(
            "task_update_error",
            "Result posts that failed, by exception (the error's kind)",
            f.update_errors.clone(),
        );
        registry.register(
            "thread_uncaught_exceptions",
            "Worker panics (caught; the task is posted FAILED)",
            f.uncaught.clone(),
        );
        registry.register(
            "task_poll_time_seconds",
            "Time of one batch poll, by status (SUCCESS or FAILURE)",
            f.poll_time.clone(),
        );
        registry.register(
            "task_execute_time_seconds",
            "Time of one execution, by the result's status",
            f.execute_time.clone(),
        );
        registry.register(
            "task_update_time_seconds",
            "Time of one result post, by status (SUCCESS or FAILURE)",
            f.update_time.clone(),
        );
        registry.register(
            "task_result_size_bytes",
            "Size of each posted result's JSON body",
            f.result_size.clone(),
        );
        registry.register(
            "baton_tasks_per_poll",
            "Tasks each poll (or update-v2 answer) brought",
            f.tasks_per_poll.clone(),
        );
        Self {
            registry,
            families: Arc::new(families),
        }
    }

    /// The handles the worker of `task_type` records through.
    pub(crate) fn worker(&self, task_type: &str) -> WorkerMetrics {
        let families = Arc::clone(&self.families);
        let with = |extra: Option<(&'static str, &str)>| {
            let mut labels = vec![("taskType", task_type.to_owned())];
            if let Some((key, value)) = extra {
                labels.push((key, value.to_owned()));
            }
            labels
        };
        let f = &families;
        let execute = |status: TaskResultStatus| {
            f.execute_time
                .get_or_create_owned(&with(Some(("status", status.as_str()))))
        };
        WorkerMetrics {
            poll_ok: f
                .poll_time
                .get_or_create_owned(&with(Some(("status", "SUCCESS")))),
            poll_failed: f
                .poll_time
                .get_or_create_owned(&with(Some(("status", "FAILURE")))),
            executed: [
                execute(TaskResultStatus::Completed),
                execute(TaskResultStatus::Failed),
                execute(TaskResultStatus::FailedWithTerminalError),
                execute(TaskResultStatus::InProgress),
                execute(TaskResultStatus::Canceled),
            ],
            update_ok: f
                .update_time
                .get_or_create_owned(&with(Some(("status", "SUCCESS")))),
            update_failed: f
                .update_time
                .get_or_create_owned(&with(Some(("status", "FAILURE")))),
            result_size: f.result_size.get_or_create_owned(&with(None)),
            tasks_per_poll: f.tasks_per_poll.get_or_create_owned(&with(None)),
            task_type: task_type.to_owned(),
            families,
        }
    }

    /// Adds the scrape-time figures, read from the workers' status when scraped.
    pub(crate) fn collect(&mut self, source: FigureSource) {
        self.registry
            .register_collector(Box::new(StatusCollector { source }));
    }

    /// Adds a collector of other figures (a process-placed host's own).
    pub(crate) fn collect_with(&mut self, collector: Box<dyn Collector>) {
        self.registry.register_collector(collector);
    }

    /// The Prometheus text exposition (format 0.0.4, [`CONTENT_TYPE`]) of every metric.
    pub(crate) fn render(&self) -> Result<String, fmt::Error> {
        let mut text = String::with_capacity(16 * 1024);
        prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// One worker's metric handles, resolved once.
#[derive(Debug)]
pub(crate) struct WorkerMetrics {
    task_type: String,
    families: Arc<Families>,
    poll_ok: Histogram,
    poll_failed: Histogram,
    /// By [`status_index`].
    executed: [Histogram; 5],
    update_ok: Histogram,
    update_failed: Histogram,
    result_size: Histogram,
    tasks_per_poll: Histogram,
}

/// Where a status's execution histogram is in [`WorkerMetrics::executed`].
fn status_index(status: TaskResultStatus) -> usize {
    match status {
        TaskResultStatus::Completed => 0,
        TaskResultStatus::Failed => 1,
        TaskResultStatus::FailedWithTerminalError => 2,
        TaskResultStatus::InProgress => 3,
        TaskResultStatus::Canceled => 4,
    }
}

impl WorkerMetrics {
    /// A poll that took `time`; `exception` names why it failed, if it did.
    pub(crate) fn polled(&self, time: Duration, exception: Option<&str>) {
        match exception {
            None => self.poll_ok.observe(time.as_secs_f64()),
            Some(exception) => {
                self.poll_failed.observe(time.as_secs_f64());
                self.count(&self.families.poll_errors, exception);
            }
        }
    }

    /// Tasks one poll or update-v2 answer brought.
    pub(crate) fn handed_out(&self, tasks: usize) {
        self.tasks_per_poll.observe(tasks as f64);
    }

    /// An execution that took `time` and ended with `status`; `exception` names why it
    /// failed (`panic`, `error`, `terminal`, `timeout`), if it did.
    pub(crate) fn executed(
        &self,
        time: Duration,
        status: TaskResultStatus,
        exception: Option<&str>,
    ) {
        self.executed[status_index(status)].observe(time.as_secs_f64());
        if let Some(exception) = exception {
            self.count(&self.families.execute_errors, exception);
            if exception == "panic" {
                self.count(&self.families.uncaught, exception);
            }
        }
    }

    /// A result post of `size` bytes that took `time`; `exception` names why it failed.
    pub(crate) fn posted(&self, time: Duration, size: usize, exception: Option<&str>) {
        self.result_size.observe(size as f64);
        match exception {
            None => self.update_ok.observe(time.as_secs_f64()),
            Some(exception) => {
                self.update_failed.observe(time.as_secs_f64());
                self.count(&self.families.update_errors, exception);
            }
        }
    }

    fn count(&self, family: &Family<Labels, Counter>, exception: &str) {
        let labels = vec![
            ("taskType", self.task_type.clone()),
            ("exception", exception.to_owned()),
        ];
        family.get_or_create(&labels).inc();
    }
}

/// One task type's scrape-time figures, in [`FIGURES`] order.
pub(crate) type Figures = [u64; FIGURES.len()];

/// Where the scrape-time figures come from: one row per worker (or worker process), by task
/// type; rows of the same task type are added up.
pub(crate) type FigureSource = Box<dyn Fn() -> Vec<(String, Figures)> + Send + Sync>;

/// A worker status's scrape-time figures.
pub(crate) fn figures_of(status: &WorkerStatus) -> Figures {
    FIGURES.each_ref().map(|figure| (figure.read)(status))
}

/// `figures` with the gauges zeroed: what a worker process that exited leaves behind.
pub(crate) fn counters_only(mut figures: Figures) -> Figures {
    for (value, figure) in figures.iter_mut().zip(&FIGURES) {
        if !matches!(figure.kind, MetricType::Counter) {
            *value = 0;
        }
    }
    figures
}

/// Reads every worker's counters at scrape time.
struct StatusCollector {
    source: FigureSource,
}

impl fmt::Debug for StatusCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StatusCollector")
    }
}

/// A counter or gauge read from a worker's status at scrape time.
struct Figure {
    name: &'static str,
    help: &'static str,
    kind: MetricType,
    read: fn(&WorkerStatus) -> u64,
}

/// The scrape-time figures, canonical names first.
const FIGURES: [Figure; 9] = [
    Figure {
        name: "task_poll",
        help: "Polls made (failed ones included)",
        kind: MetricType::Counter,
        read: |s| s.polls,
    },
    Figure {
        name: "task_execution_started",
        help: "Executions started",
        kind: MetricType::Counter,
        read: |s| s.executions_started,
    },
    Figure {
        name: "task_execution_queue_full",
        help: "Poll rounds that had to wait for a free slot",
        kind: MetricType::Counter,
        read: |s| s.slot_waits,
    },
    Figure {
        name: "task_paused",
        help: "Poll rounds skipped because the worker was paused",
        kind: MetricType::Counter,
        read: |s| s.paused_rounds,
    },
    Figure {
        name: "active_workers",
        help: "Tasks executing right now",
        kind: MetricType::Gauge,
        read: |s| s.running as u64,
    },
    Figure {
        name: "baton_slots_in_use",
        help: "Execution slots taken (executing, or the result's first post unsettled)",
        kind: MetricType::Gauge,
        read: |s| s.slots_in_use as u64,
    },
    Figure {
        name: "baton_slots_available",
        help: "Execution slots free",
        kind: MetricType::Gauge,
        read: |s| s.slots_free as u64,
    },
    Figure {
        name: "baton_results_given_up",
        help: "Results given up (each logged with its ids and passed to the hook)",
        kind: MetricType::Counter,
        read: |s| s.results_given_up,
    },
    Figure {
        name: "baton_update_retries",
        help: "Result posts retried",
        kind: MetricType::Counter,
        read: |s| s.update_retries,
    },
];

impl Collector for StatusCollector {
    fn encode(&self, encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        // One row per task type, in the order the workers were added.
        let mut rows: Vec<(String, Figures)> = Vec::new();
        for (task_type, figures) in (self.source)() {
            let row = match rows.iter().position(|(t, _)| *t == task_type) {
                Some(index) => &mut rows[index].1,
                None => {
                    rows.push((task_type, [0; FIGURES.len()]));
                    &mut rows.last_mut().ok_or(fmt::Error)?.1
                }
            };
            for (sum, value) in row.iter_mut().zip(figures) {
                *sum = sum.saturating_add(value);
            }
        }
        let descriptors = FIGURES.each_ref().map(|f| (f.name, f.help, f.kind));
        encode_rows(encoder, &descriptors, &rows)
    }
}

/// Encodes one metric family per descriptor (name, help, counter or gauge), with one
/// `taskType`-labelled value per row: `rows[i].1[d]` is task type `rows[i].0`'s value of
/// descriptor `d`.
pub(crate) fn encode_rows<const N: usize>(
    mut encoder: DescriptorEncoder,
    descriptors: &[(&str, &str, MetricType); N],
    rows: &[(String, [u64; N])],
) -> Result<(), fmt::Error> {
    for (at, (name, help, kind)) in descriptors.iter().enumerate() {
        let mut family = encoder.encode_descriptor(name, help, None, *kind)?;
        for (task_type, values) in rows {
            let labels: Labels = vec![("taskType", task_type.clone())];
            let metric = family.encode_family(&labels)?;
            let value = values[at];
            match kind {
                MetricType::Counter => ConstCounter::new(value).encode(metric)?,
                _ => ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX)).encode(metric)?,
            }
        }
    }
    Ok(())
}
