//! The health rule: when a worker counts as stuck, so that `/health` answers 503 and a liveness
//! probe restarts the process.
//!
//! A worker is stuck when its pipeline has failed; when every one of its slots is lost capacity
//! (blocking executions that ran past `execution_timeout` and never returned); or when it is
//! not paused, has a free slot, and has not started a poll round for its poll deadline plus its
//! longest poll backoff plus 5 s. Failed polls count as rounds: a Conductor that cannot be
//! reached keeps the worker healthy (restarting would not help) and shows in `/status`.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::actors::Pipeline;

/// Slack beyond the longest wait a healthy poller can have between two rounds.
const SLACK: Duration = Duration::from_secs(5);

/// What the rule looks at, read from one pipeline.
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
}

impl Vitals {
    /// The vitals of the worker behind `pipeline`, now.
    pub(crate) fn of(pipeline: &Pipeline) -> Self {
        let settings = &pipeline.settings;
        let longest_backoff = pipeline
            .poll_error_backoff_max
            .max(settings.polling_interval);
        Self {
            paused: pipeline.paused.load(Ordering::Relaxed),
            free_slots: pipeline.capacity.slots.available_permits(),
            since_last_round: pipeline.since_last_poll_round(),
            longest_gap: settings.poll_timeout + pipeline.poll_deadline_margin + longest_backoff,
            failure: pipeline.failure().map(str::to_owned),
            lost_capacity: pipeline.capacity.lost.load(Ordering::Relaxed),
            concurrency: pipeline.concurrency(),
        }
    }

    /// Why the worker is stuck, or `None` when it is healthy.
    pub(crate) fn stuck(&self) -> Option<String> {
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
        }
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
