//! Prints each worker's effective configuration with the source of every value, one JSON object
//! per line: `cargo run -p baton --example print_config -- TASK...`. Builds a host with one
//! no-op worker per TASK from the process environment and worker.ini; contacts no server. A
//! configuration error goes to stderr and the exit code is 1 (2 for a usage error).
//! `print_config --properties` prints the reference table of every worker property instead.

use std::io::Write;
use std::process::ExitCode;

use baton::config::ConfigSources;
use baton::model::Task;
use baton::{FnWorker, HostError, WorkerHost};

fn main() -> ExitCode {
    let tasks: Vec<String> = std::env::args().skip(1).collect();
    if tasks == ["--properties"] {
        print!("{}", baton::config::worker_properties_table());
        return ExitCode::SUCCESS;
    }
    if tasks.is_empty() {
        eprintln!("usage: print_config TASK... | print_config --properties");
        return ExitCode::from(2);
    }
    match run(&tasks) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("configuration error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Builds the host first, so nothing is printed when any worker is misconfigured.
fn run(tasks: &[String]) -> Result<(), HostError> {
    let sources = ConfigSources::from_process()?;
    for (section, key) in sources.unknown_ini_keys() {
        eprintln!("warning: unknown key `{key}` in section [{section}] of worker.ini is ignored");
    }
    for name in sources.unknown_env_vars() {
        eprintln!("warning: environment variable {name} names no known property and is ignored");
    }
    let mut builder = WorkerHost::builder().config_sources(sources);
    for task in tasks {
        builder = builder.worker(FnWorker::blocking(task.as_str(), |_: Task| ()));
    }
    let host = builder.build()?;
    let mut stdout = std::io::stdout().lock();
    for settings in host.worker_settings() {
        // A closed stdout (e.g. piped into `head`) is not a configuration error.
        if writeln!(stdout, "{}", settings.to_json()).is_err() {
            break;
        }
    }
    Ok(())
}
