//! The official Python SDKs, unmodified, against baton-mock: conductor-python 2.0.0 and
//! swift-conductor-client 1.2.0 workers (tests/python/) complete a few hundred two-task
//! workflows, each task polled once, nothing lost, duplicated or unknown.
//!
//! The venv lives in `target/python-venv` and is made on first use (`python3 -m venv`, then
//! `pip install -r tests/python/requirements.txt`); later runs skip the install while the
//! requirements file is unchanged. Without Python or PyPI the test fails, it never skips.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use baton_mock::MockServer;
use baton_mock::test_util::{Client, eventually};
use baton_model::WorkflowStatus;
use hyper::StatusCode;
use serde_json::json;

/// How many workflows the SDKs run.
const WORKFLOWS: i64 = 300;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("mock-server sits inside the workspace")
        .to_path_buf()
}

fn run(command: &mut Command, what: &str) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The venv's python, creating the venv and installing the pinned SDKs when needed.
fn python_venv() -> PathBuf {
    let root = workspace_root();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let venv = target.join("python-venv");
    let python = venv.join("bin").join("python");
    if !python.exists() {
        run(
            Command::new("python3").arg("-m").arg("venv").arg(&venv),
            "creating the venv (python3 -m venv; is Python 3 with venv installed?)",
        );
    }
    let requirements = root.join("tests/python/requirements.txt");
    let wanted = std::fs::read_to_string(&requirements).unwrap();
    let stamp = venv.join("installed-requirements.txt");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) {
        run(
            Command::new(&python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--disable-pip-version-check",
                    "-q",
                    "-r",
                ])
                .arg(&requirements),
            "installing the SDKs from PyPI (pip install -r tests/python/requirements.txt)",
        );
        std::fs::write(&stamp, &wanted).unwrap();
    }
    python
}

/// A worker script running in its own process group, killed as a group on drop.
struct Worker {
    child: Child,
    log: PathBuf,
    /// Held open for the worker's life: the script kills its own group when this closes,
    /// so nothing leaks even when the test process is killed before `Drop` runs.
    stdin: Option<ChildStdin>,
}

impl Worker {
    fn start(python: &Path, script: &str, base_url: &str) -> Self {
        let root = workspace_root();
        let log = python
            .parent()
            .and_then(Path::parent)
            .unwrap()
            .join(format!("{script}.log"));
        let out = File::create(&log).unwrap();
        let mut child = Command::new(python)
            .arg(root.join("tests/python").join(script))
            .current_dir(root.join("tests/python"))
            .env("CONDUCTOR_SERVER_URL", base_url)
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::piped())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {script}: {e}"));
        let stdin = child.stdin.take();
        Self { child, log, stdin }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Closing stdin makes the script SIGKILL its whole process group (the SDKs fork
        // worker processes); the leader is killed directly if it has not gone in 5 s.
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_workers_complete_every_workflow_exactly_once() {
    let python = python_venv();
    let mock = MockServer::start().await.unwrap();
    let api = mock.base_url();
    let client = Client::new();
    let def = json!({
        "name": "sdk_pipeline", "ownerEmail": "tests@baton.invalid",
        "tasks": [
            {"name": "sdk_double", "taskReferenceName": "d",
             "inputParameters": {"n": "${workflow.input.n}"}},
            {"name": "sdk_increment", "taskReferenceName": "i",
             "inputParameters": {"x": "${d.output.doubled}"}}
        ],
        "outputParameters": {"result": "${i.output.plus_one}"}
    });
    let registered = client
        .post_json(&format!("{api}/metadata/workflow"), &def)
        .await;
    assert_eq!(registered.status, StatusCode::OK, "{}", registered.text());

    let workers = [
        Worker::start(&python, "conductor_worker.py", &api),
        Worker::start(&python, "swift_worker.py", &api),
    ];
    let mut ids = Vec::new();
    for n in 0..WORKFLOWS {
        let answer = client
            .post_json(&format!("{api}/workflow/sdk_pipeline"), &json!({"n": n}))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
        ids.push((n, answer.text()));
    }

    let core = mock.core();
    let done = |id: &str| {
        core.workflow(id, false)
            .is_ok_and(|wf| wf.status.is_terminal())
    };
    let all_done = async || ids.iter().all(|(_, id)| done(id));
    if !eventually(Duration::from_secs(180), all_done).await {
        let finished = ids.iter().filter(|(_, id)| done(id)).count();
        panic!(
            "only {finished} of {WORKFLOWS} workflows ended within 180 s\n\
             conductor-python:\n{}\nswift-conductor-client:\n{}",
            workers[0].log_tail(),
            workers[1].log_tail()
        );
    }

    for (n, id) in &ids {
        let wf = core.workflow(id, true).unwrap();
        assert_eq!(wf.status, WorkflowStatus::Completed, "{id}: {wf:?}");
        assert_eq!(wf.output["result"], json!(2 * n + 1), "{id}");
        assert_eq!(wf.tasks.len(), 2, "{id}: a task was retried");
        for task in &wf.tasks {
            assert_eq!(
                task.poll_count, 1,
                "{id}: {} polled more than once",
                task.task_type
            );
        }
    }
    let ledger = mock.ledger();
    assert_eq!(ledger.completed, 2 * WORKFLOWS as u64);
    assert_eq!(ledger.handed_out, 2 * WORKFLOWS as u64);
    assert_eq!(ledger.lost, 0);
    assert_eq!(ledger.duplicate_identical + ledger.duplicate_conflicting, 0);
    assert_eq!(ledger.unknown_ids, 0);
    drop(workers);
    mock.shutdown().await;
}
