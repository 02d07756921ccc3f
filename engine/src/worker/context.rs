//! [`TaskContext`]: what a running task can read about itself and the log lines it adds.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::model::{Task, TaskExecLog};

/// The running task's identity, plus a place to add execution logs.
///
/// Cheap to clone: clones share the same log buffer. Logs added here are posted with the
/// task's result (the server stores at most 10 per update; Baton sends them all and lets the
/// server apply its limit).
#[derive(Debug, Clone)]
pub struct TaskContext {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    task_id: String,
    workflow_instance_id: String,
    task_type: String,
    retry_count: i32,
    poll_count: i32,
    worker_id: Arc<str>,
    logs: Mutex<Vec<TaskExecLog>>,
}

impl TaskContext {
    /// The context for `task`, executed by `worker_id`.
    pub(crate) fn new(task: &Task, worker_id: Arc<str>) -> Self {
        Self {
            shared: Arc::new(Shared {
                task_id: task.task_id.clone(),
                workflow_instance_id: task.workflow_id().to_owned(),
                task_type: task.task_type.clone(),
                retry_count: task.retry_count,
                poll_count: task.poll_count,
                worker_id,
                logs: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The task's id.
    pub fn task_id(&self) -> &str {
        &self.shared.task_id
    }

    /// The id of the workflow the task belongs to.
    pub fn workflow_instance_id(&self) -> &str {
        &self.shared.workflow_instance_id
    }

    /// The task type.
    pub fn task_type(&self) -> &str {
        &self.shared.task_type
    }

    /// The attempt number: 0 for the first attempt, 1 for the first retry, ...
    pub fn retry_count(&self) -> i32 {
        self.shared.retry_count
    }

    /// How many times the server has handed this task out (more than 1 after IN_PROGRESS).
    pub fn poll_count(&self) -> i32 {
        self.shared.poll_count
    }

    /// The id this worker reports to the server.
    pub fn worker_id(&self) -> &str {
        &self.shared.worker_id
    }

    /// Adds an execution log line, stamped now; it is posted with the task's result.
    pub fn add_log(&self, line: impl Into<String>) {
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_millis() as i64;
        let log = TaskExecLog::new(line, self.shared.task_id.clone(), created);
        self.lock_logs().push(log);
    }

    /// Takes the log lines added so far.
    pub(crate) fn take_logs(&self) -> Vec<TaskExecLog> {
        std::mem::take(&mut *self.lock_logs())
    }

    fn lock_logs(&self) -> std::sync::MutexGuard<'_, Vec<TaskExecLog>> {
        // A worker that panicked while adding a log leaves the buffer usable.
        self.shared
            .logs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_are_shared_by_clones_and_taken_once() {
        let task = Task::new("t", "task-1", "wf-1");
        let ctx = TaskContext::new(&task, Arc::from("w"));
        ctx.clone().add_log("one");
        ctx.add_log("two");
        let logs = ctx.take_logs();
        assert_eq!(logs.len(), 2);
        assert_eq!(logs[0].log, "one");
        assert_eq!(logs[0].task_id.as_deref(), Some("task-1"));
        assert!(logs[0].created_time > 0);
        assert!(ctx.take_logs().is_empty());
    }
}
