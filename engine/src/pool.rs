//! [`BlockingPool`]: the threads that run one blocking worker's tasks.
//!
//! Each blocking worker gets `concurrency` threads of its own, so a slow worker cannot starve
//! another, and the arbiters (which run the actors) never block. Jobs travel over a bounded
//! crossbeam channel whose capacity equals the thread count: the execution permits already
//! bound the jobs in flight, so a send never waits.

use std::thread;

use crossbeam_channel::{Sender, TrySendError};

type Job = Box<dyn FnOnce() + Send>;

/// A fixed pool of threads running jobs for one worker.
#[derive(Debug)]
pub(crate) struct BlockingPool {
    jobs: Sender<Job>,
}

impl BlockingPool {
    /// Starts `threads` threads named `baton-<name>-<n>`.
    pub(crate) fn start(name: &str, threads: usize) -> std::io::Result<Self> {
        let threads = threads.max(1);
        let (jobs, queue) = crossbeam_channel::bounded::<Job>(threads);
        for index in 0..threads {
            let queue = queue.clone();
            thread::Builder::new()
                .name(format!("baton-{name}-{index}"))
                .spawn(move || {
                    // Ends when the pool (the only sender) is dropped and the queue is empty.
                    for job in queue {
                        job();
                    }
                })?;
        }
        Ok(Self { jobs })
    }

    /// Runs `job` on one of the pool's threads.
    pub(crate) fn submit(&self, job: impl FnOnce() + Send + 'static) {
        match self.jobs.try_send(Box::new(job)) {
            Ok(()) => {}
            // More jobs than permits would be a bug in the caller; wait rather than drop it.
            Err(TrySendError::Full(job)) => {
                tracing::warn!("blocking pool queue full; waiting for a thread");
                let _ = self.jobs.send(job);
            }
            Err(TrySendError::Disconnected(_)) => {
                tracing::error!("blocking pool has no threads left; job dropped");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn runs_jobs_concurrently_on_its_own_threads() {
        let pool = BlockingPool::start("test", 2).unwrap();
        let (tx, rx) = mpsc::channel();
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
        for _ in 0..2 {
            let tx = tx.clone();
            let barrier = barrier.clone();
            pool.submit(move || {
                // Both jobs must be running at once to pass the barrier.
                barrier.wait();
                let name = thread::current().name().unwrap_or_default().to_owned();
                tx.send(name).unwrap();
            });
        }
        for _ in 0..2 {
            let name = rx.recv_timeout(Duration::from_secs(10)).unwrap();
            assert!(name.starts_with("baton-test-"), "{name}");
        }
    }
}
