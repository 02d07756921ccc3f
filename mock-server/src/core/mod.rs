//! The synchronous core: every queue, task, workflow, log and ledger entry of the mock, behind
//! one mutex.
//!
//! Nothing here awaits. Each method takes the lock, does a short piece of work and returns; the
//! HTTP layer adds long-poll waits on top (see [`Core::signal`] and [`Core::next_due_in`]).
//! [`State`] is one struct behind the mutex; this file holds it and the bookkeeping every concern
//! shares (scheduling a record, waking a queue, taking a task off its queue or deadline, keeping
//! ended records). Each concern's module adds the [`Core`] operations and the `State` steps of
//! that concern. Each module imports only modules listed above it, so there is no import cycle.
//!
//! | module | owns |
//! |---|---|
//! | `clock` | the core's monotonic clock and its epoch mapping |
//! | `queue` | one `domain:taskType` queue |
//! | `ledger` | counters and per-task fingerprints |
//! | `record` | compact task records and their JSON |
//! | `expr` | `${...}` expression resolution |
//! | `domains` | task-domain choice at scheduling |
//! | `script` | the expression evaluators: value-param, JavaScript (feature `javascript`) |
//! | `metadata` | task and workflow definitions, their validation |
//! | `retry` | the retry delay (the server's formula, jitter in ms) and bulk-task retries |
//! | `deadlines` | the sweeper's deadline sets and the sweep |
//! | `limits` | concurrency and rate limits at poll time, postponement and release |
//! | `timeouts` | task `timeoutSeconds` / `pollTimeoutSeconds` with the timeout policy |
//! | `evict` | idle eviction of queues, poll data and logs of unused task types |
//! | `workflow` | workflow instances and their reads; `plan.rs`: the task tree; `decider.rs`: what follows a task; `system.rs`: SET_VARIABLE, TERMINATE, INLINE; `flow.rs`: SWITCH, FORK_JOIN/JOIN, DO_WHILE; `subworkflow.rs`; `wait.rs`: WAIT; `failure.rs`: failure workflows; `control.rs`: pause, resume, retry, restart, rerun; `search.rs`: running, correlated, search |
//! | `enqueue` | bulk enqueue into a synthetic workflow |
//! | `poll` | hand-out, poll data, queue reads, the long polls' signal |
//! | `update` | the update rules, ending a task (`State::end`), task logs |

mod clock;
mod deadlines;
mod domains;
mod enqueue;
mod evict;
mod expr;
mod ledger;
mod limits;
mod metadata;
mod poll;
mod queue;
mod record;
mod retry;
mod script;
mod timeouts;
mod update;
mod workflow;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::Hasher;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use baton_model::{PollData, Task, TaskStatus};

use crate::error::ApiError;
use crate::ids;
use clock::Clock;
use deadlines::Deadlines;
pub use enqueue::{EnqueueRequest, Enqueued, MAX_ENQUEUE_COUNT};
use evict::Logs;
use ledger::Ledger;
pub use ledger::LedgerSnapshot;
use limits::Limits;
use metadata::Metadata;
pub use poll::HandedOut;
use queue::Queue;
pub use queue::QueueKey;
pub use record::BULK_WORKFLOW_TYPE;
use record::TaskRecord;
pub use update::{UpdateKind, UpdateOutcome};
pub use workflow::RerunRequest;
use workflow::WorkflowRecord;
pub(crate) use workflow::waits_for_signal;

/// The default of [`CoreConfig::postpone`]: the server's `taskExecutionPostponeDuration`.
pub const DEFAULT_POSTPONE: Duration = Duration::from_secs(60);
/// The default of [`CoreConfig::max_system_steps`].
pub const DEFAULT_MAX_SYSTEM_STEPS: usize = 10_000;
/// The default of [`CoreConfig::idle_evict`].
pub const DEFAULT_IDLE_EVICT: Duration = Duration::from_secs(3600);

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
    /// How long a task held back by a concurrency or rate limit stays postponed (the server's
    /// `taskExecutionPostponeDuration`, 60 s).
    pub postpone: Duration,
    /// After how long without a push or a poll an empty queue of a task type is forgotten,
    /// with its poll data and the logs of its ended tasks (default 1 h).
    pub idle_evict: Duration,
    /// How many system-task steps (ends of system tasks the mock runs itself, JOIN checks)
    /// one decision may run in a row before the workflow is failed as an endless loop.
    pub max_system_steps: usize,
}

impl Default for CoreConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            max_output_bytes: 10 * 1024 * 1024,
            keep_ended: 10_000,
            active_domain_window: Duration::from_secs(10),
            keep_workflows: 10_000,
            postpone: DEFAULT_POSTPONE,
            idle_evict: DEFAULT_IDLE_EVICT,
            max_system_steps: DEFAULT_MAX_SYSTEM_STEPS,
        }
    }
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
    deadlines: Deadlines,
    /// Task logs by task id.
    logs: Logs,
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
    workflow_deadlines: Deadlines,
    /// Ended real workflows, oldest first, awaiting eviction.
    ended_workflows: VecDeque<u64>,
    /// How many ended workflows were evicted.
    evicted_workflows: u64,
    /// The first workflow number since the last reset.
    first_workflow: u64,
    /// Counters of the concurrency and rate limits.
    limits: Limits,
    /// Open tasks by task or poll timeout deadline: `(deadline µs, seq)`.
    task_timeouts: Deadlines,
    /// Open WAIT tasks by the time they complete: `(deadline µs, seq)`.
    wait_deadlines: Deadlines,
    /// When the last idle-eviction pass ran (µs).
    last_evict: u64,
    /// How many failure workflows are being started, one inside the other, right now (a
    /// failure workflow that fails at once starts its own).
    failure_chain: u32,
    /// The lists a poll fills, reused by the next one.
    hand_out: poll::HandOutScratch,
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
        // Keep the signals of queues a long poll waits on right now, so it stays connected;
        // every other queue is forgotten.
        for (key, mut queue) in std::mem::take(&mut state.queues) {
            if queue.has_waiters() {
                queue.clear();
                fresh.queues.insert(key, queue);
            }
        }
        *state = fresh;
    }

    /// The settings this core runs with.
    pub fn config(&self) -> &CoreConfig {
        &self.config
    }

    /// Epoch milliseconds now (definition create and update times).
    fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }
}

impl State {
    /// An empty state whose ids continue from `next_seq` and `next_workflow`.
    fn new(next_seq: u64, next_workflow: u64, config: CoreConfig, clock: Clock) -> Self {
        Self {
            next_seq,
            next_workflow,
            live: HashMap::default(),
            ended: HashMap::default(),
            ended_order: VecDeque::new(),
            workflows: HashMap::new(),
            queues: HashMap::new(),
            deadlines: Deadlines::default(),
            logs: Logs::default(),
            poll_data: BTreeMap::new(),
            ledger: Ledger::new(next_seq),
            in_flight: 0,
            rng: fastrand::Rng::with_seed(config.seed),
            config,
            clock,
            metadata: Metadata::default(),
            task_workflow: HashMap::default(),
            workflow_deadlines: Deadlines::default(),
            ended_workflows: VecDeque::new(),
            evicted_workflows: 0,
            first_workflow: next_workflow,
            limits: Limits::default(),
            task_timeouts: Deadlines::default(),
            wait_deadlines: Deadlines::default(),
            last_evict: 0,
            failure_chain: 0,
            hand_out: poll::HandOutScratch::default(),
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
        self.watch_timeouts(seq, &record);
        self.live.insert(seq, record);
        seq
    }

    /// Wakes the long polls waiting on `key`'s queue (after a push).
    fn wake(&self, key: &QueueKey) {
        if let Some(queue) = self.queues.get(key) {
            queue.signal.notify_waiters();
        }
    }

    /// Takes `seq` out of its queue or the sweeper's watch, whichever holds it, and out of the
    /// task-timeout watch.
    fn leave_current_place(&mut self, seq: u64, record: &TaskRecord) {
        if record.spec.is_system() {
            // A system task the mock runs itself is in no queue and no deadline set.
            return;
        }
        self.unwatch_timeouts(seq, record);
        match record.status {
            TaskStatus::InProgress => {
                self.deadlines.remove(record.response_deadline(), seq);
                self.left_in_progress(record);
            }
            _ => {
                if let Some(queue) = self.queues.get_mut(&record.spec.key) {
                    queue.remove(seq, record.spec.priority, record.due);
                }
            }
        }
    }

    /// Bookkeeping for a task that leaves IN_PROGRESS (its response deadline is handled by
    /// the caller).
    fn left_in_progress(&mut self, record: &TaskRecord) {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.limits.stopped(record);
    }

    /// Keeps an ended bulk task readable, evicting the oldest beyond `keep_ended`.
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
}
