//! The resolved, validated settings and their provenance: what the host runs with and where
//! each value came from.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value};

use super::error::ConfigError;
use super::layer::{Found, Layers};
use super::property::{Prop, PropDefault, worker_properties};
use super::value::PropertyValue;

/// Where a configuration value came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    /// An environment variable, by exact name.
    Env(String),
    /// A section of a worker.ini file.
    File {
        /// The file, as it was named (relative paths stay relative).
        path: PathBuf,
        /// The section: `DEFAULT` or the task type.
        section: String,
    },
    /// A value set in code (`WorkerOptions` / `ServerOptions`).
    Code,
    /// Baton's built-in default.
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Env(name) => write!(f, "env:{name}"),
            Source::File { path, section } => write!(f, "file:{}[{section}]", path.display()),
            Source::Code => f.write_str("code"),
            Source::Default => f.write_str("default"),
        }
    }
}

/// Defines `WorkerSettings` and `Provenance` from the property table: one field per property.
macro_rules! define_worker_settings {
    ($(
        #[doc = $doc:literal]
        $variant:ident $field:ident: $value:ty, code $code:ty, set $setter:ident($arg:ty) {
            $($spec:tt)*
        }
    )+) => {
        /// The source of every worker property, one field per property.
        #[derive(Debug, Clone, PartialEq, Eq)]
        #[non_exhaustive]
        pub struct Provenance {
            $(
                #[doc = concat!("Source of `", stringify!($field), "`.")]
                pub $field: Source,
            )+
        }

        impl Provenance {
            /// `(canonical property name, source)` pairs in documentation order.
            pub fn iter(&self) -> impl Iterator<Item = (&'static str, &Source)> {
                [$((stringify!($field), &self.$field)),+].into_iter()
            }
        }

        /// One worker's effective configuration, resolved from every source and validated.
        #[derive(Debug, Clone, PartialEq, Eq)]
        #[non_exhaustive]
        pub struct WorkerSettings {
            /// The task definition name this worker polls.
            pub task_type: String,
            $(
                #[doc = $doc]
                pub $field: $value,
            )+
            /// Which source gave each property.
            pub sources: Provenance,
        }

        impl WorkerSettings {
            /// Resolves every property of `task_type` from `layers` and validates it.
            pub(crate) fn resolve(
                task_type: &str,
                layers: &Layers<Prop>,
            ) -> Result<Self, ConfigError> {
                $(
                    let $field = resolve_property::<$value>(Prop::$variant, layers)?;
                )+
                Ok(Self {
                    task_type: task_type.to_owned(),
                    $($field: $field.0,)+
                    sources: Provenance {
                        $($field: $field.1,)+
                    },
                })
            }

            /// The `print_config` line: `task_type`, every property by canonical name
            /// (durations as integer milliseconds, `domain` a string or null) and a `sources`
            /// object.
            pub fn to_json(&self) -> Value {
                let mut line = Map::new();
                line.insert("task_type".to_owned(), Value::from(self.task_type.as_str()));
                $(
                    line.insert(stringify!($field).to_owned(), self.$field.to_json());
                )+
                line.insert("sources".to_owned(), self.sources.to_json());
                Value::Object(line)
            }
        }
    };
}

worker_properties!(define_worker_settings);

impl Provenance {
    /// The source of one property by canonical name.
    pub fn get(&self, property: &str) -> Option<&Source> {
        self.iter()
            .find(|(name, _)| *name == property)
            .map(|(_, s)| s)
    }

    /// A JSON object mapping each property to its source's display form.
    pub fn to_json(&self) -> Value {
        let map: Map<String, Value> = self
            .iter()
            .map(|(name, source)| (name.to_owned(), Value::String(source.to_string())))
            .collect();
        Value::Object(map)
    }
}

/// The raw value of `prop` that wins in `layers`, or its default.
fn winning_raw(prop: Prop, layers: &Layers<Prop>) -> Found {
    if let Some(found) = layers.find(prop) {
        return found;
    }
    let value = match prop.spec().default {
        PropDefault::Fixed(value) => value.to_owned(),
        PropDefault::Computed(compute, _) => compute(),
        PropDefault::Follows(other) => winning_raw(other, layers).value,
    };
    Found {
        value,
        source: Source::Default,
        written: prop.name().to_owned(),
    }
}

/// Resolves one property: its winning raw value, parsed within its bounds, and its source.
fn resolve_property<T: PropertyValue>(
    prop: Prop,
    layers: &Layers<Prop>,
) -> Result<(T, Source), ConfigError> {
    let found = winning_raw(prop, layers);
    match T::parse(&found.value, prop.spec()) {
        Ok(value) => Ok((value, found.source)),
        Err(expected) => Err(ConfigError::InvalidValue {
            key: found.written,
            origin: found.source,
            value: found.value,
            expected,
        }),
    }
}

/// `hostname-pid`, the default worker id.
pub fn default_worker_id() -> String {
    format!(
        "{}-{}",
        gethostname::gethostname().to_string_lossy(),
        std::process::id()
    )
}

/// The source of every server setting.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerProvenance {
    /// Source of the base URL.
    pub url: Source,
    /// Source of the key/secret pair (`default` when there is none).
    pub auth: Source,
    /// Source of the HTTP timeout.
    pub http_timeout: Source,
    /// Source of the poll-deadline margin.
    pub poll_deadline_margin: Source,
    /// Source of the longest poll-error backoff.
    pub poll_error_backoff_max: Source,
    /// Source of the operations endpoint's address (`default`: off).
    pub metrics_addr: Source,
    /// Source of the answer-size limit.
    pub max_response_bytes: Source,
    /// Source of the output limit.
    pub max_output_bytes: Source,
}

/// TLS settings beyond the system's trust store (which `SSL_CERT_FILE` / `SSL_CERT_DIR`
/// replace when set).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsSettings {
    /// A PEM file of CA certificates trusted beside the roots in effect, and who named it.
    pub ca_file: Option<(PathBuf, Source)>,
    /// A client certificate and key for mutual TLS.
    pub client_identity: Option<ClientIdentity>,
}

/// A client certificate (chain) and its private key, both PEM files, and who named each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// The certificate chain file.
    pub cert: (PathBuf, Source),
    /// The private key file.
    pub key: (PathBuf, Source),
}

/// The proxy variables as the environment gave them (curl's names and rules): `ALL_PROXY`,
/// `HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`, upper case before lower case.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ProxySettings {
    /// The proxy for every scheme without one of its own.
    pub all: Option<String>,
    /// The proxy for `https://` servers (a CONNECT tunnel).
    pub https: Option<String>,
    /// The proxy for `http://` servers (requests forwarded in absolute form).
    pub http: Option<String>,
    /// Hosts reached directly: comma-separated names (subdomains match), IPs, CIDRs or `*`.
    pub no: Option<String>,
}

impl fmt::Debug for ProxySettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Proxy URLs may hold credentials: show which are set, not what they are.
        f.debug_struct("ProxySettings")
            .field("all", &self.all.as_ref().map(|_| "<set>"))
            .field("https", &self.https.as_ref().map(|_| "<set>"))
            .field("http", &self.http.as_ref().map(|_| "<set>"))
            .field("no", &self.no)
            .finish()
    }
}

/// The Conductor server connection, resolved and validated.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerSettings {
    /// The API base URL: `http(s)://host[:port][/prefix]/api`, never with a trailing slash.
    pub base_url: String,
    /// Key id and secret for token auth, when both are given.
    pub auth: Option<(String, String)>,
    /// Deadline of each call but polls; a request body adds 1000 ms per MB.
    pub http_timeout: Duration,
    /// A poll's deadline: its long-poll timeout plus this.
    pub poll_deadline_margin: Duration,
    /// The longest wait between failed polls.
    pub poll_error_backoff_max: Duration,
    /// Where the host serves `/metrics`, `/status` and `/health`; `None`: off.
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// The largest answer body read from the server, in bytes.
    pub max_response_bytes: u64,
    /// The largest task output posted as is, in bytes; `None`: no limit.
    pub max_output_bytes: Option<u64>,
    /// Trust and identity for `https://`.
    pub tls: TlsSettings,
    /// Proxies, from the environment.
    pub proxy: ProxySettings,
    /// Which source gave each setting.
    pub sources: ServerProvenance,
}

impl fmt::Debug for ServerSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerSettings")
            .field("base_url", &self.base_url)
            .field(
                "auth",
                &self.auth.as_ref().map(|(key, _)| (key, "<redacted>")),
            )
            .field("http_timeout", &self.http_timeout)
            .field("poll_deadline_margin", &self.poll_deadline_margin)
            .field("poll_error_backoff_max", &self.poll_error_backoff_max)
            .field("metrics_addr", &self.metrics_addr)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("max_output_bytes", &self.max_output_bytes)
            .field("tls", &self.tls)
            .field("proxy", &self.proxy)
            .field("sources", &self.sources)
            .finish()
    }
}
