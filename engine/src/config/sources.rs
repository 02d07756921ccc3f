//! [`ConfigSources`]: everything configuration is read from, captured once at start-up: the
//! variables of the environment that Baton reads and the parsed worker.ini, if any.

use std::fmt;
use std::path::{Path, PathBuf};

use super::env::{self, CONFIG_FILE_VAR, WorkerVar};
use super::error::ConfigError;
use super::ini::{IniFile, LoadError};
use super::settings::Source;

/// The file read when neither code nor `CONDUCTOR_WORKER_CONFIG` names one.
pub const DEFAULT_CONFIG_FILE: &str = "worker.ini";

/// Everything configuration is read from: a snapshot of the environment (only the variables
/// Baton reads are kept) and the parsed worker.ini, if any. Build it once at start-up; resolving
/// reads no process state.
#[derive(Clone)]
pub struct ConfigSources {
    pub(super) worker_vars: Vec<WorkerVar>,
    pub(super) server_vars: Vec<(&'static str, String)>,
    unknown_env: Vec<String>,
    pub(super) ini: Option<IniFile>,
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
            } else if let Some(server) = env::SERVER_VARS
                .iter()
                .chain(&env::PROXY_VARS)
                .find(|v| **v == name)
            {
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

    /// The value of a server (or proxy) variable in the snapshot.
    pub(super) fn server_var(&self, name: &str) -> Option<&str> {
        self.server_vars
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
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
