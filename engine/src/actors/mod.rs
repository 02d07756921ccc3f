//! The three actors that run one worker, and the state they share.
//!
//! ```text
//! Poller     reserve N free slots, batch long-poll for ≤ N tasks
//!   │ tasks + slots
//!   ▼
//! Intake     pair each task with a slot, give back unused slots,   ◄──────────────┐
//!   │        run an oversize answer's extra tasks as slots free                    │
//!   │ Execute (a batch)                                                            │
//!   ▼                                                                              │
//! Executor   run each task (worker's pool or arbiter), catch panics, extend leases │
//!   │ Post (a batch of results, each with its slot and a queue slot)               │
//!   ▼                                                                              │
//! Updater    bounded queue; POST each result, retry with backoff; a result's slot  │
//!            is freed when its first post settles, or lent to update-v2's answer ──┘
//! ```
//!
//! All three actors of a worker live on one arbiter (one thread), so the messages between them
//! are cheap; messages carry batches. Each actor holds its peers as [`actix::Recipient`]s of
//! the messages it sends, given at construction: [`start`] creates the actors' contexts (and so
//! their addresses) before it starts any of them. See `docs/architecture.md`.

mod capacity;
mod delivery;
mod executor;
mod intake;
mod journal;
mod lease;
mod messages;
mod poller;
mod retry;
mod updater;

pub use delivery::GiveUpReason;
pub(crate) use journal::{HeldTask, TaskJournal};
pub(crate) use retry::{Attempts, RetryPolicy};

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use actix::{Actor, AsyncContext, Context};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::client::ConductorClient;
use crate::config::WorkerSettings;
use crate::model::TaskResult;
use crate::pool::BlockingPool;
use crate::worker::WorkerSpec;

use crate::ops::WorkerMetrics;
use capacity::Capacity;
use executor::Executor;
use intake::Intake;
use lease::LeaseKeeper;
use poller::Poller;
use updater::Updater;

/// What one worker's actors are made of.
#[derive(Debug)]
pub(crate) struct PipelineParts {
    /// The worker.
    pub(crate) spec: Arc<WorkerSpec>,
    /// Its shared state.
    pub(crate) pipeline: Arc<Pipeline>,
    /// Its threads, if it blocks.
    pub(crate) pool: Option<Arc<BlockingPool>>,
    /// The arbiter's client.
    pub(crate) client: ConductorClient,
    /// The most result posts it has in flight (at least 1).
    pub(crate) posts: usize,
}

/// Starts one worker's Poller, Executor and Updater on the current arbiter, each given its
/// peers at construction. Must run on the arbiter (inside its runtime).
pub(crate) fn start(parts: PipelineParts) {
    let PipelineParts {
        spec,
        pipeline,
        pool,
        client,
        posts,
    } = parts;
    // The Executor and the Updater send to each other: create both mailboxes first.
    let executor = Context::<Executor>::new();
    let updater = Context::<Updater>::new();
    let intake = Intake::new(Arc::clone(&pipeline), executor.address().recipient());
    let leases = LeaseKeeper::new(Arc::clone(&pipeline), client.clone());
    let updater_address = updater.address().recipient();
    updater.run(Updater::new(
        Arc::clone(&pipeline),
        client.clone(),
        posts,
        intake.clone(),
    ));
    executor.run(Executor::new(
        Arc::clone(&pipeline),
        spec,
        pool,
        updater_address,
        leases,
        client.clone(),
    ));
    Poller::new(pipeline, client, intake).start();
}

/// The user's function for results that are given up.
type GiveUpFn = dyn Fn(&TaskResult, &GiveUpReason) + Send + Sync;

/// Called with every result that is given up, and why.
#[derive(Clone)]
pub(crate) struct GiveUpHook(pub(crate) Arc<GiveUpFn>);

impl std::fmt::Debug for GiveUpHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GiveUpHook")
    }
}

/// What every pipeline of a host shares.
#[derive(Debug, Clone)]
pub(crate) struct HostShared {
    /// The host's hook for results that are given up.
    pub(crate) on_give_up: Option<GiveUpHook>,
    /// Whether update-v2 is on.
    pub(crate) update_v2: bool,
    /// The longest wait between failed polls.
    pub(crate) poll_error_backoff_max: Duration,
    /// What a poll's deadline adds to its long-poll timeout.
    pub(crate) poll_deadline_margin: Duration,
    /// Where a worker process tells its parent which tasks it holds (none on threads).
    pub(crate) journal: Option<Arc<dyn TaskJournal>>,
}

/// State shared by one worker's actors and the host.
#[derive(Debug)]
pub(crate) struct Pipeline {
    /// The worker's resolved settings.
    pub(crate) settings: WorkerSettings,
    /// The worker id as sent to the server.
    pub(crate) worker_id: Arc<str>,
    /// Its slots (execution and queue), in one place.
    pub(crate) capacity: Capacity,
    /// Whether polling is paused (set through [`Pipeline::set_paused`]).
    pub(crate) paused: AtomicBool,
    /// Woken when polling is resumed.
    pub(crate) resumed: Notify,
    /// Whether the queue is known to have more work: set by a full poll or an update-v2 that
    /// answered with a task, cleared by a partial poll or an update-v2 that answered with none.
    /// The updater uses update-v2 only while it is set, because on an empty queue the server
    /// holds an update-v2 answer for its single-poll wait (about 100 ms).
    pub(crate) work_queued: AtomicBool,
    /// Whether update-v2 is still worth trying: on unless disabled by the host, and switched
    /// off for good when the server turns out not to have it.
    pub(crate) update_v2: AtomicBool,
    /// Cancelled when the host starts draining, or when the pipeline fails: the poller stops.
    pub(crate) stop_polling: CancellationToken,
    /// Why the pipeline failed (an actor went away), if it did.
    pub(crate) failure: OnceLock<String>,
    /// The longest wait between failed polls.
    pub(crate) poll_error_backoff_max: Duration,
    /// What a poll's deadline adds to its long-poll timeout.
    pub(crate) poll_deadline_margin: Duration,
    /// When the pipeline was made; the base of `last_poll_round`.
    epoch: Instant,
    /// When the last poll round started, in milliseconds after `epoch`.
    last_poll_round: AtomicU64,
    /// Executions running now.
    pub(crate) running: AtomicUsize,
    /// The worker's metric handles, when the host serves metrics.
    pub(crate) metrics: Option<WorkerMetrics>,
    /// A blocking worker's threads (set once they start), grown with the concurrency.
    pub(crate) pool: OnceLock<Arc<BlockingPool>>,
    /// Counters.
    pub(crate) stats: Stats,
    /// The host's hook for results that are given up.
    pub(crate) on_give_up: Option<GiveUpHook>,
    /// Told which tasks the worker holds (in a worker process: its parent).
    pub(crate) journal: Option<Arc<dyn TaskJournal>>,
}

impl Pipeline {
    /// The shared state for a worker with `settings` (validated: concurrency ≥ 1) on a host
    /// with `host`'s settings, recording into `metrics` if the host serves them.
    pub(crate) fn new(
        settings: WorkerSettings,
        stop_polling: CancellationToken,
        host: &HostShared,
        metrics: Option<WorkerMetrics>,
    ) -> Self {
        Self {
            worker_id: Arc::from(settings.worker_id.as_str()),
            paused: AtomicBool::new(settings.paused),
            resumed: Notify::new(),
            capacity: Capacity::new(settings.concurrency),
            work_queued: AtomicBool::new(false),
            update_v2: AtomicBool::new(host.update_v2),
            settings,
            stop_polling,
            failure: OnceLock::new(),
            poll_error_backoff_max: host.poll_error_backoff_max,
            poll_deadline_margin: host.poll_deadline_margin,
            epoch: Instant::now(),
            last_poll_round: AtomicU64::new(0),
            running: AtomicUsize::new(0),
            metrics,
            pool: OnceLock::new(),
            stats: Stats::default(),
            on_give_up: host.on_give_up.clone(),
            journal: host.journal.clone(),
        }
    }

    /// Tasks held: executing (slots taken, including lost capacity), waiting for a slot, or
    /// whose result's first post has not settled.
    pub(crate) fn executing(&self) -> usize {
        self.capacity.held()
    }

    /// The concurrency now (it can be changed while the worker runs).
    pub(crate) fn concurrency(&self) -> usize {
        self.capacity.concurrency()
    }

    /// Sets the concurrency live: see [`Capacity::resize`]; a blocking worker gets the
    /// threads it needs.
    pub(crate) fn set_concurrency(&self, concurrency: usize) -> std::io::Result<()> {
        if let Some(pool) = self.pool.get() {
            pool.grow_to(concurrency)?;
        }
        self.capacity.resize(concurrency)
    }

    /// When a timed step (poll, execution, post) starts, if anything records its duration
    /// (the metrics, or debug events): the hot path reads no clock otherwise.
    pub(crate) fn clock(&self) -> Option<Instant> {
        (self.metrics.is_some() || tracing::enabled!(tracing::Level::DEBUG)).then(Instant::now)
    }

    /// Notes that a poll round starts now.
    pub(crate) fn poll_round_started(&self) {
        let at = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_poll_round.store(at, Ordering::Relaxed);
    }

    /// Time since the last poll round started (since the pipeline was made, before the first).
    pub(crate) fn since_last_poll_round(&self) -> Duration {
        let at = Duration::from_millis(self.last_poll_round.load(Ordering::Relaxed));
        self.epoch.elapsed().saturating_sub(at)
    }

    /// Pauses or resumes polling; a paused poller wakes at once on resume.
    pub(crate) fn set_paused(&self, paused: bool) {
        self.paused.store(paused, Ordering::Relaxed);
        if !paused {
            self.resumed.notify_waiters();
        }
    }

    /// Results waiting to be posted (queued, in flight or waiting for a retry).
    pub(crate) fn unposted(&self) -> usize {
        self.capacity.unposted()
    }
}

/// Per-worker counters (relaxed atomics: they are statistics, not synchronization).
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) polls: AtomicU64,
    pub(crate) empty_polls: AtomicU64,
    pub(crate) poll_errors: AtomicU64,
    /// Poll answers that were not a JSON list (also in `poll_errors`).
    pub(crate) bad_answers: AtomicU64,
    /// Answers over the size limit (also in `poll_errors` when they answered a poll).
    pub(crate) oversize_answers: AtomicU64,
    pub(crate) tasks_polled: AtomicU64,
    /// Tasks whose fields could not be decoded, posted FAILED.
    pub(crate) undecodable_tasks: AtomicU64,
    /// Tasks handed out without a usable taskId: left to the server's response timeout.
    pub(crate) lost_tasks: AtomicU64,
    /// Externalized inputs fetched, and fetches that failed (the task posted FAILED).
    pub(crate) external_inputs: AtomicU64,
    pub(crate) external_input_failures: AtomicU64,
    pub(crate) tasks_executed: AtomicU64,
    /// Results whose output was over the limit, posted FAILED_WITH_TERMINAL_ERROR.
    pub(crate) oversize_outputs: AtomicU64,
    pub(crate) results_posted: AtomicU64,
    pub(crate) update_retries: AtomicU64,
    pub(crate) results_given_up: AtomicU64,
    /// Executions that ran past `execution_timeout` (posted FAILED).
    pub(crate) executions_timed_out: AtomicU64,
    /// Executions started.
    pub(crate) tasks_started: AtomicU64,
    /// Poll rounds that had to wait for a free slot.
    pub(crate) slot_waits: AtomicU64,
    /// Poll rounds skipped because the worker was paused.
    pub(crate) paused_rounds: AtomicU64,
}

impl Stats {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
