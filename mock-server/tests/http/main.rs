//! baton-mock through real HTTP on 127.0.0.1: every rule of the Conductor task API
//! (conductor-api.md §1 and §6), the admin API, faults and auth, plus metadata, workflows and
//! task domains (§4.3, §7).
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// Admin API, faults, body limit and auth.
mod admin;
/// The `baton-mock` binary.
mod cli;
/// Client helpers and the fixture.
mod common;
/// Task domains of workflow tasks (§4.3).
mod domains;
mod execute;
/// SWITCH, FORK_JOIN + JOIN, DYNAMIC, SUB_WORKFLOW, WAIT, DO_WHILE, INLINE.
mod flow_tasks;
/// Hardening: bounded enqueue, number validation, header timeout, connection cap, eviction.
mod hardening;
/// Concurrency and rate limits at poll time, postponement and release (§4.4).
mod limits;
/// Task and workflow definitions (§7.1, §7.2).
mod metadata;
mod operations;
/// Single and batch polls, long-poll waits, queues, domains, ordering, concurrency.
mod poll;
/// Reads: task, logs, queue sizes, poll data, aliases, ack.
mod reads;
mod system_tasks;
/// Task `timeoutSeconds` and `pollTimeoutSeconds` with the timeout policy (§4.2).
mod timeouts;
/// Updates: v1, v2, retries, callbacks, leases, timeouts, payload limit, errors.
mod update;
/// Workflows: start, read, terminate, the decider, timeouts, eviction (§7.3–§7.5).
mod workflow;
