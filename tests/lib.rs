//! Helpers shared by the end-to-end tests in `e2e/`: a mock server per test, a host whose
//! configuration reads nothing from the process, and bounded waits. The HTTP client and the
//! bounded wait itself are baton-mock's (feature `test-util`), shared with the mock's own tests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::time::Duration;

use baton::config::ConfigSources;
use baton::{HostHandle, WorkerHost, WorkerHostBuilder, WorkerSpec};
use baton_mock::MockServer;
use baton_mock::core::LedgerSnapshot;
use baton_mock::test_util::{Client, eventually};

/// How long any single condition in a test may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Starts an embedded mock server on a free port of 127.0.0.1.
pub async fn mock() -> MockServer {
    MockServer::builder()
        .sweeper_period(Duration::from_millis(50))
        .start()
        .await
        .expect("mock server starts")
}

/// A host builder pointed at `mock`, configured from code only (no process environment, no
/// worker.ini), so tests never see each other's settings.
pub fn host_for(mock: &MockServer) -> WorkerHostBuilder {
    let sources = ConfigSources::new(Vec::<(String, String)>::new(), None).expect("empty config");
    WorkerHost::builder()
        .config_sources(sources)
        .server_url(mock.base_url())
        .arbiters(2)
}

/// Builds and starts a host running `workers` against `mock`.
pub fn start_host(mock: &MockServer, workers: impl IntoIterator<Item = WorkerSpec>) -> HostHandle {
    let mut builder = host_for(mock);
    for worker in workers {
        builder = builder.worker(worker);
    }
    builder
        .build()
        .expect("host builds")
        .start()
        .expect("host starts")
}

/// Awaits `condition` every few milliseconds until it holds; panics with `what` after
/// [`DEADLINE`].
pub async fn wait_for<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let held = eventually(DEADLINE, async || condition().await).await;
    assert!(held, "timed out waiting for {what}");
}

/// Waits until the mock has seen `count` terminal updates (completed + failed + terminal).
pub async fn wait_for_terminal(mock: &MockServer, count: u64) -> LedgerSnapshot {
    wait_for(&format!("{count} terminal results"), || async {
        let ledger = mock.ledger();
        ledger.completed + ledger.failed + ledger.failed_terminal >= count
    })
    .await;
    mock.ledger()
}

/// Asserts the ledger shows every handed-out task answered exactly once.
pub fn assert_exactly_once(ledger: &LedgerSnapshot) {
    assert_eq!(ledger.lost, 0, "lost results: {ledger:?}");
    assert_eq!(ledger.duplicate_identical, 0, "duplicates: {ledger:?}");
    assert_eq!(ledger.duplicate_conflicting, 0, "conflicting: {ledger:?}");
    assert_eq!(ledger.unknown_ids, 0, "unknown ids: {ledger:?}");
    assert_eq!(ledger.in_flight, 0, "in flight: {ledger:?}");
}

/// A JSON call to the server's HTTP API: `(status, body)`, the body parsed as JSON when it is
/// JSON and as a string otherwise (e.g. the text/plain workflow id).
pub async fn call(
    method: &str,
    url: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let method = hyper::Method::from_bytes(method.as_bytes()).unwrap();
    let payload = body
        .map(|b| serde_json::to_vec(&b).unwrap())
        .unwrap_or_default();
    let answer = Client::new()
        .send(method, url, "application/json", payload)
        .await;
    let (status, bytes) = (answer.status.as_u16(), answer.body);
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, value)
}

/// Rewrites one answer: given the request's path and query and the answer's body, returns the
/// body to send instead.
pub type Rewrite = dyn Fn(&str, bytes::Bytes) -> bytes::Bytes + Send + Sync;

/// A proxy on 127.0.0.1 in front of `mock` that forwards every request and passes each
/// answer's body through `rewrite` (its `Content-Length` follows). Returns the proxy's API URL.
pub async fn rewriting_proxy(mock: &MockServer, rewrite: std::sync::Arc<Rewrite>) -> String {
    use http_body_util::{BodyExt, Full};
    use hyper::header::CONTENT_LENGTH;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api", listener.local_addr().unwrap());
    let upstream: hyper::Uri = mock.base_url().parse().unwrap();
    let origin = format!("http://{}", upstream.authority().unwrap());
    let client: Client<_, Full<bytes::Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (origin, client, rewrite) = (origin.clone(), client.clone(), rewrite.clone());
            let service = hyper::service::service_fn(move |request: hyper::Request<_>| {
                let (origin, client, rewrite) = (origin.clone(), client.clone(), rewrite.clone());
                async move {
                    let (parts, incoming): (_, hyper::body::Incoming) = request.into_parts();
                    let payload = incoming.collect().await.unwrap().to_bytes();
                    let target = parts
                        .uri
                        .path_and_query()
                        .map_or("/", |p| p.as_str())
                        .to_owned();
                    let mut forwarded = hyper::Request::builder()
                        .method(parts.method)
                        .uri(format!("{origin}{target}"))
                        .body(Full::new(payload))
                        .unwrap();
                    *forwarded.headers_mut() = parts.headers;
                    let (mut parts, incoming) = client.request(forwarded).await?.into_parts();
                    let payload = incoming.collect().await.unwrap().to_bytes();
                    parts.headers.remove(CONTENT_LENGTH);
                    let body = Full::new(rewrite(&target, payload));
                    Ok::<_, hyper_util::client::legacy::Error>(hyper::Response::from_parts(
                        parts, body,
                    ))
                }
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    url
}

/// Sends `signal` (as `kill` spells it: `-TERM`, `-KILL`, …) to process `pid`.
pub fn signal(pid: u32, signal: &str) {
    let sent = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill {signal} {pid}");
}

/// A host program a test runs. Dropped while it still runs (a test that failed first), it is
/// sent SIGTERM, so that it stops its worker processes, and killed half a second later.
#[derive(Debug)]
pub struct HostProcess(Option<std::process::Child>);

impl HostProcess {
    /// Guards `child`.
    pub fn new(child: std::process::Child) -> Self {
        Self(Some(child))
    }

    /// Its process id.
    pub fn id(&self) -> u32 {
        self.0.as_ref().map_or(0, std::process::Child::id)
    }

    /// The child, no longer guarded (to wait for it).
    pub fn into_inner(mut self) -> std::process::Child {
        self.0.take().unwrap()
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            std::thread::sleep(Duration::from_millis(500));
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
