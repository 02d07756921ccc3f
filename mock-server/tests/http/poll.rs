use std::collections::HashSet;
use std::time::{Duration, Instant};

use baton_mock::{EnqueueRequest, MockServer};
use hyper::StatusCode;

use crate::common::{Fixture, eventually};

#[tokio::test]
async fn single_poll_on_an_empty_queue_waits_about_100ms_then_204() {
    let f = Fixture::start().await;
    let started = Instant::now();
    let answer = f.client.get(&f.api("/tasks/poll/nothing?workerid=w")).await;
    let waited = started.elapsed();
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    assert!(answer.body.is_empty());
    assert!(
        waited >= Duration::from_millis(95),
        "answered after {waited:?}"
    );
    assert!(
        waited < Duration::from_millis(600),
        "answered after {waited:?}"
    );
}

#[tokio::test]
async fn single_poll_hands_out_one_in_progress_task() {
    let f = Fixture::start().await;
    let enqueued = f.enqueue("encode", 2);
    let task = f
        .client
        .get(&f.api("/tasks/poll/encode?workerid=w1"))
        .await
        .task();
    assert_eq!(task.task_id, enqueued.first_task_id);
    assert_eq!(task.workflow_id(), enqueued.workflow_instance_id);
    assert_eq!(task.status, Some(baton_model::TaskStatus::InProgress));
    assert_eq!(task.worker_id.as_deref(), Some("w1"));
    assert_eq!(task.poll_count, 1);
    assert!(task.start_time > 0);
    assert_eq!(f.mock.core().queue_size("encode", None), 1);
}

#[tokio::test]
async fn batch_poll_holds_until_the_timeout_then_answers_an_empty_list() {
    let f = Fixture::start().await;
    let started = Instant::now();
    let answer = f
        .client
        .get(&f.api("/tasks/poll/batch/nothing?count=3&timeout=400"))
        .await;
    let waited = started.elapsed();
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.text(), "[]");
    assert!(
        waited >= Duration::from_millis(390),
        "answered after {waited:?}"
    );
    assert!(
        waited < Duration::from_millis(1500),
        "answered after {waited:?}"
    );
}

#[tokio::test]
async fn batch_poll_returns_as_soon_as_count_tasks_are_there() {
    // Waiting polls re-check only every 30 s here: only the push's wake-up can complete the
    // batch before the 5 s timeout.
    let f = Fixture::with(MockServer::builder().long_poll_recheck(Duration::from_secs(30))).await;
    f.enqueue("encode", 1);
    let poll = {
        let client = f.client.clone();
        let url = f.api("/tasks/poll/batch/encode?count=3&timeout=5000&workerid=tester");
        tokio::spawn(async move { client.get(&url).await.tasks() })
    };
    // The poll took the first task and waits for two more: push them now.
    let mock = &f.mock;
    let waiting = eventually(Duration::from_secs(5), async || mock.waiting_polls() == 1).await;
    assert!(waiting, "the poll never started waiting");
    let pushed = Instant::now();
    f.mock.enqueue(EnqueueRequest::new("encode", 2));
    let tasks = poll.await.unwrap();
    let waited = pushed.elapsed();
    assert_eq!(tasks.len(), 3);
    assert!(
        waited < Duration::from_secs(2),
        "answered {waited:?} after the push"
    );
}

#[tokio::test]
async fn batch_poll_returns_what_it_has_at_the_timeout() {
    let f = Fixture::start().await;
    f.enqueue("encode", 2);
    let started = Instant::now();
    let tasks = f.batch("encode", 5, 300, "").await;
    assert_eq!(tasks.len(), 2);
    assert!(started.elapsed() >= Duration::from_millis(290));
}

#[tokio::test]
async fn batch_poll_timeout_above_5000_is_400() {
    let f = Fixture::start().await;
    let answer = f
        .client
        .get(&f.api("/tasks/poll/batch/x?count=1&timeout=5001"))
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer.json()["message"],
        "Long Poll Timeout value cannot be more than 5 seconds"
    );
    let ok = f
        .client
        .get(&f.api("/tasks/poll/batch/x?count=1&timeout=0"))
        .await;
    assert_eq!(ok.status, StatusCode::OK);
}

#[tokio::test]
async fn an_empty_domain_is_its_own_queue() {
    let f = Fixture::start().await;
    let plain = f.mock.enqueue(EnqueueRequest::new("encode", 1));
    let empty = f.mock.enqueue(EnqueueRequest::new("encode", 1).domain(""));
    let gpu = f
        .mock
        .enqueue(EnqueueRequest::new("encode", 1).domain("gpu"));
    let from_empty = f.batch("encode", 5, 0, "&domain=").await;
    assert_eq!(from_empty.len(), 1);
    assert_eq!(from_empty[0].task_id, empty.first_task_id);
    assert_eq!(from_empty[0].domain.as_deref(), Some(""));
    let from_gpu = f.batch("encode", 5, 0, "&domain=gpu").await;
    assert_eq!(from_gpu[0].task_id, gpu.first_task_id);
    let from_none = f.batch("encode", 5, 0, "").await;
    assert_eq!(from_none.len(), 1);
    assert_eq!(from_none[0].task_id, plain.first_task_id);
    let queues = f.client.get(&f.api("/tasks/queue/all")).await.json();
    assert_eq!(
        queues,
        serde_json::json!({":encode": 0, "encode": 0, "gpu:encode": 0})
    );
}

#[tokio::test]
async fn due_tasks_leave_by_priority_then_due_time_then_age() {
    let f = Fixture::start().await;
    let low = f.mock.enqueue(EnqueueRequest::new("t", 2));
    let high = f.mock.enqueue(EnqueueRequest::new("t", 1).priority(5));
    let delayed_top = f.mock.enqueue(
        EnqueueRequest::new("t", 1)
            .priority(9)
            .start_delay(Duration::from_millis(400)),
    );
    let order: Vec<String> = f
        .batch("t", 10, 0, "")
        .await
        .into_iter()
        .map(|t| t.task_id)
        .collect();
    let low_ids: Vec<String> = low.task_ids().collect();
    assert_eq!(
        order,
        vec![
            high.first_task_id.clone(),
            low_ids[0].clone(),
            low_ids[1].clone()
        ]
    );
    // The delayed task is not handed out before it is due, then it is, without a new push.
    let started = Instant::now();
    let later = f.batch("t", 1, 3000, "").await;
    assert_eq!(later[0].task_id, delayed_top.first_task_id);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(250), "due after {waited:?}");
    assert!(waited < Duration::from_millis(1500), "due after {waited:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_task_is_handed_to_two_pollers() {
    const TASKS: u64 = 5000;
    const POLLERS: usize = 32;
    let f = Fixture::start().await;
    let mut pollers = Vec::new();
    for worker in 0..POLLERS {
        let client = f.client.clone();
        let url = f.api(&format!(
            "/tasks/poll/batch/load?count=7&timeout=300&workerid=w{worker}"
        ));
        pollers.push(tokio::spawn(async move {
            let mut got = Vec::new();
            let mut empty_in_a_row = 0;
            while empty_in_a_row < 2 {
                let tasks = client.get(&url).await.tasks();
                empty_in_a_row = if tasks.is_empty() {
                    empty_in_a_row + 1
                } else {
                    0
                };
                got.extend(tasks.into_iter().map(|t| t.task_id));
            }
            got
        }));
    }
    // Feed the queue while the polls wait, in chunks, so wake-ups race with each other.
    for _ in 0..10 {
        f.enqueue("load", TASKS / 10);
        tokio::task::yield_now().await;
    }
    let mut seen = HashSet::new();
    let mut total = 0;
    for poller in pollers {
        for id in poller.await.unwrap() {
            total += 1;
            assert!(seen.insert(id.clone()), "task {id} handed out twice");
        }
    }
    assert_eq!(total, TASKS as usize);
    let ledger = f.mock.ledger();
    assert_eq!(ledger.handed_out, TASKS);
    assert_eq!(ledger.in_flight, TASKS);
}

#[tokio::test]
async fn poll_data_is_recorded_after_every_poll_including_empty_ones() {
    let f = Fixture::start().await;
    f.client
        .get(&f.api("/tasks/poll/encode?workerid=w1&domain=gpu"))
        .await;
    f.batch("encode", 1, 0, "").await;
    let data = f
        .client
        .get(&f.api("/tasks/queue/polldata?taskType=encode"))
        .await
        .json();
    let rows = data.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{data}");
    let gpu = rows.iter().find(|r| r["domain"] == "gpu").unwrap();
    assert_eq!(gpu["queueName"], "encode");
    assert_eq!(gpu["workerId"], "w1");
    assert!(gpu["lastPollTime"].as_i64().unwrap() > 0);
    let plain = rows.iter().find(|r| r.get("domain").is_none()).unwrap();
    assert_eq!(plain["workerId"], "tester");
    let all = f
        .client
        .get(&f.api("/tasks/queue/polldata/all"))
        .await
        .json();
    assert_eq!(all.as_array().unwrap().len(), 2);
}
