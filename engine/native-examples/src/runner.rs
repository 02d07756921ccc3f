//! Runs the native workers in a process-placed host (`Placement::Processes`): each worker in a
//! supervised OS process of its own, so native code that aborts takes down one worker process,
//! which the host restarts, and never the host or the other workers.
//!
//! Three ways to run, chosen by [`Runner::prepare`]:
//!
//! - against `CONDUCTOR_SERVER_URL` until SIGINT/SIGTERM;
//! - with no URL, against a baton-mock embedded in the parent process, until SIGINT/SIGTERM
//!   (tasks come through the mock's admin API, printed at start);
//! - with `--tasks N`, against an embedded baton-mock holding N tasks per worker: stops once
//!   every task has finished, checks each result, and fails when one is missing or wrong.
//!
//! With process placement the program runs again once per worker, with
//! `BATON_WORKER_PROCESS` set; such a child only runs its worker. The children inherit the
//! parent's environment, so the parent sets `CONDUCTOR_SERVER_URL` to its embedded mock before
//! it starts anything else, and the children find it there.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use baton::logging::{LogFormat, LoggingError, init_logging};
use baton::model::TaskStatus;
use baton::{HostError, Placement, ShutdownReport, WorkerHost, WorkerSpec};
use baton_mock::{EnqueueRequest, MockServer, StartError};

use crate::sum::{SumInput, SumOutput};

/// The variable the host reads the server's URL from.
pub const SERVER_URL_VAR: &str = "CONDUCTOR_SERVER_URL";
/// The variable that marks a worker process of a process-placed host.
pub const WORKER_PROCESS_VAR: &str = "BATON_WORKER_PROCESS";
/// How long `--tasks` waits for its tasks to finish.
const TASKS_DEADLINE: Duration = Duration::from_secs(120);

/// The command-line options every native example takes.
#[derive(Debug, Clone, clap::Args)]
pub struct RunOptions {
    /// Enqueue this many tasks per worker into an embedded baton-mock, stop once all have
    /// finished and check every result (`CONDUCTOR_SERVER_URL` is then ignored).
    #[arg(long)]
    pub tasks: Option<u64>,
    /// Tasks each worker runs at once (in its worker process).
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
}

/// Running the host failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The host could not be built, started or stopped.
    #[error(transparent)]
    Host(#[from] HostError),
    /// Logging could not be set up.
    #[error(transparent)]
    Logging(#[from] LoggingError),
    /// No port could be reserved for the embedded baton-mock.
    #[error("cannot reserve a port for the embedded baton-mock: {0}")]
    Port(#[source] std::io::Error),
    /// The embedded baton-mock did not start.
    #[error("cannot start the embedded baton-mock: {0}")]
    Mock(#[from] StartError),
    /// This process's threads could not be counted (`/proc/self/task`).
    #[error("cannot count this process's threads: {0}")]
    Threads(#[source] std::io::Error),
    /// `Runner::prepare` was called with other threads running.
    #[error(
        "Runner::prepare must run before any other thread starts (it sets CONDUCTOR_SERVER_URL); \
         this process has {threads} threads"
    )]
    NotFirst {
        /// The threads counted.
        threads: usize,
    },
    /// The Tokio runtime of the embedded baton-mock did not start.
    #[error("cannot start a Tokio runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// `--tasks`: a task did not finish in time, or finished with a wrong result.
    #[error("{0}")]
    Check(String),
    /// The host stopped without draining every worker process cleanly.
    #[error("the host did not drain cleanly")]
    Unclean,
}

impl RunError {
    /// The exit status the program should end with: the host's for a host error (e.g. 130
    /// after a second SIGINT), 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Host(err) => err.exit_code(),
            _ => 1,
        }
    }
}

/// Where the host's tasks come from, decided before any thread starts.
#[derive(Debug)]
pub enum Runner {
    /// A worker process of a process-placed host: run its worker against the parent's server.
    WorkerProcess,
    /// `CONDUCTOR_SERVER_URL`, until SIGINT/SIGTERM.
    Server,
    /// A baton-mock embedded in this process, on `port`; with `tasks`, that many tasks per
    /// worker, then stop.
    Embedded {
        /// The port reserved for the mock (`CONDUCTOR_SERVER_URL` points at it).
        port: u16,
        /// `--tasks`.
        tasks: Option<u64>,
    },
}

impl Runner {
    /// Decides how to run, and for an embedded mock reserves its port and points
    /// `CONDUCTOR_SERVER_URL` at it so the worker processes find it. Call it first in `main`,
    /// before anything starts a thread: changing the environment is sound only then, so with
    /// other threads running it returns [`RunError::NotFirst`].
    pub fn prepare(options: &RunOptions) -> Result<Self, RunError> {
        if std::env::var_os(WORKER_PROCESS_VAR).is_some() {
            return Ok(Self::WorkerProcess);
        }
        if options.tasks.is_none() && std::env::var_os(SERVER_URL_VAR).is_some() {
            return Ok(Self::Server);
        }
        // A free port now; the mock binds it once the runtime is up. (If something else takes
        // it meanwhile, the mock fails to start and says so.)
        let port = std::net::TcpListener::bind(("127.0.0.1", 0))
            .and_then(|listener| listener.local_addr())
            .map_err(RunError::Port)?
            .port();
        set_server_url(&format!("http://127.0.0.1:{port}/api"))?;
        Ok(Self::Embedded {
            port,
            tasks: options.tasks,
        })
    }

    /// Runs `workers` process-placed, as [`Runner::prepare`] decided. Every run of the program
    /// (the parent and each worker process) must pass the same workers in the same order.
    pub fn run(self, workers: Vec<WorkerSpec>) -> Result<(), RunError> {
        let _logging = init_logging(LogFormat::from_env()?)?;
        match self {
            Self::WorkerProcess => {
                host(workers)?.run()?;
                Ok(())
            }
            Self::Server => drained(host(workers)?.run()?),
            Self::Embedded { port, tasks } => {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                    .map_err(RunError::Runtime)?;
                let mock = runtime.block_on(MockServer::builder().port(port).start())?;
                let outcome = match tasks {
                    Some(tasks) => runtime.block_on(run_tasks(&mock, tasks, workers)),
                    None => {
                        println!(
                            "baton-mock listening on {}; enqueue tasks with POST {}/enqueue",
                            mock.base_url(),
                            mock.admin_url()
                        );
                        // The mock runs on the runtime's thread; the host blocks this one.
                        host(workers)
                            .and_then(WorkerHost::run)
                            .map_err(RunError::from)
                            .and_then(drained)
                    }
                };
                runtime.block_on(mock.shutdown());
                outcome
            }
        }
    }
}

/// Points the host, and the worker processes it starts, at `url`; refuses when this process
/// has more than one thread, since another thread could be reading the environment.
#[allow(unsafe_code)]
fn set_server_url(url: &str) -> Result<(), RunError> {
    let threads = std::fs::read_dir("/proc/self/task")
        .map_err(RunError::Threads)?
        .count();
    if threads != 1 {
        return Err(RunError::NotFirst { threads });
    }
    // SAFETY: this thread is the process's only one (just counted; only it could start
    // another), so nothing reads or writes the environment concurrently.
    unsafe { std::env::set_var(SERVER_URL_VAR, url) };
    Ok(())
}

/// The process-placed host of `workers`; configuration from the environment and worker.ini,
/// as usual.
fn host(workers: Vec<WorkerSpec>) -> Result<WorkerHost, HostError> {
    workers
        .into_iter()
        .fold(
            WorkerHost::builder().placement(Placement::Processes),
            |builder, worker| builder.worker(worker),
        )
        .build()
}

/// Prints "drained cleanly" for a clean stop; an error otherwise.
fn drained(report: ShutdownReport) -> Result<(), RunError> {
    if report.clean {
        println!("drained cleanly");
        Ok(())
    } else {
        Err(RunError::Unclean)
    }
}

/// `--tasks`: enqueues `tasks` tasks per worker, runs the host until all have finished, and
/// checks that each completed with the right sum in a worker process.
async fn run_tasks(
    mock: &MockServer,
    tasks: u64,
    workers: Vec<WorkerSpec>,
) -> Result<(), RunError> {
    let mut expected = Vec::new();
    for worker in &workers {
        for k in 0..tasks {
            let term = (k % 1_000_000) as i32;
            let input = SumInput {
                a: term,
                b: 1 - 2 * term,
            };
            let map = match serde_json::to_value(input) {
                Ok(serde_json::Value::Object(map)) => map,
                _ => return Err(RunError::Check(format!("{input:?} is not a JSON object"))),
            };
            let id = mock
                .enqueue(EnqueueRequest::new(worker.task_type(), 1).input(map))
                .last_task_id;
            expected.push((worker.task_type().to_owned(), id, input));
        }
    }
    let total = expected.len() as u64;
    let handle = host(workers)?.start()?;
    let started = Instant::now();
    let finished = loop {
        let ledger = mock.ledger();
        if ledger.completed + ledger.failed + ledger.failed_terminal >= total {
            break true;
        }
        if started.elapsed() > TASKS_DEADLINE {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let elapsed = started.elapsed();
    let report = handle.shutdown_async().await;
    if !finished {
        return Err(RunError::Check(format!(
            "only {:?} of {total} tasks finished within {TASKS_DEADLINE:?}",
            mock.ledger()
        )));
    }

    let mut pids = BTreeSet::new();
    for (task_type, id, input) in &expected {
        let task = mock
            .core()
            .task(id)
            .map_err(|err| RunError::Check(format!("task {id}: {err}")))?;
        let output: Option<SumOutput> =
            serde_json::from_value(serde_json::Value::Object(task.output_data)).ok();
        let right = task.status == Some(TaskStatus::Completed)
            && output.is_some_and(|o| i64::from(o.sum) == i64::from(input.a) + i64::from(input.b))
            && output.is_some_and(|o| o.pid != std::process::id());
        if !right {
            return Err(RunError::Check(format!(
                "{task_type} task {id} with {input:?}: {:?}, output {output:?}, reason {:?}",
                task.status, task.reason_for_incompletion
            )));
        }
        pids.extend(output.map(|o| (task_type.as_str(), o.pid)));
    }
    println!(
        "{total} tasks in {:.2} s, every sum right, run by the worker processes {pids:?}",
        elapsed.as_secs_f64()
    );
    drained(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_url_is_not_set_while_another_thread_runs() {
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let other = std::thread::spawn(move || wait.recv());
        let before = std::env::var_os(SERVER_URL_VAR);
        match set_server_url("http://127.0.0.1:9/api") {
            Err(RunError::NotFirst { threads }) => assert!(threads >= 2, "{threads}"),
            other => panic!("set with another thread running: {other:?}"),
        }
        assert_eq!(std::env::var_os(SERVER_URL_VAR), before);
        release.send(()).unwrap();
        other.join().unwrap().unwrap();
    }
}
