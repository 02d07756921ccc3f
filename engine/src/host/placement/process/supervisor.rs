//! The parent's side: start every worker's processes, read what they report, post the tasks a
//! dead one held, restart it by the restart rule, pass control messages down, and drain them
//! all on shutdown.
//!
//! [`Supervision`] is what the supervisor thread, the readers (one thread per child, reading
//! its reports), the [`HostHandle`](crate::HostHandle) and the operations endpoint share.

use std::borrow::Borrow;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::io::BufReader;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::exit::{self, CrashLedger};
use super::exit_posts::ExitPoster;
use super::restart::RestartPolicy;
use super::wire::{self, Control, Report};
use super::{CHILD_ENV, CONCURRENCY_ENV, PAUSED_ENV};
use crate::actors::{HeldTask, RetryPolicy};
use crate::config::WorkerSettings;
use crate::host::placement::ProcessCommand;
use crate::host::{ProcessStatus, ShutdownReport, Stop, WorkerStatus};
use crate::ops::{Figures, Vitals, counters_only, figures_of, longest_gap};

/// How often the supervisor looks at its children.
const SUPERVISE_EVERY: Duration = Duration::from_millis(50);
/// Extra time a child gets, beyond the grace period, to exit after draining.
const EXIT_MARGIN: Duration = Duration::from_secs(5);
/// How long the supervisor waits for a dead child's last reports.
const LAST_WORDS: Duration = Duration::from_millis(500);
/// How long a reader rests once it has read everything its child wrote. A child writes about
/// one report per task; waking for each would cost a thread switch per task on both sides
/// (the child's write wakes a waiting reader). Resting lets the reports gather in the socket
/// and be read in one go; what a child wrote before dying is in the socket all the same.
const READ_REST: Duration = Duration::from_millis(1);
/// A reader that read this many reports since its last rest reads on without resting: the
/// socket's buffer counts each small write at about a kilobyte, and a child whose writes no
/// longer fit would wait for its parent. This keeps what gathers in a rest far below the
/// buffer (about 200 KiB by default) at any rate.
const REST_BELOW: usize = 64;
/// The reader's buffer: what gathers in a rest, read in one call.
const READ_BUFFER: usize = 64 * 1024;

/// What a worker's processes are told to be, so a restarted one is told too.
#[derive(Debug, Clone, Copy)]
struct Desired {
    paused: bool,
    concurrency: usize,
}

/// One worker of a process-placed host: `processes` children share its tasks.
#[derive(Debug)]
pub(crate) struct WorkerGroup {
    pub(crate) task_type: String,
    settings: WorkerSettings,
    desired: Mutex<Desired>,
    /// The counters of its processes that exited (gauges zeroed).
    exited: Mutex<Figures>,
    longest_gap: Duration,
}

/// One child process of a worker, restarted in place.
#[derive(Debug)]
pub(crate) struct Slot {
    worker: usize,
    /// Which of its worker's processes (0-based).
    ordinal: usize,
    state: Mutex<SlotState>,
}

#[derive(Debug, Default)]
struct SlotState {
    /// Bumped at each start: a reader of an older child changes nothing.
    generation: u64,
    pid: Option<u32>,
    /// The write half of the child's link.
    control: Option<UnixStream>,
    /// The tasks the child holds.
    held: HashSet<ById>,
    /// The child's last status, and when it came.
    report: Option<(WorkerStatus, Instant)>,
    restarts: u32,
    exits_in_a_row: u32,
    crash_loop: bool,
    last_exit: Option<String>,
    restart_at: Option<Instant>,
    tasks_failed_on_exit: u64,
    poison_tasks: u64,
}

/// A held task, found by its id (one copy of the id per task).
#[derive(Debug)]
struct ById(HeldTask);

impl PartialEq for ById {
    fn eq(&self, other: &Self) -> bool {
        self.0.id == other.0.id
    }
}

impl Eq for ById {}

impl Hash for ById {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.id.hash(state);
    }
}

impl Borrow<str> for ById {
    fn borrow(&self) -> &str {
        &self.0.id
    }
}

/// What the supervisor, the readers, the handle and the endpoint share.
#[derive(Debug)]
pub(crate) struct Supervision {
    pub(crate) workers: Vec<WorkerGroup>,
    pub(crate) slots: Vec<Arc<Slot>>,
    ledger: Mutex<CrashLedger>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Supervision {
    /// The supervision of `workers` (each with its settings); the server's poll settings feed
    /// the health rule.
    pub(crate) fn new(
        workers: &[WorkerSettings],
        poll_error_backoff_max: Duration,
        poll_deadline_margin: Duration,
    ) -> Self {
        let mut slots = Vec::new();
        let groups = workers
            .iter()
            .enumerate()
            .map(|(index, settings)| {
                for ordinal in 0..settings.processes {
                    slots.push(Arc::new(Slot {
                        worker: index,
                        ordinal,
                        state: Mutex::default(),
                    }));
                }
                WorkerGroup {
                    task_type: settings.task_type.clone(),
                    desired: Mutex::new(Desired {
                        paused: settings.paused,
                        concurrency: settings.concurrency,
                    }),
                    exited: Mutex::new(Figures::default()),
                    longest_gap: longest_gap(
                        settings,
                        poll_error_backoff_max,
                        poll_deadline_margin,
                    ),
                    settings: settings.clone(),
                }
            })
            .collect();
        Self {
            workers: groups,
            slots,
            ledger: Mutex::default(),
        }
    }

    /// Every child, as last seen.
    pub(crate) fn status(&self) -> Vec<ProcessStatus> {
        let now = Instant::now();
        self.slots
            .iter()
            .map(|slot| {
                let state = lock(&slot.state);
                let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
                ProcessStatus {
                    task_type: self.workers[slot.worker].task_type.clone(),
                    process: slot.ordinal,
                    pid: state.pid,
                    restarts: state.restarts,
                    exits_in_a_row: state.exits_in_a_row,
                    crash_loop: state.crash_loop,
                    last_exit: state.last_exit.clone(),
                    restart_in_ms: state
                        .restart_at
                        .map(|at| ms(at.saturating_duration_since(now))),
                    tasks_held: state.held.len(),
                    tasks_failed_on_exit: state.tasks_failed_on_exit,
                    poison_tasks: state.poison_tasks,
                    report_ms_ago: state.report.as_ref().map(|(_, at)| ms(now - *at)),
                    worker: state.report.as_ref().map(|(status, _)| status.clone()),
                }
            })
            .collect()
    }

    /// The health rule's view of every running child that has reported.
    pub(crate) fn vitals(&self) -> Vec<(String, Vitals)> {
        self.slots
            .iter()
            .filter_map(|slot| {
                let state = lock(&slot.state);
                let pid = state.pid?;
                let (status, at) = state.report.as_ref()?;
                let group = &self.workers[slot.worker];
                let mut vitals = Vitals::of_status(status, group.longest_gap, at.elapsed());
                vitals.process = Some(format!("process {} (pid {pid})", slot.ordinal));
                Some((group.task_type.clone(), vitals))
            })
            .collect()
    }

    /// The scrape-time figures: each running child's last report, and what exited ones left.
    pub(crate) fn figures(&self) -> Vec<(String, Figures)> {
        let mut rows: Vec<(String, Figures)> = self
            .workers
            .iter()
            .map(|group| (group.task_type.clone(), *lock(&group.exited)))
            .collect();
        for slot in &self.slots {
            if let Some((status, _)) = &lock(&slot.state).report {
                rows.push((status.task_type.clone(), figures_of(status)));
            }
        }
        rows
    }

    /// The process metrics by task type: processes running, restarts, tasks posted FAILED
    /// on exits, poison tasks.
    pub(crate) fn process_figures(&self) -> Vec<(String, [u64; 4])> {
        self.workers
            .iter()
            .enumerate()
            .map(|(index, group)| {
                let mut row = [0u64; 4];
                for slot in self.slots.iter().filter(|s| s.worker == index) {
                    let state = lock(&slot.state);
                    row[0] += u64::from(state.pid.is_some());
                    row[1] += u64::from(state.restarts);
                    row[2] += state.tasks_failed_on_exit;
                    row[3] += state.poison_tasks;
                }
                (group.task_type.clone(), row)
            })
            .collect()
    }

    /// Tells the processes of every worker of `task_type` (every worker: `None`) to `control`
    /// (pause, resume or a concurrency), now and whenever one restarts. Returns how many
    /// running processes were told.
    pub(crate) fn control(&self, task_type: Option<&str>, control: Control) -> usize {
        let mut told = 0;
        for (index, group) in self.workers.iter().enumerate() {
            if task_type.is_some_and(|t| t != group.task_type) {
                continue;
            }
            {
                let mut desired = lock(&group.desired);
                match control {
                    Control::Pause => desired.paused = true,
                    Control::Resume => desired.paused = false,
                    Control::Concurrency { concurrency } => desired.concurrency = concurrency,
                    Control::Drain | Control::StopNow => {}
                }
            }
            for slot in self.slots.iter().filter(|s| s.worker == index) {
                told += usize::from(slot.tell(control));
            }
        }
        told
    }
}

impl Slot {
    /// Sends `control` to the running child; false when there is none (or it is gone).
    fn tell(&self, control: Control) -> bool {
        let mut state = lock(&self.state);
        match state.control.as_mut() {
            Some(stream) => wire::send(stream, &control).is_ok(),
            None => false,
        }
    }
}

/// A running child, as only the supervisor thread holds it.
#[derive(Debug)]
struct Running {
    child: Child,
    reader: JoinHandle<()>,
    started: Instant,
}

/// The supervisor thread's own state for every slot.
#[derive(Debug)]
pub(crate) struct Supervisor {
    shared: Arc<Supervision>,
    running: Vec<Option<Running>>,
    policies: Vec<RestartPolicy>,
    poster: ExitPoster,
    command: Option<ProcessCommand>,
}

impl Supervisor {
    /// A supervisor of `shared`'s slots, posting through `poster`, running `command` for each
    /// child (default: this executable with this process's arguments). Starts no child yet.
    pub(crate) fn new(
        shared: Arc<Supervision>,
        poster: ExitPoster,
        command: Option<ProcessCommand>,
    ) -> Self {
        let policies = shared
            .slots
            .iter()
            .map(|slot| RestartPolicy::new(&shared.workers[slot.worker].settings))
            .collect();
        Self {
            running: shared.slots.iter().map(|_| None).collect(),
            policies,
            shared,
            poster,
            command,
        }
    }

    /// Starts every child.
    pub(crate) fn start_all(&mut self) {
        for at in 0..self.running.len() {
            self.spawn(at);
        }
    }

    /// Supervises until `stop.requested`, then drains the children within `grace`.
    pub(crate) fn run(mut self, stop: &Stop, grace: Duration) -> ShutdownReport {
        while !stop.requested.is_cancelled() {
            for at in 0..self.running.len() {
                self.supervise(at);
            }
            thread::sleep(SUPERVISE_EVERY);
        }
        self.stop_all(grace, &stop.now)
    }

    /// Notices a child's exit, and restarts one whose delay is over.
    fn supervise(&mut self, at: usize) {
        if let Some(running) = &mut self.running[at] {
            let cause = match running.child.try_wait() {
                Ok(None) => return,
                Ok(Some(status)) => exit::describe(status),
                Err(err) => format!("lost track of it ({err})"),
            };
            self.exited(at, &cause, true);
        }
        let due = lock(&self.shared.slots[at].state)
            .restart_at
            .is_some_and(|when| when <= Instant::now());
        if due {
            lock(&self.shared.slots[at].state).restarts += 1;
            self.spawn(at);
        }
    }

    /// Starts (or restarts) slot `at`'s child, tells it the desired state; on failure,
    /// schedules another try.
    fn spawn(&mut self, at: usize) {
        let slot = Arc::clone(&self.shared.slots[at]);
        let group = &self.shared.workers[slot.worker];
        let desired = *lock(&group.desired);
        let spawned = spawn_child(slot.worker, desired, &group.settings, self.command.as_ref())
            .and_then(|(child, stream)| {
                let reader = stream.try_clone()?;
                Ok((child, stream, reader))
            });
        let (child, stream, reader) = match spawned {
            Ok(spawned) => spawned,
            Err(err) => {
                tracing::error!(task_type = %group.task_type, error = %err, "cannot start a worker process");
                let wait = self.policies[at].after_exit(Duration::ZERO);
                lock(&slot.state).restart_at = Some(Instant::now() + wait);
                return;
            }
        };
        let generation = {
            let mut state = lock(&slot.state);
            state.generation += 1;
            state.pid = Some(child.id());
            state.control = Some(stream);
            state.restart_at = None;
            state.held.clear();
            state.report = None;
            state.generation
        };
        tracing::info!(task_type = %group.task_type, process = slot.ordinal, pid = child.id(), "worker process started");
        let shared = Arc::clone(&self.shared);
        let read = move || read_reports(&shared, &slot, generation, reader);
        match thread::Builder::new()
            .name("baton-child-reports".into())
            .spawn(read)
        {
            Ok(reader) => {
                self.running[at] = Some(Running {
                    child,
                    reader,
                    started: Instant::now(),
                });
            }
            Err(err) => {
                // Without its reports the child cannot be accounted for: stop it, retry later.
                tracing::error!(error = %err, "cannot start a worker process's reader thread");
                let mut child = child;
                let _ = child.kill();
                let _ = child.wait();
                let mut state = lock(&self.shared.slots[at].state);
                state.pid = None;
                state.control = None;
                state.restart_at =
                    Some(Instant::now() + self.policies[at].after_exit(Duration::ZERO));
            }
        }
    }

    /// Slot `at`'s child exited by `cause`: posts what it held, and (while the host runs)
    /// counts the exit against its tasks and schedules the restart. Returns whether it left
    /// nothing behind.
    fn exited(&mut self, at: usize, cause: &str, host_running: bool) -> bool {
        let Some(running) = self.running[at].take() else {
            return true;
        };
        let until = Instant::now() + LAST_WORDS;
        while !running.reader.is_finished() && Instant::now() < until {
            thread::sleep(Duration::from_millis(5));
        }
        let slot = &self.shared.slots[at];
        if !running.reader.is_finished()
            && let Some(stream) = &lock(&slot.state).control
        {
            // Something else holds the child's end (a process it started that inherited its
            // stdin): end the reader rather than leave it waiting.
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
        let group = &self.shared.workers[slot.worker];
        let (held, report, pid) = {
            let mut state = lock(&slot.state);
            state.generation += 1;
            state.control = None;
            state.last_exit = Some(cause.to_owned());
            let held = std::mem::take(&mut state.held);
            (held, state.report.take(), state.pid.take())
        };
        if let Some((status, _)) = &report {
            let left = counters_only(figures_of(status));
            let mut exited = lock(&group.exited);
            for (sum, value) in exited.iter_mut().zip(left) {
                *sum = sum.saturating_add(value);
            }
        }
        let limit = group.settings.process_crash_limit;
        let retry = RetryPolicy::new(&group.settings);
        let (mut failed, mut poison) = (0u64, 0u64);
        // One exit counts once per (workflow, reference), however many of its tasks were held.
        let mut counted: HashMap<(String, String), u32> = HashMap::new();
        for ById(task) in held {
            let exits = if host_running {
                let key = (task.workflow.clone(), task.reference.clone());
                *counted
                    .entry(key)
                    .or_insert_with(|| lock(&self.shared.ledger).exited(&task))
            } else {
                0
            };
            let result = exit::result_for(&task, cause, exits, limit);
            poison += u64::from(exits >= limit);
            failed += 1;
            self.poster.post(&group.task_type, result, retry);
        }
        let mut state = lock(&slot.state);
        state.tasks_failed_on_exit += failed;
        state.poison_tasks += poison;
        if !host_running {
            if failed > 0 || !cause.starts_with("exit code 0") {
                tracing::warn!(task_type = %group.task_type, pid, cause, failed, "worker process ended badly during shutdown; the tasks it held were posted FAILED");
            }
            return failed == 0 && cause == "exit code 0";
        }
        let policy = &mut self.policies[at];
        let wait = policy.after_exit(running.started.elapsed());
        state.exits_in_a_row = policy.short_runs();
        state.crash_loop = policy.crash_loop();
        state.restart_at = Some(Instant::now() + wait);
        if state.crash_loop {
            tracing::error!(
                task_type = %group.task_type,
                process = slot.ordinal,
                pid,
                cause,
                exits_in_a_row = state.exits_in_a_row,
                tasks_failed = failed,
                poison_tasks = poison,
                restart_in = ?wait,
                "worker process is crash-looping"
            );
        } else {
            tracing::warn!(
                task_type = %group.task_type,
                process = slot.ordinal,
                pid,
                cause,
                tasks_failed = failed,
                poison_tasks = poison,
                restart_in = ?wait,
                "worker process exited; the tasks it held were posted FAILED; restarting"
            );
        }
        false
    }

    /// Tells every child to drain, waits up to `grace` plus a margin (telling them to stop at
    /// once if `now` is cancelled) and kills the ones still running; posts what any held.
    fn stop_all(
        mut self,
        grace: Duration,
        now: &tokio_util::sync::CancellationToken,
    ) -> ShutdownReport {
        for slot in &self.shared.slots {
            slot.tell(Control::Drain);
            lock(&slot.state).restart_at = None;
        }
        let deadline = Instant::now() + grace + EXIT_MARGIN;
        let mut clean = true;
        let mut hurried = false;
        let mut workers = Vec::new();
        loop {
            if now.is_cancelled() && !hurried {
                hurried = true;
                for slot in &self.shared.slots {
                    slot.tell(Control::StopNow);
                }
            }
            let late = Instant::now() >= deadline;
            let mut left = 0;
            for at in 0..self.running.len() {
                let Some(running) = &mut self.running[at] else {
                    continue;
                };
                let cause = match running.child.try_wait() {
                    Ok(Some(status)) => exit::describe(status),
                    Ok(None) if !late => {
                        left += 1;
                        continue;
                    }
                    Ok(None) => {
                        let _ = running.child.kill();
                        let _ = running.child.wait();
                        "killed: it outlived the shutdown grace period".to_owned()
                    }
                    Err(err) => format!("lost track of it ({err})"),
                };
                if let Some((status, _)) = &lock(&self.shared.slots[at].state).report {
                    workers.push(status.clone());
                }
                clean &= self.exited(at, &cause, false);
            }
            if left == 0 {
                break;
            }
            thread::sleep(SUPERVISE_EVERY);
        }
        self.poster.finish(EXIT_MARGIN);
        ShutdownReport { clean, workers }
    }
}

/// Starts a child running worker `index`, linked by a socket pair on its stdin, in a process
/// group of its own (so a terminal's signals reach only the host, which passes them on). What
/// the worker was told since the host started (pause, concurrency) is passed in the
/// environment, so the child starts that way rather than catching up after its first poll.
fn spawn_child(
    index: usize,
    desired: Desired,
    settings: &WorkerSettings,
    program: Option<&ProcessCommand>,
) -> std::io::Result<(Child, UnixStream)> {
    let (ours, theirs) = UnixStream::pair()?;
    let mut command = match program {
        Some(program) => {
            let mut command = Command::new(&program.program);
            command.args(&program.args);
            command
        }
        None => {
            let mut command = Command::new(std::env::current_exe()?);
            command.args(std::env::args_os().skip(1));
            command
        }
    };
    command
        .env(CHILD_ENV, index.to_string())
        .stdin(Stdio::from(OwnedFd::from(theirs)))
        .process_group(0);
    if desired.paused != settings.paused {
        command.env(PAUSED_ENV, if desired.paused { "true" } else { "false" });
    }
    if desired.concurrency != settings.concurrency {
        command.env(CONCURRENCY_ENV, desired.concurrency.to_string());
    }
    Ok((command.spawn()?, ours))
}

/// Reads one child's reports into its slot until it goes away.
fn read_reports(shared: &Supervision, slot: &Slot, generation: u64, stream: UnixStream) {
    let mut input = BufReader::with_capacity(READ_BUFFER, stream);
    let mut line = Vec::new();
    let mut since_rest = 0;
    loop {
        if input.buffer().is_empty() {
            if since_rest < REST_BELOW {
                thread::sleep(READ_REST);
            }
            since_rest = 0;
        }
        since_rest += 1;
        let report = match wire::receive::<Report>(&mut input, &mut line) {
            Ok(Some(report)) => report,
            Ok(None) => return,
            Err(err) => {
                tracing::warn!(error = %err, "unreadable report from a worker process");
                if err.kind() == std::io::ErrorKind::InvalidData {
                    continue;
                }
                return;
            }
        };
        let mut state = lock(&slot.state);
        if state.generation != generation {
            return;
        }
        match report {
            Report::Tasks { started, ended } => {
                for task in started {
                    state.held.replace(ById(task));
                }
                let ended: Vec<HeldTask> = ended
                    .iter()
                    .filter_map(|id| state.held.take(id.as_str()).map(|held| held.0))
                    .collect();
                drop(state);
                let mut ledger = lock(&shared.ledger);
                if !ledger.is_empty() {
                    for task in ended {
                        ledger.ended(task);
                    }
                }
            }
            Report::Status { status } => state.report = Some((*status, Instant::now())),
        }
    }
}
