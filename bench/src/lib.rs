//! Shared helpers for Baton's benchmarks and load harness: realistic poll-response fixtures,
//! a small client for baton-mock's admin API, and readers of `/proc` for CPU and memory
//! figures.
//!
//! | module | what it gives |
//! |---|---|
//! | [`fixtures`] | Conductor-shaped [`Task`](baton_model::Task)s and poll-response bodies |
//! | [`admin`] | `POST /admin/enqueue` and `GET /admin/ledger` over keep-alive HTTP |
//! | [`procfs`] | CPU time and memory of a process tree, the machine's busy share |
//! | [`processes`] | a baton-mock process on a free port, signals |
//! | [`window`] | keeping the queue fed, measuring a window, draining, medians |
//! | [`workload`] | task-type names, concurrency split over them, input payloads of a size |

/// What can go wrong talking to the mock or reading `/proc`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// A URL or request could not be built.
    #[error("bad request: {0}")]
    Request(String),
    /// The HTTP call failed.
    #[error("HTTP call failed: {0}")]
    Transport(String),
    /// The server answered with an error status.
    #[error("server answered {status}: {body}")]
    Status {
        /// The HTTP status code.
        status: u16,
        /// The start of the response body.
        body: String,
    },
    /// A body could not be decoded.
    #[error("could not decode the answer: {0}")]
    Decode(String),
    /// A program could not be started.
    #[error("could not start {what}: {source}")]
    Spawn {
        /// The program.
        what: String,
        /// Why.
        source: std::io::Error,
    },
    /// baton-mock's first line was not its address.
    #[error("baton-mock did not print its address: {0}")]
    MockAddress(String),
    /// A `/proc` file could not be read or parsed.
    #[error("reading {path}: {reason}")]
    Proc {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

pub mod fixtures {
    //! Conductor-shaped tasks and poll responses, as the server writes them: 27 fields per
    //! task and a five-entry `inputData` with nested values.

    use baton_model::{JsonMap, Task, TaskStatus};
    use serde_json::json;

    /// The five-entry input every fixture task carries: a nested object, an array of objects,
    /// a string with escapes, a number and a flag.
    pub fn sample_input() -> JsonMap {
        let value = json!({
            "customer": {"id": "c-10293", "tier": "gold", "address": {"city": "Zürich", "zip": "8001"}},
            "items": [
                {"sku": "A-1", "qty": 2, "price": 19.99},
                {"sku": "B-7", "qty": 1, "price": 5.5},
                {"sku": "C-3", "qty": 12, "price": 0.25}
            ],
            "note": "line one\nline \"two\"\twith a tab and a \\ backslash",
            "amount": 1_234_567,
            "express": true
        });
        match value {
            serde_json::Value::Object(map) => map,
            _ => JsonMap::new(),
        }
    }

    /// Task number `index` of a poll answer, every field filled as the server fills it.
    pub fn sample_task(task_type: &str, index: usize) -> Task {
        let mut task = Task::new(
            task_type,
            format!("3f1c2a9e-5b7d-4c1e-9a2b-{index:012x}"),
            "8d2e4f60-1a3b-4c5d-8e9f-0a1b2c3d4e5f",
        );
        let now = 1_795_000_000_000 + index as i64;
        task.status = Some(TaskStatus::InProgress);
        task.input_data = sample_input();
        task.reference_task_name = Some(format!("{task_type}_ref_{index}"));
        task.retry_count = 0;
        task.seq = index as i32 + 1;
        task.correlation_id = Some("order-2026-11-22-0001".to_owned());
        task.poll_count = 1;
        task.task_def_name = Some(task_type.to_owned());
        task.scheduled_time = now - 40;
        task.start_time = now;
        task.update_time = now;
        task.retried = false;
        task.executed = false;
        task.callback_from_worker = true;
        task.response_timeout_seconds = 3600;
        task.workflow_type = Some("order_fulfilment".to_owned());
        task.callback_after_seconds = 0;
        task.worker_id = Some("bench-host-4242".to_owned());
        task.workflow_priority = 0;
        task.iteration = 0;
        task
    }

    /// The JSON body of a batch poll answering `count` tasks.
    pub fn poll_response(task_type: &str, count: usize) -> Vec<u8> {
        let tasks: Vec<Task> = (0..count).map(|i| sample_task(task_type, i)).collect();
        // Serializing plain data into a Vec cannot fail.
        serde_json::to_vec(&tasks).unwrap_or_default()
    }
}

pub mod admin {
    //! A client for baton-mock's admin API (`/admin/enqueue`, `/admin/ledger`) over a
    //! keep-alive connection pool.

    use std::time::Duration;

    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use hyper::{Method, Request};
    use hyper_util::client::legacy::Client;
    use hyper_util::client::legacy::connect::HttpConnector;
    use hyper_util::rt::TokioExecutor;
    use serde::Deserialize;

    use crate::BenchError;

    /// The ledger counters the benchmarks read (a subset of `GET /admin/ledger`).
    #[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
    #[serde(default)]
    pub struct Ledger {
        /// Tasks created by enqueue calls.
        pub enqueued: u64,
        /// Hand-outs by polls.
        pub handed_out: u64,
        /// Tasks a worker completed.
        pub completed: u64,
        /// Tasks a worker failed.
        pub failed: u64,
        /// Tasks handed out and not yet updated, right now.
        pub in_flight: u64,
        /// Tasks handed out and never terminally updated (read after the client drained).
        pub lost: u64,
        /// Tasks queued right now.
        pub queued: u64,
        /// Repeated updates with the same result.
        pub duplicate_identical: u64,
        /// Repeated updates with a different result.
        pub duplicate_conflicting: u64,
        /// Updates naming ids the mock never issued.
        pub unknown_ids: u64,
        /// Terminal updates measured for latency.
        pub latency_samples: u64,
        /// Median time from scheduling to the terminal update, in milliseconds.
        pub latency_p50_ms: f64,
        /// 99th percentile of the same, in milliseconds.
        pub latency_p99_ms: f64,
        /// `/api` requests the mock received.
        pub api_requests: u64,
    }

    impl Ledger {
        /// Repeated updates of either kind.
        pub fn duplicates(&self) -> u64 {
            self.duplicate_identical + self.duplicate_conflicting
        }
    }

    /// A client for one mock's admin API.
    #[derive(Debug, Clone)]
    pub struct AdminClient {
        http: Client<HttpConnector, Full<Bytes>>,
        base: String,
    }

    impl AdminClient {
        /// A client for the mock whose task API is at `api_url` (`http://IP:PORT/api`, with or
        /// without the `/api`). Must be called inside a tokio runtime.
        pub fn new(api_url: &str) -> Self {
            let root = api_url.trim_end_matches('/');
            let root = root.strip_suffix("/api").unwrap_or(root);
            let mut connector = HttpConnector::new();
            connector.set_nodelay(true);
            let http = Client::builder(TokioExecutor::new())
                .pool_max_idle_per_host(2)
                .build(connector);
            Self {
                http,
                base: format!("{root}/admin"),
            }
        }

        /// Enqueues `count` tasks of `task_type`, each with `input`.
        pub async fn enqueue(
            &self,
            task_type: &str,
            count: u64,
            input: &serde_json::Value,
        ) -> Result<(), BenchError> {
            let body = serde_json::json!({"taskType": task_type, "count": count, "input": input});
            self.call(Method::POST, "enqueue", body.to_string().into_bytes())
                .await
                .map(|_| ())
        }

        /// Installs fault rules (`POST /admin/faults`), e.g.
        /// `[{"route": "*", "kind": "stall", "forMs": 3000}]`.
        pub async fn install_faults(&self, rules: &serde_json::Value) -> Result<(), BenchError> {
            self.call(Method::POST, "faults", rules.to_string().into_bytes())
                .await
                .map(|_| ())
        }

        /// The current ledger.
        pub async fn ledger(&self) -> Result<Ledger, BenchError> {
            let body = self.call(Method::GET, "ledger", Vec::new()).await?;
            serde_json::from_slice(&body).map_err(|err| BenchError::Decode(err.to_string()))
        }

        async fn call(
            &self,
            method: Method,
            path: &str,
            body: Vec<u8>,
        ) -> Result<Bytes, BenchError> {
            let request = Request::builder()
                .method(method)
                .uri(format!("{}/{path}", self.base))
                .header(hyper::header::CONTENT_TYPE, "application/json")
                .body(Full::new(Bytes::from(body)))
                .map_err(|err| BenchError::Request(err.to_string()))?;
            let answer = async {
                let response = self
                    .http
                    .request(request)
                    .await
                    .map_err(|err| BenchError::Transport(err.to_string()))?;
                let status = response.status();
                let body = response
                    .into_body()
                    .collect()
                    .await
                    .map_err(|err| BenchError::Transport(err.to_string()))?
                    .to_bytes();
                if status.is_success() {
                    Ok(body)
                } else {
                    Err(BenchError::Status {
                        status: status.as_u16(),
                        body: String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned(),
                    })
                }
            };
            tokio::time::timeout(Duration::from_secs(30), answer)
                .await
                .map_err(|_| BenchError::Transport("admin call timed out after 30 s".into()))?
        }
    }
}

pub mod procfs {
    //! CPU time and memory of processes, and the machine's busy share, from `/proc` (Linux).

    use std::process::Command;

    use crate::BenchError;

    fn read(path: &str) -> Result<String, BenchError> {
        std::fs::read_to_string(path).map_err(|err| BenchError::Proc {
            path: path.to_owned(),
            reason: err.to_string(),
        })
    }

    fn malformed(path: &str, what: &str) -> BenchError {
        BenchError::Proc {
            path: path.to_owned(),
            reason: format!("no {what}"),
        }
    }

    /// Clock ticks per second of the times in `/proc` (`getconf CLK_TCK`; 100 if unknown).
    pub fn clock_ticks_per_sec() -> u64 {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|text| text.trim().parse().ok())
            .filter(|ticks| *ticks > 0)
            .unwrap_or(100)
    }

    /// User plus system CPU time of process `pid` (all its threads), in clock ticks.
    pub fn cpu_ticks(pid: u32) -> Result<u64, BenchError> {
        let path = format!("/proc/{pid}/stat");
        let stat = read(&path)?;
        // The command name may contain spaces and parentheses: fields start after the last ')'.
        let rest = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest)
            .ok_or_else(|| malformed(&path, "command name"))?;
        // After ')' come field 3 (state) onwards; utime and stime are fields 14 and 15.
        let mut fields = rest.split_whitespace().skip(11);
        let mut next = || -> Result<u64, BenchError> {
            fields
                .next()
                .and_then(|f| f.parse().ok())
                .ok_or_else(|| malformed(&path, "utime/stime"))
        };
        Ok(next()? + next()?)
    }

    /// Peak resident set size of process `pid` (`VmHWM`), in KiB.
    pub fn peak_rss_kib(pid: u32) -> Result<u64, BenchError> {
        let path = format!("/proc/{pid}/status");
        let status = read(&path)?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|value| value.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .ok_or_else(|| malformed(&path, "VmHWM"))
    }

    /// Resident set size of process `pid` right now (`VmRSS`), in KiB.
    pub fn rss_kib(pid: u32) -> Result<u64, BenchError> {
        let path = format!("/proc/{pid}/status");
        let status = read(&path)?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .ok_or_else(|| malformed(&path, "VmRSS"))
    }

    /// Proportional set size of process `pid` (`Pss` of `smaps_rollup`), in KiB.
    pub fn pss_kib(pid: u32) -> Result<u64, BenchError> {
        let path = format!("/proc/{pid}/smaps_rollup");
        let rollup = read(&path)?;
        rollup
            .lines()
            .find_map(|line| line.strip_prefix("Pss:"))
            .and_then(|value| value.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .ok_or_else(|| malformed(&path, "Pss"))
    }

    /// The parent of process `pid` (field 4 of `/proc/PID/stat`).
    fn parent(pid: u32) -> Option<u32> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let (_, rest) = stat.rsplit_once(')')?;
        rest.split_whitespace().nth(1)?.parse().ok()
    }

    /// Process `root` and all its living descendants, `root` first.
    pub fn process_tree(root: u32) -> Vec<u32> {
        let all: Vec<(u32, u32)> = std::fs::read_dir("/proc")
            .map(|entries| {
                entries
                    .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
                    .filter_map(|pid| Some((pid, parent(pid)?)))
                    .collect()
            })
            .unwrap_or_default();
        let mut tree = vec![root];
        let mut index = 0;
        while let Some(&pid) = tree.get(index) {
            tree.extend(all.iter().filter(|(_, ppid)| *ppid == pid).map(|(p, _)| *p));
            index += 1;
        }
        tree
    }

    /// CPU and memory of a process tree, summed over its processes (each read now).
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub struct TreeUsage {
        /// User plus system CPU time, in clock ticks.
        pub cpu_ticks: u64,
        /// The sum of every process's peak resident set size, in KiB.
        pub peak_rss_kib: u64,
        /// The sum of every process's resident set size now, in KiB.
        pub rss_kib: u64,
        /// The sum of every process's proportional set size, in KiB.
        pub pss_kib: u64,
        /// How many processes the tree had.
        pub processes: usize,
    }

    /// [`TreeUsage`] of `root` and its descendants; processes that vanish while being read
    /// are left out. Fails only when `root` itself cannot be read.
    pub fn tree_usage(root: u32) -> Result<TreeUsage, BenchError> {
        let mut usage = TreeUsage {
            cpu_ticks: cpu_ticks(root)?,
            peak_rss_kib: peak_rss_kib(root)?,
            rss_kib: rss_kib(root)?,
            pss_kib: pss_kib(root).unwrap_or(0),
            processes: 1,
        };
        for pid in process_tree(root).into_iter().skip(1) {
            if let (Ok(ticks), Ok(rss)) = (cpu_ticks(pid), peak_rss_kib(pid)) {
                usage.cpu_ticks += ticks;
                usage.peak_rss_kib += rss;
                usage.rss_kib += rss_kib(pid).unwrap_or(0);
                usage.pss_kib += pss_kib(pid).unwrap_or(0);
                usage.processes += 1;
            }
        }
        Ok(usage)
    }

    /// The machine's cumulative CPU counters (first line of `/proc/stat`), in clock ticks.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub struct MachineCpu {
        /// All time, every state.
        pub total: u64,
        /// Idle and I/O-wait time.
        pub idle: u64,
    }

    impl MachineCpu {
        /// Reads `/proc/stat` now.
        pub fn now() -> Result<Self, BenchError> {
            let path = "/proc/stat";
            let stat = read(path)?;
            let line = stat
                .lines()
                .find(|line| line.starts_with("cpu "))
                .ok_or_else(|| malformed(path, "cpu line"))?;
            let values: Vec<u64> = line
                .split_whitespace()
                .skip(1)
                .filter_map(|v| v.parse().ok())
                .collect();
            // user nice system idle iowait irq softirq steal (guest time is inside user).
            let total = values.iter().take(8).sum();
            let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
            Ok(Self { total, idle })
        }

        /// The share of all cores' time that was busy between `earlier` and `self` (0..1).
        pub fn busy_since(&self, earlier: &Self) -> f64 {
            let total = self.total.saturating_sub(earlier.total);
            let idle = self.idle.saturating_sub(earlier.idle);
            if total == 0 {
                0.0
            } else {
                total.saturating_sub(idle) as f64 / total as f64
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn reads_this_process() {
            let pid = std::process::id();
            assert!(cpu_ticks(pid).is_ok());
            assert!(peak_rss_kib(pid).is_ok_and(|kib| kib > 0));
            let first = MachineCpu::now().unwrap_or_default();
            assert!(first.total > 0 && first.idle <= first.total);
            assert!((0.0..=1.0).contains(&first.busy_since(&MachineCpu::default())));
            assert!(clock_ticks_per_sec() > 0);
        }

        #[test]
        fn a_process_tree_includes_children() {
            let mut child = std::process::Command::new("sleep")
                .arg("5")
                .spawn()
                .unwrap();
            let me = std::process::id();
            assert!(process_tree(me).contains(&child.id()));
            assert_eq!(process_tree(me)[0], me);
            let usage = tree_usage(me).unwrap();
            assert!(usage.processes >= 2, "{usage:?}");
            assert!(usage.peak_rss_kib > peak_rss_kib(me).unwrap());
            assert!(usage.rss_kib > rss_kib(me).unwrap(), "{usage:?}");
            assert!(usage.pss_kib > 0);
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures;

    #[test]
    fn poll_response_is_conductor_shaped() {
        let body = fixtures::poll_response("bench", 100);
        let tasks: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap_or_default();
        assert_eq!(tasks.len(), 100);
        let fields = tasks[0].as_object().map_or(0, serde_json::Map::len);
        assert!(fields >= 27, "{fields} fields");
        assert_eq!(tasks[0]["inputData"].as_object().map(|m| m.len()), Some(5));
    }
}

pub mod processes {
    //! Child processes of a benchmark: a baton-mock on a free loopback port, signals.

    use std::io::{BufRead, BufReader};
    use std::path::Path;
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    use crate::BenchError;

    /// Starts baton-mock on a free loopback port and reads its API URL from its first line.
    pub fn start_mock(binary: &Path) -> Result<(Child, String), BenchError> {
        start_mock_with(binary, &[])
    }

    /// [`start_mock`] with more command-line arguments (e.g. `--no-update-v2`).
    pub fn start_mock_with(binary: &Path, extra: &[&str]) -> Result<(Child, String), BenchError> {
        let mut child = Command::new(binary)
            .args(["--bind", "127.0.0.1", "--port", "0"])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|source| BenchError::Spawn {
                what: binary.display().to_string(),
                source,
            })?;
        let mut line = String::new();
        if let Some(stdout) = child.stdout.take() {
            let _ = BufReader::new(stdout).read_line(&mut line);
        }
        match line.trim().strip_prefix("baton-mock listening on ") {
            Some(url) if url.starts_with("http://127.") => Ok((child, url.to_owned())),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                Err(BenchError::MockAddress(line))
            }
        }
    }

    /// Waits up to `deadline` for `child` to exit; whether it exited successfully (`None`:
    /// still running, or its state could not be read).
    pub async fn wait_exit(child: &mut Child, deadline: Duration) -> Option<bool> {
        let start = Instant::now();
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Some(status.success()),
                Ok(None) if start.elapsed() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                _ => return None,
            }
        }
    }

    /// Sends a signal by name (`TERM`, `KILL`, ...) through `kill(1)`.
    pub fn signal(pid: u32, name: &str) {
        let _ = Command::new("kill")
            .args([format!("-{name}"), pid.to_string()])
            .status();
    }
}

pub mod window;
pub mod workload;
