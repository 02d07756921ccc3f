//! The retry rule for result posts: when to try again, and when to give up.
//!
//! A failed post is retried with exponential backoff and jitter (`update_retry_backoff`,
//! doubling, capped at `update_retry_backoff_max`) until the first of: an error retrying
//! cannot fix; the end of the task's lease (the server has timed the task out); the
//! `update_retry_budget`, counted from the first post; `update_retries`, when set.

use std::time::{Duration, Instant};

use crate::actors::delivery::GiveUpReason;
use crate::backoff::ErrorBackoff;
use crate::client::ClientError;
use crate::config::WorkerSettings;

/// One worker's retry rule.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    backoff: ErrorBackoff,
    max_retries: Option<u32>,
    budget: Duration,
}

/// What is known about a failed result's posts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Attempts {
    /// Posts tried, the failed one included.
    pub(crate) made: u32,
    /// When the first post started.
    pub(crate) first: Instant,
    /// When the task's lease ends, if it has a response timeout.
    pub(crate) lease_ends: Option<Instant>,
}

impl RetryPolicy {
    /// The rule `settings` describe.
    pub(crate) fn new(settings: &WorkerSettings) -> Self {
        Self {
            backoff: ErrorBackoff {
                base: settings.update_retry_backoff,
                max: settings.update_retry_backoff_max,
            },
            max_retries: settings.update_retries,
            budget: settings.update_retry_budget,
        }
    }

    /// After a post failed with `err` at `now`: how long to wait before the next one, or why
    /// the result is given up. The wait never runs past the budget or the lease.
    pub(crate) fn after_failure(
        &self,
        attempts: Attempts,
        now: Instant,
        err: ClientError,
    ) -> Result<Duration, GiveUpReason> {
        if !err.is_retryable() {
            return Err(GiveUpReason::NotRetryable(err));
        }
        let made = attempts.made;
        if self.max_retries.is_some_and(|max| made > max) {
            return Err(GiveUpReason::RetriesExhausted {
                attempts: made,
                last: err,
            });
        }
        // An unrepresentable end (a budget beyond the clock's range) never comes.
        let budget_ends = attempts.first.checked_add(self.budget);
        let (ends, lease_first) = match (attempts.lease_ends, budget_ends) {
            (Some(lease), Some(budget)) => (Some(lease.min(budget)), lease <= budget),
            (Some(lease), None) => (Some(lease), true),
            (None, budget) => (budget, false),
        };
        if let Some(ends) = ends
            && now >= ends
        {
            return Err(if lease_first {
                GiveUpReason::LeaseEnded {
                    attempts: made,
                    last: err,
                }
            } else {
                GiveUpReason::BudgetSpent {
                    budget: self.budget,
                    attempts: made,
                    last: err,
                }
            });
        }
        let delay = self.backoff.delay(made.saturating_sub(1));
        Ok(ends.map_or(delay, |ends| delay.min(ends - now)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max_retries: Option<u32>) -> RetryPolicy {
        RetryPolicy {
            backoff: ErrorBackoff {
                base: Duration::from_millis(250),
                max: Duration::from_secs(5),
            },
            max_retries,
            budget: Duration::from_secs(300),
        }
    }

    fn unavailable() -> ClientError {
        ClientError::status(503, "/tasks", b"")
    }

    #[test]
    fn retries_back_off_up_to_the_cap_until_the_budget_ends() {
        let start = Instant::now();
        let attempts = |made| Attempts {
            made,
            first: start,
            lease_ends: None,
        };
        let first = policy(None).after_failure(attempts(1), start, unavailable());
        let first = first.unwrap();
        assert!(first >= Duration::from_millis(125) && first <= Duration::from_millis(250));
        let late = policy(None).after_failure(attempts(40), start, unavailable());
        assert!(late.unwrap() <= Duration::from_secs(5));
        // Close to the budget's end, the wait is cut to it; past it, the result is given up.
        let near = start + Duration::from_millis(299_900);
        let last = policy(None).after_failure(attempts(40), near, unavailable());
        assert!(last.unwrap() <= Duration::from_millis(100));
        let after = start + Duration::from_secs(300);
        let spent = policy(None).after_failure(attempts(41), after, unavailable());
        assert!(matches!(
            spent,
            Err(GiveUpReason::BudgetSpent { attempts: 41, .. })
        ));
    }

    #[test]
    fn the_lease_ends_retries_before_the_budget() {
        let start = Instant::now();
        let attempts = Attempts {
            made: 3,
            first: start,
            lease_ends: Some(start + Duration::from_secs(10)),
        };
        let wait = policy(None).after_failure(
            attempts,
            start + Duration::from_millis(9_950),
            unavailable(),
        );
        assert!(wait.unwrap() <= Duration::from_millis(50));
        let ended =
            policy(None).after_failure(attempts, start + Duration::from_secs(10), unavailable());
        assert!(matches!(
            ended,
            Err(GiveUpReason::LeaseEnded { attempts: 3, .. })
        ));
    }

    #[test]
    fn a_set_retry_count_and_unfixable_errors_end_retries() {
        let start = Instant::now();
        let attempts = |made| Attempts {
            made,
            first: start,
            lease_ends: None,
        };
        assert!(
            policy(Some(2))
                .after_failure(attempts(2), start, unavailable())
                .is_ok()
        );
        let exhausted = policy(Some(2)).after_failure(attempts(3), start, unavailable());
        assert!(matches!(
            exhausted,
            Err(GiveUpReason::RetriesExhausted { attempts: 3, .. })
        ));
        let refused = ClientError::status(
            404,
            "/tasks",
            br#"{"message":"No such task","retryable":false}"#,
        );
        let refused = policy(None).after_failure(attempts(1), start, refused);
        assert!(matches!(refused, Err(GiveUpReason::NotRetryable(_))));
    }
}
