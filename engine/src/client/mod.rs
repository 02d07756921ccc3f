//! The HTTP client for the Conductor task API: batch poll, update (v1 and v2).
//!
//! Built on hyper-util's pooled client with TCP_NODELAY and keep-alive. The host makes one
//! client per arbiter, because a pooled connection is driven by the runtime that opened it.
//! Every call has a deadline; every response body is read to its end so its connection goes
//! back to the pool; poll responses are decoded with simd-json from reused buffers.

mod auth;
pub(crate) mod connect;
mod error;
pub(crate) mod tls;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{ACCEPT, CONTENT_TYPE, HeaderValue, PROXY_AUTHORIZATION};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

use crate::model::{Task, TaskResult};

use crate::config::ProxySettings;
pub(crate) use auth::TokenSource;
use connect::ServerConnector;
pub(crate) use error::ErrorChain;
pub use error::{ClientError, ErrorBody};

/// Characters escaped in a path segment or query value.
const COMPONENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'+')
    .add(b'/')
    .add(b'<')
    .add(b'=')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// `application/json`.
const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// `text/plain`: what a v1 update answers with.
const TEXT: HeaderValue = HeaderValue::from_static("text/plain");

/// Orkes' auth header (no "Bearer" prefix).
const AUTHORIZATION_HEADER: &str = "x-authorization";

/// The routes called, as named in [`ClientError::Status`].
const UPDATE_ROUTE: &str = "/tasks";
const UPDATE_V2_ROUTE: &str = "/tasks/update-v2";
const POLL_ROUTE: &str = "/tasks/poll/batch";

/// The settings a client is built with.
#[derive(Debug, Clone)]
pub(crate) struct ClientSettings {
    /// The API base, ending in `/api` without a trailing slash.
    pub(crate) base_url: String,
    /// The deadline of every call (a poll adds its long-poll timeout to it).
    pub(crate) http_timeout: Duration,
    /// How many idle keep-alive connections to keep (at least the calls in flight).
    pub(crate) max_idle_connections: usize,
    /// Orkes token auth, shared by every client of a host.
    pub(crate) auth: Option<Arc<TokenSource>>,
    /// TLS for `https://` servers, built once per host.
    pub(crate) tls: Arc<rustls::ClientConfig>,
    /// Proxies, from the environment.
    pub(crate) proxy: ProxySettings,
}

/// A Conductor task-API client. Cheap to clone; clones share one connection pool.
#[derive(Clone)]
pub(crate) struct ConductorClient {
    http: Client<ServerConnector, Full<Bytes>>,
    base: Arc<str>,
    /// The server's host, for messages about its certificate.
    server: Arc<str>,
    /// `Proxy-Authorization` for requests forwarded by an `http://` proxy with credentials.
    forward_auth: Option<HeaderValue>,
    /// `POST /tasks` and `POST /tasks/update-v2`, parsed once.
    update_uri: Uri,
    update_v2_uri: Uri,
    http_timeout: Duration,
    buffers: Arc<Mutex<Vec<DecodeBuffers>>>,
    auth: Option<Arc<TokenSource>>,
}

impl std::fmt::Debug for ConductorClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConductorClient")
            .field("base", &self.base)
            .field("http_timeout", &self.http_timeout)
            .finish_non_exhaustive()
    }
}

/// Reusable buffers for decoding poll responses.
#[derive(Default)]
struct DecodeBuffers {
    body: Vec<u8>,
    simd: simd_json::Buffers,
}

/// A prepared poll: the URL prefix for one worker's polls, built once.
#[derive(Debug, Clone)]
pub(crate) struct PollTarget {
    prefix: String,
}

impl ConductorClient {
    /// A client with its own connection pool.
    pub(crate) fn new(settings: &ClientSettings) -> Result<Self, ClientError> {
        let connector = connect::server_connector(
            Arc::clone(&settings.tls),
            &settings.proxy,
            settings.http_timeout,
        );
        let http = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(settings.max_idle_connections.max(1))
            .build(connector);
        let base = settings.base_url.trim_end_matches('/');
        let uri = |path: &str| {
            let uri = format!("{base}{path}");
            uri.parse::<Uri>()
                .map_err(|err| ClientError::request(uri, err))
        };
        let update_uri = uri(UPDATE_ROUTE)?;
        Ok(Self {
            http,
            server: Arc::from(update_uri.host().unwrap_or_default()),
            forward_auth: connect::forwarding_auth(&settings.proxy, &update_uri),
            update_uri,
            update_v2_uri: uri(UPDATE_V2_ROUTE)?,
            base: Arc::from(base),
            http_timeout: settings.http_timeout,
            buffers: Arc::new(Mutex::new(Vec::new())),
            auth: settings.auth.clone(),
        })
    }

    /// The URL prefix of batch polls for `task_type` by `worker_id` in `domain`.
    pub(crate) fn poll_target(
        &self,
        task_type: &str,
        worker_id: &str,
        domain: Option<&str>,
    ) -> PollTarget {
        let mut prefix = format!(
            "{}{POLL_ROUTE}/{}?workerid={}",
            self.base,
            utf8_percent_encode(task_type, COMPONENT),
            utf8_percent_encode(worker_id, COMPONENT),
        );
        // As the SDKs do, a blank domain is left out (the server would read it as the queue
        // ":taskType").
        if let Some(domain) = domain.filter(|d| !d.is_empty()) {
            prefix.push_str("&domain=");
            prefix.extend(utf8_percent_encode(domain, COMPONENT));
        }
        PollTarget { prefix }
    }

    /// Batch-polls up to `count` tasks, letting the server hold the request up to `timeout`.
    /// Accepts 200 with a list (of any length), 200 with an empty body, and 204.
    pub(crate) async fn poll(
        &self,
        target: &PollTarget,
        count: usize,
        timeout: Duration,
    ) -> Result<Vec<Task>, ClientError> {
        let url = format!(
            "{}&count={count}&timeout={}",
            target.prefix,
            timeout.as_millis()
        );
        let deadline = self.http_timeout + timeout;
        let mut buffers = self.take_buffers();
        let outcome = match url.parse::<Uri>() {
            Ok(uri) => {
                self.send(Method::GET, uri, None, JSON, &mut buffers.body, deadline)
                    .await
            }
            Err(err) => Err(ClientError::request(url, err)),
        };
        let decoded = outcome.and_then(|status| decode_poll(status, &mut buffers));
        self.return_buffers(buffers);
        decoded
    }

    /// Posts a result with `POST /tasks` (v1).
    pub(crate) async fn update(&self, result: &TaskResult) -> Result<(), ClientError> {
        self.post_result(&self.update_uri, UPDATE_ROUTE, result, TEXT)
            .await
            .map(|_| ())
    }

    /// Posts a result with `POST /tasks/update-v2`, which may answer with the next task of the
    /// same type (200) or with nothing (204). A server without update-v2 answers 404 or 405
    /// ([`ClientError::is_unsupported`] tells a missing route from an unknown task). A 200 whose body does not decode still means the
    /// result was taken: that is reported as `Ok(None)` and logged, since the next task it
    /// carried can only be left to the server's response timeout.
    pub(crate) async fn update_v2(&self, result: &TaskResult) -> Result<Option<Task>, ClientError> {
        let (status, mut body) = self
            .post_result(&self.update_v2_uri, UPDATE_V2_ROUTE, result, JSON)
            .await?;
        if status == StatusCode::NO_CONTENT || body.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        match simd_json::serde::from_slice::<Task>(&mut body) {
            Ok(task) => Ok(Some(task)),
            Err(err) => {
                tracing::warn!(
                    task_id = %result.task_id,
                    error = %err,
                    "update-v2 took the result but its next task could not be decoded"
                );
                Ok(None)
            }
        }
    }

    async fn post_result(
        &self,
        uri: &Uri,
        route: &'static str,
        result: &TaskResult,
        accept: HeaderValue,
    ) -> Result<(StatusCode, Vec<u8>), ClientError> {
        let body = serde_json::to_vec(result).map_err(ClientError::encode)?;
        let mut answer = Vec::new();
        let status = self
            .send(
                Method::POST,
                uri.clone(),
                Some(Bytes::from(body)),
                accept,
                &mut answer,
                self.http_timeout,
            )
            .await?;
        if status.is_success() {
            Ok((status, answer))
        } else {
            Err(ClientError::status(status.as_u16(), route, &answer))
        }
    }

    /// Sends one request and reads its answer into `answer`, within `deadline`. With auth, the
    /// token goes in `X-Authorization`; a 401/403 that says the token expired or is invalid
    /// gets a new token and one replay.
    async fn send(
        &self,
        method: Method,
        uri: Uri,
        body: Option<Bytes>,
        accept: HeaderValue,
        answer: &mut Vec<u8>,
        deadline: Duration,
    ) -> Result<StatusCode, ClientError> {
        let mut replayed = false;
        loop {
            let token = match &self.auth {
                Some(auth) => {
                    auth.token(&self.http, &self.base, self.http_timeout)
                        .await?
                }
                None => None,
            };
            let mut request = Request::builder()
                .method(method.clone())
                .uri(uri.clone())
                .header(ACCEPT, accept.clone());
            if body.is_some() {
                request = request.header(CONTENT_TYPE, JSON);
            }
            if let Some(token) = &token {
                request = request.header(AUTHORIZATION_HEADER, token.header.clone());
            }
            if let Some(proxy_auth) = &self.forward_auth {
                request = request.header(PROXY_AUTHORIZATION, proxy_auth.clone());
            }
            let request = request
                .body(Full::new(body.clone().unwrap_or_default()))
                .map_err(|err| ClientError::request(uri.to_string(), err))?;
            answer.clear();
            let status = tokio::time::timeout(deadline, async {
                let response = self
                    .http
                    .request(request)
                    .await
                    .map_err(|err| ClientError::connection(&self.server, err))?;
                let status = response.status();
                read_body(response.into_body(), answer).await?;
                Ok::<_, ClientError>(status)
            })
            .await
            .map_err(|_| ClientError::Timeout(deadline))??;
            if let (Some(auth), Some(token)) = (&self.auth, &token)
                && matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
                && !replayed
                && auth::is_token_error(answer)
            {
                auth.invalidate(token);
                replayed = true;
                continue;
            }
            return Ok(status);
        }
    }

    fn take_buffers(&self) -> DecodeBuffers {
        let mut pool = self.buffers.lock().unwrap_or_else(PoisonError::into_inner);
        let mut buffers = pool.pop().unwrap_or_default();
        buffers.body.clear();
        buffers
    }

    fn return_buffers(&self, buffers: DecodeBuffers) {
        let mut pool = self.buffers.lock().unwrap_or_else(PoisonError::into_inner);
        if pool.len() < 8 {
            pool.push(buffers);
        }
    }
}

/// Reads a response body to its end into `buffer`.
async fn read_body(
    mut body: hyper::body::Incoming,
    buffer: &mut Vec<u8>,
) -> Result<(), ClientError> {
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(ClientError::transport)?;
        if let Some(data) = frame.data_ref() {
            buffer.extend_from_slice(data);
        }
    }
    Ok(())
}

fn decode_poll(status: StatusCode, buffers: &mut DecodeBuffers) -> Result<Vec<Task>, ClientError> {
    match status {
        StatusCode::NO_CONTENT => Ok(Vec::new()),
        StatusCode::OK if buffers.body.iter().all(u8::is_ascii_whitespace) => Ok(Vec::new()),
        StatusCode::OK => {
            simd_json::serde::from_slice_with_buffers(&mut buffers.body, &mut buffers.simd)
                .map_err(ClientError::decode)
        }
        other => Err(ClientError::status(
            other.as_u16(),
            POLL_ROUTE,
            &buffers.body,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> ConductorClient {
        ConductorClient::new(&ClientSettings {
            base_url: "http://127.0.0.1:1/api/".into(),
            http_timeout: Duration::from_secs(1),
            max_idle_connections: 4,
            auth: None,
            tls: tls::client_config(&crate::config::TlsSettings::default()).unwrap(),
            proxy: ProxySettings::default(),
        })
        .unwrap()
    }

    #[test]
    fn poll_urls_escape_their_parts_and_leave_out_blank_domains() {
        let client = client();
        let target = client.poll_target("my task/v1", "host-1 #2", Some("eu&us"));
        assert_eq!(
            target.prefix,
            "http://127.0.0.1:1/api/tasks/poll/batch/my%20task%2Fv1?workerid=host-1%20%232&domain=eu%26us"
        );
        let blank = client.poll_target("t", "w", Some(""));
        assert!(!blank.prefix.contains("domain"));
    }

    #[test]
    fn error_bodies_yield_the_server_message() {
        let body = br#"{"status":404,"message":"No such task found by id: x","retryable":false}"#;
        let err = ClientError::status(404, UPDATE_V2_ROUTE, body);
        assert_eq!(
            err.to_string(),
            "server answered 404: No such task found by id: x"
        );
        assert!(!err.is_retryable());
        let plain = ClientError::status(502, UPDATE_ROUTE, b"upstream down");
        assert!(plain.is_retryable());
        assert!(plain.to_string().contains("upstream down"));
    }

    #[test]
    fn empty_and_no_content_polls_are_empty() {
        let mut buffers = DecodeBuffers::default();
        assert!(
            decode_poll(StatusCode::NO_CONTENT, &mut buffers)
                .unwrap()
                .is_empty()
        );
        buffers.body.extend_from_slice(b"[]");
        assert!(
            decode_poll(StatusCode::OK, &mut buffers)
                .unwrap()
                .is_empty()
        );
        buffers.body.clear();
        buffers.body.extend_from_slice(b"[{\"taskId\":\"x\"");
        assert!(matches!(
            decode_poll(StatusCode::OK, &mut buffers),
            Err(ClientError::Decode(_))
        ));
    }
}
