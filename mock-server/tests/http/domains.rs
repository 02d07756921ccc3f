use std::time::{Duration, Instant};

use baton_mock::MockServer;
use serde_json::{Value, json};

use crate::common::{Fixture, eventually};

/// A mock whose active-domain window is short, with a one-task workflow `w` of type `encode`.
async fn fixture(window: Duration) -> Fixture {
    let f = Fixture::with(MockServer::builder().active_domain_window(window)).await;
    f.register_workflow(
        &json!({"name": "w", "tasks": [{"name": "encode", "taskReferenceName": "e"}]}),
    )
    .await;
    f
}

/// Starts `w` with `task_to_domain`; returns the domain its task was scheduled to.
async fn scheduled_domain(f: &Fixture, task_to_domain: Value) -> Option<String> {
    let request = json!({"name": "w", "taskToDomain": task_to_domain});
    let id = f
        .client
        .post_json(&f.api("/workflow"), &request)
        .await
        .text();
    let wf = f.workflow(&id).await;
    assert_eq!(wf["taskToDomain"], task_to_domain);
    wf["tasks"][0]["domain"].as_str().map(str::to_owned)
}

/// A poll of `encode` in `domain` that finds nothing: it only records poll data.
async fn poll_in(f: &Fixture, domain: &str) {
    let tasks = f.batch("encode", 1, 0, &format!("&domain={domain}")).await;
    assert!(tasks.is_empty());
}

#[tokio::test]
async fn with_no_active_domain_the_last_entry_wins() {
    let f = fixture(Duration::from_secs(10)).await;
    assert_eq!(
        scheduled_domain(&f, json!({"encode": "gpu,cpu"}))
            .await
            .as_deref(),
        Some("cpu")
    );
    assert_eq!(
        scheduled_domain(&f, json!({"encode": "gpu,NO_DOMAIN"})).await,
        None
    );
    assert_eq!(scheduled_domain(&f, json!({"other": "gpu"})).await, None);
    assert_eq!(scheduled_domain(&f, json!({})).await, None);
    // A specific key beats "*".
    assert_eq!(
        scheduled_domain(&f, json!({"*": "star", "encode": "own"}))
            .await
            .as_deref(),
        Some("own")
    );
    assert_eq!(
        scheduled_domain(&f, json!({"*": "star"})).await.as_deref(),
        Some("star")
    );
}

#[tokio::test]
async fn the_first_recently_polled_domain_wins_and_polls_never_fall_back() {
    let f = fixture(Duration::from_secs(10)).await;
    poll_in(&f, "cpu").await;
    poll_in(&f, "gpu").await;
    // Both are active: the first in the list wins, NO_DOMAIN entries are skipped.
    assert_eq!(
        scheduled_domain(&f, json!({"encode": "NO_DOMAIN,gpu,cpu"}))
            .await
            .as_deref(),
        Some("gpu")
    );
    assert_eq!(
        scheduled_domain(&f, json!({"*": "tpu,cpu"}))
            .await
            .as_deref(),
        Some("cpu")
    );
    // The gpu task sits in gpu:encode only.
    assert!(f.batch("encode", 5, 0, "").await.is_empty());
    assert!(f.batch("encode", 5, 0, "&domain=").await.is_empty());
    let sizes = f.client.get(&f.api("/tasks/queue/all")).await.json();
    assert_eq!(
        (sizes["gpu:encode"].as_i64(), sizes["cpu:encode"].as_i64()),
        (Some(1), Some(1))
    );
    let task = f.take("encode", "&domain=gpu").await;
    assert_eq!(task.domain.as_deref(), Some("gpu"));
    assert!(f.batch("encode", 5, 0, "&domain=gpu").await.is_empty());
}

#[tokio::test]
async fn a_domain_stops_counting_once_its_last_poll_is_older_than_the_window() {
    let window = Duration::from_millis(300);
    let f = fixture(window).await;
    poll_in(&f, "gpu").await;
    let polled = Instant::now();
    let domains = json!({"encode": "gpu,cpu"});
    assert_eq!(
        scheduled_domain(&f, domains.clone()).await.as_deref(),
        Some("gpu")
    );
    // Keep starting workflows until the choice moves to the last entry (bounded wait).
    let moved = eventually(Duration::from_secs(5), async || {
        let domain = scheduled_domain(&f, domains.clone()).await;
        if domain.as_deref() == Some("cpu") {
            return true;
        }
        assert_eq!(domain.as_deref(), Some("gpu"));
        false
    })
    .await;
    assert!(moved, "gpu never went inactive");
    assert!(polled.elapsed() >= window - Duration::from_millis(5));
    // With NO_DOMAIN last, an inactive list means the plain queue.
    assert_eq!(
        scheduled_domain(&f, json!({"encode": "gpu,NO_DOMAIN"})).await,
        None
    );
}
