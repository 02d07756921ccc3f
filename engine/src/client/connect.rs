//! How a connection to the server is made: TCP (TCP_NODELAY, keep-alive, a connect deadline),
//! then the route the proxy settings ask for, then TLS for `https://`.
//!
//! Routes, as curl takes them: no proxy (or the host is in `NO_PROXY`): straight to the
//! server; an `https://` server through a proxy: an HTTP CONNECT tunnel, with TLS to the server
//! inside it; an `http://` server through a proxy: a connection to the proxy, which is sent
//! each request in absolute form (`GET http://server/api/...`). Proxy credentials in the proxy
//! URL (`http://user:pass@proxy:3128`) go in `Proxy-Authorization` (basic).

use std::future::{Future, poll_fn};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::Uri;
use hyper::http::uri::Scheme;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use tokio::net::TcpStream;
use tower_service::Service;

use crate::config::ProxySettings;

/// Errors of the connector stack, boxed as hyper-util expects.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The full connector: TCP, proxy route, TLS.
pub(crate) type ServerConnector = HttpsConnector<ProxyConnector>;

/// Builds the connector for a client whose calls may take `connect_timeout` to connect.
pub(crate) fn server_connector(
    tls: Arc<ClientConfig>,
    proxies: &ProxySettings,
    connect_timeout: Duration,
) -> ServerConnector {
    let mut tcp = HttpConnector::new();
    tcp.set_nodelay(true);
    tcp.set_keepalive(Some(Duration::from_secs(60)));
    tcp.set_connect_timeout(Some(connect_timeout));
    // The TLS layer hands `https://` destinations down to this one.
    tcp.enforce_http(false);
    let proxy = ProxyConnector {
        tcp,
        proxies: Arc::new(matcher(proxies)),
    };
    HttpsConnectorBuilder::new()
        .with_tls_config(Arc::unwrap_or_clone(tls))
        .https_or_http()
        .enable_http1()
        .wrap_connector(proxy)
}

/// The proxy rules of `proxies`, read the way curl reads the variables.
pub(crate) fn matcher(proxies: &ProxySettings) -> Matcher {
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    Matcher::builder()
        .all(value(&proxies.all))
        .https(value(&proxies.https))
        .http(value(&proxies.http))
        .no(value(&proxies.no))
        .build()
}

/// The `Proxy-Authorization` value to send with each request when `base` is an `http://`
/// server reached through a proxy with credentials (a tunnel sends it once, on CONNECT).
pub(crate) fn forwarding_auth(
    proxies: &ProxySettings,
    base: &Uri,
) -> Option<hyper::http::HeaderValue> {
    if base.scheme() != Some(&Scheme::HTTP) {
        return None;
    }
    matcher(proxies)
        .intercept(base)
        .and_then(|proxy| proxy.basic_auth().cloned())
}

/// TCP to the server or to its proxy, tunnelling when the server is `https://`.
#[derive(Debug, Clone)]
pub(crate) struct ProxyConnector {
    tcp: HttpConnector,
    proxies: Arc<Matcher>,
}

impl Service<Uri> for ProxyConnector {
    type Response = ProxyStream;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<ProxyStream, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.tcp.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, destination: Uri) -> Self::Future {
        let mut tcp = self.tcp.clone();
        let route = self.proxies.intercept(&destination);
        Box::pin(async move {
            let Some(proxy) = route else {
                let io = tcp.call(destination).await?;
                return Ok(ProxyStream::direct(io));
            };
            if destination.scheme() == Some(&Scheme::HTTPS) {
                let mut tunnel = Tunnel::new(proxy.uri().clone(), tcp);
                if let Some(auth) = proxy.basic_auth() {
                    tunnel = tunnel.with_auth(auth.clone());
                }
                poll_fn(|cx| tunnel.poll_ready(cx)).await?;
                let io = tunnel.call(destination).await.map_err(|err| {
                    io::Error::other(format!(
                        "proxy {} tunnel failed: {err:?}",
                        redacted(proxy.uri())
                    ))
                })?;
                return Ok(ProxyStream::direct(io));
            }
            let io = tcp.call(proxy.uri().clone()).await?;
            Ok(ProxyStream {
                io,
                forwarded: true,
            })
        })
    }
}

/// A proxy URI without any credentials, for messages.
fn redacted(uri: &Uri) -> String {
    match uri.authority() {
        Some(authority) => {
            let host = authority.as_str().rsplit('@').next().unwrap_or_default();
            format!("{}://{host}", uri.scheme_str().unwrap_or("http"))
        }
        None => "(no host)".to_owned(),
    }
}

/// A TCP connection, marked when requests over it go to a forwarding proxy (so the client
/// writes them in absolute form).
#[derive(Debug)]
pub(crate) struct ProxyStream {
    io: TokioIo<TcpStream>,
    forwarded: bool,
}

impl ProxyStream {
    fn direct(io: TokioIo<TcpStream>) -> Self {
        Self {
            io,
            forwarded: false,
        }
    }
}

impl Connection for ProxyStream {
    fn connected(&self) -> Connected {
        self.io.connected().proxy(self.forwarded)
    }
}

impl Read for ProxyStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl Write for ProxyStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(http: Option<&str>, https: Option<&str>, no: Option<&str>) -> ProxySettings {
        ProxySettings {
            all: None,
            https: https.map(str::to_owned),
            http: http.map(str::to_owned),
            no: no.map(str::to_owned),
        }
    }

    #[test]
    fn routes_follow_curls_rules() {
        let settings = proxies(
            Some("http://user:pw@proxy:3128"),
            Some("http://tunnel:3128"),
            Some("internal.example, 10.0.0.0/8"),
        );
        let rules = matcher(&settings);
        let route = |uri: &str| {
            rules
                .intercept(&uri.parse().unwrap())
                .map(|p| p.uri().host().unwrap_or_default().to_owned())
        };
        assert_eq!(route("http://conductor:8080/api").as_deref(), Some("proxy"));
        assert_eq!(route("https://conductor/api").as_deref(), Some("tunnel"));
        assert_eq!(route("https://api.internal.example/api"), None);
        assert_eq!(route("http://10.1.2.3:8080/api"), None);
        let auth = forwarding_auth(&settings, &"http://conductor:8080/api".parse().unwrap());
        assert_eq!(auth.unwrap(), "Basic dXNlcjpwdw==");
        assert!(forwarding_auth(&settings, &"https://conductor/api".parse().unwrap()).is_none());
        assert!(
            matcher(&ProxySettings::default())
                .intercept(&"http://conductor/api".parse().unwrap())
                .is_none()
        );
    }

    #[test]
    fn proxy_credentials_stay_out_of_messages() {
        let uri: Uri = "http://user:secret@proxy:3128".parse().unwrap();
        assert_eq!(redacted(&uri), "http://proxy:3128");
    }
}
