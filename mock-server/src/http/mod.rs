//! The HTTP front end: a hyper 1 HTTP/1.1 server over the synchronous [`Core`].
//!
//! Per request: route it, check auth (Conductor routes only), apply a fault if a rule fires,
//! read the body under the size limit, run the handler, then apply after-effects of the fault
//! (drop, malformed or truncated answer). Long polls wait here, never inside the core.

mod admin;
mod api;
pub(crate) mod body;
mod execute;
#[cfg(test)]
mod props;
pub(crate) mod router;
mod workflow;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::CONTENT_LENGTH;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::Auth;
use crate::core::Core;
use crate::error::ApiError;
use crate::external::ExternalStore;
use crate::faults::{FaultAction, Faults};
use body::Resp;
use router::Route;

/// Settings the HTTP layer needs.
#[derive(Debug, Clone)]
pub(crate) struct HttpOptions {
    pub(crate) update_v2: bool,
    pub(crate) max_body_bytes: usize,
    /// How often a waiting long poll re-checks its queue without a wake-up (default 100 ms,
    /// the server's SQL queues).
    pub(crate) recheck: Duration,
    /// Answer an empty batch poll 204 (servers before v3.21.20) instead of `[]`.
    pub(crate) empty_batch_204: bool,
    /// How long a client may take to send request headers.
    pub(crate) header_read_timeout: Duration,
    /// How many connections are served at once.
    pub(crate) max_connections: usize,
}

/// Everything a request handler can reach.
#[derive(Debug)]
pub(crate) struct App {
    pub(crate) core: Arc<Core>,
    pub(crate) faults: Arc<Faults>,
    pub(crate) external: ExternalStore,
    pub(crate) auth: Option<Auth>,
    pub(crate) options: HttpOptions,
    pub(crate) shutdown: CancellationToken,
    /// How many long polls are waiting for tasks right now.
    pub(crate) waiting_polls: AtomicUsize,
    /// `/api` requests received (the ledger's `api_requests`).
    pub(crate) api_requests: AtomicU64,
}

/// An error that makes hyper close the connection without answering (the drop faults).
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by an injected fault")]
pub(crate) struct Dropped;

/// How long a client has to finish the TLS handshake.
const TLS_HANDSHAKE_DEADLINE: Duration = Duration::from_secs(10);

/// Accepts connections until `app.shutdown` fires; every connection runs on `tracker`, behind
/// TLS when `tls` is given.
pub(crate) async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Arc<App>,
    tracker: TaskTracker,
) {
    let slots = Arc::new(Semaphore::new(app.options.max_connections));
    loop {
        // Past the connection cap, wait for a slot before accepting: clients queue in the
        // listen backlog.
        let slot = tokio::select! {
            () = app.shutdown.cancelled() => break,
            slot = Arc::clone(&slots).acquire_owned() => slot,
        };
        let Ok(slot) = slot else {
            break; // the semaphore is never closed
        };
        let accepted = tokio::select! {
            () = app.shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                if let Err(e) = stream.set_nodelay(true) {
                    tracing::debug!(%peer, error = %e, "set_nodelay failed");
                }
                let app = Arc::clone(&app);
                match tls.clone() {
                    None => tracker.spawn(async move {
                        connection(stream, peer, app).await;
                        drop(slot);
                    }),
                    Some(tls) => tracker.spawn(async move {
                        let handshake =
                            tokio::time::timeout(TLS_HANDSHAKE_DEADLINE, tls.accept(stream));
                        match handshake.await {
                            Ok(Ok(stream)) => connection(stream, peer, app).await,
                            Ok(Err(e)) => tracing::info!(%peer, error = %e, "TLS handshake failed"),
                            Err(_) => tracing::info!(%peer, "TLS handshake timed out"),
                        }
                        drop(slot);
                    }),
                };
            }
            Err(e) => {
                // Usually out of file descriptors: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

async fn connection<S>(stream: S, peer: SocketAddr, app: Arc<App>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let shutdown = app.shutdown.clone();
    let header_read_timeout = app.options.header_read_timeout;
    let service = service_fn(move |request| handle(Arc::clone(&app), request));
    let conn = http1::Builder::new()
        .keep_alive(true)
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// Serves one request; `Err` closes the connection without an answer.
async fn handle(app: Arc<App>, request: Request<Incoming>) -> Result<Resp, Dropped> {
    let route = router::route(request.method(), request.uri().path());
    let api = route.is_api();
    if route.needs_token()
        && let Some(auth) = &app.auth
    {
        let header = request
            .headers()
            .get("x-authorization")
            .and_then(|v| v.to_str().ok());
        if let Err(e) = auth.check(header) {
            return Ok(body::error(&e));
        }
    }
    if api {
        app.api_requests.fetch_add(1, Ordering::Relaxed);
    }
    let fault = if api {
        app.faults.pick(route.name())
    } else {
        None
    };
    match fault {
        Some(FaultAction::Status { status }) => {
            return Ok(body::error(&ApiError::Injected(status)));
        }
        Some(FaultAction::DropBefore) => return Err(Dropped),
        Some(FaultAction::Stall) => {
            // Read the request as a stalled server would, then never answer.
            let _ = read_body(&app, request).await;
            app.shutdown.cancelled().await;
            return Err(Dropped);
        }
        Some(FaultAction::Delay { delay_ms }) => {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(delay_ms)) => {}
                () = app.shutdown.cancelled() => {}
            }
        }
        _ => {}
    }
    let response = match dispatch(&app, route, request).await {
        Ok(response) => response,
        Err(e) => body::error(&e),
    };
    match fault {
        Some(FaultAction::DropAfter) => Err(Dropped),
        Some(FaultAction::Malformed) => Ok(body::malformed(response)),
        Some(FaultAction::Truncated) => Ok(body::truncated(response)),
        _ => Ok(response),
    }
}

async fn dispatch(app: &App, route: Route, request: Request<Incoming>) -> Result<Resp, ApiError> {
    let query = router::query_pairs(request.uri().query());
    // Long polls and synchronous executions wait here; everything else is answered at once.
    match route {
        Route::Poll(task_type) => Ok(api::poll(app, &task_type, &query).await),
        Route::BatchPoll(task_type) => api::batch_poll(app, &task_type, &query).await,
        Route::UpdateV2 if app.options.update_v2 => {
            api::update_v2(app, read_body(app, request).await?).await
        }
        Route::ExecuteWorkflow(name, version) => {
            let body = read_body(app, request).await?;
            execute::execute(app, &name, &version, &query, &body).await
        }
        route => {
            let method = request.method().clone();
            let path = request.uri().path().to_owned();
            let body = read_body(app, request).await?;
            answer_now(app, route, &method, &path, &query, body)
        }
    }
}

/// Answers a request at once, without holding long polls: polls return what is due right
/// now. The hyper server uses it for every route but the long polls; the wiremock front end
/// for all of them.
pub(crate) fn answer_now(
    app: &App,
    route: Route,
    method: &hyper::Method,
    path: &str,
    query: &[(String, String)],
    body: Bytes,
) -> Result<Resp, ApiError> {
    if let Some(answer) = workflow::answer(&app.core, &route, query, &body) {
        return answer;
    }
    match route {
        Route::Poll(task_type) => Ok(api::poll_at_once(app, &task_type, query)),
        Route::BatchPoll(task_type) => api::batch_poll_at_once(app, &task_type, query),
        Route::Update => api::update(app, body),
        Route::ExecuteWorkflow(name, version) => {
            execute::execute_at_once(&app.core, &name, &version, query, &body)
        }
        Route::UpdateV2 if app.options.update_v2 => api::update_v2_at_once(app, body),
        Route::AddLog(task_id) => {
            app.core
                .add_log(&task_id, String::from_utf8_lossy(&body).into_owned());
            Ok(body::empty(StatusCode::OK))
        }
        Route::GetLogs(task_id) => Ok(api::logs(app, &task_id)),
        Route::GetTask(task_id) => Ok(body::json(&app.core.task(&task_id)?)),
        Route::QueueSize => Ok(api::queue_size(app, query)),
        Route::QueueSizes => Ok(api::queue_sizes(app, query)),
        Route::QueueAll => Ok(body::json(&app.core.queue_sizes())),
        Route::QueueAllVerbose => Ok(api::queue_all_verbose(app)),
        Route::PollData => Ok(api::poll_data(app, query)),
        Route::PollDataAll => Ok(body::json(&app.core.poll_data(None))),
        Route::Token => api::token(app, body),
        Route::ExternalLocation => Ok(body::json(
            &app.external.location(router::query_value(query, "path"))?,
        )),
        Route::ExternalPayload(path) => Ok(body::with_body(
            StatusCode::OK,
            "application/json",
            app.external.payload(&path)?,
        )),
        Route::AdminEnqueueExternal => {
            Ok(body::json(&app.external.enqueue_json(&app.core, &body)?))
        }
        Route::AdminEnqueue => admin::enqueue(app, body),
        Route::AdminLedger => Ok(body::json(&admin_ledger(app))),
        Route::AdminReset => {
            app.core.reset();
            app.external.clear();
            app.faults.clear();
            Ok(body::empty(StatusCode::NO_CONTENT))
        }
        Route::AdminSweep => Ok(body::json(
            &serde_json::json!({"timedOut": app.core.sweep()}),
        )),
        Route::AdminListFaults => Ok(body::json(&app.faults.rules())),
        Route::AdminAddFaults => admin::add_faults(app, body),
        Route::AdminClearFaults => {
            app.faults.clear();
            Ok(body::empty(StatusCode::NO_CONTENT))
        }
        _ => Err(ApiError::NoRoute(format!("No endpoint {method} {path}."))),
    }
}

/// Reads the whole request body, or 413 above the configured limit.
async fn read_body(app: &App, request: Request<Incoming>) -> Result<Bytes, ApiError> {
    let limit = app.options.max_body_bytes;
    let too_large = |size: u64| ApiError::PayloadTooLarge {
        size,
        limit: limit as u64,
    };
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(size) = declared.filter(|&size| size > limit as u64) {
        return Err(too_large(size));
    }
    match Limited::new(request.into_body(), limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large(limit as u64 + 1)),
        Err(e) => Err(ApiError::Internal(format!(
            "failed to read the request body: {e}"
        ))),
    }
}

/// The ledger with fault counters, as `GET /admin/ledger` reports it.
pub(crate) fn admin_ledger(app: &App) -> crate::core::LedgerSnapshot {
    let mut snapshot = admin::ledger(&app.core, &app.faults);
    snapshot.api_requests = app.api_requests.load(Ordering::Relaxed);
    snapshot
}
