//! The restart rule for worker processes: how long to wait before starting one again, and when
//! its exits count as a crash loop.
//!
//! After an exit the process is restarted after the current delay, which starts at
//! `process_restart_delay` and doubles after each exit, up to `process_restart_delay_max`. A
//! process that ran for `process_healthy_after` before it exited starts the count over: its
//! delay goes back to the first one. Three exits in a row, each after a shorter run than that,
//! are a crash loop: reported in the status and logged, and still restarted only with the
//! growing delay, so a loop never spins.

use std::time::Duration;

use crate::config::WorkerSettings;

/// Exits in a row, each after a short run, that make a crash loop.
const CRASH_LOOP_EXITS: u32 = 3;

/// One process slot's restart rule and where it stands.
#[derive(Debug, Clone)]
pub(crate) struct RestartPolicy {
    first: Duration,
    max: Duration,
    healthy_after: Duration,
    /// The wait before the next restart.
    next: Duration,
    /// Exits in a row after a short run.
    short_runs: u32,
}

impl RestartPolicy {
    /// The rule `settings` describe.
    pub(crate) fn new(settings: &WorkerSettings) -> Self {
        Self::with(
            settings.process_restart_delay,
            settings.process_restart_delay_max,
            settings.process_healthy_after,
        )
    }

    fn with(first: Duration, max: Duration, healthy_after: Duration) -> Self {
        Self {
            first,
            max: max.max(first),
            healthy_after,
            next: first,
            short_runs: 0,
        }
    }

    /// A process that ran for `ran_for` exited: how long to wait before restarting it.
    pub(crate) fn after_exit(&mut self, ran_for: Duration) -> Duration {
        if ran_for >= self.healthy_after {
            self.next = self.first;
            self.short_runs = 0;
        } else {
            self.short_runs = self.short_runs.saturating_add(1);
        }
        let wait = self.next;
        self.next = (self.next.saturating_mul(2)).min(self.max);
        wait
    }

    /// Exits in a row after a short run.
    pub(crate) fn short_runs(&self) -> u32 {
        self.short_runs
    }

    /// Whether the process is in a crash loop.
    pub(crate) fn crash_loop(&self) -> bool {
        self.short_runs >= CRASH_LOOP_EXITS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn the_delay_doubles_to_its_cap_and_resets_after_a_healthy_run() {
        let mut rule = RestartPolicy::with(S, 5 * S, 60 * S);
        let waits: Vec<_> = (0..5).map(|_| rule.after_exit(S).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 5, 5]);
        assert!(rule.crash_loop());
        assert_eq!(rule.short_runs(), 5);
        assert_eq!(rule.after_exit(61 * S), S, "a healthy run starts over");
        assert!(!rule.crash_loop());
        assert_eq!(rule.after_exit(S), 2 * S);
    }

    #[test]
    fn three_short_runs_in_a_row_are_a_crash_loop() {
        let mut rule = RestartPolicy::with(S, 60 * S, 10 * S);
        rule.after_exit(S);
        rule.after_exit(S);
        assert!(!rule.crash_loop());
        rule.after_exit(S);
        assert!(rule.crash_loop());
    }

    #[test]
    fn a_cap_below_the_first_delay_is_the_first_delay() {
        let mut rule = RestartPolicy::with(4 * S, S, 10 * S);
        assert_eq!(rule.after_exit(S), 4 * S);
        assert_eq!(rule.after_exit(S), 4 * S);
    }
}
