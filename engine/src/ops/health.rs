//! The health rule: when a worker counts as stuck, so that `/health` answers 503 and a liveness
//! probe restarts the process.
//!
//! A worker is stuck when its pipeline has failed; when every one of its slots is lost capacity
//! (blocking executions that ran past `execution_timeout` and never returned); or when it is
//! not paused, has a free slot, and has not started a poll round for its poll deadline plus its
//! longest poll backoff plus 5 s; or, in a worker process, when it has not reported for
//! 10 s. Failed polls count as rounds: a Conductor that cannot be
//! reached keeps the worker healthy (restarting would not help) and shows in `/status`.

use std::time::Duration;

use crate::actors::Pipeline;
use crate::config::WorkerSettings;
use crate::host::WorkerStatus;

/// Slack beyond the longest wait a healthy poller can have between two rounds.
const SLACK: Duration = Duration::from_secs(5);
/// How long a worker process may go without reporting (it reports every half second).
const SILENT_LIMIT: Duration = Duration::from_secs(10);

/// The longest a healthy poller of a worker with `settings` goes between two rounds: its poll
/// deadline (long-poll timeout plus `margin`) plus its longest pause (after a failed poll, or
/// an empty one).
pub(crate) fn longest_gap(
    settings: &WorkerSettings,
    poll_error_backoff_max: Duration,
    margin: Duration,
) -> Duration {
    settings.poll_timeout + margin + poll_error_backoff_max.max(settings.polling_interval)
}

/// What the rule looks at, read from one worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Vitals {
    pub(crate) paused: bool,
    pub(crate) free_slots: usize,
    pub(crate) since_last_round: Duration,
    /// The longest a healthy poller goes between rounds (before [`SLACK`]).
    pub(crate) longest_gap: Duration,
    pub(crate) failure: Option<String>,
    pub(crate) lost_capacity: usize,
    pub(crate) concurrency: usize,
    /// How old the figures are (a worker process's last report; zero in this process).
    pub(crate) age: Duration,
    /// Which worker process, for one of a process-placed host.
    pub(crate) process: Option<String>,
}

impl Vitals {
    /// The vitals of the worker behind `pipeline`, now.
    pub(crate) fn of(pipeline: &Pipeline) -> Self {
        let gap = longest_gap(
            &pipeline.settings,
            pipeline.poll_error_backoff_max,
            pipeline.poll_deadline_margin,
        );
        Self::of_status(&WorkerStatus::of(pipeline), gap, Duration::ZERO)
    }

    /// The vitals in a worker's `status`, reported `age` ago (by a worker process), for a
    /// worker whose healthy poller goes at most `longest_gap` between rounds.
    pub(crate) fn of_status(status: &WorkerStatus, longest_gap: Duration, age: Duration) -> Self {
        Self {
            paused: status.paused,
            free_slots: status.slots_free,
            since_last_round: Duration::from_millis(status.last_poll_round_ms_ago) + age,
            longest_gap,
            failure: status.failure.clone(),
            lost_capacity: status.lost_capacity,
            concurrency: status.concurrency,
            age,
            process: None,
        }
    }

    /// Why the worker is stuck, or `None` when it is healthy.
    pub(crate) fn stuck(&self) -> Option<String> {
        let reason = self.stuck_worker()?;
        Some(match &self.process {
            Some(process) => format!("{process}: {reason}"),
            None => reason,
        })
    }

    fn stuck_worker(&self) -> Option<String> {
        if self.age > SILENT_LIMIT {
            return Some(format!(
                "its worker process has not reported for {:.1} s",
                self.age.as_secs_f64()
            ));
        }
        if let Some(failure) = &self.failure {
            return Some(format!("its pipeline failed: {failure}"));
        }
        if self.concurrency > 0 && self.lost_capacity >= self.concurrency {
            return Some(format!(
                "all {} slots are held by blocking executions that ran past execution_timeout",
                self.concurrency
            ));
        }
        let limit = self.longest_gap + SLACK;
        if !self.paused && self.free_slots > 0 && self.since_last_round > limit {
            return Some(format!(
                "no poll round for {:.1} s with {} free slots (limit {:.1} s)",
                self.since_last_round.as_secs_f64(),
                self.free_slots,
                limit.as_secs_f64()
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy() -> Vitals {
        Vitals {
            paused: false,
            free_slots: 1,
            since_last_round: Duration::from_secs(1),
            longest_gap: Duration::from_millis(3100),
            failure: None,
            lost_capacity: 0,
            concurrency: 4,
            age: Duration::ZERO,
            process: None,
        }
    }

    #[test]
    fn a_worker_process_that_stops_reporting_is_stuck_and_named() {
        let silent = Vitals {
            age: Duration::from_secs(11),
            paused: true,
            process: Some("process 1 (pid 42)".into()),
            ..healthy()
        };
        let reason = silent.stuck().unwrap();
        assert_eq!(
            reason,
            "process 1 (pid 42): its worker process has not reported for 11.0 s"
        );
    }

    #[test]
    fn a_poller_that_stops_starting_rounds_is_stuck_unless_paused_or_full() {
        assert_eq!(healthy().stuck(), None);
        let silent = Vitals {
            since_last_round: Duration::from_secs(9),
            ..healthy()
        };
        let reason = silent.stuck().unwrap();
        assert!(reason.contains("no poll round for 9.0 s"), "{reason}");
        assert_eq!(
            Vitals {
                paused: true,
                ..silent.clone()
            }
            .stuck(),
            None
        );
        assert_eq!(
            Vitals {
                free_slots: 0,
                ..silent.clone()
            }
            .stuck(),
            None,
            "every slot busy: the poller waits for one"
        );
        let within = Vitals {
            since_last_round: Duration::from_millis(8000),
            ..healthy()
        };
        assert_eq!(within.stuck(), None, "3.1 s + 5 s of slack");
    }

    #[test]
    fn failed_pipelines_and_lost_capacity_are_stuck() {
        let failed = Vitals {
            failure: Some("the updater stopped".into()),
            ..healthy()
        };
        assert!(failed.stuck().unwrap().contains("the updater stopped"));
        let lost = Vitals {
            lost_capacity: 4,
            free_slots: 0,
            ..healthy()
        };
        assert!(lost.stuck().unwrap().contains("all 4 slots"));
        let some_lost = Vitals {
            lost_capacity: 3,
            ..healthy()
        };
        assert_eq!(some_lost.stuck(), None);
    }
}
