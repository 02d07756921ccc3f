//! Baton workers that call native code, and what they share: [`ffi`], the C++ function
//! `get_sum` linked into the program by the build script; [`dylib`], the same function loaded
//! from a shared library at run time; [`sum`], the task's input and output; and [`runner`],
//! which runs a process-placed host against `CONDUCTOR_SERVER_URL` or an embedded baton-mock.
//!
//! Native code can abort the process it runs in, which no Rust error handling catches: these
//! workers run with `Placement::Processes`, so an abort costs one worker process (restarted by
//! the host), not the host. See docs/native.md.
//!
//! `unsafe` is allowed in this package only (the workspace denies `unsafe_code`): in the two
//! modules that call native code, and in the one function of [`runner`] that sets an
//! environment variable. Every `unsafe` block says why it is sound in a `// SAFETY:` comment,
//! which clippy's `undocumented_unsafe_blocks` enforces.

#![warn(clippy::undocumented_unsafe_blocks)]

#[allow(unsafe_code)]
pub mod dylib;
#[allow(unsafe_code)]
pub mod ffi;
pub mod runner;
pub mod sum;
