use std::collections::HashSet;
use std::process::{Child, Command, Stdio};

use baton::model::TaskDef;
use baton_mock::{EnqueueRequest, Enqueued, MockServer};
use baton_tests::{HostProcess, mock, signal};

/// The process ids that ran the completed tasks of `enqueued`.
fn pids(mock: &MockServer, enqueued: &Enqueued) -> HashSet<u64> {
    enqueued
        .task_ids()
        .filter_map(|id| {
            mock.core()
                .task(&id)
                .unwrap()
                .output_data
                .get("pid")?
                .as_u64()
        })
        .collect()
}

async fn completed(mock: &MockServer, count: u64) {
    baton_tests::wait_for(&format!("{count} completed"), || async {
        mock.ledger().completed >= count
    })
    .await;
}

fn wait_output(probe: Child) -> std::process::Output {
    probe.wait_with_output().unwrap()
}

#[tokio::test]
async fn each_worker_runs_in_its_own_supervised_process() {
    let mock = mock().await;
    let a = mock.enqueue(EnqueueRequest::new("proc_a", 20));
    let b = mock.enqueue(EnqueueRequest::new("proc_b", 20));
    let probe = HostProcess::new(
        Command::new(env!("CARGO_BIN_EXE_process_probe"))
            .env("CONDUCTOR_SERVER_URL", mock.base_url())
            .env_remove("BATON_WORKER_PROCESS")
            .current_dir(std::env::temp_dir())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let parent = probe.id();
    completed(&mock, 40).await;

    let (a_pids, b_pids) = (pids(&mock, &a), pids(&mock, &b));
    assert_eq!(a_pids.len(), 1, "one process runs proc_a: {a_pids:?}");
    assert_eq!(b_pids.len(), 1, "one process runs proc_b: {b_pids:?}");
    assert_ne!(a_pids, b_pids);
    assert!(!a_pids.contains(&u64::from(parent)) && !b_pids.contains(&u64::from(parent)));

    // A worker process that dies is restarted, and its tasks carry on in the new one. Tasks
    // the server hands to the dead process's last long poll come back through the response
    // timeout, as on a real server.
    let dead = *a_pids.iter().next().unwrap();
    signal(dead as u32, "-KILL");
    let mut def = TaskDef::new("proc_a");
    def.response_timeout_seconds = 1;
    def.retry_delay_seconds = 0;
    let again = mock.enqueue(EnqueueRequest::new("proc_a", 10).task_def(def));
    completed(&mock, 50).await;
    let new_pids = pids(&mock, &again);
    assert_eq!(new_pids.len(), 1);
    assert!(
        !new_pids.contains(&dead),
        "proc_a was not restarted: {new_pids:?}"
    );

    // SIGTERM to the parent drains the children and exits cleanly.
    signal(parent, "-TERM");
    let output = tokio::task::spawn_blocking(move || wait_output(probe.into_inner()))
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("drained cleanly"));
    let ledger = mock.ledger();
    assert_eq!(
        (ledger.lost, ledger.duplicate_conflicting),
        (0, 0),
        "{ledger:?}"
    );
}
