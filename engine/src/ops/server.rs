//! The operations endpoint: a small HTTP/1 server on a thread of its own, so it answers
//! promptly whatever the workers and the Conductor server are doing.
//!
//! - `GET /metrics`: the Prometheus text exposition of the catalog ([`HostMetrics`]);
//! - `GET /status`: `{"workers": [...], "processes": [...]}`, the host's status as JSON;
//! - `GET /health`: 200 `{"healthy": true}`, or 503 naming each stuck worker and why
//!   (see [`Vitals`]).

use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::sync::Arc;
use std::thread;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio_util::sync::CancellationToken;

use crate::host::HostError;
use crate::ops::{HostMetrics, Vitals};

/// What the endpoint reports from.
pub(crate) struct OpsState {
    /// The catalog (for a host whose workers run in this process).
    pub(crate) metrics: Option<HostMetrics>,
    /// The host's status now.
    pub(crate) status: Box<dyn Fn() -> crate::host::HostStatus + Send + Sync>,
    /// The vitals of every worker in this process, by task type.
    pub(crate) vitals: Box<dyn Fn() -> Vec<(String, Vitals)> + Send + Sync>,
}

impl std::fmt::Debug for OpsState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpsState")
            .field("metrics", &self.metrics)
            .finish_non_exhaustive()
    }
}

/// A running endpoint; stops when dropped.
#[derive(Debug)]
pub(crate) struct OpsEndpoint {
    addr: SocketAddr,
    stop: CancellationToken,
}

impl OpsEndpoint {
    /// Binds `addr` (at once, so a bad address fails the host's start) and serves `state` on
    /// a thread of its own.
    pub(crate) fn start(addr: SocketAddr, state: OpsState) -> Result<Self, HostError> {
        let listener = StdListener::bind(addr)
            .and_then(|listener| listener.set_nonblocking(true).map(|()| listener))
            .map_err(|source| HostError::OpsAddr { addr, source })?;
        let bound = listener
            .local_addr()
            .map_err(|source| HostError::OpsAddr { addr, source })?;
        let stop = CancellationToken::new();
        let serving = stop.clone();
        let state = Arc::new(state);
        thread::Builder::new()
            .name("baton-ops".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(err) => {
                        tracing::error!(error = %err, "operations endpoint could not start");
                        return;
                    }
                };
                runtime.block_on(serve(listener, state, serving));
            })
            .map_err(HostError::thread("baton-ops"))?;
        tracing::info!(addr = %bound, "operations endpoint: /metrics, /status, /health");
        Ok(Self { addr: bound, stop })
    }

    /// The address it listens on (the real port when port 0 was asked for).
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for OpsEndpoint {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn serve(listener: StdListener, state: Arc<OpsState>, stop: CancellationToken) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(err) => {
            tracing::error!(error = %err, "operations endpoint could not listen");
            return;
        }
    };
    loop {
        let (stream, _) = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(error = %err, "operations endpoint: accept failed");
                    continue;
                }
            },
        };
        let state = Arc::clone(&state);
        let stop = stop.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let state = Arc::clone(&state);
                async move { Ok::<_, Infallible>(answer(&state, &request)) }
            });
            let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = connection => {}
                () = stop.cancelled() => {}
            }
        });
    }
}

/// Answers one request.
fn answer(state: &OpsState, request: &Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    if request.method() != Method::GET {
        return reply(StatusCode::METHOD_NOT_ALLOWED, TEXT, "only GET\n".into());
    }
    match request.uri().path() {
        "/metrics" => match state.metrics.as_ref().map(HostMetrics::render) {
            Some(Ok(text)) => reply(StatusCode::OK, super::metrics::CONTENT_TYPE, text),
            Some(Err(_)) => reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                TEXT,
                "encoding failed\n".into(),
            ),
            None => reply(
                StatusCode::NOT_FOUND,
                TEXT,
                "no metrics here: the workers run in child processes\n".into(),
            ),
        },
        "/status" => json(StatusCode::OK, &(state.status)()),
        "/health" => {
            let stuck: Vec<_> = (state.vitals)()
                .into_iter()
                .filter_map(|(task_type, vitals)| {
                    vitals
                        .stuck()
                        .map(|reason| serde_json::json!({"taskType": task_type, "reason": reason}))
                })
                .collect();
            if stuck.is_empty() {
                json(StatusCode::OK, &serde_json::json!({"healthy": true}))
            } else {
                json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &serde_json::json!({"healthy": false, "stuck": stuck}),
                )
            }
        }
        _ => reply(
            StatusCode::NOT_FOUND,
            TEXT,
            "try /metrics, /status or /health\n".into(),
        ),
    }
}

const TEXT: &str = "text/plain; charset=utf-8";

fn json(status: StatusCode, value: &impl serde::Serialize) -> Response<Full<Bytes>> {
    match serde_json::to_string(value) {
        Ok(body) => reply(status, "application/json", body),
        Err(_) => reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            TEXT,
            "encoding failed\n".into(),
        ),
    }
}

fn reply(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
