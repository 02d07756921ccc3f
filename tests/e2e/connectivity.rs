//! Reaching a real deployment's server: `https://` signed by a private CA, mutual TLS, an
//! untrusted certificate, proxies (CONNECT tunnels for https, forwarding for http, NO_PROXY),
//! and tokens that expire and rotate. Every test runs over real sockets on 127.0.0.1.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use baton::config::ConfigSources;
use baton::model::Task;
use baton::{FnWorker, HostHandle, WorkerHost};
use baton_mock::{Credentials, EnqueueRequest, MockServer, TlsIdentity};
use baton_tests::{assert_exactly_once, wait_for, wait_for_terminal};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// A private CA, a server certificate for 127.0.0.1/localhost and a client certificate, all
/// made at test time and written as PEM files to a scratch directory.
struct Pki {
    dir: PathBuf,
    ca: PathBuf,
    server_cert: String,
    server_key: String,
    client_cert: PathBuf,
    client_key: PathBuf,
    ca_pem: String,
}

impl Pki {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("baton-pki-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut ca_params = CertificateParams::new(Vec::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "baton test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let leaf = |names: Vec<String>| {
            let key = KeyPair::generate().unwrap();
            let cert = CertificateParams::new(names)
                .unwrap()
                .signed_by(&key, &ca)
                .unwrap();
            (cert.pem(), key.serialize_pem())
        };
        let (server_cert, server_key) = leaf(vec!["127.0.0.1".into(), "localhost".into()]);
        let (client_cert, client_key) = leaf(vec!["worker.test".into()]);
        let write = |file: &str, pem: &str| {
            let path = dir.join(file);
            std::fs::write(&path, pem).unwrap();
            path
        };
        Self {
            ca: write("ca.pem", &ca.pem()),
            client_cert: write("client.pem", &client_cert),
            client_key: write("client.key", &client_key),
            ca_pem: ca.pem(),
            server_cert,
            server_key,
            dir,
        }
    }

    fn server_identity(&self) -> TlsIdentity {
        TlsIdentity::from_pem(self.server_cert.as_bytes(), self.server_key.as_bytes()).unwrap()
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn tls_mock(identity: TlsIdentity) -> MockServer {
    MockServer::builder()
        .sweeper_period(Duration::from_millis(50))
        .tls(identity)
        .start()
        .await
        .unwrap()
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// A host with one no-op worker for `task_type`, configured from `env` only.
fn host(mock: &MockServer, task_type: &str, env: &[(&str, String)]) -> HostHandle {
    host_with(mock, task_type, env, |builder| builder)
}

fn host_with(
    mock: &MockServer,
    task_type: &str,
    env: &[(&str, String)],
    configure: impl FnOnce(baton::WorkerHostBuilder) -> baton::WorkerHostBuilder,
) -> HostHandle {
    let env = env.iter().map(|(k, v)| ((*k).to_owned(), v.clone()));
    let sources = ConfigSources::new(env, None).unwrap();
    let worker = FnWorker::new(task_type, |_: Task| async {
        serde_json::json!({"ok": true})
    })
    .concurrency(4)
    .poll_timeout(Duration::from_millis(50));
    let builder = WorkerHost::builder()
        .config_sources(sources)
        .server_url(mock.base_url())
        .arbiters(1)
        .worker(worker);
    configure(builder).build().unwrap().start().unwrap()
}

#[tokio::test]
async fn https_with_a_private_ca_completes_every_task() {
    let pki = Pki::new("private-ca");
    let mock = tls_mock(pki.server_identity()).await;
    assert!(mock.base_url().starts_with("https://"));
    mock.enqueue(EnqueueRequest::new("tls", 40));
    let host = host(&mock, "tls", &[("CONDUCTOR_TLS_CA_FILE", path(&pki.ca))]);
    let ledger = wait_for_terminal(&mock, 40).await;
    assert_eq!(ledger.completed, 40);
    let report = host.shutdown_async().await;
    assert!(report.clean, "{report:?}");
    assert_exactly_once(&mock.ledger());
}

#[tokio::test]
async fn an_untrusted_certificate_is_retried_never_fatal() {
    let pki = Pki::new("untrusted");
    let mock = tls_mock(pki.server_identity()).await;
    mock.enqueue(EnqueueRequest::new("untrusted", 5));
    // No CA file: the system roots do not know the private CA.
    let host = host(&mock, "untrusted", &[]);
    wait_for("two failed polls", || async {
        host.status().workers[0].poll_errors >= 2
    })
    .await;
    let status = &host.status().workers[0];
    assert_eq!(status.tasks_polled, 0, "{status:?}");
    assert_eq!(mock.ledger().completed, 0);
    let report = host.shutdown_async().await;
    assert!(report.clean, "{report:?}");
}

#[tokio::test]
async fn mutual_tls_presents_the_client_certificate() {
    let pki = Pki::new("mutual");
    let identity = pki
        .server_identity()
        .require_client_certificates(pki.ca_pem.as_bytes())
        .unwrap();
    let mock = tls_mock(identity).await;
    mock.enqueue(EnqueueRequest::new("mtls", 20));
    // Without a client certificate the server refuses every connection.
    let refused = host(&mock, "mtls", &[("CONDUCTOR_TLS_CA_FILE", path(&pki.ca))]);
    wait_for("refused polls", || async {
        refused.status().workers[0].poll_errors >= 2
    })
    .await;
    assert_eq!(mock.ledger().completed, 0);
    refused.shutdown_async().await;
    let host = host(
        &mock,
        "mtls",
        &[
            ("CONDUCTOR_TLS_CA_FILE", path(&pki.ca)),
            ("CONDUCTOR_TLS_CLIENT_CERT", path(&pki.client_cert)),
            ("CONDUCTOR_TLS_CLIENT_KEY", path(&pki.client_key)),
        ],
    );
    let ledger = wait_for_terminal(&mock, 20).await;
    assert_eq!(ledger.completed, 20);
    host.shutdown_async().await;
    assert_exactly_once(&mock.ledger());
}

#[test]
fn unusable_tls_files_fail_the_build() {
    let pki = Pki::new("bad-files");
    let garbage = pki.dir.join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    for env in [
        vec![("CONDUCTOR_TLS_CA_FILE", path(&garbage))],
        vec![("CONDUCTOR_TLS_CA_FILE", path(&pki.dir.join("missing.pem")))],
        vec![("CONDUCTOR_TLS_CLIENT_CERT", path(&pki.client_cert))],
        vec![
            ("CONDUCTOR_TLS_CLIENT_CERT", path(&pki.client_cert)),
            ("CONDUCTOR_TLS_CLIENT_KEY", path(&garbage)),
        ],
    ] {
        let sources =
            ConfigSources::new(env.iter().map(|(k, v)| ((*k).to_owned(), v.clone())), None)
                .unwrap();
        let err = WorkerHost::builder()
            .config_sources(sources)
            .server_url("https://127.0.0.1:1/api")
            .worker(FnWorker::new("t", |_: Task| async {}))
            .build()
            .unwrap_err();
        let message = err.to_string();
        assert!(message.contains("CONDUCTOR_TLS"), "{message}");
    }
}

/// A CONNECT proxy: answers each `CONNECT host:port` with 200 and relays bytes both ways.
/// Returns its address and how many tunnels it opened.
async fn connect_proxy() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let tunnels = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&tunnels);
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let mut client = BufReader::new(client);
                let mut request_line = String::new();
                if client.read_line(&mut request_line).await.is_err() {
                    return;
                }
                // Skip the headers.
                loop {
                    let mut line = String::new();
                    match client.read_line(&mut line).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) if line == "\r\n" => break,
                        Ok(_) => {}
                    }
                }
                let mut parts = request_line.split_whitespace();
                let (Some("CONNECT"), Some(target)) = (parts.next(), parts.next()) else {
                    let _ = client
                        .get_mut()
                        .write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
                        .await;
                    return;
                };
                let Ok(mut upstream) = TcpStream::connect(target).await else {
                    let _ = client
                        .get_mut()
                        .write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n")
                        .await;
                    return;
                };
                counter.fetch_add(1, Ordering::Relaxed);
                if client
                    .get_mut()
                    .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                    .await
                    .is_ok()
                {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                }
            });
        }
    });
    (addr, tunnels)
}

#[tokio::test]
async fn https_goes_through_a_connect_tunnel() {
    let pki = Pki::new("tunnel");
    let mock = tls_mock(pki.server_identity()).await;
    let (proxy, tunnels) = connect_proxy().await;
    mock.enqueue(EnqueueRequest::new("tunnelled", 30));
    let host = host(
        &mock,
        "tunnelled",
        &[
            ("CONDUCTOR_TLS_CA_FILE", path(&pki.ca)),
            ("HTTPS_PROXY", format!("http://{proxy}")),
        ],
    );
    let ledger = wait_for_terminal(&mock, 30).await;
    assert_eq!(ledger.completed, 30);
    host.shutdown_async().await;
    assert!(tunnels.load(Ordering::Relaxed) >= 1);
    assert_exactly_once(&mock.ledger());
}

/// A forwarding proxy for plain http: takes absolute-form requests, checks the proxy
/// credentials, and forwards them. Returns its address and how many requests it forwarded.
async fn forwarding_proxy(expected_auth: &'static str) -> (SocketAddr, Arc<AtomicUsize>) {
    use http_body_util::BodyExt;
    use hyper::service::service_fn;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let forwarded = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&forwarded);
    let client: Client<_, http_body_util::Full<bytes::Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (client, counter) = (client.clone(), Arc::clone(&counter));
            tokio::spawn(async move {
                let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let (client, counter) = (client.clone(), Arc::clone(&counter));
                    async move {
                        let authorized = request
                            .headers()
                            .get("proxy-authorization")
                            .is_some_and(|v| v == expected_auth);
                        if request.uri().scheme().is_none() || !authorized {
                            let refusal = hyper::Response::builder()
                                .status(407)
                                .body(http_body_util::Full::new(bytes::Bytes::new()))
                                .unwrap();
                            return Ok::<_, hyper::Error>(refusal);
                        }
                        counter.fetch_add(1, Ordering::Relaxed);
                        let (mut parts, body) = request.into_parts();
                        parts.headers.remove("proxy-authorization");
                        let body = body.collect().await?.to_bytes();
                        let upstream =
                            hyper::Request::from_parts(parts, http_body_util::Full::new(body));
                        let Ok(response) = client.request(upstream).await else {
                            let failed = hyper::Response::builder()
                                .status(502)
                                .body(http_body_util::Full::new(bytes::Bytes::new()))
                                .unwrap();
                            return Ok(failed);
                        };
                        let (parts, body) = response.into_parts();
                        let body = body.collect().await?.to_bytes();
                        Ok(hyper::Response::from_parts(
                            parts,
                            http_body_util::Full::new(body),
                        ))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, forwarded)
}

#[tokio::test]
async fn http_is_forwarded_by_a_proxy_with_credentials() {
    let mock = baton_tests::mock().await;
    // "user:pw" in base64.
    let (proxy, forwarded) = forwarding_proxy("Basic dXNlcjpwdw==").await;
    mock.enqueue(EnqueueRequest::new("forwarded", 30));
    let host = host(
        &mock,
        "forwarded",
        &[("HTTP_PROXY", format!("http://user:pw@{proxy}"))],
    );
    let ledger = wait_for_terminal(&mock, 30).await;
    assert_eq!(ledger.completed, 30);
    host.shutdown_async().await;
    // Every poll and every update went through the proxy.
    assert!(forwarded.load(Ordering::Relaxed) > 30);
    assert_exactly_once(&mock.ledger());
}

#[tokio::test]
async fn no_proxy_hosts_are_reached_directly() {
    let mock = baton_tests::mock().await;
    // A proxy that does not exist: any request through it would fail.
    let dead = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    mock.enqueue(EnqueueRequest::new("direct", 20));
    let host = host(
        &mock,
        "direct",
        &[
            ("HTTP_PROXY", format!("http://{dead}")),
            ("NO_PROXY", "localhost,127.0.0.1".to_owned()),
        ],
    );
    let ledger = wait_for_terminal(&mock, 20).await;
    assert_eq!(ledger.completed, 20);
    host.shutdown_async().await;
}

#[tokio::test]
async fn tokens_are_refreshed_before_they_expire() {
    let mock = MockServer::builder()
        .sweeper_period(Duration::from_millis(50))
        .auth("app:s3cret".parse::<Credentials>().unwrap())
        .token_ttl(Duration::from_secs(2))
        .start()
        .await
        .unwrap();
    let host = host_with(&mock, "rotating", &[], |builder| {
        builder.auth("app", "s3cret")
    });
    // Work keeps arriving for about three token lifetimes.
    let mut enqueued = 0;
    for _ in 0..12 {
        mock.enqueue(EnqueueRequest::new("rotating", 5));
        enqueued += 5;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let ledger = wait_for_terminal(&mock, enqueued).await;
    assert_eq!(ledger.completed, enqueued);
    let status = host.status().workers[0].clone();
    host.shutdown_async().await;
    // A 2 s token is refreshed at about 1.6 s, before it expires: several mints, and the
    // server never had to refuse a call (a client that waited for EXPIRED_TOKEN would be
    // refused once per lifetime, then re-mint and replay).
    assert!(mock.tokens_minted() >= 3, "minted {}", mock.tokens_minted());
    assert_eq!(mock.auth_refusals(), 0);
    assert_eq!(status.poll_errors, 0, "{status:?}");
    assert_eq!(status.update_retries, 0, "{status:?}");
    assert_exactly_once(&mock.ledger());
}
