//! Two Baton workers that call C++, each in a worker process of its own
//! (`Placement::Processes`):
//!
//! - `native_sum` calls `get_sum` of `cpp/checked_sum.cpp`, linked into this program through
//!   FFI (the build script compiles it with the `cc` crate);
//! - `native_sum_dylib` calls `get_sum` of a shared library opened at run time with
//!   `libloading` (by default the one the build script compiled from `cpp/checked_sum.cpp`; choose
//!   another with `--library PATH` or `BATON_NATIVE_LIBRARY`).
//!
//! Input `{"a": 2, "b": 3}`, output `{"sum": 5, "pid": <the worker process>}`. A sum that
//! overflows 32 bits (e.g. `{"a": 2147483647, "b": 1}`) makes the C++ code abort: the worker
//! process dies of SIGABRT and the host restarts it; the other worker is not affected.
//!
//! ```text
//! cargo run -p baton-native-examples --bin native_workers                 # embedded baton-mock
//! cargo run -p baton-native-examples --bin native_workers -- --tasks 200  # 200 tasks each, then stop
//! CONDUCTOR_SERVER_URL=http://localhost:8080/api cargo run -p baton-native-examples --bin native_workers
//! ```

use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;

use baton::{FnWorker, Input, Json};
use baton_native_examples::dylib::{BUILT_LIBRARY, SumLibrary};
use baton_native_examples::ffi;
use baton_native_examples::runner::{RunOptions, Runner};
use baton_native_examples::sum::{DYLIB_TASK_TYPE, FFI_TASK_TYPE, SumInput, SumOutput};
use clap::Parser;

/// Two Baton workers that call C++ (`native_sum` through FFI, `native_sum_dylib` from a shared
/// library loaded at run time), each in a worker process of its own, against
/// CONDUCTOR_SERVER_URL or an embedded baton-mock.
#[derive(Debug, Parser)]
struct Args {
    #[command(flatten)]
    run: RunOptions,
    /// The shared library `native_sum_dylib` loads `get_sum` from.
    #[arg(long, env = "BATON_NATIVE_LIBRARY", default_value = BUILT_LIBRARY)]
    library: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    // First: it may set CONDUCTOR_SERVER_URL for the worker processes.
    let runner = match Runner::prepare(&args.run) {
        Ok(runner) => runner,
        Err(err) => return fail(&err, err.exit_code()),
    };
    let library = match SumLibrary::load(&args.library) {
        Ok(library) => library,
        Err(err) => return fail(&err, 1),
    };

    // Blocking workers: native calls run on the worker's own threads, never on its arbiter.
    let linked = FnWorker::blocking(FFI_TASK_TYPE, |Input(input): Input<SumInput>| {
        Json(SumOutput::here(ffi::get_sum(input.a, input.b)))
    })
    .concurrency(args.run.concurrency);
    let loaded = FnWorker::blocking(DYLIB_TASK_TYPE, move |Input(input): Input<SumInput>| {
        Json(SumOutput::here(library.get_sum(input.a, input.b)))
    })
    .concurrency(args.run.concurrency);

    match runner.run(vec![linked.into(), loaded.into()]) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(&err, err.exit_code()),
    }
}

/// Reports `err` and ends with `code`.
fn fail(err: &dyn Error, code: i32) -> ExitCode {
    eprintln!("error: {err}");
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
