//! What a running host reports: per-worker counters and the outcome of a shutdown.

use std::sync::atomic::Ordering;

use crate::actors::{Pipeline, Stats};

/// A snapshot of every worker of a running host (`/status` of the operations endpoint serves
/// it as JSON, with camelCase keys).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct HostStatus {
    /// One entry per worker running in this process, in the order they were added (empty in
    /// the parent of a process-placed host: see each process's `worker`).
    pub workers: Vec<WorkerStatus>,
    /// With process placement, one entry per worker process.
    pub processes: Vec<ProcessStatus>,
}

/// One worker process of a process-placed host.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ProcessStatus {
    /// The task type the process runs.
    pub task_type: String,
    /// Which of its worker's processes it is (0 to `processes` − 1).
    pub process: usize,
    /// Its process id; `None` while it waits to be restarted.
    pub pid: Option<u32>,
    /// How many times it was restarted.
    pub restarts: u32,
    /// Exits in a row, each after a run shorter than `process_healthy_after`.
    pub exits_in_a_row: u32,
    /// Whether it is crash-looping (3 or more such exits in a row): still restarted, with a
    /// growing delay, and logged at error level.
    pub crash_loop: bool,
    /// How its last process ended ("signal 6 (SIGABRT)", "exit code 1").
    pub last_exit: Option<String>,
    /// When it waits to be restarted: in how many milliseconds.
    pub restart_in_ms: Option<u64>,
    /// Tasks the running process holds (executing, or their results not yet taken).
    pub tasks_held: usize,
    /// Tasks its processes held when they exited, posted FAILED by the host.
    pub tasks_failed_on_exit: u64,
    /// Of those, the ones posted FAILED_WITH_TERMINAL_ERROR (`process_crash_limit`).
    pub poison_tasks: u64,
    /// Milliseconds since the running process last reported its status.
    pub report_ms_ago: Option<u64>,
    /// The running process's worker, as it last reported.
    pub worker: Option<WorkerStatus>,
}

/// A snapshot of one worker.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct WorkerStatus {
    /// The task type polled.
    pub task_type: String,
    /// The domain polled, if any.
    pub domain: Option<String>,
    /// Whether polling is paused.
    pub paused: bool,
    /// The concurrency now (it can be changed live).
    pub concurrency: usize,
    /// Execution slots taken (executing, or the result's first post unsettled).
    pub slots_in_use: usize,
    /// Execution slots free.
    pub slots_free: usize,
    /// Milliseconds since the last poll round started (failed ones count).
    pub last_poll_round_ms_ago: u64,
    /// Why the worker's pipeline failed, if it did (an actor went away, e.g. a panic in
    /// engine code): it no longer polls, and results it still held were given up.
    pub failure: Option<String>,
    /// Tasks held: executing, waiting for a free slot (an oversize answer's extra tasks), or
    /// whose result's first post has not settled.
    pub executing: usize,
    /// Slots held by blocking executions that ran past `execution_timeout` and have not
    /// returned: not reused until they do.
    pub lost_capacity: usize,
    /// Results not yet taken by the server (queued, in flight, or waiting for a retry).
    pub unposted: usize,
    /// Polls made.
    pub polls: u64,
    /// Polls that returned nothing.
    pub empty_polls: u64,
    /// Polls that failed.
    pub poll_errors: u64,
    /// Poll answers that were not a JSON list (counted in `poll_errors` too).
    pub bad_answers: u64,
    /// Answers over `CONDUCTOR_HTTP_MAX_RESPONSE_BYTES` (each halves the poll count).
    pub oversize_answers: u64,
    /// Tasks received from polls and update-v2 answers.
    pub tasks_polled: u64,
    /// Tasks whose fields could not be decoded: posted FAILED with the field named.
    pub undecodable_tasks: u64,
    /// Tasks handed out without a usable taskId, which cannot be answered (each logged at
    /// error level); the server times them out.
    pub lost_tasks: u64,
    /// Externalized inputs fetched from external payload storage.
    pub external_inputs: u64,
    /// Externalized inputs that could not be fetched (the task posted FAILED).
    pub external_input_failures: u64,
    /// Results whose output was over `CONDUCTOR_MAX_OUTPUT_BYTES`, posted
    /// FAILED_WITH_TERMINAL_ERROR instead.
    pub oversize_outputs: u64,
    /// Executions running now.
    pub running: usize,
    /// Executions started.
    pub executions_started: u64,
    /// Poll rounds that had to wait for a free slot.
    pub slot_waits: u64,
    /// Poll rounds skipped because the worker was paused.
    pub paused_rounds: u64,
    /// Tasks whose execution finished (any outcome).
    pub tasks_executed: u64,
    /// Executions that ran past `execution_timeout` (posted FAILED).
    pub executions_timed_out: u64,
    /// Results the server took.
    pub results_posted: u64,
    /// Result posts retried.
    pub update_retries: u64,
    /// Results given up (each one logged with its ids and passed to the hook).
    pub results_given_up: u64,
}

impl WorkerStatus {
    /// A snapshot of the worker behind `pipeline`.
    pub(crate) fn of(pipeline: &Pipeline) -> Self {
        let stats = &pipeline.stats;
        Self {
            task_type: pipeline.settings.task_type.clone(),
            domain: pipeline.settings.domain.clone(),
            paused: pipeline.paused.load(Ordering::Relaxed),
            concurrency: pipeline.concurrency(),
            slots_in_use: pipeline.capacity.slots_in_use(),
            slots_free: pipeline.capacity.slots.available_permits(),
            last_poll_round_ms_ago: u64::try_from(pipeline.since_last_poll_round().as_millis())
                .unwrap_or(u64::MAX),
            failure: pipeline.failure().map(str::to_owned),
            executing: pipeline.executing(),
            lost_capacity: pipeline.capacity.lost.load(Ordering::Relaxed),
            unposted: pipeline.unposted(),
            polls: Stats::get(&stats.polls),
            empty_polls: Stats::get(&stats.empty_polls),
            poll_errors: Stats::get(&stats.poll_errors),
            bad_answers: Stats::get(&stats.bad_answers),
            oversize_answers: Stats::get(&stats.oversize_answers),
            tasks_polled: Stats::get(&stats.tasks_polled),
            undecodable_tasks: Stats::get(&stats.undecodable_tasks),
            lost_tasks: Stats::get(&stats.lost_tasks),
            external_inputs: Stats::get(&stats.external_inputs),
            external_input_failures: Stats::get(&stats.external_input_failures),
            oversize_outputs: Stats::get(&stats.oversize_outputs),
            running: pipeline.running.load(Ordering::Relaxed),
            executions_started: Stats::get(&stats.tasks_started),
            slot_waits: Stats::get(&stats.slot_waits),
            paused_rounds: Stats::get(&stats.paused_rounds),
            tasks_executed: Stats::get(&stats.tasks_executed),
            executions_timed_out: Stats::get(&stats.executions_timed_out),
            results_posted: Stats::get(&stats.results_posted),
            update_retries: Stats::get(&stats.update_retries),
            results_given_up: Stats::get(&stats.results_given_up),
        }
    }
}

impl HostStatus {
    /// The status of workers running in this process.
    pub(crate) fn of_pipelines(pipelines: &[std::sync::Arc<Pipeline>]) -> Self {
        Self {
            workers: pipelines.iter().map(|p| WorkerStatus::of(p)).collect(),
            processes: Vec::new(),
        }
    }
}

/// How a shutdown ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Whether every task finished and every result was delivered within the grace period.
    pub clean: bool,
    /// The workers' state when the host stopped.
    pub workers: Vec<WorkerStatus>,
}
