//! `ConfigError`: everything that can be wrong with a configuration, found at start-up.

use std::path::PathBuf;

use super::settings::Source;

/// A configuration problem. Every variant says which key, where it came from and what was
/// expected, so the message alone is enough to fix the setting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A value could not be parsed or is out of range.
    #[error("invalid value {value:?} for `{key}` from {origin}: expected {expected}")]
    InvalidValue {
        /// The key as written in its source (a property name, alias or server setting).
        key: String,
        /// Where the value came from.
        origin: Source,
        /// The offending value, as given.
        value: String,
        /// What would have been accepted (with the bounds, for numbers).
        expected: String,
    },
    /// Only one half of the key/secret pair was given by a source.
    #[error("`{present}` is set by {origin} but `{missing}` is not: expected both or neither")]
    IncompleteAuth {
        /// The half that is set.
        present: &'static str,
        /// The half that is missing.
        missing: &'static str,
        /// The source that set only one half.
        origin: Source,
    },
    /// A worker was registered with an empty task type.
    #[error("empty task type: expected a non-empty task definition name")]
    EmptyTaskType,
    /// A TLS file (CA, client certificate or key) cannot be read or holds nothing usable.
    #[error("TLS file {} for `{key}` (from {origin}) is not usable: {reason}", path.display())]
    TlsFile {
        /// The setting: `tls_ca_file`, `tls_client_cert` or `tls_client_key`.
        key: &'static str,
        /// Who named the file.
        origin: Source,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The TLS library refused its own configuration (a bug, please report it).
    #[error("TLS could not be set up: {0}")]
    Tls(String),
    /// A worker.ini that was named explicitly does not exist.
    #[error("config file {} (named by {named_by}) does not exist", path.display())]
    FileNotFound {
        /// The path that was named.
        path: PathBuf,
        /// Who named it: `env:CONDUCTOR_WORKER_CONFIG` or `code`.
        named_by: Source,
    },
    /// A worker.ini exists but could not be read (permissions, not UTF-8, a directory...).
    #[error("config file {} could not be read: {source}", path.display())]
    FileUnreadable {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A worker.ini is not valid INI (as Python's configparser reads it).
    #[error("config file {} is malformed{}: {message}", path.display(), line.map(|l| format!(" at line {l}")).unwrap_or_default())]
    FileMalformed {
        /// The file.
        path: PathBuf,
        /// The 1-based line of the problem, when known.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
}
