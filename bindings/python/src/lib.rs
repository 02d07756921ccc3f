//! `baton_conductor._native`: the Baton engine as seen from Python.
//!
//! The engine polls, batches, posts results and retries in Rust; Python only executes. Each
//! Python worker becomes an engine worker whose `execute` hands the task to a [`TaskQueue`]
//! and awaits the reply; Python threads pull [`Lease`]s from that queue with the GIL released
//! while they wait, run the worker, and complete the lease with the result. No engine thread
//! ever takes the GIL, so no Rust thread can wait on a Python thread that waits on it.

mod host;
mod queue;

use pyo3::prelude::*;

/// The native module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<host::Host>()?;
    m.add_class::<queue::TaskQueue>()?;
    m.add_class::<queue::Lease>()?;
    m.add_function(wrap_pyfunction!(host::resolve_worker_settings, m)?)?;
    Ok(())
}
