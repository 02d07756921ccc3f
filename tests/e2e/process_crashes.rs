//! Worker processes that die: their tasks are posted FAILED at once with the cause, a poison
//! task ends FAILED_WITH_TERMINAL_ERROR, the process is restarted without leaking, its
//! siblings and other workers carry on, and control reaches restarted processes. Runs
//! `crash_probe` (see `tests/bin/crash_probe.rs`) against an embedded mock.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use baton::model::{TaskDef, TaskStatus};
use baton_mock::{EnqueueRequest, MockServer};
use baton_tests::{call, mock, signal, wait_for};
use serde_json::{Value, json};

/// A running `crash_probe` (killed with its family if the test fails first).
struct Probe {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    ops: String,
}

impl Probe {
    fn start(mock: &MockServer, env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_crash_probe"));
        command
            .env("CONDUCTOR_SERVER_URL", mock.base_url())
            .env("CONDUCTOR_METRICS_ADDR", "127.0.0.1:0")
            // Quick restarts keep the tests short.
            .env("CONDUCTOR_WORKER_ALL_PROCESS_RESTART_DELAY", "20")
            .env("CONDUCTOR_WORKER_ALL_PROCESS_RESTART_DELAY_MAX", "40")
            .env_remove("BATON_WORKER_PROCESS")
            .env_remove("CONDUCTOR_WORKER_CONFIG")
            .current_dir(std::env::temp_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().unwrap();
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut probe = Self {
            child: Some(child),
            stdin,
            lines,
            ops: String::new(),
        };
        let first = probe.line();
        probe.ops = first.strip_prefix("ops ").unwrap().to_owned();
        probe
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    fn line(&self) -> String {
        self.lines
            .recv_timeout(baton_tests::DEADLINE)
            .expect("a line from the probe")
    }

    /// Sends a command; returns the answer.
    fn command(&mut self, command: &str) -> String {
        writeln!(self.stdin.as_mut().unwrap(), "{command}").unwrap();
        self.line()
    }

    async fn status(&self) -> Vec<Value> {
        let (code, body) = call("GET", &format!("http://{}/status", self.ops), None).await;
        assert_eq!(code, 200);
        body["processes"].as_array().unwrap().clone()
    }

    /// The running processes of `task_type`, as `/status` lists them.
    async fn processes(&self, task_type: &str) -> Vec<Value> {
        self.status()
            .await
            .into_iter()
            .filter(|p| p["taskType"] == task_type)
            .collect()
    }

    async fn metrics(&self) -> String {
        let (code, body) = call("GET", &format!("http://{}/metrics", self.ops), None).await;
        assert_eq!(code, 200);
        body.as_str().unwrap().to_owned()
    }

    /// Signals the host and waits for it: its exit status and the rest of its output.
    fn stop(mut self, sig: &str) -> (std::process::ExitStatus, String) {
        let mut child = self.child.take().unwrap();
        signal(child.id(), sig);
        let status = child.wait().unwrap();
        let rest: Vec<String> = self.lines.try_iter().collect();
        (status, rest.join("\n"))
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // End of stdin makes the host drain its children; then make sure.
            drop(self.stdin.take());
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn pid_of(process: &Value) -> Option<u32> {
    process["pid"].as_u64().map(|pid| pid as u32)
}

fn input(value: Value) -> serde_json::Map<String, Value> {
    value.as_object().unwrap().clone()
}

/// Open file descriptors and resident memory (KiB) of `pid`.
fn footprint(pid: u32) -> (usize, u64) {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    (fds, rss)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_killed_mid_task_has_its_tasks_failed_at_once_with_the_signal() {
    let mock = mock().await;
    let probe = Probe::start(&mock, &[("CONDUCTOR_WORKER_CRASHY_CONCURRENCY", "3")]);
    let mut def = TaskDef::new("crashy");
    def.retry_count = 0;
    let held = mock.enqueue(
        EnqueueRequest::new("crashy", 3)
            .input(input(json!({"sleepMs": 60_000})))
            .task_def(def),
    );
    wait_for("the child holds three tasks", || async {
        probe.processes("crashy").await[0]["tasksHeld"] == 3
    })
    .await;
    let pid = pid_of(&probe.processes("crashy").await[0]).unwrap();

    signal(pid, "-KILL");
    let killed = Instant::now();
    wait_for("the three tasks FAILED", || async {
        held.task_ids()
            .all(|id| mock.core().task(&id).unwrap().status == Some(TaskStatus::Failed))
    })
    .await;
    let took = killed.elapsed();
    for id in held.task_ids() {
        let task = mock.core().task(&id).unwrap();
        assert_eq!(
            task.reason_for_incompletion.as_deref(),
            Some("worker process exited: signal 9 (SIGKILL)"),
        );
    }
    // The supervisor looks every 50 ms: a second is the promise; more only under heavy load.
    assert!(
        took < Duration::from_secs(3),
        "FAILED {took:?} after the kill"
    );
    eprintln!("tasks of a killed child FAILED {took:?} after SIGKILL");

    wait_for("the child restarted", || async {
        let process = &probe.processes("crashy").await[0];
        pid_of(process).is_some_and(|new| new != pid) && process["restarts"] == 1
    })
    .await;
    let process = &probe.processes("crashy").await[0];
    assert_eq!(process["lastExit"], "signal 9 (SIGKILL)");
    assert_eq!(process["tasksFailedOnExit"], 3);
    let metrics = probe.metrics().await;
    assert!(
        metrics.contains("baton_tasks_failed_on_process_exit_total{taskType=\"crashy\"} 3"),
        "{metrics}"
    );
    assert!(metrics.contains("baton_worker_process_restarts_total{taskType=\"crashy\"} 1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_task_ends_terminal_while_other_workers_carry_on() {
    let mock = mock().await;
    let probe = Probe::start(&mock, &[("CONDUCTOR_WORKER_CRASHY_PROCESSES", "2")]);
    let api = mock.base_url();
    let def = json!([{"name": "crashy", "retryCount": 10, "retryDelaySeconds": 0,
        "ownerEmail": "test@example.com"}]);
    let (status, body) = call("POST", &format!("{api}/metadata/taskdefs"), Some(def)).await;
    assert_eq!(status, 200, "{body}");
    let workflow = json!({
        "name": "poisoned", "version": 1, "ownerEmail": "test@example.com",
        "tasks": [{"name": "crashy", "taskReferenceName": "native_call", "type": "SIMPLE",
            "inputParameters": {"crash": "abort"}}]
    });
    let (status, body) = call("POST", &format!("{api}/metadata/workflow"), Some(workflow)).await;
    assert_eq!(status, 200, "{body}");
    let start = json!({"name": "poisoned", "version": 1, "input": {}});
    let (status, id) = call("POST", &format!("{api}/workflow"), Some(start)).await;
    assert_eq!(status, 200, "{id}");
    let id = id.as_str().unwrap().to_owned();
    let steady = mock.enqueue(EnqueueRequest::new("steady", 200));

    // The server retries the task (a new id each time) until the third abort in a row ends
    // it FAILED_WITH_TERMINAL_ERROR, which fails the workflow.
    let run = async || call("GET", &format!("{api}/workflow/{id}"), None).await.1;
    wait_for("the workflow fails", || async {
        run().await["status"] == "FAILED"
    })
    .await;
    let chain = run().await["tasks"].as_array().unwrap().clone();
    let statuses: Vec<_> = chain
        .iter()
        .map(|t| t["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["FAILED", "FAILED", "FAILED_WITH_TERMINAL_ERROR"],
        "three attempts, the last terminal, no fourth"
    );
    for task in &chain {
        let reason = task["reasonForIncompletion"].as_str().unwrap_or_default();
        assert!(
            reason.starts_with("worker process exited: signal 6 (SIGABRT"),
            "{reason}"
        );
    }
    let last = &chain[2]["reasonForIncompletion"];
    assert!(
        last.as_str().unwrap().contains("process_crash_limit 3"),
        "{last}"
    );
    wait_for("every steady task completed", || async {
        steady
            .task_ids()
            .all(|id| mock.core().task(&id).unwrap().status == Some(TaskStatus::Completed))
    })
    .await;
    // Each abort restarted the process that ran the poison task; the steady worker's process
    // never stopped.
    let crashy = probe.processes("crashy").await;
    let restarts: u64 = crashy.iter().map(|p| p["restarts"].as_u64().unwrap()).sum();
    assert_eq!(restarts, 3, "{crashy:?}");
    let poisoned: u64 = crashy
        .iter()
        .map(|p| p["poisonTasks"].as_u64().unwrap())
        .sum();
    assert_eq!(poisoned, 1);
    assert_eq!(probe.processes("steady").await[0]["restarts"], 0);

    // The crashy worker still works.
    let after = mock.enqueue(EnqueueRequest::new("crashy", 10));
    wait_for("new crashy tasks completed", || async {
        after
            .task_ids()
            .all(|id| mock.core().task(&id).unwrap().status == Some(TaskStatus::Completed))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_restarts_leak_no_descriptors_or_memory_in_the_host() {
    let mock = mock().await;
    let probe = Probe::start(&mock, &[]);
    let kill_current = async || {
        wait_for("a running crashy process", || async {
            pid_of(&probe.processes("crashy").await[0]).is_some()
        })
        .await;
        let pid = pid_of(&probe.processes("crashy").await[0]).unwrap();
        signal(pid, "-KILL");
        wait_for("the process replaced", || async {
            pid_of(&probe.processes("crashy").await[0]).is_some_and(|new| new != pid)
        })
        .await;
    };
    for _ in 0..10 {
        kill_current().await;
    }
    let before = footprint(probe.pid());
    for _ in 0..50 {
        kill_current().await;
    }
    let after = footprint(probe.pid());
    // Pooled connections come and go; a descriptor kept per restart would add 50.
    assert!(
        after.0 <= before.0 + 3,
        "open descriptors went from {} to {} over 50 restarts",
        before.0,
        after.0
    );
    assert!(
        after.1 <= before.1 + 1024,
        "resident memory grew from {} KiB to {} KiB over 50 restarts",
        before.1,
        after.1
    );
    assert_eq!(probe.processes("crashy").await[0]["restarts"], 60);
    // The host and its children still work.
    let tasks = mock.enqueue(EnqueueRequest::new("crashy", 5));
    wait_for("tasks completed after the restarts", || async {
        tasks
            .task_ids()
            .all(|id| mock.core().task(&id).unwrap().status == Some(TaskStatus::Completed))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_the_tasks_in_flight_in_every_process() {
    let mock = mock().await;
    let probe = Probe::start(
        &mock,
        &[
            ("CONDUCTOR_WORKER_CRASHY_PROCESSES", "2"),
            ("CONDUCTOR_WORKER_CRASHY_CONCURRENCY", "2"),
        ],
    );
    let tasks =
        mock.enqueue(EnqueueRequest::new("crashy", 4).input(input(json!({"sleepMs": 1500}))));
    wait_for("four tasks held over two processes", || async {
        let held: Vec<_> = probe
            .processes("crashy")
            .await
            .iter()
            .map(|p| p["tasksHeld"].as_u64().unwrap())
            .collect();
        held == [2, 2]
    })
    .await;
    let pids: Vec<u32> = probe
        .processes("crashy")
        .await
        .iter()
        .filter_map(pid_of)
        .collect();
    let (status, output) = probe.stop("-TERM");
    assert!(status.success(), "host exited with {status:?}: {output}");
    assert!(output.contains("drained cleanly"), "{output}");
    for id in tasks.task_ids() {
        assert_eq!(
            mock.core().task(&id).unwrap().status,
            Some(TaskStatus::Completed)
        );
    }
    for pid in pids {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists()
                || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .is_ok_and(|stat| stat.contains(") Z ")),
            "worker process {pid} outlived its host"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_stops_by_itself_when_its_host_is_killed() {
    let mock = mock().await;
    let probe = Probe::start(&mock, &[]);
    wait_for("both workers' processes running", || async {
        probe.status().await.iter().filter_map(pid_of).count() == 2
    })
    .await;
    let pids: Vec<u32> = probe.status().await.iter().filter_map(pid_of).collect();
    let (status, _) = probe.stop("-KILL");
    assert!(!status.success());
    wait_for("the orphaned worker processes exit", || async {
        pids.iter().all(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map_or(true, |stat| stat.contains(") Z "))
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_and_concurrency_reach_every_process_and_outlive_restarts() {
    let mock = mock().await;
    let mut probe = Probe::start(&mock, &[("CONDUCTOR_WORKER_CRASHY_PROCESSES", "2")]);
    assert_eq!(probe.command("pause crashy"), "paused 2");
    assert_eq!(probe.command("concurrency crashy 3"), "resized 2");
    // Paused, and the last poll (started before the pause) long over.
    wait_for("both processes paused at concurrency 3", || async {
        probe.processes("crashy").await.iter().all(|p| {
            p["worker"]["paused"] == true
                && p["worker"]["concurrency"] == 3
                && p["worker"]["lastPollRoundMsAgo"].as_u64().unwrap() > 1500
        })
    })
    .await;
    let tasks = mock.enqueue(EnqueueRequest::new("crashy", 6));

    // A restarted process is told too.
    let pid = pid_of(&probe.processes("crashy").await[0]).unwrap();
    signal(pid, "-KILL");
    wait_for("the restarted process paused at concurrency 3", || async {
        let process = &probe.processes("crashy").await[0];
        pid_of(process).is_some_and(|new| new != pid)
            && process["worker"]["paused"] == true
            && process["worker"]["concurrency"] == 3
    })
    .await;
    assert_eq!(mock.ledger().completed, 0, "nothing polled while paused");

    assert_eq!(probe.command("resume crashy"), "resumed 2");
    wait_for("the tasks completed after resume", || async {
        tasks
            .task_ids()
            .all(|id| mock.core().task(&id).unwrap().status == Some(TaskStatus::Completed))
    })
    .await;
    assert!(probe.command("concurrency crashy 0").starts_with("error"));
}
