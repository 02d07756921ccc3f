use std::time::Duration;

use baton_mock::EnqueueRequest;
use baton_model::{Task, TaskDef, TaskResult, TaskStatus, TimeoutPolicy};
use hyper::StatusCode;
use serde_json::json;

use crate::common::{Fixture, eventually};

/// A definition timing tasks out after 1 s under `policy`, with one retry at once.
fn timing_out(policy: TimeoutPolicy) -> TaskDef {
    let mut def = TaskDef::new("ignored");
    def.timeout_seconds = 1;
    def.response_timeout_seconds = 1;
    def.timeout_policy = policy;
    def.retry_count = 1;
    def.retry_delay_seconds = 0;
    def
}

async fn read_task(f: &Fixture, task_id: &str) -> Task {
    f.client
        .get(&f.api(&format!("/tasks/{task_id}")))
        .await
        .task()
}

/// Polls a task of `task_type` and re-queues it for a minute (IN_PROGRESS, callback 60 s), so
/// no response timeout applies: only `timeoutSeconds` can end it.
async fn start_and_park(f: &Fixture, task_type: &str) -> Task {
    let task = f.take(task_type, "").await;
    let parked = f.update(&TaskResult::in_progress(&task, 60)).await;
    assert_eq!(parked.status, StatusCode::OK);
    task
}

async fn await_status(f: &Fixture, task_id: &str, status: TaskStatus) -> Task {
    let mut last = None;
    let reached = eventually(Duration::from_secs(5), async || {
        let task = read_task(f, task_id).await;
        let done = task.status == Some(status);
        last = Some(task);
        done
    })
    .await;
    let last = last.expect("read at least once");
    assert!(reached, "task stayed {:?}", last.status);
    last
}

#[tokio::test]
async fn timeout_seconds_with_retry_times_the_task_out_and_retries_it() {
    let f = Fixture::start().await;
    f.mock
        .enqueue(EnqueueRequest::new("slow", 1).task_def(timing_out(TimeoutPolicy::Retry)));
    let task = start_and_park(&f, "slow").await;
    let timed_out = await_status(&f, &task.task_id, TaskStatus::TimedOut).await;
    let reason = timed_out.reason_for_incompletion.unwrap_or_default();
    assert!(
        reason.starts_with("Task timed out after 1 seconds. Timeout configured as 1 seconds. Timeout policy configured to RETRY"),
        "{reason}"
    );
    let retry = f.take("slow", "").await;
    assert_eq!(retry.retry_count, 1);
    assert_eq!(
        retry.retried_task_id.as_deref(),
        Some(task.task_id.as_str())
    );
    assert_eq!(f.mock.ledger().timed_out, 1);
    // A late update of the timed-out attempt is the server's 200 no-op.
    let late = f
        .update(&TaskResult::completed(&task, Default::default()))
        .await;
    assert_eq!(late.status, StatusCode::OK);
    assert_eq!(f.mock.ledger().late_updates, 1);
}

#[tokio::test]
async fn timeout_seconds_with_alert_only_just_counts_an_alert() {
    let f = Fixture::start().await;
    f.mock
        .enqueue(EnqueueRequest::new("slow", 1).task_def(timing_out(TimeoutPolicy::AlertOnly)));
    let task = start_and_park(&f, "slow").await;
    let alerted = eventually(Duration::from_secs(5), async || {
        f.mock.ledger().timeout_alerts >= 1
    })
    .await;
    assert!(alerted);
    let still = read_task(&f, &task.task_id).await;
    assert_eq!(still.status, Some(TaskStatus::Scheduled));
    assert_eq!(f.mock.ledger().timed_out, 0);
}

#[tokio::test]
async fn timeout_seconds_with_time_out_wf_times_the_workflow_out_without_retry() {
    let f = Fixture::start().await;
    let mut def = timing_out(TimeoutPolicy::TimeOutWf);
    def.retry_count = 3;
    let id = one_task_workflow(&f, "slow", def).await;
    let task = start_and_park(&f, "slow").await;
    let workflow = await_workflow_end(&f, &id).await;
    assert_eq!(workflow["status"], "TIMED_OUT", "{workflow}");
    let tasks = workflow["tasks"].as_array().cloned().unwrap_or_default();
    assert_eq!(tasks.len(), 1, "no retry under TIME_OUT_WF: {workflow}");
    assert_eq!(tasks[0]["status"], "TIMED_OUT");
    assert_eq!(tasks[0]["taskId"], task.task_id.as_str());
    let reason = workflow["reasonForIncompletion"].as_str().unwrap_or("");
    assert!(
        reason.starts_with("Task timed out after 1 seconds"),
        "{reason}"
    );
    assert!(f.batch("slow", 1, 0, "").await.is_empty());
}

#[tokio::test]
async fn poll_timeout_times_out_a_task_nobody_polls() {
    let f = Fixture::start().await;
    let mut def = TaskDef::new("ignored");
    def.poll_timeout_seconds = Some(1);
    def.timeout_policy = TimeoutPolicy::Retry;
    def.retry_count = 0;
    let enqueued = f
        .mock
        .enqueue(EnqueueRequest::new("unpolled", 1).task_def(def));
    let timed_out = await_status(&f, &enqueued.first_task_id, TaskStatus::TimedOut).await;
    let reason = timed_out.reason_for_incompletion.unwrap_or_default();
    assert!(
        reason.starts_with("Task poll timed out after 1 seconds. Poll timeout configured as 1 seconds. Timeout policy configured to RETRY"),
        "{reason}"
    );
    assert_eq!(f.mock.core().queue_size("unpolled", None), 0);
    assert!(f.batch("unpolled", 1, 0, "").await.is_empty());
}

#[tokio::test]
async fn a_polled_task_is_not_poll_timed_out() {
    let f = Fixture::start().await;
    let mut def = TaskDef::new("ignored");
    def.poll_timeout_seconds = Some(1);
    def.timeout_policy = TimeoutPolicy::Retry;
    def.retry_count = 0;
    let enqueued = f
        .mock
        .enqueue(EnqueueRequest::new("polled", 2).task_def(def));
    let task = f.take("polled", "").await;
    assert_eq!(task.task_id, enqueued.first_task_id);
    // Its unpolled twin, scheduled at the same moment, times out...
    await_status(&f, &enqueued.last_task_id, TaskStatus::TimedOut).await;
    // ... while the polled one runs on.
    let still = read_task(&f, &task.task_id).await;
    assert_eq!(still.status, Some(TaskStatus::InProgress));
    assert_eq!(f.mock.ledger().timed_out, 1);
}

/// Registers `def` as task type `name` and a one-task workflow `name` running it; starts it.
async fn one_task_workflow(f: &Fixture, name: &str, mut def: TaskDef) -> String {
    def.name = name.into();
    let registered = f
        .client
        .post_json(&f.api("/metadata/taskdefs"), &json!([def]))
        .await;
    assert_eq!(registered.status, StatusCode::OK, "{}", registered.text());
    f.register_workflow(&json!({
        "name": name, "version": 1,
        "tasks": [{"name": name, "taskReferenceName": "t"}]
    }))
    .await;
    f.start_workflow(name, "", &json!({})).await
}

/// A definition whose tasks have one second in all (`totalTimeoutSeconds`), and no more per
/// attempt.
fn one_second_budget() -> TaskDef {
    let mut def = TaskDef::new("ignored");
    def.total_timeout_seconds = 1;
    def.timeout_seconds = 1;
    def.response_timeout_seconds = 1;
    def
}

async fn await_workflow_end(f: &Fixture, id: &str) -> serde_json::Value {
    let mut workflow = json!(null);
    let ended = eventually(Duration::from_secs(8), async || {
        workflow = f.workflow(id).await;
        workflow["status"] != "RUNNING"
    })
    .await;
    assert!(ended, "{workflow}");
    workflow
}

#[tokio::test]
async fn total_timeout_ends_an_open_task_by_its_policy_counting_from_the_first_attempt() {
    let f = Fixture::start().await;
    let mut def = one_second_budget();
    def.timeout_policy = TimeoutPolicy::TimeOutWf;
    let id = one_task_workflow(&f, "budgeted", def).await;
    // Held and re-queued for a minute: nothing but a timeout can end it.
    let task = start_and_park(&f, "budgeted").await;
    let workflow = await_workflow_end(&f, &id).await;
    assert_eq!(workflow["status"], "TIMED_OUT", "{workflow}");
    let reason = workflow["reasonForIncompletion"].as_str().unwrap_or("");
    let expected = format!(
        "Task budgeted/{} exceeded total timeout of 1 seconds (elapsed ",
        task.task_id
    );
    assert!(reason.starts_with(&expected), "{reason}");
    assert!(
        reason.ends_with(
            "seconds across all attempts including retry delays). Timeout policy: TIME_OUT_WF"
        ),
        "{reason}"
    );
}

#[tokio::test]
async fn a_spent_total_timeout_stops_the_retries_of_a_failing_task() {
    let f = Fixture::start().await;
    let mut def = one_second_budget();
    def.retry_count = 100;
    // The second attempt comes a second after the first failed: the budget is spent by then.
    def.retry_delay_seconds = 1;
    // The sweeper only logs the spent budget of the open attempt: what ends the workflow is
    // the retry refused after the next failure.
    def.timeout_policy = TimeoutPolicy::AlertOnly;
    let id = one_task_workflow(&f, "flaky", def).await;
    // Fail attempt after attempt until the workflow ends.
    let mut attempts = 0;
    let started = std::time::Instant::now();
    let workflow = loop {
        let workflow = f.workflow(&id).await;
        if workflow["status"] != "RUNNING" {
            break workflow;
        }
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "still retrying: {workflow}"
        );
        if let Some(task) = f.batch("flaky", 1, 100, "").await.into_iter().next() {
            let failed = TaskResult::new(
                task.task_id.clone(),
                task.workflow_id().to_owned(),
                baton_model::TaskResultStatus::Failed,
            );
            assert_eq!(f.update(&failed).await.status, StatusCode::OK);
            attempts += 1;
        }
    };
    assert_eq!(
        attempts, 2,
        "the budget must stop the retries after the second attempt"
    );
    assert_eq!(workflow["status"], "FAILED", "{workflow}");
    let reason = workflow["reasonForIncompletion"].as_str().unwrap_or("");
    assert!(
        reason.contains("/flaky exceeded total timeout of 1 seconds (elapsed ")
            && reason
                .ends_with("seconds across all attempts). No further retries will be attempted."),
        "{reason}"
    );
}
