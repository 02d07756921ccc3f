//! End-to-end tests: workers run by the Baton engine against `baton-mock` over real HTTP.
//! One binary; one module per concern.

#![allow(clippy::unwrap_used, clippy::expect_used)]

/// Every worker style, end to end: sync and async functions, trait workers, typed I/O, logs.
mod worker_styles;

/// What a worker's failures become: bad input, errors, panics, IN_PROGRESS.
mod outcomes;

/// Slots and backpressure: concurrency limits, several instances, oversize poll answers.
mod backpressure;

/// Reaching the server: TLS with a private CA, mutual TLS, proxies, rotating tokens.
mod connectivity;

/// Host control: status, pause and resume, drain on shutdown.
mod host_control;

/// Task domains: a worker polls exactly its domain's queue.
mod domains;

/// Process placement: one OS process per worker, supervised.
mod processes;

/// Worker processes that die: tasks posted FAILED at once, poison tasks, restarts, control.
mod process_crashes;

/// Task domains through real workflows: taskToDomain, active domains, NO_DOMAIN.
mod workflow_domains;

/// Reliability under injected faults, servers that vanish or stall, update-v2 and v1.
mod reliability;

/// Decoding and size limits: undecodable tasks, exact digits, answers that are not JSON or too
/// large, externalized inputs, oversize outputs.
mod decoding;

/// Stalls and fault storms on default settings; when results are given up, and why.
mod stalls;

/// Shutdown and execution limits: give-ups at the grace period's end, a second signal, wedged
/// arbiters, execution timeouts, pause.
mod shutdown;

/// The operations endpoint: metrics, status, health; live concurrency.
mod operations;
