use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use hyper::StatusCode;

use crate::common::Client;

/// Kills the child when dropped, so a failed assertion leaves no process behind.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_binary_announces_its_url_on_the_first_line_and_serves() {
    let child = Command::new(env!("CARGO_BIN_EXE_baton-mock"))
        .args([
            "--port",
            "0",
            "--threads",
            "1",
            "--no-update-v2",
            "--seed",
            "3",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut running = Running(child);
    let stdout = running.0.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    })
    .await
    .unwrap();
    let url = line
        .trim_end()
        .strip_prefix("baton-mock listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/api"),
        "{url}"
    );
    let client = Client::new();
    let poll = client
        .get(&format!("{url}/tasks/poll/batch/x?timeout=0"))
        .await;
    assert_eq!(
        (poll.status, poll.text()),
        (StatusCode::OK, "[]".to_owned())
    );
    let v2 = client
        .send(
            hyper::Method::POST,
            &format!("{url}/tasks/update-v2"),
            "application/json",
            "{}",
        )
        .await;
    assert_eq!(
        v2.status,
        StatusCode::NOT_FOUND,
        "--no-update-v2 must turn the route off"
    );
}

#[tokio::test]
async fn the_binary_takes_the_limit_and_hardening_flags() {
    let child = Command::new(env!("CARGO_BIN_EXE_baton-mock"))
        .args([
            "--port",
            "0",
            "--threads",
            "1",
            "--empty-batch-204",
            "--postpone-secs",
            "5",
            "--idle-evict-secs",
            "60",
            "--header-read-timeout-secs",
            "10",
            "--max-connections",
            "8",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut running = Running(child);
    let stdout = running.0.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    })
    .await
    .unwrap();
    let url = line
        .trim_end()
        .strip_prefix("baton-mock listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    let client = Client::new();
    let poll = client
        .get(&format!("{url}/tasks/poll/batch/x?timeout=0"))
        .await;
    assert_eq!(poll.status, StatusCode::NO_CONTENT, "--empty-batch-204");
    assert!(poll.body.is_empty());
}

#[test]
fn out_of_range_hardening_flags_are_refused_with_a_clear_error() {
    for (flag, value) in [
        ("--header-read-timeout-secs", "0"),
        ("--header-read-timeout-secs", "18446744073709551615"),
        ("--max-connections", "0"),
        ("--max-connections", "2305843009213693951"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_baton-mock"))
            .args(["--port", "0", flag, value])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {stderr}");
        assert!(
            stderr.contains(flag) && stderr.contains("not in"),
            "{flag} {value}: {stderr}"
        );
    }
}
