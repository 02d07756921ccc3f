//! How a result leaves a worker's pipeline: taken by the server, or given up through one path.
//!
//! A result is an [`Undelivered`] from the moment the worker returns it until the server takes
//! it. It can only leave by [`Undelivered::delivered`] or [`Undelivered::give_up`]; dropped
//! any other way (its actor panicked, the Updater is gone, the host stopped) it gives itself
//! up. Giving up is one path, [`Pipeline::give_up`]: an error log with the task and workflow
//! ids, the `results_given_up` counter, and the host's hook (a panic in the hook is caught and
//! logged). So no result is ever dropped without a trace.
//!
//! [`ActorWatch`] is the same idea for the actors themselves: an actor that goes away while
//! the host is not stopping (a panic in actor code) marks its pipeline failed, which stops
//! polling and shows in `status()`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use crate::actors::{Pipeline, Stats};
use crate::client::{ClientError, ErrorChain};
use crate::model::TaskResult;

/// Why a result was given up: passed to the host's `on_result_given_up` hook.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum GiveUpReason {
    /// The server refused the result with an answer retrying cannot fix (a 4xx such as 404
    /// "No such task"), or it could not be encoded.
    #[error("not retryable: {0}")]
    NotRetryable(ClientError),
    /// `update_retries` was set and that many retries failed.
    #[error("{attempts} posts failed (update_retries); last error: {last}")]
    RetriesExhausted {
        /// Posts tried.
        attempts: u32,
        /// The last post's error.
        last: ClientError,
    },
    /// Posts kept failing for `update_retry_budget`.
    #[error(
        "posts failed for {budget:?} (update_retry_budget) over {attempts} attempts; last error: {last}"
    )]
    BudgetSpent {
        /// The budget.
        budget: Duration,
        /// Posts tried.
        attempts: u32,
        /// The last post's error.
        last: ClientError,
    },
    /// The task's lease ended (its poll or last lease extension plus its
    /// `responseTimeoutSeconds`): the server has timed the task out, so posting is futile.
    #[error("the task's lease ended after {attempts} failed posts; last error: {last}")]
    LeaseEnded {
        /// Posts tried.
        attempts: u32,
        /// The last post's error.
        last: ClientError,
    },
    /// The worker's pipeline failed (an actor panicked) before the result was posted.
    #[error("the worker's pipeline failed before the result was posted: {0}")]
    PipelineFailed(String),
    /// The host stopped before the result was posted (its shutdown grace ran out).
    #[error("the host stopped before the result was posted")]
    HostStopped,
}

impl GiveUpReason {
    /// The error of the last post, when there was one.
    pub fn last_error(&self) -> Option<&ClientError> {
        match self {
            Self::NotRetryable(last)
            | Self::RetriesExhausted { last, .. }
            | Self::BudgetSpent { last, .. }
            | Self::LeaseEnded { last, .. } => Some(last),
            Self::PipelineFailed(_) | Self::HostStopped => None,
        }
    }
}

/// A result not yet taken by the server. Leaves only through [`delivered`](Self::delivered)
/// or [`give_up`](Self::give_up); dropped otherwise, it is given up.
#[derive(Debug)]
pub(crate) struct Undelivered {
    result: Option<TaskResult>,
    pipeline: Arc<Pipeline>,
}

impl Undelivered {
    /// `result` of the worker behind `pipeline`, to be delivered.
    pub(crate) fn new(result: TaskResult, pipeline: Arc<Pipeline>) -> Self {
        Self {
            result: Some(result),
            pipeline,
        }
    }

    /// The result.
    pub(crate) fn result(&self) -> &TaskResult {
        // Only `settle` takes it, and that consumes `self`.
        self.result.as_ref().unwrap_or_else(|| unreachable!())
    }

    /// The result, to be changed before it is posted (an oversize output's replacement).
    pub(crate) fn result_mut(&mut self) -> &mut TaskResult {
        self.result.as_mut().unwrap_or_else(|| unreachable!())
    }

    /// The server took it.
    pub(crate) fn delivered(mut self) {
        if let Some(result) = self.result.take()
            && let Some(journal) = &self.pipeline.journal
        {
            journal.ended(&result.task_id);
        }
        Stats::add(&self.pipeline.stats.results_posted, 1);
    }

    /// Gives it up: logged, counted, handed to the hook.
    pub(crate) fn give_up(mut self, reason: &GiveUpReason) {
        if let Some(result) = self.result.take() {
            self.pipeline.give_up(&result, reason);
        }
    }
}

impl Drop for Undelivered {
    fn drop(&mut self) {
        if let Some(result) = self.result.take() {
            let reason = match self.pipeline.failure() {
                Some(failure) => GiveUpReason::PipelineFailed(failure.to_owned()),
                None if self.pipeline.stop_polling.is_cancelled() => GiveUpReason::HostStopped,
                None => GiveUpReason::PipelineFailed(
                    "the result was dropped before it was posted".to_owned(),
                ),
            };
            self.pipeline.give_up(&result, &reason);
        }
    }
}

impl Pipeline {
    /// The one way a result is given up: an error log with its ids, the counter, the hook.
    pub(crate) fn give_up(&self, result: &TaskResult, reason: &GiveUpReason) {
        Stats::add(&self.stats.results_given_up, 1);
        if let Some(journal) = &self.journal {
            journal.ended(&result.task_id);
        }
        tracing::error!(
            task_type = %self.settings.task_type,
            task_id = %result.task_id,
            workflow_id = %result.workflow_instance_id,
            status = ?result.status,
            reason = %reason,
            last_error = reason.last_error().map(|err| ErrorChain(err).to_string()),
            "result given up; the server will time the task out"
        );
        let Some(hook) = &self.on_give_up else {
            return;
        };
        // A hook that panics while another panic unwinds would abort the process.
        if std::thread::panicking() {
            return;
        }
        if catch_unwind(AssertUnwindSafe(|| (hook.0)(result, reason))).is_err() {
            tracing::error!(
                task_type = %self.settings.task_type,
                task_id = %result.task_id,
                workflow_id = %result.workflow_instance_id,
                "the on_result_given_up hook panicked"
            );
        }
    }

    /// Marks the pipeline failed (the first reason stays): logged, polling stops, and
    /// `status()` shows it. Results still in hand are given up as their holders drop them.
    pub(crate) fn fail(&self, reason: String) {
        if self.failure.set(reason).is_ok() {
            tracing::error!(
                task_type = %self.settings.task_type,
                reason = self.failure().unwrap_or_default(),
                "worker pipeline failed; it stops polling"
            );
        }
        self.stop_polling.cancel();
    }

    /// Why the pipeline failed, if it did.
    pub(crate) fn failure(&self) -> Option<&str> {
        self.failure.get().map(String::as_str)
    }
}

/// Held by each actor: when the actor goes away without stopping (a panic in its code) while
/// the host is not stopping, its pipeline is marked failed.
#[derive(Debug)]
pub(crate) struct ActorWatch {
    pipeline: Arc<Pipeline>,
    actor: &'static str,
    stopped: bool,
}

impl ActorWatch {
    /// A watch over the `actor` of `pipeline`.
    pub(crate) fn new(pipeline: Arc<Pipeline>, actor: &'static str) -> Self {
        Self {
            pipeline,
            actor,
            stopped: false,
        }
    }

    /// The actor stopped the normal way.
    pub(crate) fn stopped(&mut self) {
        self.stopped = true;
    }
}

impl Drop for ActorWatch {
    fn drop(&mut self) {
        // Arbiters are stopped (dropping their actors) only after the host stops polling.
        if !self.stopped && !self.pipeline.stop_polling.is_cancelled() {
            self.pipeline.fail(format!(
                "the {} stopped unexpectedly (a panic in its code)",
                self.actor
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::actors::{GiveUpHook, HostShared};
    use crate::config::{ConfigSources, WorkerOptions};
    use crate::model::{Task, TaskResultStatus};

    type Seen = Arc<Mutex<Vec<String>>>;

    fn pipeline(seen: &Seen, panicking_hook: bool) -> Arc<Pipeline> {
        let settings = ConfigSources::new(Vec::<(String, String)>::new(), None)
            .unwrap()
            .resolve_worker("t", &WorkerOptions::default())
            .unwrap();
        let seen = Arc::clone(seen);
        let hook = move |result: &TaskResult, reason: &GiveUpReason| {
            seen.lock()
                .unwrap()
                .push(format!("{}: {reason}", result.task_id));
            assert!(!panicking_hook, "the hook panics");
        };
        let host = HostShared {
            on_give_up: Some(GiveUpHook(Arc::new(hook))),
            update_v2: true,
            poll_error_backoff_max: Duration::from_secs(2),
            poll_deadline_margin: Duration::from_secs(1),
            journal: None,
        };
        Arc::new(Pipeline::new(
            settings,
            CancellationToken::new(),
            &host,
            None,
        ))
    }

    fn result(id: &str) -> TaskResult {
        TaskResult::for_task(&Task::new("t", id, "wf"), TaskResultStatus::Completed)
    }

    #[test]
    fn a_dropped_result_gives_itself_up_with_the_pipelines_failure() {
        let seen = Seen::default();
        let pipeline = pipeline(&seen, false);
        drop(Undelivered::new(result("a"), Arc::clone(&pipeline)));
        pipeline.fail("the updater stopped".to_owned());
        drop(Undelivered::new(result("b"), Arc::clone(&pipeline)));
        Undelivered::new(result("c"), Arc::clone(&pipeline)).delivered();
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert!(
            seen[0].starts_with("a: the worker's pipeline failed"),
            "{seen:?}"
        );
        assert!(seen[1].ends_with("the updater stopped"), "{seen:?}");
        assert_eq!(Stats::get(&pipeline.stats.results_given_up), 2);
        assert_eq!(Stats::get(&pipeline.stats.results_posted), 1);
    }

    #[test]
    fn results_dropped_while_the_host_stops_are_reported_as_such() {
        let seen = Seen::default();
        let pipeline = pipeline(&seen, false);
        pipeline.stop_polling.cancel();
        drop(Undelivered::new(result("a"), Arc::clone(&pipeline)));
        assert_eq!(
            seen.lock().unwrap().as_slice(),
            ["a: the host stopped before the result was posted"]
        );
    }

    #[test]
    fn a_panicking_hook_is_caught_and_the_result_still_counted() {
        let seen = Seen::default();
        let pipeline = pipeline(&seen, true);
        Undelivered::new(result("a"), Arc::clone(&pipeline)).give_up(&GiveUpReason::HostStopped);
        assert_eq!(seen.lock().unwrap().len(), 1);
        assert_eq!(Stats::get(&pipeline.stats.results_given_up), 1);
    }

    #[test]
    fn an_actor_that_goes_away_unstopped_fails_its_pipeline() {
        let seen = Seen::default();
        let pipeline = pipeline(&seen, false);
        let mut stopped = ActorWatch::new(Arc::clone(&pipeline), "poller");
        stopped.stopped();
        drop(stopped);
        assert_eq!(pipeline.failure(), None);
        assert!(!pipeline.stop_polling.is_cancelled());

        drop(ActorWatch::new(Arc::clone(&pipeline), "updater"));
        assert_eq!(
            pipeline.failure(),
            Some("the updater stopped unexpectedly (a panic in its code)")
        );
        assert!(pipeline.stop_polling.is_cancelled(), "polling stops");
    }
}
