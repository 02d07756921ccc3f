//! The HTTP client for the Conductor task API: batch poll, update (v1 and v2).
//!
//! Built on hyper-util's pooled client with TCP_NODELAY and keep-alive. The host makes one
//! client per arbiter, because a pooled connection is driven by the runtime that opened it.
//! Every call has a deadline; every response body is read to its end (so its connection goes
//! back to the pool) unless it grows past `max_response_bytes`; poll and update-v2 answers are
//! decoded task by task when they do not decode whole (see [`decode`]).

mod auth;
pub(crate) mod connect;
mod decode;
mod error;
mod recovery;
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

use crate::model::{JsonMap, TaskResult, TaskResultStatus};
use serde::Deserialize;

use crate::config::ProxySettings;
pub(crate) use auth::TokenSource;
use connect::ServerConnector;
use decode::DecodeBuffers;
pub(crate) use decode::{Decoded, Polled, Undecodable};
pub(crate) use error::ErrorChain;
pub use error::{ClientError, ErrorBody};
pub(crate) use recovery::Recovery;

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

/// The most decode buffers a client keeps between calls: enough for the default 16 result
/// posts in flight (each update-v2 answer is decoded) plus polls and lease calls, so steady
/// state decodes without allocating; each holds at most one answer's size.
const POOLED_DECODE_BUFFERS: usize = 32;

/// The routes called, as named in [`ClientError::Status`].
const UPDATE_ROUTE: &str = "/tasks";
const UPDATE_V2_ROUTE: &str = "/tasks/update-v2";
const POLL_ROUTE: &str = "/tasks/poll/batch";
const EXTERNAL_LOCATION_ROUTE: &str = "/tasks/externalstoragelocation";
/// One task, by id (`GET /tasks/{taskId}`).
const TASK_ROUTE: &str = "/tasks/{taskId}";
/// Not a route of the server: the URI its external storage location pointed to.
const EXTERNAL_PAYLOAD_ROUTE: &str = "external payload storage";

/// The settings a client is built with.
#[derive(Debug, Clone)]
pub(crate) struct ClientSettings {
    /// The API base, ending in `/api` without a trailing slash.
    pub(crate) base_url: String,
    /// The deadline of every call but polls (a request body adds 1000 ms per MB to it).
    pub(crate) http_timeout: Duration,
    /// What a poll's deadline adds to its long-poll timeout.
    pub(crate) poll_deadline_margin: Duration,
    /// Whether the server answers, shared by every client of a host.
    pub(crate) recovery: Arc<Recovery>,
    /// How many idle keep-alive connections to keep (at least the calls in flight).
    pub(crate) max_idle_connections: usize,
    /// Orkes token auth, shared by every client of a host.
    pub(crate) auth: Option<Arc<TokenSource>>,
    /// TLS for `https://` servers, built once per host.
    pub(crate) tls: Arc<rustls::ClientConfig>,
    /// Proxies, from the environment.
    pub(crate) proxy: ProxySettings,
    /// The largest answer body read; a larger one is [`ClientError::TooLarge`].
    pub(crate) max_response_bytes: u64,
    /// The largest result output posted as is (`None`: no limit); see
    /// [`ConductorClient::encode`].
    pub(crate) max_output_bytes: Option<u64>,
}

/// A Conductor task-API client. Cheap to clone (one reference count: the Updater clones it
/// for every post); clones share one connection pool.
#[derive(Clone)]
pub(crate) struct ConductorClient(Arc<ClientShared>);

impl std::ops::Deref for ConductorClient {
    type Target = ClientShared;

    fn deref(&self) -> &ClientShared {
        &self.0
    }
}

/// What the clones of one [`ConductorClient`] share.
pub(crate) struct ClientShared {
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
    poll_deadline_margin: Duration,
    recovery: Arc<Recovery>,
    max_response_bytes: u64,
    max_output_bytes: Option<u64>,
    /// `scheme://authority` of the server, for relative URIs it hands out.
    origin: Arc<str>,
    /// Proxies, for calls to hosts other than the server.
    proxy: Arc<ProxySettings>,
    /// Decode buffers kept between calls, at most [`POOLED_DECODE_BUFFERS`].
    buffers: Mutex<Vec<DecodeBuffers>>,
    auth: Option<Arc<TokenSource>>,
}

impl std::fmt::Debug for ConductorClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConductorClient")
            .field("base", &self.base)
            .field("http_timeout", &self.http_timeout)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish_non_exhaustive()
    }
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
        let origin = origin(&update_uri);
        Ok(Self(Arc::new(ClientShared {
            http,
            server: Arc::from(update_uri.host().unwrap_or_default()),
            forward_auth: connect::forwarding_auth(&settings.proxy, &update_uri),
            update_uri,
            update_v2_uri: uri(UPDATE_V2_ROUTE)?,
            base: Arc::from(base),
            http_timeout: settings.http_timeout,
            poll_deadline_margin: settings.poll_deadline_margin,
            recovery: Arc::clone(&settings.recovery),
            max_response_bytes: settings.max_response_bytes,
            max_output_bytes: settings.max_output_bytes,
            origin: Arc::from(origin.as_str()),
            proxy: Arc::new(settings.proxy.clone()),
            buffers: Mutex::new(Vec::new()),
            auth: settings.auth.clone(),
        })))
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
    /// Accepts 200 with a list (of any length), 200 with an empty body, and 204. Each task is
    /// decoded on its own when the list does not decode whole.
    pub(crate) async fn poll(
        &self,
        target: &PollTarget,
        count: usize,
        timeout: Duration,
    ) -> Result<Decoded<Vec<Polled>>, ClientError> {
        let url = format!(
            "{}&count={count}&timeout={}",
            target.prefix,
            timeout.as_millis()
        );
        let deadline = timeout.saturating_add(self.poll_deadline_margin);
        let mut buffers = self.take_buffers();
        let outcome = match url.parse::<Uri>() {
            Ok(uri) => {
                self.send_within(
                    Method::GET,
                    uri,
                    POLL_ROUTE,
                    None,
                    JSON,
                    &mut buffers.body,
                    Authorized::Yes,
                    deadline,
                )
                .await
            }
            Err(err) => Err(ClientError::request(url, err)),
        };
        let decoded = outcome.and_then(|status| decode_poll(status, &mut buffers));
        self.return_buffers(buffers);
        decoded
    }

    /// Encodes `result` for posting. With `max_output_bytes` set, a result whose output is
    /// larger is replaced, in place, by FAILED_WITH_TERMINAL_ERROR with no output and its size
    /// in the reason (the server would take it and then fail the task with its output
    /// silently cleared); the output's size is then returned too. The output is measured
    /// only when the whole body is over the limit, so the check costs nothing otherwise.
    pub(crate) fn encode(&self, result: &mut TaskResult) -> Result<Encoded, ClientError> {
        let body = serde_json::to_vec(&*result).map_err(ClientError::encode)?;
        if let Some(limit) = self.max_output_bytes
            && body.len() as u64 > limit
        {
            let size = json_size(&result.output_data).map_err(ClientError::encode)?;
            if size > limit {
                result.status = Some(TaskResultStatus::FailedWithTerminalError);
                result.output_data = JsonMap::new();
                result.callback_after_seconds = 0;
                result.reason_for_incompletion = Some(format!(
                    "output of {size} bytes is over the limit of {limit} bytes \
                     (CONDUCTOR_MAX_OUTPUT_BYTES)"
                ));
                let body = serde_json::to_vec(&*result).map_err(ClientError::encode)?;
                return Ok(Encoded {
                    body: Bytes::from(body),
                    oversize_output: Some(size),
                });
            }
        }
        Ok(Encoded {
            body: Bytes::from(body),
            oversize_output: None,
        })
    }

    /// Posts a result with `POST /tasks` (v1), without the output limit (lease extensions).
    pub(crate) async fn update(&self, result: &TaskResult) -> Result<(), ClientError> {
        let body = serde_json::to_vec(result).map_err(ClientError::encode)?;
        self.update_encoded(Bytes::from(body)).await
    }

    /// Posts an encoded result with `POST /tasks` (v1). A 2xx whose body is over the size
    /// limit still means the result was taken.
    pub(crate) async fn update_encoded(&self, body: Bytes) -> Result<(), ClientError> {
        let mut answer = Vec::new();
        match self
            .post(&self.update_uri, UPDATE_ROUTE, body, TEXT, &mut answer)
            .await
        {
            Ok(_) => Ok(()),
            Err(ClientError::TooLarge { status, .. }) if is_success(status) => Ok(()),
            Err(err) => Err(err),
        }
    }

    /// Posts an encoded result with `POST /tasks/update-v2`, which may answer with the next
    /// task of the same type (200) or with nothing (204). A server without update-v2 answers
    /// 404 or 405 ([`ClientError::is_unsupported`] tells a missing route from an unknown
    /// task). A 2xx means the result was taken, whatever its body: a next task that does not
    /// decode comes back [`Polled::Undecodable`] (to be posted FAILED), and one that cannot
    /// be identified, or an answer over the size limit, counts as lost (logged; left to the
    /// server's response timeout).
    pub(crate) async fn update_v2(
        &self,
        body: Bytes,
    ) -> Result<Decoded<Option<Polled>>, ClientError> {
        let mut buffers = self.take_buffers();
        let outcome = self
            .post(
                &self.update_v2_uri,
                UPDATE_V2_ROUTE,
                body,
                JSON,
                &mut buffers.body,
            )
            .await;
        let decoded = match outcome {
            Ok(status)
                if status == StatusCode::NO_CONTENT
                    || buffers.body.iter().all(u8::is_ascii_whitespace) =>
            {
                Ok(Decoded::default())
            }
            Ok(_) => Ok(buffers.decode_single()),
            Err(err @ ClientError::TooLarge { status, .. }) if is_success(status) => {
                tracing::error!(
                    error = %err,
                    "update-v2 took the result, but its answer is over the size limit; the \
                     task it carries is left to the server's response timeout"
                );
                Ok(Decoded {
                    tasks: None,
                    lost: 1,
                })
            }
            Err(err) => Err(err),
        };
        self.return_buffers(buffers);
        decoded
    }

    /// Fetches an externalized task input as the Java client does: asks the server where
    /// `path` is (`GET /tasks/externalstoragelocation?path=…&operation=READ&payloadType=
    /// TASK_INPUT`), then reads the JSON object at the URI it answers with. That second call
    /// goes without the server's token (the URI is typically a pre-signed URL of another
    /// host); a relative URI is taken as relative to the server.
    pub(crate) async fn external_input(&self, path: &str) -> Result<JsonMap, ClientError> {
        let url = format!(
            "{}{EXTERNAL_LOCATION_ROUTE}?path={}&operation=READ&payloadType=TASK_INPUT",
            self.base,
            utf8_percent_encode(path, COMPONENT)
        );
        let uri = url
            .parse::<Uri>()
            .map_err(|err| ClientError::request(url.clone(), err))?;
        let mut answer = Vec::new();
        self.call(
            Method::GET,
            uri,
            EXTERNAL_LOCATION_ROUTE,
            None,
            JSON,
            &mut answer,
            Authorized::Yes,
        )
        .await?;
        let location: ExternalStorageLocation =
            serde_json::from_slice(&answer).map_err(ClientError::decode)?;
        let target = if location.uri.starts_with('/') {
            format!("{}{}", self.origin, location.uri)
        } else {
            location.uri
        };
        let uri = target
            .parse::<Uri>()
            .map_err(|err| ClientError::request(target.clone(), err))?;
        self.call(
            Method::GET,
            uri,
            EXTERNAL_PAYLOAD_ROUTE,
            None,
            JSON,
            &mut answer,
            Authorized::No,
        )
        .await?;
        serde_json::from_slice(&answer).map_err(ClientError::decode)
    }

    /// The server-side status of task `task_id` (`GET /tasks/{taskId}`): `None` when the
    /// server does not know the task.
    pub(crate) async fn task_status(
        &self,
        task_id: &str,
    ) -> Result<Option<crate::model::TaskStatus>, ClientError> {
        #[derive(serde::Deserialize)]
        struct Status {
            status: Option<crate::model::TaskStatus>,
        }
        let url = format!(
            "{}/tasks/{}",
            self.base,
            utf8_percent_encode(task_id, COMPONENT)
        );
        let uri = url
            .parse::<Uri>()
            .map_err(|err| ClientError::request(url.clone(), err))?;
        let mut answer = Vec::new();
        let status = self
            .send(
                Method::GET,
                uri,
                TASK_ROUTE,
                None,
                JSON,
                &mut answer,
                Authorized::Yes,
            )
            .await?;
        if status == StatusCode::NOT_FOUND || status == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(ClientError::status(status.as_u16(), TASK_ROUTE, &answer));
        }
        if answer.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        let task: Status = serde_json::from_slice(&answer).map_err(ClientError::decode)?;
        Ok(task.status)
    }

    /// Posts `body` to `uri` with the server's token; a non-2xx answer is an error.
    ///
    /// Not `async`: it returns [`call`](Self::call)'s future as it is, one layer fewer for
    /// every post's future to be copied through (the call's state is over a kilobyte).
    fn post<'a>(
        &'a self,
        uri: &Uri,
        route: &'static str,
        body: Bytes,
        accept: HeaderValue,
        answer: &'a mut Vec<u8>,
    ) -> impl Future<Output = Result<StatusCode, ClientError>> + use<'a> {
        self.call(
            Method::POST,
            uri.clone(),
            route,
            Some(body),
            accept,
            answer,
            Authorized::Yes,
        )
    }

    /// Whether the server answers, as this client's calls found it.
    pub(crate) fn recovery(&self) -> &Arc<Recovery> {
        &self.recovery
    }

    /// The deadline of a call that is not a poll, sending `body_len` bytes: the HTTP timeout
    /// plus 1000 ms per MB of body.
    fn deadline_for(&self, body_len: usize) -> Duration {
        let per_byte = Duration::from_micros(u64::try_from(body_len).unwrap_or(u64::MAX));
        self.http_timeout.saturating_add(per_byte)
    }

    /// [`send`](Self::send), with a non-2xx answer turned into [`ClientError::Status`].
    #[allow(clippy::too_many_arguments)]
    async fn call(
        &self,
        method: Method,
        uri: Uri,
        route: &'static str,
        body: Option<Bytes>,
        accept: HeaderValue,
        answer: &mut Vec<u8>,
        authorized: Authorized,
    ) -> Result<StatusCode, ClientError> {
        let status = self
            .send(method, uri, route, body, accept, answer, authorized)
            .await?;
        if status.is_success() {
            Ok(status)
        } else {
            Err(ClientError::status(status.as_u16(), route, answer))
        }
    }

    /// Sends one request to `route` and reads its answer into `answer`, within the HTTP
    /// timeout plus 1000 ms per MB of body. With auth, the token goes in
    /// `X-Authorization`; a 401/403 that says the token expired or is invalid gets a new
    /// token and one replay. A 2xx body over `max_response_bytes` is [`ClientError::TooLarge`];
    /// an error body is cut at the limit.
    ///
    /// Not `async`, like [`post`](Self::post): it returns
    /// [`send_within`](Self::send_within)'s future as it is.
    #[allow(clippy::too_many_arguments)]
    fn send<'a>(
        &'a self,
        method: Method,
        uri: Uri,
        route: &'static str,
        body: Option<Bytes>,
        accept: HeaderValue,
        answer: &'a mut Vec<u8>,
        authorized: Authorized,
    ) -> impl Future<Output = Result<StatusCode, ClientError>> + use<'a> {
        let deadline = self.deadline_for(body.as_ref().map_or(0, Bytes::len));
        self.send_within(
            method, uri, route, body, accept, answer, authorized, deadline,
        )
    }

    /// [`send`](Self::send) with an explicit deadline. A call that runs out of time is
    /// dropped with its connection (hyper closes a connection whose answer is no longer
    /// awaited, so it is never reused). Each outcome tells [`Recovery`] whether the server
    /// answers.
    #[allow(clippy::too_many_arguments)]
    async fn send_within(
        &self,
        method: Method,
        uri: Uri,
        route: &'static str,
        body: Option<Bytes>,
        accept: HeaderValue,
        answer: &mut Vec<u8>,
        authorized: Authorized,
        deadline: Duration,
    ) -> Result<StatusCode, ClientError> {
        let auth = match authorized {
            Authorized::Yes => self.auth.as_ref(),
            Authorized::No => None,
        };
        // Proxy credentials go only where that proxy forwards to.
        let forward_auth = match authorized {
            Authorized::Yes => self.forward_auth.clone(),
            Authorized::No => connect::forwarding_auth(&self.proxy, &uri),
        };
        let limit = self.max_response_bytes;
        let mut replayed = false;
        loop {
            let token = match auth {
                Some(auth) => {
                    auth.token(&self.http, &self.base, self.http_timeout)
                        .await?
                }
                None => None,
            };
            // Built in place rather than through `http::request::Builder`, whose every call
            // moves the whole request and re-checks its state (about 1 000 instructions per
            // call, measured). Nothing here can fail: the names and values are typed.
            let mut request = Request::new(Full::new(body.clone().unwrap_or_default()));
            *request.method_mut() = method.clone();
            *request.uri_mut() = uri.clone();
            let headers = request.headers_mut();
            headers.reserve(4);
            headers.insert(ACCEPT, accept.clone());
            if body.is_some() {
                headers.insert(CONTENT_TYPE, JSON);
            }
            if let Some(token) = &token {
                headers.insert(AUTHORIZATION_HEADER, token.header.clone());
            }
            if let Some(proxy_auth) = &forward_auth {
                headers.insert(PROXY_AUTHORIZATION, proxy_auth.clone());
            }
            answer.clear();
            let outcome = tokio::time::timeout(deadline, async {
                let response = self
                    .http
                    .request(request)
                    .await
                    .map_err(|err| ClientError::connection(&self.server, err))?;
                let status = response.status();
                let body = response.into_body();
                let declared = hyper::body::Body::size_hint(&body).exact();
                let too_large = ClientError::TooLarge {
                    route,
                    status: status.as_u16(),
                    size: declared,
                    limit,
                };
                if status.is_success() && declared.is_some_and(|size| size > limit) {
                    return Err(too_large);
                }
                match read_body(body, answer, limit).await? {
                    Read::Whole => Ok(status),
                    Read::Cut if status.is_success() => Err(too_large),
                    Read::Cut => Ok(status),
                }
            })
            .await
            .map_err(|_| ClientError::Timeout(deadline))
            .and_then(|outcome| outcome);
            self.note_outcome(&outcome);
            let status = outcome?;
            if let (Some(auth), Some(token)) = (auth, &token)
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

    /// Tells [`Recovery`] whether a call was answered: any status but 5xx and 429 counts,
    /// and so does an answer cut at the size limit; no answer, a broken connection or a TLS
    /// failure does not.
    fn note_outcome(&self, outcome: &Result<StatusCode, ClientError>) {
        match outcome {
            Ok(status) if status.is_server_error() || *status == StatusCode::TOO_MANY_REQUESTS => {
                self.recovery.failed();
            }
            Ok(_) | Err(ClientError::TooLarge { .. }) => self.recovery.answered(),
            Err(ClientError::Timeout(_) | ClientError::Transport(_) | ClientError::Tls { .. }) => {
                self.recovery.failed();
            }
            Err(_) => {}
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
        if pool.len() < POOLED_DECODE_BUFFERS {
            pool.push(buffers);
        }
    }
}

/// A result encoded for posting.
#[derive(Debug)]
pub(crate) struct Encoded {
    /// The JSON body.
    pub(crate) body: Bytes,
    /// The size of the output, when it was over `max_output_bytes` and the result was
    /// replaced by FAILED_WITH_TERMINAL_ERROR.
    pub(crate) oversize_output: Option<u64>,
}

/// Whether a call carries the server's credentials (token, proxy credentials for the server).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Authorized {
    /// A call to the server's API.
    Yes,
    /// A call to a URI the server handed out (external payload storage).
    No,
}

/// The server's `ExternalStorageLocation`: where a payload is.
#[derive(Debug, Deserialize)]
struct ExternalStorageLocation {
    uri: String,
}

/// `scheme://authority` of `uri`.
fn origin(uri: &Uri) -> String {
    format!(
        "{}://{}",
        uri.scheme_str().unwrap_or("http"),
        uri.authority().map_or("", |a| a.as_str())
    )
}

/// Whether an HTTP status is 2xx.
fn is_success(status: u16) -> bool {
    (200..300).contains(&status)
}

/// The size of `value` as JSON, without keeping the text.
fn json_size(value: &impl serde::Serialize) -> Result<u64, serde_json::Error> {
    struct Count(u64);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    serde_json::to_writer(&mut count, value)?;
    Ok(count.0)
}

/// How much of a body was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read {
    /// All of it.
    Whole,
    /// Up to `limit`: the rest would have gone over it.
    Cut,
}

/// Reads a response body into `buffer`, to its end or until it would exceed `limit` bytes.
async fn read_body(
    mut body: hyper::body::Incoming,
    buffer: &mut Vec<u8>,
    limit: u64,
) -> Result<Read, ClientError> {
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(ClientError::transport)?;
        if let Some(data) = frame.data_ref() {
            if (buffer.len() + data.len()) as u64 > limit {
                return Ok(Read::Cut);
            }
            buffer.extend_from_slice(data);
        }
    }
    Ok(Read::Whole)
}

fn decode_poll(
    status: StatusCode,
    buffers: &mut DecodeBuffers,
) -> Result<Decoded<Vec<Polled>>, ClientError> {
    match status {
        StatusCode::NO_CONTENT => Ok(Decoded::default()),
        StatusCode::OK if buffers.body.iter().all(u8::is_ascii_whitespace) => {
            Ok(Decoded::default())
        }
        StatusCode::OK => buffers.decode_batch(),
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

    fn settings() -> ClientSettings {
        ClientSettings {
            base_url: "http://127.0.0.1:1/api/".into(),
            http_timeout: Duration::from_secs(1),
            poll_deadline_margin: Duration::from_secs(1),
            recovery: Arc::default(),
            max_idle_connections: 4,
            auth: None,
            tls: tls::client_config(&crate::config::TlsSettings::default()).unwrap(),
            proxy: ProxySettings::default(),
            max_response_bytes: 1 << 20,
            max_output_bytes: None,
        }
    }

    fn client() -> ConductorClient {
        ConductorClient::new(&settings()).unwrap()
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
        let empty = decode_poll(StatusCode::NO_CONTENT, &mut buffers).unwrap();
        assert!(empty.tasks.is_empty());
        buffers.body.extend_from_slice(b"[]");
        assert!(
            decode_poll(StatusCode::OK, &mut buffers)
                .unwrap()
                .tasks
                .is_empty()
        );
        buffers.body.clear();
        buffers.body.extend_from_slice(b"[{\"taskId\":\"x\"");
        assert!(matches!(
            decode_poll(StatusCode::OK, &mut buffers),
            Err(ClientError::Decode(_))
        ));
    }

    #[test]
    fn oversize_outputs_become_terminal_failures_naming_their_size() {
        let mut settings = settings();
        settings.max_output_bytes = Some(64);
        let client = ConductorClient::new(&settings).unwrap();
        let task = crate::model::Task::new("t", "t-1", "wf-1");
        let mut small = TaskResult::completed(&task, JsonMap::new()).with_output("a", 1);
        let encoded = client.encode(&mut small).unwrap();
        assert_eq!(encoded.oversize_output, None);
        assert_eq!(small.status, Some(TaskResultStatus::Completed));

        let mut large =
            TaskResult::completed(&task, JsonMap::new()).with_output("a", "x".repeat(100));
        let encoded = client.encode(&mut large).unwrap();
        assert_eq!(encoded.oversize_output, Some(108)); // {"a":"x…x"}
        assert_eq!(
            large.status,
            Some(TaskResultStatus::FailedWithTerminalError)
        );
        assert!(large.output_data.is_empty());
        let reason = large.reason_for_incompletion.as_deref().unwrap();
        assert!(
            reason.contains("108 bytes") && reason.contains("64 bytes"),
            "{reason}"
        );
        let posted: TaskResult = serde_json::from_slice(&encoded.body).unwrap();
        assert_eq!(posted, large);

        // Logs can make the body large; only the output counts.
        let mut logged = TaskResult::completed(&task, JsonMap::new())
            .with_log(crate::model::TaskExecLog::new("y".repeat(100), "t-1", 0));
        assert_eq!(client.encode(&mut logged).unwrap().oversize_output, None);
    }

    #[test]
    fn too_large_names_the_size_when_known() {
        let known = ClientError::TooLarge {
            route: POLL_ROUTE,
            status: 200,
            size: Some(5000),
            limit: 4096,
        };
        assert_eq!(
            known.to_string(),
            "answer to /tasks/poll/batch (5000 bytes) is over the limit of 4096 bytes"
        );
        assert!(!known.is_retryable());
        let unknown = ClientError::TooLarge {
            route: POLL_ROUTE,
            status: 200,
            size: None,
            limit: 4096,
        };
        assert!(unknown.to_string().contains("more than 4096 bytes"));
    }
}
