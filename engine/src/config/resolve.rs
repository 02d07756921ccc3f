//! Resolution: the layers of one worker or of the server connection, weakest first
//! (defaults, code, worker.ini, environment), and the validated settings they give.

use std::path::PathBuf;

use super::env::{
    AUTH_KEY_VAR, AUTH_SECRET_VAR, HTTP_TIMEOUT_VAR, MAX_OUTPUT_BYTES_VAR, MAX_RESPONSE_BYTES_VAR,
    METRICS_ADDR_VAR, POLL_DEADLINE_MARGIN_VAR, POLL_ERROR_BACKOFF_MAX_VAR, SERVER_URL_VAR,
    TLS_CA_FILE_VAR, TLS_CLIENT_CERT_VAR, TLS_CLIENT_KEY_VAR,
};
use super::error::ConfigError;
use super::ini::DEFAULT_SECTION;
use super::layer::{Found, Layer, Layers};
use super::options::{ServerOptions, WorkerOptions};
use super::property::Prop;
use super::settings::{
    ClientIdentity, ProxySettings, ServerProvenance, ServerSettings, Source, TlsSettings,
    WorkerSettings,
};
use super::sources::ConfigSources;
use super::value;

/// The server URL used when none is configured.
pub const DEFAULT_SERVER_URL: &str = "http://localhost:8080/api";

/// The deadline of non-poll calls when none is configured, in milliseconds: short, so a
/// stalled server costs seconds, not minutes (a body adds 1000 ms per MB to it).
const DEFAULT_HTTP_TIMEOUT_MS: u64 = 2_000;

/// What a poll's deadline adds to its long-poll timeout when nothing else is configured, in
/// milliseconds.
const DEFAULT_POLL_DEADLINE_MARGIN_MS: u64 = 1_000;

/// The longest wait between failed polls when none is configured, in milliseconds.
const DEFAULT_POLL_ERROR_BACKOFF_MAX_MS: u64 = 2_000;

/// The answer-size limit used when none is configured: 256 MiB.
pub(crate) const DEFAULT_MAX_RESPONSE_BYTES: u64 = 256 * 1024 * 1024;

/// The output limit used when none is configured: 10 MiB, the server's own default
/// (`conductor.app.maxTaskOutputPayloadSizeThreshold`).
pub(crate) const DEFAULT_MAX_OUTPUT_BYTES: u64 = 10 * 1024 * 1024;

impl ConfigSources {
    /// Resolves and validates one worker's settings: environment over worker.ini over `code`
    /// over defaults, per-task over global within each source.
    pub fn resolve_worker(
        &self,
        task_type: &str,
        code: &WorkerOptions,
    ) -> Result<WorkerSettings, ConfigError> {
        if task_type.trim().is_empty() {
            return Err(ConfigError::EmptyTaskType);
        }
        let layers = Layers::new(self.worker_layers(task_type, code));
        WorkerSettings::resolve(task_type, &layers)
    }

    /// The layers for one task, weakest first: code, `[DEFAULT]`, `[task]`, then the matching
    /// environment variables from the weakest spelling to the strongest. (Defaults come from
    /// the property table when no layer sets a value.)
    fn worker_layers(&self, task_type: &str, code: &WorkerOptions) -> Vec<Layer<Prop>> {
        let mut layers = vec![code.layer()];
        if let Some(ini) = &self.ini {
            for name in [DEFAULT_SECTION, task_type] {
                let Some(section) = ini.section(name) else {
                    continue;
                };
                let mut layer = Layer::new(Source::File {
                    path: ini.path.clone(),
                    section: section.name.clone(),
                });
                // An alias first, so the canonical key in the same section replaces it.
                let known = section
                    .entries
                    .iter()
                    .filter_map(|e| e.prop.map(|(prop, alias)| (prop, alias, e)));
                let mut known: Vec<_> = known.collect();
                known.sort_by_key(|(_, alias, _)| !alias);
                for (prop, _, entry) in known {
                    layer.set(prop, entry.key.clone(), entry.value.clone());
                }
                layers.push(layer);
            }
        }
        let mut vars: Vec<_> = self
            .worker_vars
            .iter()
            .filter_map(|var| var.rank_for(task_type).map(|rank| (rank, var)))
            .collect();
        // Weakest first, so the strongest is merged last and wins.
        vars.sort_by_key(|(rank, _)| std::cmp::Reverse(*rank));
        for (_, var) in vars {
            let mut layer = Layer::new(Source::Env(var.name.clone()));
            layer.set(var.prop, var.prop.name(), var.value.clone());
            layers.push(layer);
        }
        layers
    }

    /// Resolves and validates the server connection: environment over `code` over defaults.
    /// Pairs (the auth key and secret; the TLS client certificate and key) must come whole
    /// from one source. An empty variable counts as not set, except `CONDUCTOR_SERVER_URL`,
    /// the timeouts and the two size limits, where it is an invalid value.
    pub fn resolve_server(&self, code: &ServerOptions) -> Result<ServerSettings, ConfigError> {
        let mut layers = vec![server_code_layer(code)?];
        layers.extend(self.server_env_layers()?);
        let layers = Layers::new(layers);
        let or_default = |key: ServerKey, value: String| {
            layers.find(key).unwrap_or_else(|| Found {
                value,
                source: Source::Default,
                written: key.code_name().to_owned(),
            })
        };
        let url = or_default(ServerKey::Url, DEFAULT_SERVER_URL.to_owned());
        let http_timeout = or_default(ServerKey::HttpTimeout, DEFAULT_HTTP_TIMEOUT_MS.to_string());
        let poll_margin = or_default(
            ServerKey::PollDeadlineMargin,
            DEFAULT_POLL_DEADLINE_MARGIN_MS.to_string(),
        );
        let poll_backoff = or_default(
            ServerKey::PollErrorBackoffMax,
            DEFAULT_POLL_ERROR_BACKOFF_MAX_MS.to_string(),
        );
        let max_response = or_default(
            ServerKey::MaxResponseBytes,
            DEFAULT_MAX_RESPONSE_BYTES.to_string(),
        );
        let max_output = or_default(
            ServerKey::MaxOutputBytes,
            DEFAULT_MAX_OUTPUT_BYTES.to_string(),
        );
        let metrics_addr = layers.find(ServerKey::MetricsAddr);
        // Each pair is set whole by one source, so its halves win together.
        let pair = |first, second| layers.find(first).zip(layers.find(second));
        let auth = pair(ServerKey::AuthKey, ServerKey::AuthSecret);
        let path = |found: Found| (PathBuf::from(found.value), found.source);
        let tls = TlsSettings {
            ca_file: layers.find(ServerKey::TlsCaFile).map(path),
            client_identity: pair(ServerKey::TlsClientCert, ServerKey::TlsClientKey).map(
                |(cert, key)| ClientIdentity {
                    cert: path(cert),
                    key: path(key),
                },
            ),
        };
        let proxy_var = |names: [&str; 2]| {
            names
                .iter()
                .find_map(|name| self.server_var(name))
                .map(str::to_owned)
        };
        let proxy = ProxySettings {
            all: proxy_var(["ALL_PROXY", "all_proxy"]),
            https: proxy_var(["HTTPS_PROXY", "https_proxy"]),
            http: proxy_var(["HTTP_PROXY", "http_proxy"]),
            no: proxy_var(["NO_PROXY", "no_proxy"]),
        };
        Ok(ServerSettings {
            base_url: check(&url, value::parse_server_url)?,
            http_timeout: check(&http_timeout, value::parse_http_timeout)?,
            poll_deadline_margin: check(&poll_margin, value::parse_poll_deadline_margin)?,
            poll_error_backoff_max: check(&poll_backoff, value::parse_poll_error_backoff_max)?,
            metrics_addr: metrics_addr
                .as_ref()
                .map(|found| check(found, value::parse_metrics_addr))
                .transpose()?,
            max_response_bytes: check(&max_response, value::parse_max_response_bytes)?,
            max_output_bytes: check(&max_output, value::parse_max_output_bytes)?,
            sources: ServerProvenance {
                url: url.source,
                auth: auth
                    .as_ref()
                    .map_or(Source::Default, |(key, _)| key.source.clone()),
                http_timeout: http_timeout.source,
                poll_deadline_margin: poll_margin.source,
                poll_error_backoff_max: poll_backoff.source,
                metrics_addr: metrics_addr.map_or(Source::Default, |found| found.source),
                max_response_bytes: max_response.source,
                max_output_bytes: max_output.source,
            },
            auth: auth.map(|(key, secret)| (key.value, secret.value)),
            tls,
            proxy,
        })
    }

    /// The server values given by environment variables, one layer per variable (each names
    /// its own source); a pair must be given whole.
    fn server_env_layers(&self) -> Result<Vec<Layer<ServerKey>>, ConfigError> {
        let mut layers = Vec::new();
        for key in ServerKey::ALL {
            let Some(value) = self.server_var(key.env_var()) else {
                continue;
            };
            if value.is_empty() && key.empty_means_unset() {
                continue;
            }
            let mut layer = Layer::new(Source::Env(key.env_var().to_owned()));
            layer.set(key, key.env_var(), value);
            layers.push(layer);
        }
        let present = |key| layers.iter().any(|layer| layer.contains(key));
        check_pairs(
            present,
            |key| key.env_var(),
            |key| Source::Env(key.env_var().to_owned()),
        )?;
        Ok(layers)
    }
}

/// The server values given in code.
fn server_code_layer(code: &ServerOptions) -> Result<Layer<ServerKey>, ConfigError> {
    let mut layer = Layer::new(Source::Code);
    let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.to_string_lossy().into_owned());
    let non_empty = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
    let values = [
        (ServerKey::Url, code.url.clone()),
        (
            ServerKey::HttpTimeout,
            code.http_timeout.map(|t| t.as_millis().to_string()),
        ),
        (
            ServerKey::PollDeadlineMargin,
            code.poll_deadline_margin.map(|t| t.as_millis().to_string()),
        ),
        (
            ServerKey::PollErrorBackoffMax,
            code.poll_error_backoff_max
                .map(|t| t.as_millis().to_string()),
        ),
        (
            ServerKey::MetricsAddr,
            code.metrics_addr.map(|addr| addr.to_string()),
        ),
        (ServerKey::AuthKey, non_empty(&code.auth_key)),
        (ServerKey::AuthSecret, non_empty(&code.auth_secret)),
        (ServerKey::TlsCaFile, path(&code.tls_ca_file)),
        (ServerKey::TlsClientCert, path(&code.tls_client_cert)),
        (ServerKey::TlsClientKey, path(&code.tls_client_key)),
        (
            ServerKey::MaxResponseBytes,
            code.max_response_bytes.map(|n| n.to_string()),
        ),
        (
            ServerKey::MaxOutputBytes,
            code.max_output_bytes.map(|n| n.to_string()),
        ),
    ];
    for (key, value) in values {
        if let Some(value) = value {
            layer.set(key, key.code_name(), value);
        }
    }
    check_pairs(
        |key| layer.contains(key),
        |key| key.code_name(),
        |_| Source::Code,
    )?;
    Ok(layer)
}

/// The server settings, as layer keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServerKey {
    Url,
    HttpTimeout,
    PollDeadlineMargin,
    PollErrorBackoffMax,
    MetricsAddr,
    AuthKey,
    AuthSecret,
    TlsCaFile,
    TlsClientCert,
    TlsClientKey,
    MaxResponseBytes,
    MaxOutputBytes,
}

impl ServerKey {
    const ALL: [ServerKey; 12] = [
        ServerKey::Url,
        ServerKey::HttpTimeout,
        ServerKey::PollDeadlineMargin,
        ServerKey::PollErrorBackoffMax,
        ServerKey::MetricsAddr,
        ServerKey::AuthKey,
        ServerKey::AuthSecret,
        ServerKey::TlsCaFile,
        ServerKey::TlsClientCert,
        ServerKey::TlsClientKey,
        ServerKey::MaxResponseBytes,
        ServerKey::MaxOutputBytes,
    ];

    /// Settings that are only valid together, set by one source or not at all.
    const PAIRS: [(ServerKey, ServerKey); 2] = [
        (ServerKey::AuthKey, ServerKey::AuthSecret),
        (ServerKey::TlsClientCert, ServerKey::TlsClientKey),
    ];

    /// The environment variable that sets it.
    fn env_var(self) -> &'static str {
        match self {
            ServerKey::Url => SERVER_URL_VAR,
            ServerKey::HttpTimeout => HTTP_TIMEOUT_VAR,
            ServerKey::PollDeadlineMargin => POLL_DEADLINE_MARGIN_VAR,
            ServerKey::PollErrorBackoffMax => POLL_ERROR_BACKOFF_MAX_VAR,
            ServerKey::MetricsAddr => METRICS_ADDR_VAR,
            ServerKey::AuthKey => AUTH_KEY_VAR,
            ServerKey::AuthSecret => AUTH_SECRET_VAR,
            ServerKey::TlsCaFile => TLS_CA_FILE_VAR,
            ServerKey::TlsClientCert => TLS_CLIENT_CERT_VAR,
            ServerKey::TlsClientKey => TLS_CLIENT_KEY_VAR,
            ServerKey::MaxResponseBytes => MAX_RESPONSE_BYTES_VAR,
            ServerKey::MaxOutputBytes => MAX_OUTPUT_BYTES_VAR,
        }
    }

    /// Its name in code and in messages about code values.
    fn code_name(self) -> &'static str {
        match self {
            ServerKey::Url => "url",
            ServerKey::HttpTimeout => "http_timeout",
            ServerKey::PollDeadlineMargin => "poll_deadline_margin",
            ServerKey::PollErrorBackoffMax => "poll_error_backoff_max",
            ServerKey::MetricsAddr => "metrics_addr",
            ServerKey::AuthKey => "auth_key",
            ServerKey::AuthSecret => "auth_secret",
            ServerKey::TlsCaFile => "tls_ca_file",
            ServerKey::TlsClientCert => "tls_client_cert",
            ServerKey::TlsClientKey => "tls_client_key",
            ServerKey::MaxResponseBytes => "max_response_bytes",
            ServerKey::MaxOutputBytes => "max_output_bytes",
        }
    }

    /// Whether an empty variable counts as not set (true for the optional settings).
    fn empty_means_unset(self) -> bool {
        !matches!(
            self,
            ServerKey::Url
                | ServerKey::HttpTimeout
                | ServerKey::PollDeadlineMargin
                | ServerKey::PollErrorBackoffMax
                | ServerKey::MaxResponseBytes
                | ServerKey::MaxOutputBytes
        )
    }
}

/// Fails when only one half of a pair is `present` in a source, naming both halves as `name`
/// spells them and the present half's source as `source` gives it.
fn check_pairs(
    present: impl Fn(ServerKey) -> bool,
    name: impl Fn(ServerKey) -> &'static str,
    source: impl Fn(ServerKey) -> Source,
) -> Result<(), ConfigError> {
    for (first, second) in ServerKey::PAIRS {
        let (given, missing) = match (present(first), present(second)) {
            (true, false) => (first, second),
            (false, true) => (second, first),
            _ => continue,
        };
        return Err(ConfigError::IncompleteAuth {
            present: name(given),
            missing: name(missing),
            origin: source(given),
        });
    }
    Ok(())
}

/// Parses a found value, naming its key and source on failure.
fn check<T, E: Into<String>>(
    found: &Found,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Result<T, ConfigError> {
    parse(&found.value).map_err(|expected| ConfigError::InvalidValue {
        key: found.written.clone(),
        origin: found.source.clone(),
        value: found.value.clone(),
        expected: expected.into(),
    })
}
