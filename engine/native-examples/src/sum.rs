//! The input and output of the native workers' tasks: `{"a": 2, "b": 3}` in, `{"sum": 5,
//! "pid": 4242}` out, the pid being the process that ran the task.

use serde::{Deserialize, Serialize};

/// A task's input: two 32-bit integers. A sum that does not fit in 32 bits makes the native
/// `get_sum` abort its process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub struct SumInput {
    /// The first term.
    pub a: i32,
    /// The second term.
    pub b: i32,
}

/// A task's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub struct SumOutput {
    /// `a + b`, as the native code computed it.
    pub sum: i32,
    /// The id of the process that ran the task (a worker process, with process placement).
    pub pid: u32,
}

impl SumOutput {
    /// The output of a task that this process computed as `sum`.
    pub fn here(sum: i32) -> Self {
        Self {
            sum,
            pid: std::process::id(),
        }
    }
}

/// The task type of the worker that calls the statically linked C++ (`ffi`).
pub const FFI_TASK_TYPE: &str = "native_sum";
/// The task type of the worker that calls the shared library loaded at run time (`dylib`).
pub const DYLIB_TASK_TYPE: &str = "native_sum_dylib";
