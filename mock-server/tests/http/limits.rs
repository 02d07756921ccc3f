use std::time::Duration;

use baton_mock::{EnqueueRequest, MockServer};
use baton_model::{JsonMap, Task, TaskDef, TaskResult};
use hyper::StatusCode;

use crate::common::{Fixture, eventually};

fn limited(concurrency: Option<i32>, per: Option<i32>, seconds: Option<i32>) -> TaskDef {
    let mut def = TaskDef::new("ignored");
    def.concurrent_exec_limit = concurrency;
    def.rate_limit_per_frequency = per;
    def.rate_limit_frequency_in_seconds = seconds;
    def
}

fn queued(f: &Fixture, task_type: &str) -> usize {
    f.mock.core().queue_size(task_type, None)
}

#[tokio::test]
async fn the_concurrency_limit_postpones_the_rest_until_a_slot_frees_up() {
    let f = Fixture::start().await;
    f.mock
        .enqueue(EnqueueRequest::new("enc", 5).task_def(limited(Some(2), None, None)));
    // A batch poll of 5 pops all five: two are handed out, three postponed (60 s).
    let first = f.batch("enc", 5, 0, "").await;
    assert_eq!(first.len(), 2);
    let ledger = f.mock.ledger();
    assert_eq!((ledger.handed_out, ledger.postponed), (2, 3));
    // Postponed tasks stay queued, but no poll sees them.
    assert_eq!(queued(&f, "enc"), 3);
    assert!(f.batch("enc", 5, 200, "").await.is_empty());
    // A terminal update releases the next postponed task at once (server v3.30.0).
    let done = TaskResult::completed(&first[0], JsonMap::new());
    assert_eq!(f.update(&done).await.status, StatusCode::OK);
    let next = f.batch("enc", 5, 0, "").await;
    assert_eq!(next.len(), 1, "one released task, the limit is full again");
    assert_eq!(f.mock.ledger().released, 1);
    // An IN_PROGRESS update frees the slot too, but releases nothing: the rest wait.
    let requeued = TaskResult::in_progress(&next[0], 0);
    assert_eq!(f.update(&requeued).await.status, StatusCode::OK);
    let again = f.batch("enc", 5, 0, "").await;
    assert_eq!(again.len(), 1);
    assert_eq!(
        again[0].task_id, next[0].task_id,
        "the re-queued task is due"
    );
    assert_eq!(f.mock.ledger().released, 1);
}

#[tokio::test]
async fn without_a_limit_nothing_is_postponed() {
    let f = Fixture::start().await;
    f.mock
        .enqueue(EnqueueRequest::new("free", 5).task_def(limited(Some(0), Some(0), None)));
    f.enqueue("plain", 5);
    assert_eq!(f.batch("free", 10, 0, "").await.len(), 5);
    assert_eq!(f.batch("plain", 10, 0, "").await.len(), 5);
    assert_eq!(f.mock.ledger().postponed, 0);
}

#[tokio::test]
async fn postponed_tasks_come_back_after_the_postpone_duration() {
    let f = Fixture::with(MockServer::builder().postpone(Duration::from_millis(300))).await;
    f.mock
        .enqueue(EnqueueRequest::new("enc", 2).task_def(limited(Some(1), None, None)));
    let started = std::time::Instant::now();
    assert_eq!(f.batch("enc", 2, 0, "").await.len(), 1);
    assert_eq!(f.mock.ledger().postponed, 1);
    assert!(f.batch("enc", 2, 0, "").await.is_empty());
    assert_eq!(
        f.mock.ledger().postponed,
        1,
        "a postponed task is not popped"
    );
    // After 300 ms it is due again; the limit is still full, so a poll postpones it again.
    let back = eventually(Duration::from_secs(5), async || {
        f.batch("enc", 2, 0, "").await.is_empty() && f.mock.ledger().postponed >= 2
    })
    .await;
    assert!(back, "the postponed task never became due again");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(f.mock.ledger().handed_out, 1);
}

/// Polls `task_type` until `n` tasks have been handed out (each poll asks for all of them).
async fn collect(f: &Fixture, task_type: &str, n: usize) -> Vec<Task> {
    let mut got = Vec::new();
    let done = eventually(Duration::from_secs(15), async || {
        got.extend(f.batch(task_type, n - got.len(), 100, "").await);
        got.len() >= n
    })
    .await;
    assert!(done, "only {} of {n} tasks handed out", got.len());
    got
}

#[tokio::test]
async fn the_rate_limit_hands_out_at_most_n_per_sliding_window() {
    let f = Fixture::with(MockServer::builder().postpone(Duration::from_millis(50))).await;
    f.mock
        .enqueue(EnqueueRequest::new("rated", 6).task_def(limited(None, Some(2), Some(1))));
    let first = f.batch("rated", 6, 0, "").await;
    assert_eq!(first.len(), 2);
    assert_eq!(f.mock.ledger().postponed, 4);
    let mut all = first;
    all.extend(collect(&f, "rated", 4).await);
    let mut starts: Vec<i64> = all.iter().map(|t| t.start_time).collect();
    starts.sort_unstable();
    // Any three hand-outs span at least the one-second window.
    for w in starts.windows(3) {
        assert!(
            w[2] - w[0] >= 1000,
            "3 hand-outs within a second: {starts:?}"
        );
    }
}

#[tokio::test]
async fn the_rate_window_defaults_to_one_second_and_counts_per_task_type() {
    let f = Fixture::with(MockServer::builder().postpone(Duration::from_millis(50))).await;
    for task_type in ["a", "b"] {
        f.mock
            .enqueue(EnqueueRequest::new(task_type, 3).task_def(limited(None, Some(1), None)));
    }
    assert_eq!(f.batch("a", 3, 0, "").await.len(), 1);
    assert_eq!(
        f.batch("b", 3, 0, "").await.len(),
        1,
        "b has its own window"
    );
    let started = std::time::Instant::now();
    collect(&f, "a", 1).await;
    assert!(
        started.elapsed() >= Duration::from_millis(800),
        "the second hand-out came {:?} after the first",
        started.elapsed()
    );
}

#[tokio::test]
async fn empty_batch_polls_answer_204_in_the_old_server_mode() {
    let old = Fixture::with(MockServer::builder().empty_batch_204(true)).await;
    let url = old.api("/tasks/poll/batch/none?count=5&timeout=0");
    let empty = old.client.get(&url).await;
    assert_eq!(empty.status, StatusCode::NO_CONTENT);
    assert!(empty.body.is_empty());
    old.enqueue("some", 1);
    let url = old.api("/tasks/poll/batch/some?count=5&timeout=0");
    assert_eq!(old.client.get(&url).await.tasks().len(), 1);
    let current = Fixture::start().await;
    let url = current.api("/tasks/poll/batch/none?count=5&timeout=0");
    let empty = current.client.get(&url).await;
    assert_eq!((empty.status, empty.text()), (StatusCode::OK, "[]".into()));
}
