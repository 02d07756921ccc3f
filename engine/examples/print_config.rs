//! Prints each worker's effective configuration with the source of every value, one JSON object
//! per line: `cargo run -p baton --example print_config -- TASK...`. Reads the process
//! environment and worker.ini; contacts no server. A configuration error goes to stderr and the
//! exit code is 1 (2 for a usage error).

use std::io::Write;
use std::process::ExitCode;

use baton::config::{ConfigError, ConfigSources, WorkerOptions};

fn main() -> ExitCode {
    let tasks: Vec<String> = std::env::args().skip(1).collect();
    if tasks.is_empty() {
        eprintln!("usage: print_config TASK...");
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

/// Resolves every task first, so nothing is printed when any of them is misconfigured.
fn run(tasks: &[String]) -> Result<(), ConfigError> {
    let sources = ConfigSources::from_process()?;
    for (section, key) in sources.unknown_ini_keys() {
        eprintln!("warning: unknown key `{key}` in section [{section}] of worker.ini is ignored");
    }
    for name in sources.unknown_env_vars() {
        eprintln!("warning: environment variable {name} names no known property and is ignored");
    }
    let lines = tasks
        .iter()
        .map(|task| {
            sources
                .resolve_worker(task, &WorkerOptions::default())
                .map(|settings| settings.to_json().to_string())
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut stdout = std::io::stdout().lock();
    for line in lines {
        // A closed stdout (e.g. piped into `head`) is not a configuration error.
        if writeln!(stdout, "{line}").is_err() {
            break;
        }
    }
    Ok(())
}
