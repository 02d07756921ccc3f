//! [`MockServer`]: the mock running in-process, with its builder and handle.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::{Auth, Credentials};
use crate::core::{
    Core, CoreConfig, DEFAULT_IDLE_EVICT, DEFAULT_POSTPONE, EnqueueRequest, Enqueued,
    LedgerSnapshot,
};
use crate::error::ApiError;
use crate::external::{ExternalEnqueued, ExternalPayload, ExternalStore};
use crate::faults::{FaultRule, Faults};
use crate::http::{self, App, HttpOptions};
use crate::tls::{TlsError, TlsIdentity};

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// TLS could not be set up from the identity given.
    #[error("cannot set up TLS: {0}")]
    Tls(#[from] TlsError),
    /// The address could not be bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// Options of a [`MockServer`]; build with [`MockServer::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct MockServerBuilder {
    bind: IpAddr,
    port: u16,
    update_v2: bool,
    seed: u64,
    sweeper_period: Duration,
    active_domain_window: Duration,
    max_output_bytes: usize,
    max_body_bytes: usize,
    keep_ended: usize,
    keep_workflows: usize,
    auth: Option<Credentials>,
    token_ttl: Duration,
    tls: Option<TlsIdentity>,
    long_poll_recheck: Duration,
    postpone: Duration,
    idle_evict: Duration,
    max_system_steps: usize,
    empty_batch_204: bool,
    header_read_timeout: Duration,
    max_connections: usize,
}

/// The longest [`MockServerBuilder::header_read_timeout`] (one day; longer values are
/// taken as this).
pub const MAX_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);
/// The most [`MockServerBuilder::max_connections`] (larger values are taken as this).
pub const MAX_CONNECTIONS: usize = 1_000_000;
/// The default of [`MockServerBuilder::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// The default of [`MockServerBuilder::header_read_timeout`].
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

impl Default for MockServerBuilder {
    fn default() -> Self {
        Self {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            update_v2: true,
            seed: 0,
            sweeper_period: Duration::from_millis(100),
            active_domain_window: Duration::from_secs(10),
            max_output_bytes: 10 * 1024 * 1024,
            max_body_bytes: 64 * 1024 * 1024,
            keep_ended: 10_000,
            keep_workflows: 10_000,
            auth: None,
            token_ttl: Duration::from_secs(3600),
            tls: None,
            long_poll_recheck: Duration::from_millis(100),
            postpone: DEFAULT_POSTPONE,
            idle_evict: DEFAULT_IDLE_EVICT,
            max_system_steps: crate::core::DEFAULT_MAX_SYSTEM_STEPS,
            empty_batch_204: false,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

impl MockServerBuilder {
    /// The address to listen on (default 127.0.0.1).
    pub fn bind(mut self, addr: IpAddr) -> Self {
        self.bind = addr;
        self
    }

    /// The port (default 0: a free one; the binary defaults to 8080).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Serve `POST /api/tasks/update-v2` (default true); off, it answers 404.
    pub fn update_v2(mut self, on: bool) -> Self {
        self.update_v2 = on;
        self
    }

    /// Seed for fault probabilities, retry jitter and tokens (default 0).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// How often the response-timeout sweeper runs (default 100 ms).
    pub fn sweeper_period(mut self, period: Duration) -> Self {
        self.sweeper_period = period;
        self
    }

    /// How recent a poll must be for its domain to count as active when a workflow task is
    /// scheduled (default 10 s, the server's `activeWorkerLastPollTimeout`).
    pub fn active_domain_window(mut self, window: Duration) -> Self {
        self.active_domain_window = window;
        self
    }

    /// Output payload limit (default 10 MB): a larger output is accepted with 200, then the
    /// task ends FAILED_WITH_TERMINAL_ERROR.
    pub fn max_output_bytes(mut self, bytes: usize) -> Self {
        self.max_output_bytes = bytes;
        self
    }

    /// Request body limit (default 64 MB), answered with 413 above it.
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// How many ended tasks stay readable via `GET /api/tasks/{id}` (default 10 000).
    pub fn keep_ended(mut self, count: usize) -> Self {
        self.keep_ended = count;
        self
    }

    /// How many ended workflows stay readable via `GET /api/workflow/{id}` (default 10 000);
    /// older ones are evicted with their tasks.
    pub fn keep_workflows(mut self, count: usize) -> Self {
        self.keep_workflows = count;
        self
    }

    /// Require Orkes-style auth with this key id and secret.
    pub fn auth(mut self, credentials: Credentials) -> Self {
        self.auth = Some(credentials);
        self
    }

    /// Lifetime of tokens minted by `POST /api/token` (default 1 h).
    pub fn token_ttl(mut self, ttl: Duration) -> Self {
        self.token_ttl = ttl;
        self
    }

    /// Serve HTTPS with this certificate and key (and, if the identity says so, require client
    /// certificates). `base_url()` then starts with `https://`.
    pub fn tls(mut self, identity: TlsIdentity) -> Self {
        self.tls = Some(identity);
        self
    }

    /// How often a waiting long poll re-checks its queue even without a wake-up (default
    /// 100 ms, as the server's SQL queues do). A push to the queue wakes waiting polls at once
    /// regardless; tests set this high to prove it.
    pub fn long_poll_recheck(mut self, period: Duration) -> Self {
        self.long_poll_recheck = period;
        self
    }

    /// How long a task held back by its definition's `concurrentExecLimit` or
    /// `rateLimitPerFrequency` stays postponed (default 60 s, the server's
    /// `taskExecutionPostponeDuration`). A terminal update of a concurrency-limited task
    /// releases the next one of its queue at once regardless.
    pub fn postpone(mut self, duration: Duration) -> Self {
        self.postpone = duration;
        self
    }

    /// How many system-task steps one decision may run in a row before the workflow is
    /// failed as an endless loop (default 10 000).
    pub fn max_system_steps(mut self, steps: usize) -> Self {
        self.max_system_steps = steps;
        self
    }

    /// After how long an unused task type is forgotten: a type whose queues are empty and
    /// that nobody pushed to or polled for this long loses its queues, poll data and the logs
    /// of its ended tasks (default 1 h).
    pub fn idle_evict(mut self, after: Duration) -> Self {
        self.idle_evict = after;
        self
    }

    /// Answer an empty batch poll with 204 and no body, as servers before v3.21.20 did
    /// (default false: 200 with `[]`).
    pub fn empty_batch_204(mut self, on: bool) -> Self {
        self.empty_batch_204 = on;
        self
    }

    /// How long a client may take to send a request's headers (default 30 s, at most
    /// [`MAX_HEADER_READ_TIMEOUT`]); the connection is closed after it. An idle keep-alive
    /// connection counts as waiting for headers, so it is closed after this long too.
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// How many connections are served at once (default 10 000, at most
    /// [`MAX_CONNECTIONS`]); further clients wait in the listen backlog until one closes.
    pub fn max_connections(mut self, count: usize) -> Self {
        self.max_connections = count;
        self
    }

    /// Binds and starts serving on the current tokio runtime.
    pub async fn start(self) -> Result<MockServer, StartError> {
        let acceptor = self.tls.as_ref().map(TlsIdentity::acceptor).transpose()?;
        let scheme = if acceptor.is_some() { "https" } else { "http" };
        let addr = SocketAddr::new(self.bind, self.port);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| StartError::Bind { addr, source })?;
        let core = Arc::new(Core::new(CoreConfig {
            seed: self.seed,
            max_output_bytes: self.max_output_bytes,
            keep_ended: self.keep_ended,
            active_domain_window: self.active_domain_window,
            keep_workflows: self.keep_workflows,
            postpone: self.postpone,
            idle_evict: self.idle_evict,
            max_system_steps: self.max_system_steps,
        }));
        let shutdown = CancellationToken::new();
        let app = Arc::new(App {
            core: Arc::clone(&core),
            faults: Arc::new(Faults::new(self.seed)),
            external: ExternalStore::default(),
            auth: self
                .auth
                .map(|creds| Auth::new(creds, self.token_ttl, self.seed)),
            options: HttpOptions {
                update_v2: self.update_v2,
                max_body_bytes: self.max_body_bytes,
                recheck: self.long_poll_recheck.max(Duration::from_millis(1)),
                empty_batch_204: self.empty_batch_204,
                header_read_timeout: self
                    .header_read_timeout
                    .clamp(Duration::from_millis(1), MAX_HEADER_READ_TIMEOUT),
                max_connections: self.max_connections.clamp(1, MAX_CONNECTIONS),
            },
            shutdown: shutdown.clone(),
            waiting_polls: Default::default(),
            api_requests: Default::default(),
        });
        app.external.set_origin(format!("http://{local}"));
        let tracker = TaskTracker::new();
        tracker.spawn(sweeper(
            Arc::clone(&core),
            self.sweeper_period,
            shutdown.clone(),
        ));
        tracker.spawn(http::serve(
            listener,
            acceptor,
            Arc::clone(&app),
            tracker.clone(),
        ));
        tracing::info!(addr = %local, scheme, "baton-mock listening");
        Ok(MockServer {
            addr: local,
            scheme,
            app,
            tracker,
            shutdown,
        })
    }
}

async fn sweeper(core: Arc<Core>, period: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(period.max(Duration::from_millis(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = tick.tick() => {
                let timed_out = core.sweep();
                if timed_out > 0 {
                    tracing::debug!(timed_out, "response timeouts");
                }
            }
        }
    }
}

/// A running mock. Dropping it stops the server; [`MockServer::shutdown`] also waits until
/// every connection and background task has finished.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use baton_mock::{EnqueueRequest, MockServer};
/// let mock = MockServer::start().await?;
/// mock.enqueue(EnqueueRequest::new("encode", 10));
/// // point a worker at mock.base_url() ...
/// assert_eq!(mock.ledger().lost, 0);
/// mock.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct MockServer {
    addr: SocketAddr,
    /// `http` or `https`.
    scheme: &'static str,
    app: Arc<App>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

impl MockServer {
    /// A builder with the defaults (127.0.0.1, a free port, update-v2 on, no auth).
    pub fn builder() -> MockServerBuilder {
        MockServerBuilder::default()
    }

    /// Starts a mock with the defaults.
    pub async fn start() -> Result<Self, StartError> {
        Self::builder().start().await
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The Conductor base URL, e.g. `http://127.0.0.1:41234/api` (what `CONDUCTOR_SERVER_URL`
    /// should be); `https://` when the mock serves TLS.
    pub fn base_url(&self) -> String {
        format!("{}://{}/api", self.scheme, self.addr)
    }

    /// The admin API's base URL, e.g. `http://127.0.0.1:41234/admin`.
    pub fn admin_url(&self) -> String {
        format!("{}://{}/admin", self.scheme, self.addr)
    }

    /// The synchronous core, for direct reads and writes from tests.
    pub fn core(&self) -> &Arc<Core> {
        &self.app.core
    }

    /// How many auth tokens `POST /api/token` has minted (0 without auth).
    pub fn tokens_minted(&self) -> u64 {
        self.app.auth.as_ref().map_or(0, crate::auth::Auth::minted)
    }

    /// How many API calls were refused with 401 for a missing, unknown or expired token.
    pub fn auth_refusals(&self) -> u64 {
        self.app.auth.as_ref().map_or(0, crate::auth::Auth::refused)
    }

    /// The fault rules.
    pub fn faults(&self) -> &Faults {
        &self.app.faults
    }

    /// Adds fault rules (same as `POST /admin/faults`).
    pub fn install_faults(&self, rules: impl IntoIterator<Item = FaultRule>) {
        self.app.faults.install(rules);
    }

    /// Enqueues tasks (same as `POST /admin/enqueue`) and wakes waiting polls.
    pub fn enqueue(&self, request: EnqueueRequest) -> Enqueued {
        self.app.core.enqueue(request)
    }

    /// Enqueues tasks whose input sits in external payload storage (same as
    /// `POST /admin/enqueue-external`): they are handed out with an empty `inputData` and
    /// `externalInputPayloadStoragePath` set, and the input is served where
    /// `GET /api/tasks/externalstoragelocation` points (or, with
    /// [`ExternalPayload::Missing`], is not: fetching it gets 404). Fails only if the input
    /// does not serialize.
    pub fn enqueue_external(
        &self,
        request: EnqueueRequest,
        payload: ExternalPayload,
    ) -> Result<ExternalEnqueued, ApiError> {
        self.app.external.enqueue(&self.app.core, request, payload)
    }

    /// The ledger, fault counters included (same as `GET /admin/ledger`).
    pub fn ledger(&self) -> LedgerSnapshot {
        http::admin_ledger(&self.app)
    }

    /// Forgets all tasks, logs, poll data, ledger entries and fault rules.
    pub fn reset(&self) {
        self.app.core.reset();
        self.app.external.clear();
        self.app.faults.clear();
    }

    /// How many long polls (single or batch) are waiting for tasks right now: a test can await
    /// a count before it pushes, so the push has to wake a waiting poll.
    pub fn waiting_polls(&self) -> usize {
        self.app
            .waiting_polls
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The configured active-domain window.
    pub fn active_domain_window(&self) -> Duration {
        self.app.core.config().active_domain_window
    }

    /// Stops accepting, ends open connections (waiting long polls return at once) and waits
    /// for every task the server spawned.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
