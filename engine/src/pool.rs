//! [`BlockingPool`]: the threads that run one blocking worker's tasks.
//!
//! Each blocking worker gets `concurrency` threads of its own, so a slow worker cannot starve
//! another, and the arbiters (which run the actors) never block. Jobs travel over a crossbeam
//! channel; the execution permits already bound the jobs in flight, so it needs no bound of
//! its own and a send never waits. When the worker's concurrency grows live, the pool grows
//! with it (threads are not taken away on a shrink: they idle).

use std::sync::{Mutex, PoisonError};
use std::thread;

use crossbeam_channel::{Receiver, Sender};

type Job = Box<dyn FnOnce() + Send>;

/// The threads running jobs for one worker.
#[derive(Debug)]
pub(crate) struct BlockingPool {
    jobs: Sender<Job>,
    queue: Receiver<Job>,
    name: String,
    /// Threads started so far.
    threads: Mutex<usize>,
}

impl BlockingPool {
    /// Starts `threads` threads named `baton-<name>-<n>`.
    pub(crate) fn start(name: &str, threads: usize) -> std::io::Result<Self> {
        let (jobs, queue) = crossbeam_channel::unbounded::<Job>();
        let pool = Self {
            jobs,
            queue,
            name: name.to_owned(),
            threads: Mutex::new(0),
        };
        pool.grow_to(threads.max(1))?;
        Ok(pool)
    }

    /// Starts threads until there are at least `threads`.
    pub(crate) fn grow_to(&self, threads: usize) -> std::io::Result<()> {
        let mut started = self.threads.lock().unwrap_or_else(PoisonError::into_inner);
        while *started < threads {
            let queue = self.queue.clone();
            thread::Builder::new()
                .name(format!("baton-{}-{}", self.name, *started))
                .spawn(move || {
                    // Ends when the pool (the only sender) is dropped and the queue is empty.
                    for job in queue {
                        job();
                    }
                })?;
            *started += 1;
        }
        Ok(())
    }

    /// Runs `job` on one of the pool's threads.
    pub(crate) fn submit(&self, job: impl FnOnce() + Send + 'static) {
        if self.jobs.send(Box::new(job)).is_err() {
            tracing::error!("blocking pool has no threads left; job dropped");
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
