//! The configurations the harness measures: what client runs, against which server setting,
//! and in which mode (`--quick` or full).

use std::path::Path;
use std::process::Command;

use baton_bench::workload::{payload_input, task_type_names};

/// Which family a configuration belongs to; Baton's own losses fail the run, peers' do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// Baton (the engine or its Python package).
    Baton,
    /// The ceiling loop: the machine's limit with no engine.
    Ceiling,
    /// Another worker SDK.
    Peer,
}

/// The client process of a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Client {
    /// `baton_worker` on threads.
    BatonThreads {
        /// Tasks at once.
        concurrency: usize,
        /// Most tasks per poll (`None`: Baton's default).
        batch: Option<usize>,
        /// Task types (workers) sharing the concurrency; 1 is the plain task type.
        task_types: usize,
        /// Milliseconds each task awaits before answering (0: answers at once).
        work_ms: u64,
    },
    /// `baton_worker --placement processes`.
    BatonProcesses {
        /// Worker processes.
        processes: usize,
        /// Tasks at once, per process.
        concurrency: usize,
    },
    /// `ceiling_loop --updates K`.
    Ceiling {
        /// Result posts in flight.
        updates: usize,
    },
    /// The Rust conductor-sdk no-op worker (bench/peers/rust-sdk).
    RustSdk {
        /// The SDK's `thread_count`.
        threads: usize,
    },
    /// conductor-python 2.0.0 (bench/peers/python/conductor_noop.py).
    ConductorPython {
        /// Worker processes.
        processes: usize,
        /// `thread_count` of each.
        threads: usize,
        /// `async def` workers.
        asynchronous: bool,
    },
    /// swift-conductor-client 1.2.0 (bench/peers/python/swift_noop.py).
    Swift {
        /// Worker processes.
        processes: usize,
    },
    /// Baton's Python package (bindings/python/bench/noop_worker.py).
    BatonPython {
        /// Tasks at once.
        concurrency: usize,
    },
}

/// What a client needs installed or built before it can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Needs {
    /// The workspace's release binaries (always built).
    Workspace,
    /// The Rust conductor-sdk peer, built in its own workspace.
    RustSdk,
    /// The harness's Python venv with the pinned SDKs.
    PythonSdks,
    /// The venv plus `bindings/python` installed into it.
    BatonPython,
}

/// One configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// A short unique name (what `--only` matches).
    pub name: String,
    /// What it is, in words.
    pub description: String,
    /// Its family.
    pub family: Family,
    /// The client.
    pub client: Client,
    /// Whether the mock answers 404 on update-v2 (the "plain" API).
    pub no_update_v2: bool,
    /// Whether `--quick` runs it.
    pub quick: bool,
    /// Bytes of payload in each task's input (0: an empty input).
    pub payload_bytes: usize,
}

/// Where the programs live.
#[derive(Debug, Clone)]
pub struct Programs<'a> {
    /// The repository root.
    pub root: &'a Path,
    /// The harness's copies of the release binaries.
    pub bin: &'a Path,
    /// The venv's python.
    pub python: &'a Path,
}

impl Config {
    fn new(name: &str, description: &str, family: Family, client: Client) -> Self {
        Self {
            name: name.to_owned(),
            description: description.to_owned(),
            family,
            client,
            no_update_v2: false,
            quick: false,
            payload_bytes: 0,
        }
    }

    /// A Baton threads configuration as the scaling runs vary it: `concurrency` in all over
    /// `task_types` types, tasks awaiting `work_ms` each and carrying `payload_bytes` of input.
    pub fn baton_scaling(
        name: &str,
        description: &str,
        concurrency: usize,
        task_types: usize,
        work_ms: u64,
        payload_bytes: usize,
    ) -> Self {
        let mut config = Self::new(
            name,
            description,
            Family::Baton,
            Client::BatonThreads {
                concurrency,
                batch: None,
                task_types,
                work_ms,
            },
        );
        config.payload_bytes = payload_bytes;
        config
    }

    /// The task types the client polls, given the base name: the client's own naming
    /// ([`task_type_names`]).
    pub fn task_types(&self, base: &str) -> Vec<String> {
        match self.client {
            Client::BatonThreads { task_types, .. } => task_type_names(base, task_types),
            _ => vec![base.to_owned()],
        }
    }

    /// Each task's `inputData`.
    pub fn input(&self) -> serde_json::Value {
        payload_input(self.payload_bytes)
    }

    fn plain(mut self) -> Self {
        self.no_update_v2 = true;
        self
    }

    fn quick(mut self) -> Self {
        self.quick = true;
        self
    }

    /// What the client needs before it can run.
    pub fn needs(&self) -> Needs {
        match self.client {
            Client::BatonThreads { .. }
            | Client::BatonProcesses { .. }
            | Client::Ceiling { .. } => Needs::Workspace,
            Client::RustSdk { .. } => Needs::RustSdk,
            Client::ConductorPython { .. } | Client::Swift { .. } => Needs::PythonSdks,
            Client::BatonPython { .. } => Needs::BatonPython,
        }
    }

    /// Whether the client is stopped by closing its stdin (the Python scripts, which then
    /// kill their process group) rather than by SIGTERM (which the Rust clients drain on).
    pub fn stops_on_stdin_close(&self) -> bool {
        matches!(self.needs(), Needs::PythonSdks)
    }

    /// The command that starts the client against `url`, polling `task_type`.
    pub fn command(&self, programs: &Programs<'_>, url: &str, task_type: &str) -> Command {
        let python_script = |path: &str| {
            let mut command = Command::new(programs.python);
            command
                .arg(programs.root.join(path))
                .env("PYTHONPATH", programs.root.join("tests/python"))
                .env("PYTHONUNBUFFERED", "1")
                .env("PYTHONDONTWRITEBYTECODE", "1");
            command
        };
        let mut command = match &self.client {
            Client::BatonThreads {
                concurrency,
                batch,
                task_types,
                work_ms,
            } => {
                let mut command = Command::new(programs.bin.join("baton_worker"));
                command.args(["--concurrency", &concurrency.to_string()]);
                if let Some(batch) = batch {
                    command.args(["--batch-size", &batch.to_string()]);
                }
                if *task_types > 1 {
                    command.args(["--task-types", &task_types.to_string()]);
                }
                if *work_ms > 0 {
                    command.args(["--work-ms", &work_ms.to_string()]);
                }
                command
            }
            Client::BatonProcesses {
                processes,
                concurrency,
            } => {
                let mut command = Command::new(programs.bin.join("baton_worker"));
                command.args([
                    "--concurrency",
                    &concurrency.to_string(),
                    "--placement",
                    "processes",
                    "--processes",
                    &processes.to_string(),
                ]);
                command
            }
            Client::Ceiling { updates } => {
                let mut command = Command::new(programs.bin.join("ceiling_loop"));
                command.args(["--updates", &updates.to_string(), "--server", url]);
                command
            }
            Client::RustSdk { threads } => {
                let mut command = Command::new(programs.bin.join("rust-sdk-peer"));
                command.args(["--thread-count", &threads.to_string()]);
                command
            }
            Client::ConductorPython {
                processes,
                threads,
                asynchronous,
            } => {
                let mut command = python_script("bench/peers/python/conductor_noop.py");
                command.args([
                    "--processes",
                    &processes.to_string(),
                    "--threads",
                    &threads.to_string(),
                    "--mode",
                    if *asynchronous { "async" } else { "sync" },
                ]);
                command
            }
            Client::Swift { processes } => {
                let mut command = python_script("bench/peers/python/swift_noop.py");
                command.args(["--processes", &processes.to_string()]);
                command
            }
            Client::BatonPython { concurrency } => {
                let mut command = python_script(BATON_PYTHON_SCRIPT);
                command.args(["--concurrency", &concurrency.to_string()]);
                command
            }
        };
        command
            .args(["--task-type", task_type])
            .env("CONDUCTOR_SERVER_URL", url)
            .env("RUST_LOG", "warn");
        command
    }
}

/// The no-op worker script Baton's Python package provides for the harness: it takes
/// `--task-type` and `--concurrency`, reads `CONDUCTOR_SERVER_URL`, and drains on SIGTERM.
pub const BATON_PYTHON_SCRIPT: &str = "bindings/python/bench/noop_worker.py";

/// Every configuration, in the order they run within a repetition.
pub fn all() -> Vec<Config> {
    let threads = |concurrency, batch: Option<usize>| {
        let name = match batch {
            Some(b) => format!("baton-threads-c{concurrency}-b{b}"),
            None => format!("baton-threads-c{concurrency}"),
        };
        let description = match batch {
            Some(b) => format!("Baton, threads, concurrency {concurrency}, batch {b}"),
            None => format!("Baton, threads, concurrency {concurrency}"),
        };
        Config::new(
            &name,
            &description,
            Family::Baton,
            Client::BatonThreads {
                concurrency,
                batch,
                task_types: 1,
                work_ms: 0,
            },
        )
    };
    vec![
        threads(16, None),
        threads(64, None),
        threads(256, None).quick(),
        threads(1024, None),
        threads(256, Some(32)),
        Config::new(
            "baton-processes-c256",
            "Baton, process placement (one worker process), concurrency 256",
            Family::Baton,
            Client::BatonProcesses {
                processes: 1,
                concurrency: 256,
            },
        )
        .quick(),
        Config::new(
            "baton-processes-2x128",
            "Baton, process placement, 2 worker processes × concurrency 128 (256 in all)",
            Family::Baton,
            Client::BatonProcesses {
                processes: 2,
                concurrency: 128,
            },
        ),
        Config::new(
            "ceiling-loop-k16",
            "ceiling loop: batch poll 100, 16 updates in flight, 1 thread",
            Family::Ceiling,
            Client::Ceiling { updates: 16 },
        )
        .quick(),
        Config::new(
            "rust-sdk-t16",
            "Rust conductor-sdk 0.2, thread_count 16",
            Family::Peer,
            Client::RustSdk { threads: 16 },
        ),
        Config::new(
            "conductor-python-plain-2x1",
            "conductor-python 2.0.0, 2 processes × 1 thread, plain API (no update-v2)",
            Family::Peer,
            Client::ConductorPython {
                processes: 2,
                threads: 1,
                asynchronous: false,
            },
        )
        .plain()
        .quick(),
        Config::new(
            "conductor-python-plain-1x1",
            "conductor-python 2.0.0, 1 process × 1 thread, plain API (no update-v2)",
            Family::Peer,
            Client::ConductorPython {
                processes: 1,
                threads: 1,
                asynchronous: false,
            },
        )
        .plain(),
        Config::new(
            "conductor-python-async-c16",
            "conductor-python 2.0.0, async def, 1 process, concurrency 16, update-v2",
            Family::Peer,
            Client::ConductorPython {
                processes: 1,
                threads: 16,
                asynchronous: true,
            },
        ),
        Config::new(
            "swift-2p",
            "swift-conductor-client 1.2.0, 2 processes, 1 ms poll interval",
            Family::Peer,
            Client::Swift { processes: 2 },
        ),
        Config::new(
            "baton-python-c64",
            "baton_conductor (Baton's Python package), concurrency 64",
            Family::Baton,
            Client::BatonPython { concurrency: 64 },
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_quick_covers_baton_ceiling_and_a_peer() {
        let configs = all();
        let mut names: Vec<&str> = configs.iter().map(|c| c.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), configs.len());
        let quick: Vec<&Config> = configs.iter().filter(|c| c.quick).collect();
        for family in [Family::Baton, Family::Ceiling, Family::Peer] {
            assert!(quick.iter().any(|c| c.family == family), "{family:?}");
        }
        assert!(quick.iter().all(|c| c.needs() != Needs::RustSdk));
    }

    #[test]
    fn scaling_configurations_pass_their_knobs_and_name_their_types() {
        let programs = Programs {
            root: Path::new("/repo"),
            bin: Path::new("/repo/target/harness/bin"),
            python: Path::new("/venv/bin/python"),
        };
        let args = |config: &Config| -> Vec<String> {
            config
                .command(&programs, "http://127.0.0.1:1/api", "bench")
                .get_args()
                .map(|a| a.to_string_lossy().into_owned())
                .collect()
        };
        let many = Config::baton_scaling("s", "s", 256, 100, 2000, 10);
        let many_args = args(&many);
        for pair in [["--task-types", "100"], ["--work-ms", "2000"]] {
            assert!(many_args.windows(2).any(|w| w == pair), "{many_args:?}");
        }
        assert_eq!(many.task_types("bench").len(), 100);
        assert_eq!(many.task_types("bench")[0], "bench-0");
        assert_eq!(many.input()["data"].as_str().map(str::len), Some(10));
        let plain = Config::baton_scaling("p", "p", 64, 1, 0, 0);
        let plain_args = args(&plain);
        assert!(
            !plain_args
                .iter()
                .any(|a| a == "--task-types" || a == "--work-ms"),
            "{plain_args:?}"
        );
        assert_eq!(plain.task_types("bench"), ["bench"]);
        assert_eq!(plain.input(), serde_json::json!({}));
    }

    #[test]
    fn commands_name_the_task_type_and_server() {
        let root = Path::new("/repo");
        let programs = Programs {
            root,
            bin: Path::new("/repo/target/harness/bin"),
            python: Path::new("/venv/bin/python"),
        };
        for config in all() {
            let command = config.command(&programs, "http://127.0.0.1:1/api", "bench");
            let args: Vec<String> = command
                .get_args()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            assert!(
                args.windows(2).any(|w| w == ["--task-type", "bench"]),
                "{args:?}"
            );
            let url = command
                .get_envs()
                .find(|(k, _)| *k == "CONDUCTOR_SERVER_URL")
                .and_then(|(_, v)| v);
            assert_eq!(url.and_then(|v| v.to_str()), Some("http://127.0.0.1:1/api"));
        }
    }
}
