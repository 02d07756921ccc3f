//! Resolution: the layers of one worker or of the server connection, weakest first
//! (defaults, code, worker.ini, environment), and the validated settings they give.

use super::env::{AUTH_KEY_VAR, AUTH_SECRET_VAR, HTTP_TIMEOUT_VAR, SERVER_URL_VAR};
use super::error::ConfigError;
use super::ini::DEFAULT_SECTION;
use super::layer::{Found, Layer, Layers};
use super::options::{ServerOptions, WorkerOptions};
use super::property::Prop;
use super::settings::{ServerProvenance, ServerSettings, Source, WorkerSettings};
use super::sources::ConfigSources;
use super::value;

/// The server URL used when none is configured.
pub const DEFAULT_SERVER_URL: &str = "http://localhost:8080/api";

/// The HTTP timeout used when none is configured, in milliseconds.
const DEFAULT_HTTP_TIMEOUT_MS: u64 = 30_000;

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
    /// The key and secret must come as a pair from one source.
    pub fn resolve_server(&self, code: &ServerOptions) -> Result<ServerSettings, ConfigError> {
        let mut code_layer = Layer::new(Source::Code);
        if let Some(url) = &code.url {
            code_layer.set(ServerKey::Url, "url", url.clone());
        }
        if let Some(timeout) = code.http_timeout {
            code_layer.set(
                ServerKey::HttpTimeout,
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

        let mut layers = vec![code_layer];
        let env_value = |name: &str| {
            self.server_vars
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
        };
        for (key, name) in [
            (ServerKey::Url, SERVER_URL_VAR),
            (ServerKey::HttpTimeout, HTTP_TIMEOUT_VAR),
        ] {
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

        let layers = Layers::new(layers);
        let or_default = |key: ServerKey, written: &str, value: String| {
            layers.find(key).unwrap_or_else(|| Found {
                value,
                source: Source::Default,
                written: written.to_owned(),
            })
        };
        let url = or_default(ServerKey::Url, "url", DEFAULT_SERVER_URL.to_owned());
        let http_timeout = or_default(
            ServerKey::HttpTimeout,
            "http_timeout",
            DEFAULT_HTTP_TIMEOUT_MS.to_string(),
        );
        // `set_auth` puts both halves in one layer, so they win together.
        let auth = layers
            .find(ServerKey::AuthKey)
            .zip(layers.find(ServerKey::AuthSecret));
        Ok(ServerSettings {
            base_url: check(&url, value::parse_server_url)?,
            http_timeout: check(&http_timeout, value::parse_http_timeout)?,
            sources: ServerProvenance {
                url: url.source,
                auth: auth
                    .as_ref()
                    .map_or(Source::Default, |(key, _)| key.source.clone()),
                http_timeout: http_timeout.source,
            },
            auth: auth.map(|(key, secret)| (key.value, secret.value)),
        })
    }
}

/// The server settings, as layer keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServerKey {
    Url,
    HttpTimeout,
    AuthKey,
    AuthSecret,
}

/// Adds a key/secret pair to `layer`, or fails when the source gave only one half.
fn set_auth(
    layer: &mut Layer<ServerKey>,
    (key, secret): (Option<String>, Option<String>),
    origin: Source,
    names: (&'static str, &'static str),
) -> Result<(), ConfigError> {
    match (key, secret) {
        (Some(key), Some(secret)) => {
            layer.set(ServerKey::AuthKey, names.0, key);
            layer.set(ServerKey::AuthSecret, names.1, secret);
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
