//! The synchronous core: every queue, task, workflow, log and ledger entry of the mock, behind
//! one mutex.
//!
//! Nothing here awaits. Each method takes the lock, does a short piece of work and returns; the
//! HTTP layer adds long-poll waits on top (see [`Core::signal`] and [`Core::next_due_in`]).
//! `State::end` is the one place that decides what follows a task that has ended: retries for
//! bulk tasks, the workflow decider (`workflow.rs`) for tasks of real workflows.
//!
//! | module | owns |
//! |---|---|
//! | `queue` | one `domain:taskType` queue |
//! | `record` | compact task records and their JSON |
//! | `ledger` | counters and per-task fingerprints |
//! | `metadata` | task and workflow definitions, their validation |
//! | `workflow` | workflow instances and the decider |
//! | `expr` | `${...}` expression resolution |
//! | `domains` | task-domain choice at scheduling |

mod domains;
mod expr;
mod ledger;
mod metadata;
mod queue;
mod record;
mod workflow;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use baton_model::{
    BulkResponse, JsonMap, PollData, StartWorkflowRequest, Task, TaskDef, TaskExecLog, TaskResult,
    TaskResultStatus, TaskStatus, ValidationError, Workflow, WorkflowDef,
};
use serde::Deserialize;
use tokio::sync::Notify;

use crate::error::ApiError;
use crate::ids;
pub use ledger::LedgerSnapshot;
use ledger::{FP_OPEN, FP_SERVER, Ledger, fingerprint};
use metadata::Metadata;
use queue::Queue;
pub use queue::QueueKey;
use record::{JsonMemo, TaskRecord, TaskSpec, WorkflowRecord};
use workflow::{Start, StartedBy, TerminateError};

/// The server keeps at most this many log lines from one update.
const MAX_LOGS_PER_UPDATE: usize = 10;
/// The server keeps this many characters of `reasonForIncompletion`.
const MAX_REASON_CHARS: usize = 500;
/// The `workflowType` of the synthetic workflows made by bulk enqueue.
pub const BULK_WORKFLOW_TYPE: &str = "baton_mock_bulk";

/// Settings of a [`Core`].
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Seed for retry jitter.
    pub seed: u64,
    /// Output payload limit in bytes (default 10 MB); a larger output ends the task
    /// FAILED_WITH_TERMINAL_ERROR.
    pub max_output_bytes: usize,
    /// How many ended tasks stay readable through `GET /tasks/{id}` before eviction.
    pub keep_ended: usize,
    /// How recent a poll must be for its domain to count as active when a task is scheduled
    /// (the server's 10 s).
    pub active_domain_window: Duration,
    /// How many ended workflows stay readable through `GET /workflow/{id}` before eviction
    /// (with their tasks).
    pub keep_workflows: usize,
}

impl Default for CoreConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            max_output_bytes: 10 * 1024 * 1024,
            keep_ended: 10_000,
            active_domain_window: Duration::from_secs(10),
            keep_workflows: 10_000,
        }
    }
}

/// A bulk enqueue (`POST /admin/enqueue`): `count` tasks of `task_type`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct EnqueueRequest {
    /// How many tasks (default 1).
    #[serde(default = "one")]
    pub count: u64,
    /// The task type.
    pub task_type: String,
    /// The task domain; absent = no domain, `""` = the empty domain.
    #[serde(default)]
    pub domain: Option<String>,
    /// The input of every task (shared, not copied per task).
    #[serde(default)]
    pub input: JsonMap,
    /// The priority of every task (higher is handed out first).
    #[serde(default)]
    pub priority: i32,
    /// Task-definition settings (retryCount, retryDelaySeconds, retryLogic,
    /// responseTimeoutSeconds, ...); omitted fields take the server's defaults.
    #[serde(default)]
    pub task_def: Option<TaskDef>,
    /// Delay before the tasks become pollable, in milliseconds.
    #[serde(default)]
    pub start_delay_ms: u64,
}

fn one() -> u64 {
    1
}

impl EnqueueRequest {
    /// `count` tasks of `task_type`, no domain, empty input, default task definition.
    pub fn new(task_type: impl Into<String>, count: u64) -> Self {
        Self {
            count,
            task_type: task_type.into(),
            domain: None,
            input: JsonMap::new(),
            priority: 0,
            task_def: None,
            start_delay_ms: 0,
        }
    }

    /// Sets the domain (builder style).
    #[must_use]
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// Sets the input (builder style).
    #[must_use]
    pub fn input(mut self, input: JsonMap) -> Self {
        self.input = input;
        self
    }

    /// Sets the priority (builder style).
    #[must_use]
    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// Sets the task definition (builder style); its name is replaced by the task type.
    #[must_use]
    pub fn task_def(mut self, def: TaskDef) -> Self {
        self.task_def = Some(def);
        self
    }

    /// Sets the start delay (builder style).
    #[must_use]
    pub fn start_delay(mut self, delay: Duration) -> Self {
        self.start_delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self
    }
}

/// What a bulk enqueue created: one synthetic workflow and consecutive task ids.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Enqueued {
    /// The synthetic workflow all the tasks belong to.
    pub workflow_instance_id: String,
    /// How many tasks were created.
    pub count: u64,
    /// The first task's id (empty when `count` is 0).
    pub first_task_id: String,
    /// The last task's id (empty when `count` is 0).
    pub last_task_id: String,
    #[serde(skip)]
    first_seq: u64,
}

impl Enqueued {
    /// Every task id created, in order.
    pub fn task_ids(&self) -> impl Iterator<Item = String> + '_ {
        (self.first_seq..self.first_seq + self.count).map(ids::task_id)
    }
}

/// What an accepted update did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpdateKind {
    /// A terminal result was applied.
    Ended,
    /// An IN_PROGRESS result re-queued the task.
    Requeued,
    /// `extendLease` bumped the task's update time (or the task had already ended).
    LeaseExtended,
    /// The task had already been ended by a worker: ignored.
    Duplicate,
    /// The task had already been timed out by the server: ignored.
    Late,
}

/// The answer to an accepted update: what happened, and which queue update-v2 polls next.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UpdateOutcome {
    /// What the update did.
    pub kind: UpdateKind,
    /// The queue update-v2 polls for the next task; `None` means update-v2 answers 204.
    pub poll_next: Option<QueueKey>,
}

/// Hashing for maps keyed by task sequence number: the low bits are the sequence itself, so
/// tasks created together sit together in the table (a batch poll of 100 consecutive tasks
/// touches a few cache lines instead of 100 random ones); the top bits are mixed, so the
/// table's 7-bit tags still tell keys apart.
#[derive(Debug, Clone, Copy, Default)]
struct SeqHash;

impl std::hash::BuildHasher for SeqHash {
    type Hasher = SeqHasher;

    fn build_hasher(&self) -> SeqHasher {
        SeqHasher(0)
    }
}

/// The hasher of [`SeqHash`]; only `u64` keys are expected.
#[derive(Debug, Clone, Copy, Default)]
struct SeqHasher(u64);

impl Hasher for SeqHasher {
    fn finish(&self) -> u64 {
        let mixed = self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (self.0 & ((1 << 57) - 1)) | (mixed & !((1 << 57) - 1))
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not used for u64 keys; fold bytes in so other keys still hash.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

/// Tasks just handed out by a poll: copies of their records at hand-out time, rendered on
/// demand outside the core's lock.
#[derive(Debug)]
pub struct HandedOut {
    items: Vec<(u64, TaskRecord)>,
    clock: Clock,
}

impl HandedOut {
    /// How many tasks.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether no task was handed out.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Adds the tasks of a later poll.
    pub fn append(&mut self, mut other: HandedOut) {
        self.items.append(&mut other.items);
    }

    /// The tasks as wire values.
    pub fn to_tasks(&self) -> Vec<Task> {
        self.items
            .iter()
            .map(|(seq, record)| record.to_task(*seq, &self.clock))
            .collect()
    }

    /// The tasks as a JSON array, byte for byte what serializing [`HandedOut::to_tasks`] gives.
    pub fn to_json_array(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.items.len() * 768);
        out.push(b'[');
        let mut memo = JsonMemo::default();
        for (i, (seq, record)) in self.items.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            record.write_json(*seq, &self.clock, &mut memo, &mut out);
        }
        out.push(b']');
        out
    }

    /// The first task as a JSON object, if there is one.
    pub fn first_json(&self) -> Option<Vec<u8>> {
        let (seq, record) = self.items.first()?;
        let mut out = Vec::with_capacity(768);
        record.write_json(*seq, &self.clock, &mut JsonMemo::default(), &mut out);
        Some(out)
    }
}

/// Monotonic microseconds since start, plus the wall-clock epoch of that start.
#[derive(Debug, Clone, Copy)]
struct Clock {
    start: Instant,
    epoch_ms: i64,
}

impl Clock {
    fn new() -> Self {
        let epoch_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Self {
            start: Instant::now(),
            epoch_ms,
        }
    }

    /// Microseconds since start (at least 1, so 0 can mean "never").
    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_micros())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    /// Epoch milliseconds of a clock reading.
    fn epoch_ms(&self, micros: u64) -> i64 {
        self.epoch_ms + i64::try_from(micros / 1000).unwrap_or(i64::MAX)
    }
}

/// The mock's state and rules, shared (via `Arc`) by the HTTP layer and embedding tests.
#[derive(Debug)]
pub struct Core {
    state: Mutex<State>,
    clock: Clock,
    config: CoreConfig,
}

/// Everything behind the core's mutex.
#[derive(Debug)]
struct State {
    next_seq: u64,
    next_workflow: u64,
    /// Tasks that have not ended (SCHEDULED or IN_PROGRESS), by sequence number.
    live: HashMap<u64, TaskRecord, SeqHash>,
    /// Recently ended tasks, still readable; oldest first in `ended_order`.
    ended: HashMap<u64, TaskRecord, SeqHash>,
    ended_order: VecDeque<u64>,
    workflows: HashMap<u64, WorkflowRecord>,
    queues: HashMap<QueueKey, Queue>,
    /// In-progress tasks by response deadline: `(deadline µs, seq)`.
    deadlines: std::collections::BTreeSet<(u64, u64)>,
    logs: HashMap<String, Vec<TaskExecLog>>,
    poll_data: BTreeMap<(String, Option<String>), PollData>,
    ledger: Ledger,
    in_flight: u64,
    rng: fastrand::Rng,
    config: CoreConfig,
    clock: Clock,
    /// Registered task and workflow definitions.
    metadata: Metadata,
    /// The workflow of every task of a real workflow, by task sequence number.
    task_workflow: HashMap<u64, u64, SeqHash>,
    /// Running workflows by timeout deadline: `(deadline µs, workflow)`.
    workflow_deadlines: std::collections::BTreeSet<(u64, u64)>,
    /// Ended real workflows, oldest first, awaiting eviction.
    ended_workflows: VecDeque<u64>,
    /// How many ended workflows were evicted.
    evicted_workflows: u64,
    /// The first workflow number since the last reset.
    first_workflow: u64,
}

impl Core {
    /// A core with no tasks.
    pub fn new(config: CoreConfig) -> Self {
        let clock = Clock::new();
        Self {
            state: Mutex::new(State::new(1, 1, config.clone(), clock)),
            clock,
            config,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state half-updated in a way that
        // matters more than stopping the mock would, so keep serving.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Creates `request.count` SCHEDULED tasks in one new synthetic workflow.
    pub fn enqueue(&self, request: EnqueueRequest) -> Enqueued {
        let now = self.clock.now();
        let mut def = request.task_def.unwrap_or_default();
        def.name.clone_from(&request.task_type);
        let key = QueueKey::new(request.task_type, request.domain);
        let spec = Arc::new(TaskSpec::new(
            key.clone(),
            request.input,
            def,
            request.priority,
        ));
        let due = now.saturating_add(request.start_delay_ms.saturating_mul(1000));
        let start_delay = i32::try_from(request.start_delay_ms / 1000).unwrap_or(i32::MAX);
        let mut state = self.lock();
        let workflow = state.next_workflow;
        state.next_workflow += 1;
        state.workflows.insert(
            workflow,
            WorkflowRecord::Bulk {
                spec: Arc::clone(&spec),
            },
        );
        let first_seq = state.next_seq;
        state
            .live
            .reserve(usize::try_from(request.count).unwrap_or(0));
        for _ in 0..request.count {
            let mut record = TaskRecord::new(workflow, Arc::clone(&spec), now, due);
            record.start_delay_seconds = start_delay;
            state.schedule(record, now);
        }
        state.ledger.counts.enqueued += request.count;
        state.wake(&key);
        drop(state);
        let last = first_seq + request.count.saturating_sub(1);
        Enqueued {
            workflow_instance_id: ids::workflow_id(workflow),
            count: request.count,
            first_task_id: if request.count > 0 {
                ids::task_id(first_seq)
            } else {
                String::new()
            },
            last_task_id: if request.count > 0 {
                ids::task_id(last)
            } else {
                String::new()
            },
            first_seq,
        }
    }

    /// Hands out up to `count` due tasks of queue `domain:task_type` without waiting: each is
    /// taken off its queue, set IN_PROGRESS and returned.
    pub fn poll(
        &self,
        task_type: &str,
        domain: Option<&str>,
        worker_id: Option<&str>,
        count: usize,
    ) -> Vec<Task> {
        self.poll_handed(task_type, domain, worker_id, count)
            .to_tasks()
    }

    /// Like [`Core::poll`], but returns the hand-outs unrendered, to be written as JSON
    /// without building [`Task`] values (what the HTTP layer does).
    pub fn poll_handed(
        &self,
        task_type: &str,
        domain: Option<&str>,
        worker_id: Option<&str>,
        count: usize,
    ) -> HandedOut {
        let now = self.clock.now();
        let key = QueueKey::new(task_type, domain);
        let worker: Option<Arc<str>> = worker_id.map(Arc::from);
        let mut guard = self.lock();
        let state = &mut *guard;
        let mut items = Vec::new();
        if let Some(queue) = state.queues.get_mut(&key) {
            items.reserve(count.min(queue.len()));
            while items.len() < count {
                let Some(seq) = queue.pop(now) else {
                    break;
                };
                let Some(record) = state.live.get_mut(&seq) else {
                    continue; // ended while queued: the server drops such ids too
                };
                record.hand_out(worker.as_ref(), now);
                state.deadlines.insert((record.response_deadline(), seq));
                items.push((seq, record.clone()));
            }
        }
        let handed = items.len() as u64;
        state.in_flight += handed;
        state.ledger.counts.handed_out += handed;
        drop(guard);
        HandedOut {
            items,
            clock: self.clock,
        }
    }

    /// Records that a poll of `domain:task_type` by `worker_id` has just returned.
    pub fn record_poll(&self, task_type: &str, domain: Option<&str>, worker_id: Option<&str>) {
        let last_poll_time = self.clock.epoch_ms(self.clock.now());
        let mut state = self.lock();
        let entry = state
            .poll_data
            .entry((task_type.to_owned(), domain.map(str::to_owned)))
            .or_default();
        if entry.queue_name.is_empty() {
            entry.queue_name = task_type.to_owned();
            entry.domain = domain.map(str::to_owned);
        }
        entry.worker_id = worker_id.map(str::to_owned);
        entry.last_poll_time = last_poll_time;
    }

    /// Applies a worker's result, as `POST /api/tasks` does.
    pub fn update(&self, result: TaskResult) -> Result<UpdateOutcome, ApiError> {
        let workflow_missing = result.workflow_instance_id.is_empty();
        let task_missing = result.task_id.is_empty();
        if workflow_missing || task_missing {
            return Err(ApiError::missing_ids(workflow_missing, task_missing));
        }
        // Hash and measure the output before taking the lock: outputs can be megabytes.
        let fp = result
            .status
            .map(|status| result_fingerprint(status, &result.output_data));
        let size = match result.status {
            Some(status) if status.is_terminal() => output_size(&result.output_data),
            _ => 0,
        };
        let now = self.clock.now();
        let mut state = self.lock();
        let seq = ids::parse_task_id(&result.task_id).filter(|&seq| state.ledger.knows(seq));
        if result.extend_lease {
            let Some(seq) = seq else {
                state.ledger.counts.unknown_ids += 1;
                return Err(ApiError::TaskNotFound(result.task_id));
            };
            state.extend_lease(seq, now);
            return Ok(UpdateOutcome {
                kind: UpdateKind::LeaseExtended,
                poll_next: None,
            });
        }
        let workflow_id = ids::parse_workflow_id(&result.workflow_instance_id);
        let workflow = workflow_id.and_then(|id| state.workflows.get(&id));
        // An evicted workflow has ended: its tasks' updates are the server's 200 no-ops.
        let evicted =
            workflow_id.is_some_and(|id| id >= state.first_workflow && id < state.next_workflow);
        let bulk_queue = match workflow {
            Some(workflow) => workflow.queue().cloned(),
            None if evicted => None,
            None => {
                state.ledger.counts.unknown_ids += 1;
                return Err(ApiError::WorkflowNotFound(result.workflow_instance_id));
            }
        };
        let Some(seq) = seq else {
            state.ledger.counts.unknown_ids += 1;
            return Err(ApiError::TaskNotFound(result.task_id));
        };
        // Update-v2 polls the updated task's queue: the bulk workflow's one, else the task's.
        let poll_next = match bulk_queue {
            Some(queue) => Some(queue),
            None => state.live.get(&seq).map(|record| record.spec.key.clone()),
        };
        let (Some(status), Some(fp)) = (result.status, fp) else {
            return Err(ApiError::Internal(
                "TaskResult status must not be null".to_owned(),
            ));
        };
        let ending = state.ledger.ending(seq);
        if ending != FP_OPEN {
            let kind = if ending == FP_SERVER {
                state.ledger.counts.late_updates += 1;
                UpdateKind::Late
            } else if ending == fp {
                state.ledger.counts.duplicate_identical += 1;
                UpdateKind::Duplicate
            } else {
                state.ledger.counts.duplicate_conflicting += 1;
                UpdateKind::Duplicate
            };
            return Ok(UpdateOutcome { kind, poll_next });
        }
        let kind = state.apply(seq, result, (status, fp, size), now, &self.clock);
        let poll_next = (kind == UpdateKind::Ended).then_some(poll_next).flatten();
        Ok(UpdateOutcome { kind, poll_next })
    }

    /// Times out every in-progress task past its response deadline; returns how many.
    pub fn sweep(&self) -> usize {
        let now = self.clock.now();
        let mut state = self.lock();
        let mut expired = Vec::new();
        while let Some(&(deadline, seq)) = state.deadlines.first() {
            if deadline > now {
                break;
            }
            state.deadlines.pop_first();
            expired.push(seq);
        }
        for &seq in &expired {
            state.time_out(seq, now);
        }
        expired.len() + state.sweep_workflows(now)
    }

    /// The task with id `task_id` (`GET /api/tasks/{taskId}`); ended tasks stay readable until
    /// evicted (the most recent [`CoreConfig::keep_ended`] of them are kept).
    pub fn task(&self, task_id: &str) -> Result<Task, ApiError> {
        let state = self.lock();
        ids::parse_task_id(task_id)
            .and_then(|seq| {
                let record = state
                    .live
                    .get(&seq)
                    .or_else(|| state.ended.get(&seq))
                    .or_else(|| state.workflow_task_record(seq))?;
                Some(record.to_task(seq, &self.clock))
            })
            .ok_or_else(|| ApiError::TaskNotFoundById(task_id.to_owned()))
    }

    /// Stores one log line for `task_id` (the server does not check that the task exists).
    pub fn add_log(&self, task_id: &str, log: String) {
        let created_time = self.clock.epoch_ms(self.clock.now());
        let entry = TaskExecLog::new(log, task_id, created_time);
        self.lock()
            .logs
            .entry(task_id.to_owned())
            .or_default()
            .push(entry);
    }

    /// The log lines of `task_id`, oldest first.
    pub fn logs(&self, task_id: &str) -> Vec<TaskExecLog> {
        self.lock().logs.get(task_id).cloned().unwrap_or_default()
    }

    /// Tasks queued (due or delayed) in `domain:task_type`.
    pub fn queue_size(&self, task_type: &str, domain: Option<&str>) -> usize {
        let key = QueueKey::new(task_type, domain);
        self.lock().queues.get(&key).map_or(0, Queue::len)
    }

    /// Every queue's size by queue name (`domain:taskType`), sorted by name.
    pub fn queue_sizes(&self) -> BTreeMap<String, usize> {
        let state = self.lock();
        state
            .queues
            .iter()
            .map(|(key, queue)| (key.to_string(), queue.len()))
            .collect()
    }

    /// Poll data of `task_type`, or of every task type with `None`.
    pub fn poll_data(&self, task_type: Option<&str>) -> Vec<PollData> {
        let state = self.lock();
        state
            .poll_data
            .values()
            .filter(|data| task_type.is_none_or(|t| data.queue_name == t))
            .cloned()
            .collect()
    }

    /// The ledger's counters and latency figures right now.
    pub fn ledger(&self) -> LedgerSnapshot {
        let state = self.lock();
        let mut snapshot = state.ledger.counts.clone();
        snapshot.in_flight = state.in_flight;
        snapshot.lost = state.in_flight;
        snapshot.queued = state.queues.values().map(|q| q.len() as u64).sum();
        let latency = &state.ledger.latency;
        snapshot.latency_samples = latency.samples();
        snapshot.latency_p50_ms = latency.quantile(0.5) as f64 / 1000.0;
        snapshot.latency_p99_ms = latency.quantile(0.99) as f64 / 1000.0;
        snapshot
    }

    /// Forgets every task, workflow, log, poll record and ledger entry. Task ids keep counting
    /// up, so ids from before the reset are unknown afterwards.
    pub fn reset(&self) {
        let mut state = self.lock();
        let mut fresh = State::new(
            state.next_seq,
            state.next_workflow,
            self.config.clone(),
            self.clock,
        );
        // Keep the queues' signals so long polls waiting right now stay connected.
        for (key, mut queue) in std::mem::take(&mut state.queues) {
            queue.clear();
            fresh.queues.insert(key, queue);
        }
        *state = fresh;
    }

    /// The signal notified whenever a task is pushed onto `key`'s queue.
    pub fn signal(&self, key: &QueueKey) -> Arc<Notify> {
        let mut state = self.lock();
        Arc::clone(&state.queues.entry(key.clone()).or_default().signal)
    }

    /// How long until the earliest delayed task of `key` becomes due, if there is one.
    pub fn next_due_in(&self, key: &QueueKey) -> Option<Duration> {
        let now = self.clock.now();
        let due = self.lock().queues.get(key)?.next_due()?;
        Some(Duration::from_micros(due.saturating_sub(now)))
    }

    /// The settings this core runs with.
    pub fn config(&self) -> &CoreConfig {
        &self.config
    }

    fn now_ms(&self) -> i64 {
        self.clock.epoch_ms(self.clock.now())
    }

    /// Registers (or replaces) task definitions, as `POST /api/metadata/taskdefs` does.
    pub fn register_task_defs(&self, defs: Vec<TaskDef>) -> Result<(), ApiError> {
        if defs.is_empty() {
            return Err(ApiError::Validation(vec![ValidationError {
                path: Some("registerTaskDef.taskDefinitions".to_owned()),
                message: Some("TaskDefList is empty".to_owned()),
                invalid_value: None,
            }]));
        }
        let errors: Vec<ValidationError> = defs
            .iter()
            .enumerate()
            .flat_map(|(i, def)| {
                metadata::validate_task_def(def, &format!("registerTaskDef.taskDefinitions[{i}]"))
            })
            .collect();
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        let now = self.now_ms();
        let mut state = self.lock();
        for mut def in defs {
            def.create_time.get_or_insert(now);
            state.metadata.task_defs.insert(def.name.clone(), def);
        }
        Ok(())
    }

    /// Replaces one registered task definition (`PUT /api/metadata/taskdefs`); 404 when unknown.
    pub fn update_task_def(&self, mut def: TaskDef) -> Result<(), ApiError> {
        let errors = metadata::validate_task_def(&def, "updateTaskDef.taskDefinition");
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        let now = self.now_ms();
        let mut state = self.lock();
        let Some(stored) = state.metadata.task_defs.get_mut(&def.name) else {
            return Err(ApiError::NotFound(format!(
                "No such task by name {}",
                def.name
            )));
        };
        def.create_time = stored.create_time;
        def.created_by.clone_from(&stored.created_by);
        def.update_time = Some(now);
        *stored = def;
        Ok(())
    }

    /// The task definition `name`.
    pub fn task_def(&self, name: &str) -> Result<TaskDef, ApiError> {
        self.lock()
            .metadata
            .task_defs
            .get(name)
            .cloned()
            .ok_or_else(|| ApiError::NotFound(format!("No such taskType found by name: {name}")))
    }

    /// Every registered task definition, by name.
    pub fn task_defs(&self) -> Vec<TaskDef> {
        self.lock().metadata.task_defs.values().cloned().collect()
    }

    /// Removes the task definition `name`; 404 when unknown.
    pub fn delete_task_def(&self, name: &str) -> Result<(), ApiError> {
        match self.lock().metadata.task_defs.remove(name) {
            Some(_) => Ok(()),
            None => Err(ApiError::NotFound(format!(
                "No such taskType found by name: {name}"
            ))),
        }
    }

    /// Registers a workflow definition (`POST /api/metadata/workflow`); 409 when its
    /// (name, version) exists, unless `overwrite`.
    pub fn register_workflow_def(&self, def: WorkflowDef, overwrite: bool) -> Result<(), ApiError> {
        let errors = metadata::validate_workflow_def(&def, "create.workflowDef");
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        let now = self.now_ms();
        let mut state = self.lock();
        let versions = state
            .metadata
            .workflows
            .entry(def.name.clone())
            .or_default();
        if !overwrite && versions.contains_key(&def.version) {
            return Err(ApiError::Conflict(format!(
                "Workflow with {}.{} already exists!",
                def.name, def.version
            )));
        }
        let mut def = def;
        def.create_time.get_or_insert(now);
        versions.insert(def.version, Arc::new(def));
        Ok(())
    }

    /// Creates or replaces each definition (`PUT /api/metadata/workflow`); the whole list is
    /// validated first.
    pub fn put_workflow_defs(&self, defs: Vec<WorkflowDef>) -> Result<BulkResponse, ApiError> {
        let errors: Vec<ValidationError> = defs
            .iter()
            .enumerate()
            .flat_map(|(i, def)| {
                metadata::validate_workflow_def(def, &format!("update.workflowDefs[{i}]"))
            })
            .collect();
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        let now = self.now_ms();
        let mut state = self.lock();
        let mut response = BulkResponse::default();
        for mut def in defs {
            def.update_time = Some(now);
            response.bulk_successful_results.push(def.name.clone());
            let versions = state
                .metadata
                .workflows
                .entry(def.name.clone())
                .or_default();
            if let Some(old) = versions.get(&def.version) {
                def.create_time = old.create_time;
            }
            versions.insert(def.version, Arc::new(def));
        }
        response.message = Some("Bulk Request has been processed.".to_owned());
        Ok(response)
    }

    /// The workflow definition `name` at `version`, or its latest version.
    pub fn workflow_def(&self, name: &str, version: Option<i32>) -> Result<WorkflowDef, ApiError> {
        self.lock()
            .metadata
            .workflow(name, version)
            .map(|def| WorkflowDef::clone(&def))
            .ok_or_else(|| ApiError::NotFound(no_such_workflow(name, version)))
    }

    /// Every registered workflow definition (all versions), by name then version.
    pub fn workflow_defs(&self) -> Vec<WorkflowDef> {
        let state = self.lock();
        state
            .metadata
            .workflows
            .values()
            .flat_map(|versions| versions.values().map(|def| WorkflowDef::clone(def)))
            .collect()
    }

    /// Removes version `version` of workflow definition `name`; 404 when unknown.
    pub fn delete_workflow_def(&self, name: &str, version: i32) -> Result<(), ApiError> {
        let mut state = self.lock();
        let versions = state.metadata.workflows.get_mut(name);
        let removed = versions.and_then(|versions| versions.remove(&version));
        if state
            .metadata
            .workflows
            .get(name)
            .is_some_and(BTreeMap::is_empty)
        {
            state.metadata.workflows.remove(name);
        }
        match removed {
            Some(_) => Ok(()),
            None => Err(ApiError::NotFound(no_such_workflow(name, Some(version)))),
        }
    }

    /// Starts a workflow as `POST /api/workflow/{name}` does; returns its id.
    pub fn start_workflow_by_name(
        &self,
        name: &str,
        version: Option<i32>,
        correlation_id: Option<String>,
        priority: i32,
        input: JsonMap,
    ) -> Result<String, ApiError> {
        let mut request = StartWorkflowRequest::new(name, input);
        request.version = version;
        request.correlation_id = correlation_id;
        request.priority = priority;
        self.start(request, StartedBy::Name)
    }

    /// Starts a workflow from a StartWorkflowRequest (`POST /api/workflow`); returns its id.
    pub fn start_workflow(&self, request: StartWorkflowRequest) -> Result<String, ApiError> {
        self.start(request, StartedBy::Request)
    }

    fn start(&self, request: StartWorkflowRequest, by: StartedBy) -> Result<String, ApiError> {
        let Some(name) = request.name.filter(|name| !name.is_empty()) else {
            return Err(ApiError::Validation(vec![ValidationError {
                path: Some("startWorkflow.startWorkflowRequest.name".to_owned()),
                message: Some("Workflow name cannot be null or empty".to_owned()),
                invalid_value: None,
            }]));
        };
        if !(0..=99).contains(&request.priority) {
            let bound = if request.priority < 0 {
                "minimum 0"
            } else {
                "maximum 99"
            };
            return Err(ApiError::Validation(vec![ValidationError {
                path: Some("startWorkflow.startWorkflowRequest.priority".to_owned()),
                message: Some(format!("priority: {} should be {bound}", request.priority)),
                invalid_value: Some(request.priority.into()),
            }]));
        }
        let now = self.clock.now();
        let mut state = self.lock();
        let def = match request.workflow_def {
            Some(def) => def,
            None => {
                let found = state.metadata.workflow(&name, request.version);
                let Some(def) = found else {
                    let message = match by {
                        StartedBy::Name => no_such_workflow(&name, request.version),
                        StartedBy::Request => format!(
                            "No such workflow defined. name={name}, version={}",
                            version_text(request.version)
                        ),
                    };
                    return Err(ApiError::NotFound(message));
                };
                WorkflowDef::clone(&def)
            }
        };
        let id = state.start_workflow(
            Start {
                def,
                input: request.input,
                correlation_id: request.correlation_id,
                priority: request.priority,
                task_to_domain: request.task_to_domain,
            },
            now,
        );
        Ok(ids::workflow_id(id))
    }

    /// The workflow `workflow_id` (`GET /api/workflow/{id}`), tasks included if asked.
    pub fn workflow(&self, workflow_id: &str, include_tasks: bool) -> Result<Workflow, ApiError> {
        let state = self.lock();
        ids::parse_workflow_id(workflow_id)
            .and_then(|id| state.render_workflow(id, include_tasks))
            .ok_or_else(|| ApiError::WorkflowNotFound(workflow_id.to_owned()))
    }

    /// Terminates the workflow `workflow_id` (`DELETE /api/workflow/{id}`): 409 when it has
    /// completed, a no-op when already terminated.
    pub fn terminate_workflow(
        &self,
        workflow_id: &str,
        reason: Option<String>,
    ) -> Result<(), ApiError> {
        let now = self.clock.now();
        let mut state = self.lock();
        let id = ids::parse_workflow_id(workflow_id)
            .ok_or_else(|| ApiError::WorkflowNotFound(workflow_id.to_owned()))?;
        state
            .terminate_workflow(id, reason, now)
            .map_err(|e| match e {
                TerminateError::NotFound => ApiError::WorkflowNotFound(workflow_id.to_owned()),
                TerminateError::Completed => {
                    ApiError::Conflict("Cannot terminate a COMPLETED workflow.".to_owned())
                }
            })
    }
}

fn version_text(version: Option<i32>) -> String {
    version.map_or_else(|| "null".to_owned(), |v| v.to_string())
}

fn no_such_workflow(name: &str, version: Option<i32>) -> String {
    format!(
        "No such workflow found by name: {name}, version: {}",
        version_text(version)
    )
}

impl State {
    fn new(next_seq: u64, next_workflow: u64, config: CoreConfig, clock: Clock) -> Self {
        Self {
            next_seq,
            next_workflow,
            live: HashMap::default(),
            ended: HashMap::default(),
            ended_order: VecDeque::new(),
            workflows: HashMap::new(),
            queues: HashMap::new(),
            deadlines: std::collections::BTreeSet::new(),
            logs: HashMap::new(),
            poll_data: BTreeMap::new(),
            ledger: Ledger::new(next_seq),
            in_flight: 0,
            rng: fastrand::Rng::with_seed(config.seed),
            config,
            clock,
            metadata: Metadata::default(),
            task_workflow: HashMap::default(),
            workflow_deadlines: std::collections::BTreeSet::new(),
            ended_workflows: VecDeque::new(),
            evicted_workflows: 0,
            first_workflow: next_workflow,
        }
    }

    /// Stores `record` under a new sequence number and queues it; returns the sequence.
    fn schedule(&mut self, record: TaskRecord, now: u64) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.ledger.created(seq);
        self.queues
            .entry(record.spec.key.clone())
            .or_default()
            .push(seq, record.spec.priority, record.due, now);
        self.live.insert(seq, record);
        seq
    }

    fn wake(&self, key: &QueueKey) {
        if let Some(queue) = self.queues.get(key) {
            queue.signal.notify_waiters();
        }
    }

    fn extend_lease(&mut self, seq: u64, now: u64) {
        let Some(record) = self.live.get_mut(&seq) else {
            return; // already ended: nothing to extend
        };
        let old = record.response_deadline();
        record.update_time = now;
        if record.status == TaskStatus::InProgress {
            let new = record.response_deadline();
            self.deadlines.remove(&(old, seq));
            self.deadlines.insert((new, seq));
        }
        self.ledger.counts.lease_extensions += 1;
    }

    /// Applies a result to the live task `seq`.
    /// `outcome` is the result's status, its fingerprint and its output's serialized size.
    fn apply(
        &mut self,
        seq: u64,
        result: TaskResult,
        (status, fp, size): (TaskResultStatus, u16, usize),
        now: u64,
        clock: &Clock,
    ) -> UpdateKind {
        let Some(mut record) = self.live.remove(&seq) else {
            // Unreachable while the ledger and the live map agree; treat as a duplicate.
            self.ledger.counts.duplicate_identical += 1;
            return UpdateKind::Duplicate;
        };
        let task_id = ids::task_id(seq);
        self.leave_current_place(seq, &record);
        record.update_time = now;
        if let Some(reason) = result.reason_for_incompletion {
            record.reason = Some(reason.chars().take(MAX_REASON_CHARS).collect());
        }
        if let Some(worker) = result.worker_id {
            record.worker_id = Some(worker.into());
        }
        record.callback_after_seconds = result.callback_after_seconds.max(0);
        self.store_logs(&task_id, result.logs, clock.epoch_ms(now));
        if status == TaskResultStatus::InProgress {
            record.output = boxed_output(result.output_data);
            record.status = TaskStatus::Scheduled;
            let delay = u64::try_from(record.callback_after_seconds).unwrap_or(0);
            record.due = now.saturating_add(delay.saturating_mul(1_000_000));
            self.queues
                .entry(record.spec.key.clone())
                .or_default()
                .push(seq, record.spec.priority, record.due, now);
            let key = record.spec.key.clone();
            self.live.insert(seq, record);
            self.wake(&key);
            self.ledger.counts.in_progress_updates += 1;
            return UpdateKind::Requeued;
        }
        let limit = self.config.max_output_bytes;
        record.status = status.to_task_status();
        if size > limit {
            record.status = TaskStatus::FailedWithTerminalError;
            record.output = None;
            record.reason = Some(format!(
                "The payload size: {size} of task: {task_id} is greater than the permissible limit: {limit} bytes"
            ).into());
            self.ledger.counts.payload_too_large += 1;
        } else {
            record.output = boxed_output(result.output_data);
        }
        let counts = &mut self.ledger.counts;
        match record.status {
            TaskStatus::Completed => counts.completed += 1,
            TaskStatus::Failed => counts.failed += 1,
            TaskStatus::FailedWithTerminalError => counts.failed_terminal += 1,
            _ => counts.canceled += 1,
        }
        self.ledger.set_ending(seq, fp);
        self.end(seq, record, now);
        UpdateKind::Ended
    }

    /// Takes `seq` out of its queue or the sweeper's watch, whichever holds it.
    fn leave_current_place(&mut self, seq: u64, record: &TaskRecord) {
        match record.status {
            TaskStatus::InProgress => {
                self.deadlines.remove(&(record.response_deadline(), seq));
                self.in_flight = self.in_flight.saturating_sub(1);
            }
            _ => {
                if let Some(queue) = self.queues.get_mut(&record.spec.key) {
                    queue.remove(seq, record.spec.priority, record.due);
                }
            }
        }
    }

    /// The sweeper found `seq` past its response deadline.
    fn time_out(&mut self, seq: u64, now: u64) {
        let Some(mut record) = self.live.remove(&seq) else {
            return;
        };
        if record.status != TaskStatus::InProgress {
            self.live.insert(seq, record);
            return;
        }
        self.in_flight = self.in_flight.saturating_sub(1);
        record.status = TaskStatus::TimedOut;
        record.reason = Some(
            format!(
                "responseTimeout: {} exceeded for the taskId: {}",
                record.spec.def.response_timeout_seconds,
                ids::task_id(seq)
            )
            .into(),
        );
        record.update_time = now;
        self.ledger.counts.timed_out += 1;
        self.ledger.set_ending(seq, FP_SERVER);
        self.end(seq, record, now);
    }

    /// Bookkeeping for a task that has just ended, then the decision of what follows it.
    fn end(&mut self, seq: u64, mut record: TaskRecord, now: u64) {
        record.end_time = now;
        self.ledger
            .latency
            .record(now.saturating_sub(record.scheduled));
        if record.spec.workflow_task.is_some() {
            self.workflow_task_ended(seq, record, now);
            return;
        }
        self.on_task_ended(seq, &mut record, now);
        self.keep_ended(seq, record);
    }

    /// The delay before retrying an attempt of `def` whose retry count was `attempt`, in
    /// seconds, jitter included (rounded down to whole seconds, as the queue push is).
    fn retry_delay(&mut self, def: &TaskDef, attempt: i32) -> u64 {
        let delay_s = u64::try_from(def.retry_delay_seconds_for(attempt)).unwrap_or(0);
        let jitter_ms = u64::try_from(def.backoff_jitter_ms).unwrap_or(0);
        let jitter_ms = if jitter_ms > 0 {
            self.rng.u64(0..=jitter_ms)
        } else {
            0
        };
        delay_s + jitter_ms / 1000
    }

    /// What follows an ended bulk task: a retry while retries remain.
    fn on_task_ended(&mut self, seq: u64, record: &mut TaskRecord, now: u64) {
        let retriable = matches!(record.status, TaskStatus::Failed | TaskStatus::TimedOut);
        let def = &record.spec.def;
        if !retriable || record.retry_count >= def.retry_count {
            return;
        }
        let delay_s = u64::try_from(def.retry_delay_seconds_for(record.retry_count)).unwrap_or(0);
        let jitter_ms = u64::try_from(def.backoff_jitter_ms).unwrap_or(0);
        let jitter_ms = if jitter_ms > 0 {
            self.rng.u64(0..=jitter_ms)
        } else {
            0
        };
        let due = now
            .saturating_add(delay_s.saturating_mul(1_000_000))
            .saturating_add(jitter_ms * 1000);
        let retry = record.retry_of(seq, now, due, delay_s);
        record.retried = true;
        let key = retry.spec.key.clone();
        self.schedule(retry, now);
        self.ledger.counts.retried += 1;
        self.wake(&key);
    }

    fn keep_ended(&mut self, seq: u64, record: TaskRecord) {
        self.ended.insert(seq, record);
        self.ended_order.push_back(seq);
        // Bound the readable history; the ledger keeps the fingerprint.
        while self.ended_order.len() > self.config.keep_ended {
            if let Some(old) = self.ended_order.pop_front() {
                self.ended.remove(&old);
            }
        }
    }

    fn store_logs(&mut self, task_id: &str, logs: Vec<TaskExecLog>, now_ms: i64) {
        if logs.is_empty() {
            return;
        }
        let stored = self.logs.entry(task_id.to_owned()).or_default();
        for mut log in logs.into_iter().take(MAX_LOGS_PER_UPDATE) {
            log.task_id = Some(task_id.to_owned());
            if log.created_time == 0 {
                log.created_time = now_ms;
            }
            stored.push(log);
        }
    }
}

fn boxed_output(output: JsonMap) -> Option<Box<JsonMap>> {
    (!output.is_empty()).then(|| Box::new(output))
}

/// The serialized size of an output map, without building the string.
fn output_size(output: &JsonMap) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    match serde_json::to_writer(&mut count, output) {
        Ok(()) => count.0,
        Err(_) => 0,
    }
}

/// The fingerprint of a terminal result: its status and output (keys in sorted order).
fn result_fingerprint(status: TaskResultStatus, output: &JsonMap) -> u16 {
    struct HashWriter<'a>(&'a mut std::hash::DefaultHasher);
    impl std::io::Write for HashWriter<'_> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.write(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut hasher = std::hash::DefaultHasher::new();
    status.as_str().hash(&mut hasher);
    // Writing into a hasher cannot fail.
    let _ = serde_json::to_writer(HashWriter(&mut hasher), output);
    fingerprint(hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_model::RetryLogic;

    fn failing_def(logic: RetryLogic) -> TaskDef {
        let mut def = TaskDef::new("x");
        def.retry_count = 5;
        def.retry_delay_seconds = 10;
        def.retry_logic = logic;
        def.backoff_scale_factor = 2;
        def
    }

    /// Fails attempt after attempt and returns each retry's delay in whole seconds.
    fn delays(logic: RetryLogic, attempts: usize) -> Vec<u64> {
        let core = Core::new(CoreConfig::default());
        let key = QueueKey::new("t", None::<String>);
        let enqueued = core.enqueue(EnqueueRequest::new("t", 1).task_def(failing_def(logic)));
        let mut task_id = enqueued.first_task_id.clone();
        let mut out = Vec::new();
        for _ in 0..attempts {
            // Hand the pending attempt out directly (it is only due after its delay).
            let seq = ids::parse_task_id(&task_id).unwrap_or_default();
            {
                let mut state = core.lock();
                let now = core.clock.now();
                let record = state.live.get_mut(&seq).map(|r| {
                    r.hand_out(None, now);
                    (r.spec.priority, r.due, r.response_deadline())
                });
                if let Some((priority, due, deadline)) = record {
                    state
                        .queues
                        .get_mut(&key)
                        .map(|q| q.remove(seq, priority, due));
                    state.deadlines.insert((deadline, seq));
                    state.in_flight += 1;
                }
            }
            let result = TaskResult::new(
                task_id.clone(),
                enqueued.workflow_instance_id.clone(),
                TaskResultStatus::Failed,
            );
            assert_eq!(core.update(result).map(|o| o.kind), Ok(UpdateKind::Ended));
            let due = core.next_due_in(&key).unwrap_or_default();
            out.push((due.as_millis() as u64 + 500) / 1000);
            task_id = ids::task_id(seq + 1);
        }
        out
    }

    #[test]
    fn retries_wait_as_the_retry_logic_says() {
        assert_eq!(delays(RetryLogic::Fixed, 3), [10, 10, 10]);
        assert_eq!(delays(RetryLogic::LinearBackoff, 3), [20, 40, 60]);
        assert_eq!(delays(RetryLogic::ExponentialBackoff, 3), [10, 20, 40]);
    }

    #[test]
    fn retries_stop_when_the_count_is_used_up_and_record_the_chain() {
        let core = Core::new(CoreConfig::default());
        let mut def = TaskDef::new("x");
        def.retry_count = 1;
        def.retry_delay_seconds = 0;
        let enqueued = core.enqueue(EnqueueRequest::new("t", 1).task_def(def));
        let first = core.poll("t", None, Some("w"), 1).remove(0);
        let fail = |task: &Task| {
            core.update(TaskResult::failed(task, "no"))
                .map(|outcome| outcome.kind)
        };
        assert_eq!(fail(&first), Ok(UpdateKind::Ended));
        let retry = core.poll("t", None, None, 5);
        assert_eq!(retry.len(), 1);
        assert_eq!(
            retry[0].retried_task_id.as_deref(),
            Some(enqueued.first_task_id.as_str())
        );
        assert_eq!(retry[0].retry_count, 1);
        assert_eq!(fail(&retry[0]), Ok(UpdateKind::Ended));
        assert!(core.poll("t", None, None, 5).is_empty());
        let ledger = core.ledger();
        assert_eq!((ledger.failed, ledger.retried, ledger.in_flight), (2, 1, 0));
    }

    #[test]
    fn memory_per_task_is_compact() {
        // The record is what every queued task costs, besides queue and map entries.
        assert!(
            std::mem::size_of::<TaskRecord>() <= 160,
            "{}",
            std::mem::size_of::<TaskRecord>()
        );
    }
}
