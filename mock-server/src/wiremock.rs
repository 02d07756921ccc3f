//! A wiremock front end over the same synchronous core (cargo feature `wiremock`).
//!
//! [`ConductorResponder`] implements [`wiremock::Respond`]: mount it on a `wiremock::MockServer`
//! and that server answers the Conductor API (task, metadata, workflow and admin routes) exactly
//! as the hyper server does, while wiremock adds its request journal and lets tests mount
//! scripted responses in front of it (higher priority mocks win).
//!
//! Differences from the hyper server, all because `Respond` is synchronous:
//! - polls answer at once with what is due: no 100 ms hold, no batch long-poll wait;
//! - no fault injection (wiremock cannot drop connections; script failures with mocks instead);
//! - no background sweeper: response and workflow timeouts are checked at the start of every
//!   request instead;
//! - wiremock keeps a copy of every request it matched (about 6 KB each), so memory grows with
//!   requests served: use it for functional tests, the hyper server for long runs and benchmarks.
//!
//! ```no_run
//! # async fn demo() {
//! use baton_mock::wiremock::ConductorResponder;
//! use wiremock::{Mock, MockServer, matchers::any};
//!
//! let server = MockServer::start().await;
//! let conductor = ConductorResponder::new();
//! let core = conductor.core().clone();
//! Mock::given(any()).respond_with(conductor).mount(&server).await;
//! let base_url = format!("{}/api", server.uri()); // CONDUCTOR_SERVER_URL
//! # let _ = (core, base_url);
//! # }
//! ```

use std::sync::Arc;
use std::time::Duration;

use ::wiremock::{Request, Respond, ResponseTemplate};
use bytes::Bytes;
use hyper::header::CONTENT_TYPE;
use tokio_util::sync::CancellationToken;

use crate::core::{Core, CoreConfig};
use crate::external::ExternalStore;
use crate::faults::Faults;
use crate::http::{App, HttpOptions, answer_now, body, router};

/// Answers Conductor requests from a [`Core`]; see the module docs.
#[derive(Debug, Clone)]
pub struct ConductorResponder {
    app: Arc<App>,
}

impl Default for ConductorResponder {
    fn default() -> Self {
        Self::new()
    }
}

impl ConductorResponder {
    /// A responder over a new core with the default settings, update-v2 on.
    pub fn new() -> Self {
        Self::with_core(Arc::new(Core::new(CoreConfig::default())), true)
    }

    /// A responder over `core` (shared with the caller); `update_v2` off answers 404 on
    /// `POST /api/tasks/update-v2`.
    pub fn with_core(core: Arc<Core>, update_v2: bool) -> Self {
        let seed = core.config().seed;
        Self {
            app: Arc::new(App {
                core,
                faults: Arc::new(Faults::new(seed)),
                external: ExternalStore::default(),
                auth: None,
                options: HttpOptions {
                    update_v2,
                    max_body_bytes: usize::MAX,
                    recheck: Duration::from_millis(100),
                    empty_batch_204: false,
                    header_read_timeout: crate::server::DEFAULT_HEADER_READ_TIMEOUT,
                    max_connections: crate::server::DEFAULT_MAX_CONNECTIONS,
                },
                waiting_polls: Default::default(),
                api_requests: Default::default(),
                shutdown: CancellationToken::new(),
            }),
        }
    }

    /// The core, for direct reads (ledger, workflows, queues) and writes (enqueue).
    pub fn core(&self) -> &Arc<Core> {
        &self.app.core
    }
}

impl Respond for ConductorResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.app.core.sweep();
        let path = request.url.path();
        let route = router::route(&request.method, path);
        let query = router::query_pairs(request.url.query());
        let body = Bytes::copy_from_slice(&request.body);
        let response = answer_now(&self.app, route, &request.method, path, &query, body)
            .unwrap_or_else(|e| body::error(&e));
        let (parts, payload) = response.into_parts();
        let template = ResponseTemplate::new(parts.status.as_u16());
        let bytes = payload.into_bytes();
        if bytes.is_empty() {
            return template;
        }
        let content_type = parts
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/json");
        template.set_body_raw(bytes.to_vec(), content_type)
    }
}
