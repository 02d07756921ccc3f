//! Worker and server configuration: values from code, `worker.ini` and the environment,
//! layered with figment, validated at start-up, with the source of every value kept.
//!
//! Sources, strongest first: **environment**, then **worker.ini**, then **code**, then
//! **defaults**. The source decides first, so any environment value beats any file value (a
//! global `CONDUCTOR_WORKER_DOMAIN` beats `[task] domain`). Within a source, per-task beats global:
//! `conductor.worker.<task>.<prop>`, `conductor_worker_<task>_<prop>`,
//! `CONDUCTOR_WORKER_<TASK>_<PROP>` beat `conductor.worker.all.<prop>`,
//! `CONDUCTOR_WORKER_ALL_<PROP>`, `conductor_worker_<prop>`, `CONDUCTOR_WORKER_<PROP>` (in that
//! order), and `[task]` beats `[DEFAULT]`. `docs/configuration.md` is the user guide.
//!
//! ```no_run
//! use baton::config::{ConfigSources, WorkerOptions};
//! use std::time::Duration;
//!
//! let sources = ConfigSources::from_process()?;
//! let code = WorkerOptions::default().with_polling_interval(Duration::from_millis(250));
//! let settings = sources.resolve_worker("send_email", &code)?;
//! println!("{}", settings.to_json());
//! # Ok::<(), baton::config::ConfigError>(())
//! ```

mod env;
mod error;
mod ini;
mod layer;
mod property;
mod settings;
mod value;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use error::ConfigError;
pub use settings::{Provenance, ServerProvenance, ServerSettings, Source, WorkerSettings};

use env::{
    AUTH_KEY_VAR, AUTH_SECRET_VAR, CONFIG_FILE_VAR, HTTP_TIMEOUT_VAR, SERVER_URL_VAR, WorkerVar,
};
use ini::{DEFAULT_SECTION, IniFile, LoadError};
use layer::{Found, Layer, Layered};
use property::Prop;

/// The canonical names of the worker properties, in documentation order.
pub const WORKER_PROPERTIES: [&str; 11] = [
    "polling_interval",
    "domain",
    "worker_id",
    "concurrency",
    "batch_size",
    "poll_timeout",
    "paused",
    "update_retries",
    "update_retry_backoff",
    "shutdown_grace",
    "lease_extend_enabled",
];

/// The file read when neither code nor `CONDUCTOR_WORKER_CONFIG` names one.
pub const DEFAULT_CONFIG_FILE: &str = "worker.ini";

/// The server URL used when none is configured.
pub const DEFAULT_SERVER_URL: &str = "http://localhost:8080/api";

const DEFAULT_POLLING_INTERVAL_MS: u64 = 100;
const DEFAULT_CONCURRENCY: usize = 1;
const DEFAULT_POLL_TIMEOUT_MS: u64 = 100;
const DEFAULT_UPDATE_RETRIES: u32 = 4;
const DEFAULT_UPDATE_RETRY_BACKOFF_MS: u64 = 1000;
const DEFAULT_SHUTDOWN_GRACE_MS: u64 = 30_000;
const DEFAULT_HTTP_TIMEOUT_MS: u64 = 30_000;

/// Worker values given in code; `None` means "not set in code". Code is weaker than worker.ini
/// and the environment. Durations are used in whole milliseconds (anything finer is dropped).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerOptions {
    /// Pause between polls when a poll returned nothing.
    pub polling_interval: Option<Duration>,
    /// Task domain to poll; `Some("")` means no domain.
    pub domain: Option<String>,
    /// Worker id sent with each poll.
    pub worker_id: Option<String>,
    /// Tasks run at once (at least 1).
    pub concurrency: Option<usize>,
    /// Most tasks per poll (at least 1); defaults to `concurrency`.
    pub batch_size: Option<usize>,
    /// Long-poll timeout (at most 5 s).
    pub poll_timeout: Option<Duration>,
    /// Start paused.
    pub paused: Option<bool>,
    /// Retries of a failed result update.
    pub update_retries: Option<u32>,
    /// Delay before the first update retry.
    pub update_retry_backoff: Option<Duration>,
    /// How long shutdown waits for running tasks.
    pub shutdown_grace: Option<Duration>,
    /// Extend the lease of running tasks (every 0.8 × their response timeout).
    pub lease_extend_enabled: Option<bool>,
}

impl WorkerOptions {
    /// Sets `polling_interval`.
    #[must_use]
    pub fn with_polling_interval(mut self, value: Duration) -> Self {
        self.polling_interval = Some(value);
        self
    }

    /// Sets `domain` (an empty string means no domain).
    #[must_use]
    pub fn with_domain(mut self, value: impl Into<String>) -> Self {
        self.domain = Some(value.into());
        self
    }

    /// Sets `worker_id`.
    #[must_use]
    pub fn with_worker_id(mut self, value: impl Into<String>) -> Self {
        self.worker_id = Some(value.into());
        self
    }

    /// Sets `concurrency`.
    #[must_use]
    pub fn with_concurrency(mut self, value: usize) -> Self {
        self.concurrency = Some(value);
        self
    }

    /// Sets `batch_size`.
    #[must_use]
    pub fn with_batch_size(mut self, value: usize) -> Self {
        self.batch_size = Some(value);
        self
    }

    /// Sets `poll_timeout`.
    #[must_use]
    pub fn with_poll_timeout(mut self, value: Duration) -> Self {
        self.poll_timeout = Some(value);
        self
    }

    /// Sets `paused`.
    #[must_use]
    pub fn with_paused(mut self, value: bool) -> Self {
        self.paused = Some(value);
        self
    }

    /// Sets `update_retries`.
    #[must_use]
    pub fn with_update_retries(mut self, value: u32) -> Self {
        self.update_retries = Some(value);
        self
    }

    /// Sets `update_retry_backoff`.
    #[must_use]
    pub fn with_update_retry_backoff(mut self, value: Duration) -> Self {
        self.update_retry_backoff = Some(value);
        self
    }

    /// Sets `shutdown_grace`.
    #[must_use]
    pub fn with_shutdown_grace(mut self, value: Duration) -> Self {
        self.shutdown_grace = Some(value);
        self
    }

    /// Sets `lease_extend_enabled`.
    #[must_use]
    pub fn with_lease_extend_enabled(mut self, value: bool) -> Self {
        self.lease_extend_enabled = Some(value);
        self
    }

    /// The code layer: every value that is set, as a string like any other source.
    fn layer(&self) -> Layer {
        let mut layer = Layer::new(Source::Code);
        let mut set = |prop: Prop, value: Option<String>| {
            if let Some(value) = value {
                layer.set(prop.name(), prop.name(), value);
            }
        };
        let ms = |d: &Duration| d.as_millis().to_string();
        set(
            Prop::PollingInterval,
            self.polling_interval.as_ref().map(ms),
        );
        set(Prop::Domain, self.domain.clone());
        set(Prop::WorkerId, self.worker_id.clone());
        set(Prop::Concurrency, self.concurrency.map(|n| n.to_string()));
        set(Prop::BatchSize, self.batch_size.map(|n| n.to_string()));
        set(Prop::PollTimeout, self.poll_timeout.as_ref().map(ms));
        set(Prop::Paused, self.paused.map(|b| b.to_string()));
        set(
            Prop::UpdateRetries,
            self.update_retries.map(|n| n.to_string()),
        );
        set(
            Prop::UpdateRetryBackoff,
            self.update_retry_backoff.as_ref().map(ms),
        );
        set(Prop::ShutdownGrace, self.shutdown_grace.as_ref().map(ms));
        set(
            Prop::LeaseExtendEnabled,
            self.lease_extend_enabled.map(|b| b.to_string()),
        );
        layer
    }
}

/// Server connection values given in code; `None` means "not set in code".
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ServerOptions {
    /// Server URL, with or without `/api`.
    pub url: Option<String>,
    /// Key id for token auth (give the secret too).
    pub auth_key: Option<String>,
    /// Key secret for token auth (give the key too).
    pub auth_secret: Option<String>,
    /// Timeout of each HTTP request (whole milliseconds, more than 0).
    pub http_timeout: Option<Duration>,
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

    /// Sets the HTTP timeout.
    #[must_use]
    pub fn with_http_timeout(mut self, timeout: Duration) -> Self {
        self.http_timeout = Some(timeout);
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
            .finish()
    }
}

/// Everything configuration is read from: a snapshot of the environment (only the variables
/// Baton reads are kept) and the parsed worker.ini, if any. Build it once at start-up; resolving
/// reads no process state.
#[derive(Clone)]
pub struct ConfigSources {
    worker_vars: Vec<WorkerVar>,
    server_vars: Vec<(&'static str, String)>,
    unknown_env: Vec<String>,
    ini: Option<IniFile>,
}

impl fmt::Debug for ConfigSources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values are left out: the snapshot may hold the auth secret.
        let worker: Vec<&str> = self.worker_vars.iter().map(|v| v.name.as_str()).collect();
        let server: Vec<&str> = self.server_vars.iter().map(|(name, _)| *name).collect();
        f.debug_struct("ConfigSources")
            .field("worker_vars", &worker)
            .field("server_vars", &server)
            .field("unknown_env", &self.unknown_env)
            .field("ini", &self.ini.as_ref().map(|i| &i.path))
            .finish()
    }
}

/// The raw, unvalidated worker values after layering.
#[derive(Debug, Deserialize)]
struct RawWorker {
    polling_interval: Option<String>,
    domain: Option<String>,
    worker_id: Option<String>,
    concurrency: Option<String>,
    batch_size: Option<String>,
    poll_timeout: Option<String>,
    paused: Option<String>,
    update_retries: Option<String>,
    update_retry_backoff: Option<String>,
    shutdown_grace: Option<String>,
    lease_extend_enabled: Option<String>,
}

/// The raw, unvalidated server values after layering.
#[derive(Debug, Deserialize)]
struct RawServer {
    url: Option<String>,
    auth_key: Option<String>,
    auth_secret: Option<String>,
    http_timeout: Option<String>,
}

impl ConfigSources {
    /// The process environment and `./worker.ini` (or the file named by
    /// `$CONDUCTOR_WORKER_CONFIG`). A missing default file is fine; a named file that is missing,
    /// unreadable or malformed is an error.
    pub fn from_process() -> Result<Self, ConfigError> {
        Self::from_process_with(None)
    }

    /// Like [`ConfigSources::from_process`], with a worker.ini path given in code.
    /// `$CONDUCTOR_WORKER_CONFIG` still wins over `code_ini`, like every environment value.
    pub fn from_process_with(code_ini: Option<&Path>) -> Result<Self, ConfigError> {
        let env = std::env::vars_os().filter_map(|(name, value)| {
            match (name.into_string(), value.into_string()) {
                (Ok(name), Ok(value)) => Some((name, value)),
                (Ok(name), Err(_)) => {
                    tracing::debug!(variable = %name, "skipping a non-UTF-8 environment value");
                    None
                }
                _ => None,
            }
        });
        Self::discover(env, code_ini)
    }

    /// An explicit environment, finding worker.ini the way [`ConfigSources::from_process`]
    /// does: `CONDUCTOR_WORKER_CONFIG` in `env` (if non-empty), else `code_ini`, else
    /// `./worker.ini` relative to the working directory if it exists.
    pub fn discover(
        env: impl IntoIterator<Item = (String, String)>,
        code_ini: Option<&Path>,
    ) -> Result<Self, ConfigError> {
        let mut sources = Self::from_env(env);
        let named = sources
            .config_file_var
            .take()
            .filter(|p| !p.is_empty())
            .map(|p| (PathBuf::from(p), Source::Env(CONFIG_FILE_VAR.to_owned())))
            .or_else(|| code_ini.map(|p| (p.to_owned(), Source::Code)));
        sources.sources.ini = match named {
            Some((path, named_by)) => Some(load_named(&path, named_by)?),
            None => match IniFile::load(Path::new(DEFAULT_CONFIG_FILE)) {
                Ok(file) => Some(file),
                Err(LoadError::NotFound) => None,
                Err(LoadError::Other(err)) => return Err(err),
            },
        };
        Ok(sources.sources)
    }

    /// For tests and embedding: an explicit environment and an optional worker.ini path. Reads
    /// no process state; `CONDUCTOR_WORKER_CONFIG` in `env` is ignored and only `ini` is read.
    pub fn new(
        env: impl IntoIterator<Item = (String, String)>,
        ini: Option<&Path>,
    ) -> Result<Self, ConfigError> {
        let mut sources = Self::from_env(env).sources;
        if let Some(path) = ini {
            sources.ini = Some(load_named(path, Source::Code)?);
        }
        Ok(sources)
    }

    /// Keeps only the variables Baton reads.
    fn from_env(env: impl IntoIterator<Item = (String, String)>) -> EnvSnapshot {
        let mut snapshot = EnvSnapshot {
            sources: ConfigSources {
                worker_vars: Vec::new(),
                server_vars: Vec::new(),
                unknown_env: Vec::new(),
                ini: None,
            },
            config_file_var: None,
        };
        for (name, value) in env {
            if name == CONFIG_FILE_VAR {
                snapshot.config_file_var = Some(value);
            } else if let Some(server) = env::SERVER_VARS.iter().find(|v| **v == name) {
                snapshot.sources.server_vars.push((server, value));
            } else if let Some(var) = WorkerVar::classify(&name, &value) {
                snapshot.sources.worker_vars.push(var);
            } else if env::looks_like_worker_var(&name) {
                tracing::warn!(
                    variable = %name,
                    "environment variable names no known worker property and is ignored"
                );
                snapshot.sources.unknown_env.push(name);
            }
        }
        snapshot.sources.unknown_env.sort();
        snapshot
    }

    /// The worker.ini that was read, if any.
    pub fn ini_path(&self) -> Option<&Path> {
        self.ini.as_ref().map(|i| i.path.as_path())
    }

    /// Unknown keys in worker.ini as `(section, key)`, so the host can warn; they were also
    /// logged with `tracing::warn!` when the file was read.
    pub fn unknown_ini_keys(&self) -> Vec<(String, String)> {
        self.ini
            .as_ref()
            .map(IniFile::unknown_keys)
            .unwrap_or_default()
    }

    /// Environment variables that start like a worker setting (`conductor.worker.`,
    /// `conductor_worker_`, `CONDUCTOR_WORKER_`) but name no known property, sorted; they were
    /// also logged with `tracing::warn!` when the snapshot was taken. `CONDUCTOR_WORKER_CONFIG`
    /// is never listed.
    pub fn unknown_env_vars(&self) -> Vec<String> {
        self.unknown_env.clone()
    }

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
        let layered = Layered::new(self.worker_layers(task_type, code));
        let raw: RawWorker = layered.extract()?;
        let get = |key, value| {
            layered
                .found(key, value)
                .ok_or_else(|| missing_default(key))
        };
        let polling_interval = get("polling_interval", raw.polling_interval)?;
        let worker_id = get("worker_id", raw.worker_id)?;
        let concurrency = get("concurrency", raw.concurrency)?;
        let poll_timeout = get("poll_timeout", raw.poll_timeout)?;
        let paused = get("paused", raw.paused)?;
        let update_retries = get("update_retries", raw.update_retries)?;
        let update_retry_backoff = get("update_retry_backoff", raw.update_retry_backoff)?;
        let shutdown_grace = get("shutdown_grace", raw.shutdown_grace)?;
        let lease_extend_enabled = get("lease_extend_enabled", raw.lease_extend_enabled)?;
        let domain = layered.found("domain", raw.domain);
        let batch_size = layered.found("batch_size", raw.batch_size);

        let concurrency_value = check(&concurrency, value::parse_positive)?;
        let (batch_size_value, batch_size_source) = match &batch_size {
            Some(found) => (check(found, value::parse_positive)?, found.source.clone()),
            None => (concurrency_value, Source::Default),
        };
        Ok(WorkerSettings {
            task_type: task_type.to_owned(),
            polling_interval: check(&polling_interval, value::parse_millis)?,
            domain: match &domain {
                Some(found) => check(found, value::parse_domain)?,
                None => None,
            },
            worker_id: check(&worker_id, value::parse_worker_id)?,
            concurrency: concurrency_value,
            batch_size: batch_size_value,
            poll_timeout: check(&poll_timeout, value::parse_poll_timeout)?,
            paused: check(&paused, value::parse_bool)?,
            update_retries: check(&update_retries, value::parse_retries)?,
            update_retry_backoff: check(&update_retry_backoff, value::parse_millis)?,
            shutdown_grace: check(&shutdown_grace, value::parse_millis)?,
            lease_extend_enabled: check(&lease_extend_enabled, value::parse_bool)?,
            sources: Provenance {
                polling_interval: polling_interval.source,
                domain: domain.map_or(Source::Default, |d| d.source),
                worker_id: worker_id.source,
                concurrency: concurrency.source,
                batch_size: batch_size_source,
                poll_timeout: poll_timeout.source,
                paused: paused.source,
                update_retries: update_retries.source,
                update_retry_backoff: update_retry_backoff.source,
                shutdown_grace: shutdown_grace.source,
                lease_extend_enabled: lease_extend_enabled.source,
            },
        })
    }

    /// The layers for one task, weakest first: defaults, code, `[DEFAULT]`, `[task]`, then the
    /// matching environment variables from the weakest spelling to the strongest.
    fn worker_layers(&self, task_type: &str, code: &WorkerOptions) -> Vec<Layer> {
        let mut layers = vec![default_worker_layer(), code.layer()];
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
                    layer.set(prop.name(), entry.key.clone(), entry.value.clone());
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
            layer.set(var.prop.name(), var.prop.name(), var.value.clone());
            layers.push(layer);
        }
        layers
    }

    /// Resolves and validates the server connection: environment over `code` over defaults.
    /// The key and secret must come as a pair from one source.
    pub fn resolve_server(&self, code: &ServerOptions) -> Result<ServerSettings, ConfigError> {
        let mut defaults = Layer::new(Source::Default);
        defaults.set("url", "url", DEFAULT_SERVER_URL);
        defaults.set(
            "http_timeout",
            "http_timeout",
            DEFAULT_HTTP_TIMEOUT_MS.to_string(),
        );

        let mut code_layer = Layer::new(Source::Code);
        if let Some(url) = &code.url {
            code_layer.set("url", "url", url.clone());
        }
        if let Some(timeout) = code.http_timeout {
            code_layer.set(
                "http_timeout",
                "http_timeout",
                timeout.as_millis().to_string(),
            );
        }
        let code_auth = (
            code.auth_key.clone().filter(|k| !k.is_empty()),
            code.auth_secret.clone().filter(|s| !s.is_empty()),
        );
        set_auth(
            &mut code_layer,
            code_auth,
            Source::Code,
            ("auth_key", "auth_secret"),
        )?;

        let mut layers = vec![defaults, code_layer];
        let env_value = |name: &str| {
            self.server_vars
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
        };
        for (key, name) in [("url", SERVER_URL_VAR), ("http_timeout", HTTP_TIMEOUT_VAR)] {
            if let Some(value) = env_value(name) {
                let mut layer = Layer::new(Source::Env(name.to_owned()));
                layer.set(key, name, value);
                layers.push(layer);
            }
        }
        let env_auth = (
            env_value(AUTH_KEY_VAR).filter(|k| !k.is_empty()),
            env_value(AUTH_SECRET_VAR).filter(|s| !s.is_empty()),
        );
        let mut auth_layer = Layer::new(Source::Env(AUTH_KEY_VAR.to_owned()));
        set_auth(
            &mut auth_layer,
            env_auth,
            Source::Env(AUTH_KEY_VAR.to_owned()),
            (AUTH_KEY_VAR, AUTH_SECRET_VAR),
        )?;
        layers.push(auth_layer);

        let layered = Layered::new(layers);
        let raw: RawServer = layered.extract()?;
        let url = layered
            .found("url", raw.url)
            .ok_or_else(|| missing_default("url"))?;
        let http_timeout = layered
            .found("http_timeout", raw.http_timeout)
            .ok_or_else(|| missing_default("http_timeout"))?;
        let auth_origin = layered.origin("auth_key").map(|(source, _)| source);
        let auth = raw.auth_key.zip(raw.auth_secret);
        Ok(ServerSettings {
            base_url: check(&url, value::parse_server_url)?,
            http_timeout: check(&http_timeout, value::parse_http_timeout)?,
            sources: ServerProvenance {
                url: url.source,
                auth: match (&auth, auth_origin) {
                    (Some(_), Some(source)) => source,
                    _ => Source::Default,
                },
                http_timeout: http_timeout.source,
            },
            auth,
        })
    }
}

/// The environment split into what `ConfigSources` keeps and the config-file variable.
struct EnvSnapshot {
    sources: ConfigSources,
    config_file_var: Option<String>,
}

/// Loads a worker.ini that was named explicitly: here a missing file is an error.
fn load_named(path: &Path, named_by: Source) -> Result<IniFile, ConfigError> {
    IniFile::load(path).map_err(|err| match err {
        LoadError::NotFound => ConfigError::FileNotFound {
            path: path.to_owned(),
            named_by,
        },
        LoadError::Other(err) => err,
    })
}

/// Adds a key/secret pair to `layer`, or fails when the source gave only one half.
fn set_auth(
    layer: &mut Layer,
    (key, secret): (Option<String>, Option<String>),
    origin: Source,
    names: (&'static str, &'static str),
) -> Result<(), ConfigError> {
    match (key, secret) {
        (Some(key), Some(secret)) => {
            layer.set("auth_key", names.0, key);
            layer.set("auth_secret", names.1, secret);
            Ok(())
        }
        (None, None) => Ok(()),
        (Some(_), None) => Err(ConfigError::IncompleteAuth {
            present: names.0,
            missing: names.1,
            origin,
        }),
        (None, Some(_)) => Err(ConfigError::IncompleteAuth {
            present: names.1,
            missing: names.0,
            origin: match origin {
                Source::Env(_) => Source::Env(names.1.to_owned()),
                other => other,
            },
        }),
    }
}

/// The defaults layer (no `domain`, and no `batch_size`: it follows `concurrency`).
fn default_worker_layer() -> Layer {
    let mut layer = Layer::new(Source::Default);
    let mut set = |prop: Prop, value: String| layer.set(prop.name(), prop.name(), value);
    set(
        Prop::PollingInterval,
        DEFAULT_POLLING_INTERVAL_MS.to_string(),
    );
    set(Prop::WorkerId, default_worker_id());
    set(Prop::Concurrency, DEFAULT_CONCURRENCY.to_string());
    set(Prop::PollTimeout, DEFAULT_POLL_TIMEOUT_MS.to_string());
    set(Prop::Paused, false.to_string());
    set(Prop::UpdateRetries, DEFAULT_UPDATE_RETRIES.to_string());
    set(
        Prop::UpdateRetryBackoff,
        DEFAULT_UPDATE_RETRY_BACKOFF_MS.to_string(),
    );
    set(Prop::ShutdownGrace, DEFAULT_SHUTDOWN_GRACE_MS.to_string());
    set(Prop::LeaseExtendEnabled, false.to_string());
    layer
}

/// `hostname-pid`, the default worker id.
pub fn default_worker_id() -> String {
    format!(
        "{}-{}",
        gethostname::gethostname().to_string_lossy(),
        std::process::id()
    )
}

/// The defaults layer sets this key, so a miss is a bug; report it as a layering failure.
fn missing_default(key: &str) -> ConfigError {
    ConfigError::Layering(Box::new(figment::Error::from(format!(
        "no value for `{key}` in any layer"
    ))))
}

/// Parses a found value, naming its key and source on failure.
fn check<T>(
    found: &Found,
    parse: impl Fn(&str) -> Result<T, &'static str>,
) -> Result<T, ConfigError> {
    parse(&found.value).map_err(|expected| ConfigError::InvalidValue {
        key: found.written.clone(),
        origin: found.source.clone(),
        value: found.value.clone(),
        expected,
    })
}
