//! baton-mock: an in-memory stand-in for the Conductor server, for developing and testing
//! workers without a Java service and its stores.
//!
//! It serves the worker-facing task API exactly as conductor-oss does (poll, batch long-poll,
//! update, update-v2, logs, task and queue reads, poll data; see `docs/mock-server.md`), plus an
//! admin API under `/admin` to enqueue tasks, read a ledger of what happened and inject faults.
//!
//! | piece | what it is |
//! |---|---|
//! | [`MockServer`] | the server running in-process: `start()`, `base_url()`, `ledger()`, `shutdown()` |
//! | [`Core`] | the synchronous state and rules, reachable via [`MockServer::core`] |
//! | [`LedgerSnapshot`] | counters: handed out, completed, duplicates, lost, latency, ... |
//! | [`FaultRule`] | a fault to inject: status, delay, drop before/after, malformed, truncated |
//! | [`ExternalPayload`] | tasks whose input sits in external payload storage ([`MockServer::enqueue_external`]) |
//! | `wiremock::ConductorResponder` | (feature `wiremock`) the same core behind a wiremock server |
//! | `test_util` | (feature `test-util`) an HTTP test client and `eventually`, a bounded wait |
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use baton_mock::{EnqueueRequest, FaultAction, FaultRule, MockServer};
//!
//! let mock = MockServer::builder().seed(7).start().await?;
//! mock.enqueue(EnqueueRequest::new("encode", 1_000));
//! mock.install_faults([FaultRule::new("update", FaultAction::DropAfter).probability(0.01)]);
//! // ... run a worker against mock.base_url() until it has drained the queue ...
//! let ledger = mock.ledger();
//! assert_eq!((ledger.lost, ledger.duplicate_conflicting), (0, 0));
//! assert!(ledger.duplicate_identical <= ledger.drop_after_fired);
//! mock.shutdown().await;
//! # Ok(()) }
//! ```

mod auth;
mod buffers;
pub mod core;
mod error;
mod external;
mod faults;
mod http;
pub mod ids;
mod server;
#[cfg(feature = "test-util")]
pub mod test_util;
mod tls;
#[cfg(feature = "wiremock")]
pub mod wiremock;

pub use auth::Credentials;
pub use core::{
    Core, CoreConfig, DEFAULT_IDLE_EVICT, DEFAULT_MAX_SYSTEM_STEPS, DEFAULT_POSTPONE,
    EnqueueRequest, Enqueued, HandedOut, LedgerSnapshot, MAX_ENQUEUE_COUNT, QueueKey, RerunRequest,
    UpdateKind, UpdateOutcome,
};
pub use error::ApiError;
pub use external::{ExternalEnqueued, ExternalPayload};
pub use faults::{FaultAction, FaultRule, Faults, InstalledRule};
pub use server::{
    DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_MAX_CONNECTIONS, MAX_CONNECTIONS, MAX_HEADER_READ_TIMEOUT,
    MockServer, MockServerBuilder, StartError,
};
pub use tls::{TlsError, TlsIdentity};
