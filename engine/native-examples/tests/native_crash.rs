//! The native workers (`native_workers`), process-placed, against an in-process baton-mock:
//! a task whose input makes the C++ code abort costs its worker one process, which the host
//! restarts, and ends FAILED with the signal in its reason; the other worker never stops
//! completing tasks.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::process::{Command, Stdio};

use baton::model::{TaskDef, TaskStatus};
use baton_mock::{EnqueueRequest, MockServer};
use baton_native_examples::sum::{DYLIB_TASK_TYPE, FFI_TASK_TYPE, SumInput, SumOutput};
use baton_tests::{HostProcess, signal, wait_for};

/// Enqueues `count` tasks of `task_type`, each with its own terms; returns their ids and
/// inputs.
fn enqueue_sums(
    mock: &MockServer,
    task_type: &str,
    count: i32,
    first: i32,
) -> Vec<(String, SumInput)> {
    (first..first + count)
        .map(|k| {
            let input = SumInput { a: k, b: -3 * k };
            let id = mock
                .enqueue(EnqueueRequest::new(task_type, 1).input(as_map(input)))
                .last_task_id;
            (id, input)
        })
        .collect()
}

fn as_map(input: SumInput) -> serde_json::Map<String, serde_json::Value> {
    match serde_json::to_value(input).unwrap() {
        serde_json::Value::Object(map) => map,
        other => panic!("{other} is not an object"),
    }
}

/// The processes that ran `tasks` once every one of them has COMPLETED (checking each sum);
/// `None` while one has not.
fn completed_pids(mock: &MockServer, tasks: &[(String, SumInput)]) -> Option<BTreeSet<u32>> {
    let mut pids = BTreeSet::new();
    for (id, input) in tasks {
        let task = mock.core().task(id).unwrap();
        if task.status != Some(TaskStatus::Completed) {
            return None;
        }
        let output: SumOutput =
            serde_json::from_value(serde_json::Value::Object(task.output_data)).unwrap();
        assert_eq!(output.sum, input.a + input.b, "task {id} with {input:?}");
        pids.insert(output.pid);
    }
    Some(pids)
}

/// Waits until every one of `tasks` has COMPLETED; returns the processes that ran them.
async fn all_completed(
    mock: &MockServer,
    what: &str,
    tasks: &[(String, SumInput)],
) -> BTreeSet<u32> {
    wait_for(what, || async { completed_pids(mock, tasks).is_some() }).await;
    completed_pids(mock, tasks).unwrap()
}

/// The one process that ran `tasks`.
fn only(pids: &BTreeSet<u32>, what: &str) -> u32 {
    assert_eq!(pids.len(), 1, "{what} ran in one process: {pids:?}");
    *pids.iter().next().unwrap()
}

fn process_exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[tokio::test]
async fn an_abort_in_native_code_costs_one_restart_and_one_failed_task() {
    let mock = baton_tests::mock().await;
    let linked_before = enqueue_sums(&mock, FFI_TASK_TYPE, 20, 0);
    let loaded_before = enqueue_sums(&mock, DYLIB_TASK_TYPE, 20, 0);
    // One task at a time per worker: the aborting task is then the only one its process holds,
    // and no poll of the dying process is left waiting for the tasks enqueued after it.
    let host = HostProcess::new(
        Command::new(env!("CARGO_BIN_EXE_native_workers"))
            .args(["--concurrency", "1"])
            .env("CONDUCTOR_SERVER_URL", mock.base_url())
            .env_remove("BATON_WORKER_PROCESS")
            .env_remove("BATON_NATIVE_LIBRARY")
            .current_dir(std::env::temp_dir())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let parent = host.id();

    let linked = only(
        &all_completed(&mock, "the first native_sum tasks", &linked_before).await,
        "native_sum",
    );
    let loaded = only(
        &all_completed(&mock, "the first native_sum_dylib tasks", &loaded_before).await,
        "native_sum_dylib",
    );
    assert!(linked != loaded && linked != parent && loaded != parent);

    // i32::MAX + 1 overflows: the C++ get_sum aborts. Not retried, so the task's end is its own.
    let mut def = TaskDef::new(FFI_TASK_TYPE);
    def.retry_count = 0;
    let aborting = mock
        .enqueue(
            EnqueueRequest::new(FFI_TASK_TYPE, 1)
                .input(as_map(SumInput { a: i32::MAX, b: 1 }))
                .task_def(def),
        )
        .last_task_id;
    let loaded_during = enqueue_sums(&mock, DYLIB_TASK_TYPE, 20, 100);
    wait_for("the native_sum worker process to die", || async {
        !process_exists(linked)
    })
    .await;
    let handed_out = mock.core().task(&aborting).unwrap();
    assert_ne!(
        handed_out.status,
        Some(TaskStatus::Scheduled),
        "the process died before taking the aborting task"
    );

    // While native_sum's process is down (the host restarts it after a backoff) and after,
    // native_sum_dylib goes on in the same process.
    let loaded_down = enqueue_sums(&mock, DYLIB_TASK_TYPE, 20, 200);
    let loaded_pids = all_completed(&mock, "native_sum_dylib during the crash", &loaded_down).await;
    assert_eq!(loaded_pids, BTreeSet::from([loaded]));

    // The restarted process takes native_sum's later tasks.
    let linked_after = enqueue_sums(&mock, FFI_TASK_TYPE, 20, 300);
    let loaded_after = enqueue_sums(&mock, DYLIB_TASK_TYPE, 20, 300);
    let restarted = only(
        &all_completed(&mock, "native_sum after the restart", &linked_after).await,
        "native_sum after the restart",
    );
    assert_ne!(restarted, linked, "native_sum was not restarted");
    assert_ne!(restarted, parent);
    for (what, tasks) in [("during", &loaded_during), ("after", &loaded_after)] {
        let pids = all_completed(&mock, &format!("native_sum_dylib {what}"), tasks).await;
        assert_eq!(pids, BTreeSet::from([loaded]), "native_sum_dylib {what}");
    }

    // SIGTERM drains the worker processes, and the program exits cleanly.
    signal(parent, "-TERM");
    let output = tokio::task::spawn_blocking(move || host.into_inner().wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("drained cleanly"),
        "{output:?}"
    );

    // The aborting task: FAILED by the host when its process died, the signal in the reason
    // (not left IN_PROGRESS for the server's response timeout).
    wait_for("the aborting task to end FAILED", || async {
        mock.core().task(&aborting).unwrap().status == Some(TaskStatus::Failed)
    })
    .await;
    let failed = mock.core().task(&aborting).unwrap();
    let reason = failed.reason_for_incompletion.unwrap_or_default();
    assert!(
        reason.contains("signal 6") && reason.contains("SIGABRT"),
        "reason: {reason:?}"
    );
    // One FAILED task, every other task completed once.
    let normal = [
        &linked_before,
        &loaded_before,
        &loaded_during,
        &loaded_down,
        &linked_after,
        &loaded_after,
    ]
    .iter()
    .map(|tasks| tasks.len() as u64)
    .sum::<u64>();
    let ledger = mock.ledger();
    assert_eq!(
        (ledger.completed, ledger.failed, ledger.failed_terminal),
        (normal, 1, 0),
        "{ledger:?}"
    );
    baton_tests::assert_exactly_once(&ledger);
}
