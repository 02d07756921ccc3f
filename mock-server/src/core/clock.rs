//! The core's clock: monotonic microseconds since the core started, and how a reading maps to
//! the wall-clock epoch milliseconds the wire types carry.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Monotonic microseconds since start, plus the wall-clock epoch of that start.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    start: Instant,
    epoch_ms: i64,
}

impl Clock {
    pub(crate) fn new() -> Self {
        let epoch_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Self {
            start: Instant::now(),
            epoch_ms,
        }
    }

    /// Microseconds since start (at least 1, so 0 can mean "never").
    pub(crate) fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_micros())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    /// Epoch milliseconds of a clock reading.
    pub(crate) fn epoch_ms(&self, micros: u64) -> i64 {
        self.epoch_ms + i64::try_from(micros / 1000).unwrap_or(i64::MAX)
    }

    /// Epoch milliseconds now.
    pub(crate) fn now_ms(&self) -> i64 {
        self.epoch_ms(self.now())
    }

    /// Epoch milliseconds of a clock reading, 0 for 0 ("never").
    pub(crate) fn epoch_ms_or_zero(&self, micros: u64) -> i64 {
        if micros == 0 {
            0
        } else {
            self.epoch_ms(micros)
        }
    }
}
