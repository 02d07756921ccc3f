//! Environment variables: the names Baton reads and how a worker variable's name is split into
//! spelling, task and property.

use super::property::Prop;

/// Names the worker.ini to read instead of `./worker.ini`.
pub(crate) const CONFIG_FILE_VAR: &str = "CONDUCTOR_WORKER_CONFIG";
/// conductor-python's isolation mode (`process` or `thread`), read by the Python package
/// (`bindings/python`), not a worker property: never reported as an unknown variable.
pub(crate) const ISOLATION_VAR: &str = "CONDUCTOR_WORKER_ISOLATION";
/// The server's base URL.
pub(crate) const SERVER_URL_VAR: &str = "CONDUCTOR_SERVER_URL";
/// The key id used to obtain a token.
pub(crate) const AUTH_KEY_VAR: &str = "CONDUCTOR_AUTH_KEY";
/// The key secret used to obtain a token.
pub(crate) const AUTH_SECRET_VAR: &str = "CONDUCTOR_AUTH_SECRET";
/// The deadline of every call but polls, in milliseconds (plus 1000 per MB of request body).
pub(crate) const HTTP_TIMEOUT_VAR: &str = "CONDUCTOR_HTTP_TIMEOUT_MS";
/// The time a poll's deadline adds to its long-poll timeout, in milliseconds.
pub(crate) const POLL_DEADLINE_MARGIN_VAR: &str = "CONDUCTOR_POLL_DEADLINE_MARGIN_MS";
/// The longest wait between failed polls, in milliseconds.
pub(crate) const POLL_ERROR_BACKOFF_MAX_VAR: &str = "CONDUCTOR_POLL_ERROR_BACKOFF_MAX_MS";
/// Where the host serves `/metrics`, `/status` and `/health` (off when unset).
pub(crate) const METRICS_ADDR_VAR: &str = "CONDUCTOR_METRICS_ADDR";
/// A PEM file of CA certificates trusted beside the system's.
pub(crate) const TLS_CA_FILE_VAR: &str = "CONDUCTOR_TLS_CA_FILE";
/// The PEM client certificate (chain) for mutual TLS.
pub(crate) const TLS_CLIENT_CERT_VAR: &str = "CONDUCTOR_TLS_CLIENT_CERT";
/// The PEM private key of the client certificate.
pub(crate) const TLS_CLIENT_KEY_VAR: &str = "CONDUCTOR_TLS_CLIENT_KEY";

/// The largest answer body the client reads, in bytes.
pub(crate) const MAX_RESPONSE_BYTES_VAR: &str = "CONDUCTOR_HTTP_MAX_RESPONSE_BYTES";
/// The largest task output posted as is, in bytes (0: no limit).
pub(crate) const MAX_OUTPUT_BYTES_VAR: &str = "CONDUCTOR_MAX_OUTPUT_BYTES";

/// The server variables, in the order they are reported.
pub(crate) const SERVER_VARS: [&str; 12] = [
    METRICS_ADDR_VAR,
    SERVER_URL_VAR,
    AUTH_KEY_VAR,
    AUTH_SECRET_VAR,
    HTTP_TIMEOUT_VAR,
    POLL_DEADLINE_MARGIN_VAR,
    POLL_ERROR_BACKOFF_MAX_VAR,
    TLS_CA_FILE_VAR,
    TLS_CLIENT_CERT_VAR,
    TLS_CLIENT_KEY_VAR,
    MAX_RESPONSE_BYTES_VAR,
    MAX_OUTPUT_BYTES_VAR,
];

/// The proxy variables, read as curl reads them: for each scheme the upper-case name first.
pub(crate) const PROXY_VARS: [&str; 8] = [
    "ALL_PROXY",
    "all_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "NO_PROXY",
    "no_proxy",
];

const DOTTED_PREFIX: &str = "conductor.worker.";
const LOWER_PREFIX: &str = "conductor_worker_";
const UPPER_PREFIX: &str = "CONDUCTOR_WORKER_";

/// How a worker variable is spelled, strongest first (the derive order is the precedence).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Spelling {
    /// `conductor.worker.<task>.<prop>`
    DottedTask,
    /// `conductor_worker_<task>_<prop>`
    LowerTask,
    /// `CONDUCTOR_WORKER_<TASK>_<PROP>`
    UpperTask,
    /// `conductor.worker.all.<prop>`
    DottedAll,
    /// `CONDUCTOR_WORKER_ALL_<PROP>`
    UpperAll,
    /// `conductor_worker_<prop>`
    LowerGlobal,
    /// `CONDUCTOR_WORKER_<PROP>`
    UpperGlobal,
}

/// One environment variable that sets a worker property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WorkerVar {
    /// The variable's name, exactly as in the environment.
    pub(crate) name: String,
    /// Its value, unparsed.
    pub(crate) value: String,
    /// Which spelling it uses.
    pub(crate) spelling: Spelling,
    /// The task part of a per-task spelling, as written in the name.
    pub(crate) task: Option<String>,
    /// The property it sets.
    pub(crate) prop: Prop,
    /// Whether the name used the property's alias.
    pub(crate) alias: bool,
}

impl WorkerVar {
    /// Recognises a worker variable by name; `None` for anything else.
    pub(crate) fn classify(name: &str, value: &str) -> Option<WorkerVar> {
        let (spelling, task, prop, alias) = classify_name(name)?;
        Some(WorkerVar {
            name: name.to_owned(),
            value: value.to_owned(),
            spelling,
            task,
            prop,
            alias,
        })
    }

    /// How strongly this variable applies to `task`: `None` if it does not apply, otherwise a
    /// key where smaller is stronger (spelling, then task as written before upper-cased, then
    /// canonical name before alias).
    pub(crate) fn rank_for(&self, task: &str) -> Option<(Spelling, bool, bool)> {
        let upper_cased = match (&self.spelling, &self.task) {
            (Spelling::DottedTask | Spelling::LowerTask, Some(t)) if t == task => false,
            (Spelling::UpperTask, Some(t)) if t == task => false,
            (Spelling::UpperTask, Some(t)) if *t == task.to_uppercase() => true,
            (Spelling::DottedTask | Spelling::LowerTask | Spelling::UpperTask, _) => return None,
            _ => false,
        };
        Some((self.spelling, upper_cased, self.alias))
    }
}

/// Whether `name` starts like a worker variable (so an unrecognised one deserves a warning).
pub(crate) fn looks_like_worker_var(name: &str) -> bool {
    name != CONFIG_FILE_VAR
        && name != ISOLATION_VAR
        && [DOTTED_PREFIX, LOWER_PREFIX, UPPER_PREFIX]
            .iter()
            .any(|prefix| name.starts_with(prefix))
}

/// Splits a variable name into spelling, task part and property.
fn classify_name(name: &str) -> Option<(Spelling, Option<String>, Prop, bool)> {
    if let Some(rest) = name.strip_prefix(DOTTED_PREFIX) {
        let (scope, prop) = rest.rsplit_once('.')?;
        let (prop, alias) = Prop::from_lower(prop)?;
        return match scope {
            "" => None,
            "all" => Some((Spelling::DottedAll, None, prop, alias)),
            task => Some((Spelling::DottedTask, Some(task.to_owned()), prop, alias)),
        };
    }
    if let Some(rest) = name.strip_prefix(LOWER_PREFIX) {
        if let Some((prop, alias)) = Prop::from_lower(rest) {
            return Some((Spelling::LowerGlobal, None, prop, alias));
        }
        let (task, prop, alias) = Prop::split_task_suffix(rest, false)?;
        return Some((Spelling::LowerTask, Some(task.to_owned()), prop, alias));
    }
    if let Some(rest) = name.strip_prefix(UPPER_PREFIX) {
        if let Some((prop, alias)) = Prop::from_upper(rest) {
            return Some((Spelling::UpperGlobal, None, prop, alias));
        }
        if let Some((prop, alias)) = rest.strip_prefix("ALL_").and_then(Prop::from_upper) {
            return Some((Spelling::UpperAll, None, prop, alias));
        }
        let (task, prop, alias) = Prop::split_task_suffix(rest, true)?;
        return Some((Spelling::UpperTask, Some(task.to_owned()), prop, alias));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::{Prop, Spelling, WorkerVar, classify_name};

    fn c(name: &str) -> Option<(Spelling, Option<String>, Prop, bool)> {
        classify_name(name)
    }

    #[test]
    fn every_spelling_is_recognised() {
        assert_eq!(
            c("conductor.worker.a.b.domain"),
            Some((
                Spelling::DottedTask,
                Some("a.b".into()),
                Prop::Domain,
                false
            ))
        );
        assert_eq!(
            c("conductor_worker_my_task_thread_count"),
            Some((
                Spelling::LowerTask,
                Some("my_task".into()),
                Prop::Concurrency,
                true
            ))
        );
        assert_eq!(
            c("CONDUCTOR_WORKER_myTask_PAUSED"),
            Some((
                Spelling::UpperTask,
                Some("myTask".into()),
                Prop::Paused,
                false
            ))
        );
        assert_eq!(
            c("conductor.worker.all.poll_timeout"),
            Some((Spelling::DottedAll, None, Prop::PollTimeout, false))
        );
        assert_eq!(
            c("CONDUCTOR_WORKER_ALL_BATCH_SIZE"),
            Some((Spelling::UpperAll, None, Prop::BatchSize, false))
        );
        assert_eq!(
            c("conductor_worker_update_retries"),
            Some((Spelling::LowerGlobal, None, Prop::UpdateRetries, false))
        );
        assert_eq!(
            c("CONDUCTOR_WORKER_POLL_INTERVAL"),
            Some((Spelling::UpperGlobal, None, Prop::PollingInterval, true))
        );
    }

    #[test]
    fn other_names_are_ignored() {
        for name in [
            "CONDUCTOR_WORKER_CONFIG",
            "CONDUCTOR_SERVER_URL",
            "Conductor_Worker_domain",
            "CONDUCTOR_WORKER_t_domain",
            "conductor_worker_T_DOMAIN",
            "conductor.worker.domain",
            "conductor.worker..domain",
            "conductor.worker.t.DOMAIN",
            "PATH",
        ] {
            assert_eq!(c(name), None, "{name}");
        }
    }

    #[test]
    fn rank_orders_as_written_before_upper_cased() {
        let written = WorkerVar::classify("CONDUCTOR_WORKER_myTask_DOMAIN", "x");
        let upper = WorkerVar::classify("CONDUCTOR_WORKER_MYTASK_DOMAIN", "y");
        let (Some(written), Some(upper)) = (written, upper) else {
            panic!("both names are worker variables");
        };
        let (Some(a), Some(b)) = (written.rank_for("myTask"), upper.rank_for("myTask")) else {
            panic!("both apply to myTask");
        };
        assert!(a < b);
        assert_eq!(written.rank_for("other"), None);
    }
}
