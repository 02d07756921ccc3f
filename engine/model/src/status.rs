//! Task and task-result status enums with the server's terminal / successful / retriable table.

use serde::{Deserialize, Serialize};

/// The status of a [`Task`](crate::Task) on the server (`Task.Status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskStatus {
    /// Handed out to a worker and not yet finished.
    InProgress,
    /// Canceled, e.g. because its workflow was terminated.
    Canceled,
    /// Failed; may be retried as a new task.
    Failed,
    /// Failed in a way that must not be retried.
    FailedWithTerminalError,
    /// Finished successfully.
    Completed,
    /// Finished with errors (an optional task that failed); the workflow goes on.
    CompletedWithErrors,
    /// Queued and waiting to be polled.
    Scheduled,
    /// Not finished within its response timeout or timeout.
    TimedOut,
    /// Skipped by a workflow operator.
    Skipped,
}

impl TaskStatus {
    /// Whether the task has finished (no further updates change it).
    pub fn is_terminal(self) -> bool {
        !matches!(self, Self::InProgress | Self::Scheduled)
    }

    /// Whether the status counts as success for the workflow.
    pub fn is_successful(self) -> bool {
        matches!(
            self,
            Self::InProgress
                | Self::Completed
                | Self::CompletedWithErrors
                | Self::Scheduled
                | Self::Skipped
        )
    }

    /// Whether a task in this status may be retried.
    pub fn is_retriable(self) -> bool {
        !matches!(
            self,
            Self::Canceled | Self::FailedWithTerminalError | Self::Skipped
        )
    }

    /// The wire spelling, e.g. `"IN_PROGRESS"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "IN_PROGRESS",
            Self::Canceled => "CANCELED",
            Self::Failed => "FAILED",
            Self::FailedWithTerminalError => "FAILED_WITH_TERMINAL_ERROR",
            Self::Completed => "COMPLETED",
            Self::CompletedWithErrors => "COMPLETED_WITH_ERRORS",
            Self::Scheduled => "SCHEDULED",
            Self::TimedOut => "TIMED_OUT",
            Self::Skipped => "SKIPPED",
        }
    }
}

impl std::fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The status a worker reports in a [`TaskResult`](crate::TaskResult) (`TaskResult.Status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskResultStatus {
    /// Still working: the task is re-queued after `callbackAfterSeconds`.
    InProgress,
    /// Failed; the server retries it while retries remain.
    Failed,
    /// Failed; never retried.
    FailedWithTerminalError,
    /// Finished successfully.
    Completed,
    /// Canceled by the worker (accepted by current servers).
    Canceled,
}

impl TaskResultStatus {
    /// Whether this result finishes the task.
    pub fn is_terminal(self) -> bool {
        !matches!(self, Self::InProgress)
    }

    /// The task status this result moves the task to.
    pub fn to_task_status(self) -> TaskStatus {
        match self {
            Self::InProgress => TaskStatus::InProgress,
            Self::Failed => TaskStatus::Failed,
            Self::FailedWithTerminalError => TaskStatus::FailedWithTerminalError,
            Self::Completed => TaskStatus::Completed,
            Self::Canceled => TaskStatus::Canceled,
        }
    }

    /// The wire spelling, e.g. `"COMPLETED"`.
    pub fn as_str(self) -> &'static str {
        self.to_task_status().as_str()
    }
}

impl std::fmt::Display for TaskResultStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_table_matches_the_server() {
        use TaskStatus::*;
        // (status, terminal, successful, retriable) from Task.Status in the server.
        let table = [
            (InProgress, false, true, true),
            (Canceled, true, false, false),
            (Failed, true, false, true),
            (FailedWithTerminalError, true, false, false),
            (Completed, true, true, true),
            (CompletedWithErrors, true, true, true),
            (Scheduled, false, true, true),
            (TimedOut, true, false, true),
            (Skipped, true, true, false),
        ];
        for (status, terminal, successful, retriable) in table {
            assert_eq!(status.is_terminal(), terminal, "{status} terminal");
            assert_eq!(status.is_successful(), successful, "{status} successful");
            assert_eq!(status.is_retriable(), retriable, "{status} retriable");
        }
    }

    #[test]
    fn statuses_use_the_wire_spelling() {
        let json = serde_json::to_string(&TaskStatus::FailedWithTerminalError).unwrap();
        assert_eq!(json, "\"FAILED_WITH_TERMINAL_ERROR\"");
        let back: TaskResultStatus = serde_json::from_str("\"IN_PROGRESS\"").unwrap();
        assert_eq!(back, TaskResultStatus::InProgress);
        assert!(serde_json::from_str::<TaskResultStatus>("\"DONE\"").is_err());
    }
}
