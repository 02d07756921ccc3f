//! Values given in code: [`WorkerOptions`] (derived from the property table) and
//! [`ServerOptions`]. Code is weaker than worker.ini and the environment; its values are
//! written back as strings and validated exactly like theirs.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::layer::Layer;
use super::property::{Prop, worker_properties};
use super::settings::Source;
use super::value::CodeValue;

/// Defines `WorkerOptions` from the property table: one optional field and one setter per
/// property.
macro_rules! define_worker_options {
    ($(
        #[doc = $doc:literal]
        $variant:ident $field:ident: $value:ty, code $code:ty, set $setter:ident($arg:ty) {
            $($spec:tt)*
        }
    )+) => {
        /// Worker values given in code; `None` means "not set in code". The one way to set
        /// worker properties in code: [`FnWorker`](crate::FnWorker)'s setters and
        /// [`Worker::options`](crate::Worker::options) both end here. Durations are used in
        /// whole milliseconds (anything finer is dropped). Bounds are checked when the host is
        /// built, like every other source's values (see `docs/configuration.md`).
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct WorkerOptions {
            $(
                #[doc = $doc]
                pub $field: Option<$code>,
            )+
        }

        impl WorkerOptions {
            $(
                #[doc = concat!("Sets `", stringify!($field), "`:", $doc)]
                #[must_use]
                pub fn $setter(mut self, value: $arg) -> Self {
                    self.$field = Some(value.into());
                    self
                }
            )+

            /// The code layer: every value that is set, as a string like any other source.
            pub(crate) fn layer(&self) -> Layer<Prop> {
                let mut layer = Layer::new(Source::Code);
                $(
                    if let Some(value) = &self.$field {
                        let prop = Prop::$variant;
                        layer.set(prop, prop.name(), value.to_raw());
                    }
                )+
                layer
            }
        }
    };
}

worker_properties!(define_worker_options);

/// Server connection values given in code; `None` means "not set in code".
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ServerOptions {
    /// Server URL, with or without `/api`.
    pub url: Option<String>,
    /// Key id for token auth (give the secret too).
    pub auth_key: Option<String>,
    /// Key secret for token auth (give the key too).
    pub auth_secret: Option<String>,
    /// Deadline of each call but polls (whole milliseconds, more than 0; a request body adds
    /// 1000 ms per MB).
    pub http_timeout: Option<Duration>,
    /// What a poll's deadline adds to its long-poll timeout (whole milliseconds).
    pub poll_deadline_margin: Option<Duration>,
    /// The longest wait between failed polls (whole milliseconds, more than 0).
    pub poll_error_backoff_max: Option<Duration>,
    /// Where the host serves `/metrics`, `/status` and `/health` (port 0: a free port).
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// A PEM file of CA certificates trusted beside the system's.
    pub tls_ca_file: Option<PathBuf>,
    /// A PEM client certificate for mutual TLS (give the key too).
    pub tls_client_cert: Option<PathBuf>,
    /// The client certificate's PEM private key (give the certificate too).
    pub tls_client_key: Option<PathBuf>,
    /// The largest answer body read from the server, in bytes.
    pub max_response_bytes: Option<u64>,
    /// The largest task output posted as is, in bytes; 0 means no limit.
    pub max_output_bytes: Option<u64>,
}

impl ServerOptions {
    /// Sets the server URL.
    #[must_use]
    pub fn with_url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// Sets the key id and secret.
    #[must_use]
    pub fn with_auth(mut self, key: impl Into<String>, secret: impl Into<String>) -> Self {
        self.auth_key = Some(key.into());
        self.auth_secret = Some(secret.into());
        self
    }

    /// Sets the deadline of every call but polls (a request body adds 1000 ms per MB).
    #[must_use]
    pub fn with_http_timeout(mut self, timeout: Duration) -> Self {
        self.http_timeout = Some(timeout);
        self
    }

    /// Sets what a poll's deadline adds to its long-poll timeout.
    #[must_use]
    pub fn with_poll_deadline_margin(mut self, margin: Duration) -> Self {
        self.poll_deadline_margin = Some(margin);
        self
    }

    /// Serves the operations endpoint (`/metrics`, `/status`, `/health`) on `addr`.
    #[must_use]
    pub fn with_metrics_addr(mut self, addr: std::net::SocketAddr) -> Self {
        self.metrics_addr = Some(addr);
        self
    }

    /// Sets the longest wait between failed polls.
    #[must_use]
    pub fn with_poll_error_backoff_max(mut self, max: Duration) -> Self {
        self.poll_error_backoff_max = Some(max);
        self
    }

    /// Sets the largest answer body read from the server (1024 bytes to 4 GiB − 1). A poll
    /// answer over it fails the poll and halves the poll count.
    #[must_use]
    pub fn with_max_response_bytes(mut self, bytes: u64) -> Self {
        self.max_response_bytes = Some(bytes);
        self
    }

    /// Sets the largest task output posted as is (0: no limit); a larger one is posted as
    /// FAILED_WITH_TERMINAL_ERROR with its size in the reason.
    #[must_use]
    pub fn with_max_output_bytes(mut self, bytes: u64) -> Self {
        self.max_output_bytes = Some(bytes);
        self
    }

    /// Trusts the CA certificates of a PEM file beside the system's.
    #[must_use]
    pub fn with_tls_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls_ca_file = Some(path.into());
        self
    }

    /// Presents a client certificate (PEM chain and PEM private key) for mutual TLS.
    #[must_use]
    pub fn with_tls_client_identity(
        mut self,
        cert: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
    ) -> Self {
        self.tls_client_cert = Some(cert.into());
        self.tls_client_key = Some(key.into());
        self
    }
}

impl fmt::Debug for ServerOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerOptions")
            .field("url", &self.url)
            .field("auth_key", &self.auth_key)
            .field(
                "auth_secret",
                &self.auth_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("http_timeout", &self.http_timeout)
            .field("poll_deadline_margin", &self.poll_deadline_margin)
            .field("poll_error_backoff_max", &self.poll_error_backoff_max)
            .field("metrics_addr", &self.metrics_addr)
            .field("tls_ca_file", &self.tls_ca_file)
            .field("tls_client_cert", &self.tls_client_cert)
            .field("tls_client_key", &self.tls_client_key)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("max_output_bytes", &self.max_output_bytes)
            .finish()
    }
}
