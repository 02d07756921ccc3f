//! Backoff policies shared by the poller and the updater.
//!
//! Two different things back off: an *empty* queue (adaptive: 1 ms doubling up to the worker's
//! polling interval, with no hidden cap, so intervals above 1 s are honoured) and *errors*
//! (exponential with full jitter, so many workers do not retry in lock-step).

use std::time::Duration;

/// The delay before the next poll after `empty_polls` consecutive empty polls: 1 ms, 2 ms, 4 ms,
/// ... up to `polling_interval`. The long poll itself already waited on the server, so the
/// first retries are quick, and an idle worker settles at `polling_interval`.
pub(crate) fn empty_queue_delay(empty_polls: u32, polling_interval: Duration) -> Duration {
    if empty_polls == 0 {
        return Duration::ZERO;
    }
    let doubling = Duration::from_millis(1u64 << (empty_polls - 1).min(40));
    doubling.min(polling_interval)
}

/// Exponential backoff with jitter: attempt `n` (0-based) waits a random time in
/// `[base·2ⁿ / 2, base·2ⁿ]`, capped at `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ErrorBackoff {
    /// The first delay.
    pub(crate) base: Duration,
    /// The longest delay.
    pub(crate) max: Duration,
}

impl ErrorBackoff {
    /// The delay before retry number `attempt` (0 = the first retry).
    pub(crate) fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        let ceiling = self.base.saturating_mul(factor).min(self.max);
        let half = ceiling / 2;
        let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
        half + Duration::from_millis(fastrand::u64(0..=jitter_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_queue_backoff_doubles_up_to_the_interval() {
        let interval = Duration::from_millis(100);
        assert_eq!(empty_queue_delay(0, interval), Duration::ZERO);
        assert_eq!(empty_queue_delay(1, interval), Duration::from_millis(1));
        assert_eq!(empty_queue_delay(4, interval), Duration::from_millis(8));
        assert_eq!(empty_queue_delay(30, interval), interval);
    }

    #[test]
    fn intervals_above_one_second_are_honoured() {
        let interval = Duration::from_secs(5);
        assert_eq!(empty_queue_delay(64, interval), interval);
        assert_eq!(empty_queue_delay(13, interval), Duration::from_millis(4096));
    }

    #[test]
    fn error_backoff_grows_with_jitter_and_a_cap() {
        let backoff = ErrorBackoff {
            base: Duration::from_millis(100),
            max: Duration::from_secs(2),
        };
        for _ in 0..100 {
            let first = backoff.delay(0);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = backoff.delay(2);
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
            assert!(backoff.delay(40) <= Duration::from_secs(2));
        }
    }
}
