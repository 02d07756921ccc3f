//! [`Recovery`]: the news that the server answers again, shared by every client of a host.
//!
//! A failed call (no answer, a broken connection, a 5xx or 429) marks the server as failing;
//! the first call of any kind that gets a real answer afterwards ends that, and wakes every
//! poller and result retry waiting out a backoff, so a host is back at full rate as soon as
//! the server is, not when its longest backoff ends.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

/// Whether the server was failing, and a way to wait for it to answer again.
#[derive(Debug, Default)]
pub(crate) struct Recovery {
    /// Set by a failed call, cleared by the next answer.
    failing: AtomicBool,
    /// Bumped on every recovery, so a waiter can tell it missed one.
    recoveries: AtomicU64,
    notify: Notify,
}

impl Recovery {
    /// Notes a call that got no usable answer.
    pub(crate) fn failed(&self) {
        if !self.failing.load(Ordering::Relaxed) {
            self.failing.store(true, Ordering::Relaxed);
        }
    }

    /// Notes a call the server answered: after failures, wakes every waiter.
    pub(crate) fn answered(&self) {
        // One relaxed load on the hot path; the swap only after failures.
        if self.failing.load(Ordering::Relaxed) && self.failing.swap(false, Ordering::AcqRel) {
            self.recoveries.fetch_add(1, Ordering::AcqRel);
            self.notify.notify_waiters();
        }
    }

    /// A mark to wait from: take it when a call fails, before deciding to wait.
    pub(crate) fn mark(&self) -> u64 {
        self.recoveries.load(Ordering::Acquire)
    }

    /// Waits up to `delay`; returns early (with `true`) when the server has answered since
    /// `mark` was taken.
    pub(crate) async fn wait(&self, mark: u64, delay: Duration) -> bool {
        let notified = self.notify.notified();
        tokio::pin!(notified);
        // Registered before the check, so a recovery between the two is not missed.
        notified.as_mut().enable();
        if self.recoveries.load(Ordering::Acquire) != mark {
            return true;
        }
        tokio::select! {
            () = notified => true,
            () = tokio::time::sleep(delay) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_answer_after_failures_wakes_waiters_at_once() {
        let recovery = std::sync::Arc::new(Recovery::default());
        recovery.failed();
        let mark = recovery.mark();
        let waiter = tokio::spawn({
            let recovery = std::sync::Arc::clone(&recovery);
            async move { recovery.wait(mark, Duration::from_secs(60)).await }
        });
        tokio::task::yield_now().await;
        recovery.answered();
        assert!(waiter.await.unwrap(), "woken by the recovery");
        // A recovery before the wait started is not missed.
        recovery.failed();
        recovery.answered();
        assert!(recovery.wait(mark, Duration::from_secs(60)).await);
    }

    #[tokio::test]
    async fn without_failures_answers_wake_nobody() {
        let recovery = Recovery::default();
        recovery.answered();
        let mark = recovery.mark();
        assert!(!recovery.wait(mark, Duration::from_millis(5)).await);
    }
}
