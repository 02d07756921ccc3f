//! What a worker process's exit means for the tasks it held: the cause, in words, and the
//! poison-task rule.
//!
//! Every task a process held when it exited is posted FAILED at once, with the cause in its
//! reason ("worker process exited: signal 6 (SIGABRT)"), so the server retries it now rather
//! than after its response timeout. A task that was held at `process_crash_limit` exits in a
//! row is posted FAILED_WITH_TERMINAL_ERROR instead: a poison task never takes a worker down
//! for good. Exits are counted per workflow and task reference name, because a server retry
//! is a new task with a new id; a task whose execution ends normally starts its count over, so
//! a task that merely shared a dying process once is not taken for a poison task later.

use std::collections::{HashMap, VecDeque};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use crate::actors::HeldTask;
use crate::model::{TaskResult, TaskResultStatus};

/// The most (workflow, reference) pairs whose exits are remembered; the oldest go first.
const REMEMBERED: usize = 10_000;

/// How a worker process ended, in words: "exit code 3", "signal 6 (SIGABRT)", "signal 11
/// (SIGSEGV, core dumped)".
pub(crate) fn describe(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit code {code}");
    }
    match status.signal() {
        Some(signal) => {
            let name = signal_name(signal).unwrap_or("unknown signal");
            let core = if status.core_dumped() {
                ", core dumped"
            } else {
                ""
            };
            format!("signal {signal} ({name}{core})")
        }
        None => status.to_string(),
    }
}

/// The name of a Linux signal.
fn signal_name(signal: i32) -> Option<&'static str> {
    const NAMES: [&str; 31] = [
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    let index = usize::try_from(signal).ok()?.checked_sub(1)?;
    NAMES.get(index).copied()
}

/// How many exits in a row each (workflow, reference) pair was held at.
#[derive(Debug, Default)]
pub(crate) struct CrashLedger {
    exits: HashMap<(String, String), u32>,
    /// Insertion order, to forget the oldest pairs first.
    order: VecDeque<(String, String)>,
}

impl CrashLedger {
    /// Whether no task is being counted (most of the time: then ends need no lookup).
    pub(crate) fn is_empty(&self) -> bool {
        self.exits.is_empty()
    }

    /// `task` was held at an exit: its exits in a row, this one included.
    pub(crate) fn exited(&mut self, task: &HeldTask) -> u32 {
        let key = (task.workflow.clone(), task.reference.clone());
        if let Some(count) = self.exits.get_mut(&key) {
            *count = count.saturating_add(1);
            return *count;
        }
        if self.order.len() >= REMEMBERED
            && let Some(oldest) = self.order.pop_front()
        {
            self.exits.remove(&oldest);
        }
        self.order.push_back(key.clone());
        self.exits.insert(key, 1);
        1
    }

    /// `task`'s execution ended without an exit: its count starts over.
    pub(crate) fn ended(&mut self, task: HeldTask) {
        let key = (task.workflow, task.reference);
        if self.exits.remove(&key).is_some() {
            self.order.retain(|k| *k != key);
        }
    }
}

/// The result posted for `task`, held by a worker process that ended by `cause` (described),
/// `exits` times in a row; terminal from `limit` exits on.
pub(crate) fn result_for(task: &HeldTask, cause: &str, exits: u32, limit: u32) -> TaskResult {
    let (status, reason) = if exits >= limit {
        (
            TaskResultStatus::FailedWithTerminalError,
            format!(
                "worker process exited: {cause}; the task was in flight at {exits} exits of its \
                 worker process in a row (process_crash_limit {limit}), so it is not retried"
            ),
        )
    } else {
        (
            TaskResultStatus::Failed,
            format!("worker process exited: {cause}"),
        )
    };
    let mut result = TaskResult::new(task.id.clone(), task.workflow.clone(), status);
    result.reason_for_incompletion = Some(reason);
    result
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    fn held(id: &str, workflow: &str, reference: &str) -> HeldTask {
        HeldTask {
            id: id.to_owned(),
            workflow: workflow.to_owned(),
            reference: reference.to_owned(),
        }
    }

    #[test]
    fn exits_are_described_with_the_signal_name() {
        let status = |script: &str| Command::new("sh").args(["-c", script]).status().unwrap();
        assert_eq!(describe(status("exit 3")), "exit code 3");
        assert!(describe(status("kill -ABRT $$")).starts_with("signal 6 (SIGABRT"));
        assert_eq!(describe(status("kill -KILL $$")), "signal 9 (SIGKILL)");
        assert_eq!(signal_name(0), None);
        assert_eq!(signal_name(64), None);
    }

    #[test]
    fn a_task_held_at_the_limit_of_exits_in_a_row_is_terminal() {
        let mut ledger = CrashLedger::default();
        let retry = |id: &str| held(id, "wf", "poison");
        assert_eq!(ledger.exited(&retry("t1")), 1);
        assert_eq!(ledger.exited(&retry("t2")), 2, "a retry is a new task id");
        let third = ledger.exited(&retry("t3"));
        let result = result_for(&retry("t3"), "signal 6 (SIGABRT)", third, 3);
        assert_eq!(
            result.status,
            Some(TaskResultStatus::FailedWithTerminalError)
        );
        let reason = result.reason_for_incompletion.unwrap();
        assert!(
            reason.starts_with("worker process exited: signal 6 (SIGABRT)"),
            "{reason}"
        );

        let once = result_for(&held("x", "wf", "other"), "exit code 1", 1, 3);
        assert_eq!(once.status, Some(TaskResultStatus::Failed));
        assert_eq!(
            once.reason_for_incompletion.as_deref(),
            Some("worker process exited: exit code 1")
        );
    }

    #[test]
    fn a_normal_end_starts_the_count_over() {
        let mut ledger = CrashLedger::default();
        let bystander = held("t1", "wf", "innocent");
        assert_eq!(ledger.exited(&bystander), 1);
        ledger.ended(bystander.clone());
        assert!(ledger.is_empty());
        assert_eq!(ledger.exited(&bystander), 1);
    }

    #[test]
    fn the_ledger_forgets_the_oldest_pairs_beyond_its_size() {
        let mut ledger = CrashLedger::default();
        for n in 0..=REMEMBERED {
            ledger.exited(&held("t", &format!("wf{n}"), "r"));
        }
        assert_eq!(ledger.exits.len(), REMEMBERED);
        assert_eq!(
            ledger.exited(&held("t", "wf0", "r")),
            1,
            "wf0 was forgotten"
        );
    }
}
