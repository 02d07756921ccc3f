//! Posts the results of tasks whose worker process exited, from the parent, on a thread and
//! runtime of its own, retried by the worker's retry rule (`update_retry_*`).

use std::thread;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::actors::{Attempts, RetryPolicy};
use crate::client::{ConductorClient, ErrorChain};
use crate::host::HostError;
use crate::model::TaskResult;

/// A result to post for a task type's worker.
#[derive(Debug)]
struct Job {
    task_type: String,
    result: TaskResult,
    retry: RetryPolicy,
}

/// The thread that posts them.
#[derive(Debug)]
pub(crate) struct ExitPoster {
    jobs: Option<mpsc::UnboundedSender<Job>>,
    /// Cancelled to give up the posts still retrying (the host stops).
    hurry: CancellationToken,
    done: std::sync::mpsc::Receiver<()>,
}

impl ExitPoster {
    /// Starts the thread, posting through `client`.
    pub(crate) fn start(client: ConductorClient) -> Result<Self, HostError> {
        let (jobs, mut queue) = mpsc::unbounded_channel::<Job>();
        let (done_tx, done) = std::sync::mpsc::channel();
        let hurry = CancellationToken::new();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(HostError::Runtime)?;
        let stop = hurry.clone();
        thread::Builder::new()
            .name("baton-exit-posts".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let mut posts = JoinSet::new();
                    loop {
                        tokio::select! {
                            job = queue.recv() => match job {
                                Some(job) => {
                                    posts.spawn(post(client.clone(), job, stop.clone()));
                                }
                                None => break,
                            },
                            Some(_) = posts.join_next(), if !posts.is_empty() => {}
                        }
                    }
                    while posts.join_next().await.is_some() {}
                });
                let _ = done_tx.send(());
            })
            .map_err(HostError::thread("baton-exit-posts"))?;
        Ok(Self {
            jobs: Some(jobs),
            hurry,
            done,
        })
    }

    /// Posts `result` for the worker of `task_type`, retried by `retry`.
    pub(crate) fn post(&self, task_type: &str, result: TaskResult, retry: RetryPolicy) {
        let job = Job {
            task_type: task_type.to_owned(),
            result,
            retry,
        };
        let Some(jobs) = &self.jobs else {
            return give_up(&job, "the poster stopped");
        };
        if let Err(err) = jobs.send(job) {
            give_up(&err.0, "the poster stopped");
        }
    }

    /// Waits up to `within` for the posts in hand; the ones still retrying then are given up.
    pub(crate) fn finish(mut self, within: Duration) {
        self.jobs = None;
        if self.done.recv_timeout(within).is_err() {
            self.hurry.cancel();
            let _ = self.done.recv_timeout(Duration::from_secs(1));
        }
    }
}

async fn post(client: ConductorClient, job: Job, hurry: CancellationToken) {
    // A result the process delivered just before it died (its last report lost) is not
    // failed after the fact: a task the server has finished (or does not know) is left alone.
    // When the server cannot tell, the post goes ahead: it is a no-op for a finished task.
    let known = tokio::select! {
        status = client.task_status(&job.result.task_id) => status.ok(),
        () = hurry.cancelled() => None,
    };
    if let Some(status) = known
        && status.is_none_or(|status| status.is_terminal())
    {
        tracing::debug!(task_id = %job.result.task_id, ?status, "task already ended; not failed");
        return;
    }
    let first = Instant::now();
    let mut made = 0u32;
    loop {
        made = made.saturating_add(1);
        let outcome = tokio::select! {
            outcome = client.update(&job.result) => outcome,
            () = hurry.cancelled() => {
                give_up(&job, "the host stopped");
                return;
            }
        };
        let err = match outcome {
            Ok(()) => return,
            Err(err) => err,
        };
        let attempts = Attempts {
            made,
            first,
            lease_ends: None,
        };
        let error = ErrorChain(&err).to_string();
        match job.retry.after_failure(attempts, Instant::now(), err) {
            Ok(delay) => {
                tracing::warn!(
                    task_type = %job.task_type,
                    task_id = %job.result.task_id,
                    error,
                    retry_in = ?delay,
                    "posting the result of a task whose worker process exited failed"
                );
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = hurry.cancelled() => {}
                }
            }
            Err(reason) => {
                let last = reason.last_error().map(|err| ErrorChain(err).to_string());
                give_up(&job, &last.unwrap_or_else(|| reason.to_string()));
                return;
            }
        }
    }
}

fn give_up(job: &Job, why: &str) {
    tracing::error!(
        task_type = %job.task_type,
        task_id = %job.result.task_id,
        workflow_id = %job.result.workflow_instance_id,
        reason = why,
        "could not post the result of a task whose worker process exited; the server will time the task out"
    );
}
