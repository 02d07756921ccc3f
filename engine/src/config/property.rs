//! The worker properties, each defined once.
//!
//! [`worker_properties!`] holds the one table: for every property its field name, types, code
//! setter, alias, default, bounds and doc line. Everything else is derived from it by handing
//! the table to a macro of its own: the [`Prop`] enum and its [`PropSpec`]s (here), the code
//! values `WorkerOptions` (`options.rs`), the resolved `WorkerSettings` and their `Provenance`
//! (`settings.rs`), the `FnWorker` setters (`worker/func.rs`) and the table in
//! `docs/configuration.md` (checked by a test). Adding a property is a one-row change here plus
//! whatever the engine does with the new value.

use std::fmt::Write as _;

use super::settings::default_worker_id;

/// Calls `$then!` with the table of worker properties. Each row reads:
///
/// ```text
/// /// Doc line (the setter's and the field's documentation, and the docs table's note).
/// Variant field: ResolvedType, code CodeType, set with_field(ArgType) {
///     alias: Option<&str>, default: PropDefault, range: (min, max), unit: "docs type",
/// }
/// ```
///
/// `ResolvedType` is the field's type in `WorkerSettings` (it implements `PropertyValue`),
/// `CodeType` the type kept in `WorkerOptions` (it implements `CodeValue`), and `ArgType` what
/// the setters take (converted with `Into`). `range` bounds numbers (milliseconds for
/// durations) and is ignored for text and booleans.
macro_rules! worker_properties {
    ($then:ident) => {
        $then! {
            /// Pause between polls when a poll returned nothing.
            PollingInterval polling_interval: Duration, code Duration,
                set with_polling_interval(Duration) {
                alias: Some("poll_interval"),
                default: PropDefault::Fixed("100"),
                range: (0, 3_600_000),
                unit: "ms",
            }
            /// Task domain to poll; an empty value means no domain.
            Domain domain: Option<String>, code String, set with_domain(impl Into<String>) {
                alias: None,
                default: PropDefault::Fixed(""),
                range: (0, 0),
                unit: "string",
            }
            /// Worker id sent with each poll; must not be empty.
            WorkerId worker_id: String, code String, set with_worker_id(impl Into<String>) {
                alias: None,
                default: PropDefault::Computed(default_worker_id, "hostname-pid"),
                range: (0, 0),
                unit: "string",
            }
            /// Tasks running at once.
            Concurrency concurrency: usize, code usize, set with_concurrency(usize) {
                alias: Some("thread_count"),
                default: PropDefault::Fixed("1"),
                range: (1, 10_000),
                unit: "integer",
            }
            /// Most tasks asked for in one poll.
            BatchSize batch_size: usize, code usize, set with_batch_size(usize) {
                alias: None,
                default: PropDefault::Follows(Prop::Concurrency),
                range: (1, 10_000),
                unit: "integer",
            }
            /// Long-poll timeout sent to the server.
            PollTimeout poll_timeout: Duration, code Duration, set with_poll_timeout(Duration) {
                alias: None,
                default: PropDefault::Fixed("100"),
                range: (0, 5_000),
                unit: "ms",
            }
            /// Start without polling (until resumed).
            Paused paused: bool, code bool, set with_paused(bool) {
                alias: None,
                default: PropDefault::Fixed("false"),
                range: (0, 0),
                unit: "boolean",
            }
            /// Most extra attempts to post a result after the first one fails; unset (the default): retries stop only at the budget or the task's lease.
            UpdateRetries update_retries: Option<u32>, code u32, set with_update_retries(u32) {
                alias: None,
                default: PropDefault::Fixed(""),
                range: (0, 1_000),
                unit: "integer or empty",
            }
            /// Delay before the first retry of a result post (it doubles on each retry, with jitter).
            UpdateRetryBackoff update_retry_backoff: Duration, code Duration,
                set with_update_retry_backoff(Duration) {
                alias: None,
                default: PropDefault::Fixed("250"),
                range: (0, 3_600_000),
                unit: "ms",
            }
            /// Longest delay between two retries of a result post.
            UpdateRetryBackoffMax update_retry_backoff_max: Duration, code Duration,
                set with_update_retry_backoff_max(Duration) {
                alias: None,
                default: PropDefault::Fixed("5000"),
                range: (0, 3_600_000),
                unit: "ms",
            }
            /// How long a result is retried, from its first post, before it is given up (the task's lease may end it sooner).
            UpdateRetryBudget update_retry_budget: Duration, code Duration,
                set with_update_retry_budget(Duration) {
                alias: None,
                default: PropDefault::Fixed("300000"),
                range: (0, 86_400_000),
                unit: "ms",
            }
            /// Longest a task may run: past it, it is posted FAILED ("execution timed out after …"), its lease extension stops and an async execution is dropped (a blocking thread that will not return keeps its slot as lost capacity); unset (the default): no limit.
            ExecutionTimeout execution_timeout: Option<Duration>, code Duration,
                set with_execution_timeout(Duration) {
                alias: None,
                default: PropDefault::Fixed(""),
                range: (1, 86_400_000),
                unit: "ms or empty",
            }
            /// How long a shutdown waits for running tasks and their results.
            ShutdownGrace shutdown_grace: Duration, code Duration,
                set with_shutdown_grace(Duration) {
                alias: None,
                default: PropDefault::Fixed("30000"),
                range: (0, 86_400_000),
                unit: "ms",
            }
            /// While a task runs, extend its lease every 0.8 × its `responseTimeoutSeconds`, so long tasks are not timed out.
            LeaseExtendEnabled lease_extend_enabled: bool, code bool,
                set with_lease_extend_enabled(bool) {
                alias: None,
                default: PropDefault::Fixed("false"),
                range: (0, 0),
                unit: "boolean",
            }
            /// With process placement, how many supervised OS processes run this worker, each with `concurrency` slots (with thread placement it must stay 1).
            Processes processes: usize, code usize, set with_processes(usize) {
                alias: None,
                default: PropDefault::Fixed("1"),
                range: (1, 256),
                unit: "integer",
            }
            /// With process placement, the wait before restarting a worker process that exited (it doubles after each exit that follows a short run).
            ProcessRestartDelay process_restart_delay: Duration, code Duration,
                set with_process_restart_delay(Duration) {
                alias: None,
                default: PropDefault::Fixed("1000"),
                range: (10, 3_600_000),
                unit: "ms",
            }
            /// With process placement, the longest wait before restarting a worker process.
            ProcessRestartDelayMax process_restart_delay_max: Duration, code Duration,
                set with_process_restart_delay_max(Duration) {
                alias: None,
                default: PropDefault::Fixed("60000"),
                range: (10, 86_400_000),
                unit: "ms",
            }
            /// With process placement, how long a worker process must run before its restart delay goes back to `process_restart_delay`.
            ProcessHealthyAfter process_healthy_after: Duration, code Duration,
                set with_process_healthy_after(Duration) {
                alias: None,
                default: PropDefault::Fixed("60000"),
                range: (0, 86_400_000),
                unit: "ms",
            }
            /// With process placement, a task in flight at this many exits of its worker process in a row (counted per workflow and task reference name) is posted FAILED_WITH_TERMINAL_ERROR instead of FAILED, so a poison task is not retried.
            ProcessCrashLimit process_crash_limit: u32, code u32,
                set with_process_crash_limit(u32) {
                alias: None,
                default: PropDefault::Fixed("3"),
                range: (1, 1_000),
                unit: "integer",
            }
        }
    };
}
pub(crate) use worker_properties;

/// Where a property's value comes from when no source sets it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum PropDefault {
    /// This raw value, parsed like any other.
    Fixed(&'static str),
    /// A value computed at resolution time, and how the docs name it.
    Computed(fn() -> String, &'static str),
    /// The resolved raw value of another property (reported with source `default`).
    Follows(Prop),
}

/// Everything known about one property besides its types.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PropSpec {
    /// The canonical (lower-case) name.
    pub(crate) name: &'static str,
    /// The alternative name accepted in every source, if any.
    pub(crate) alias: Option<&'static str>,
    /// The value used when no source sets one.
    pub(crate) default: PropDefault,
    /// Smallest and largest accepted number (milliseconds for durations).
    pub(crate) min: u64,
    /// See `min`.
    pub(crate) max: u64,
    /// The value's type as the docs name it.
    pub(crate) unit: &'static str,
    /// One line of documentation.
    pub(crate) doc: &'static str,
}

impl PropSpec {
    /// Whether `min`/`max` apply (numbers and durations; not text or booleans).
    pub(crate) fn is_bounded(&self) -> bool {
        self.max > 0
    }
}

/// Defines [`Prop`], its specs and `WORKER_PROPERTIES` from the table.
macro_rules! define_props {
    ($(
        #[doc = $doc:literal]
        $variant:ident $field:ident: $value:ty, code $code:ty, set $setter:ident($arg:ty) {
            alias: $alias:expr,
            default: $default:expr,
            range: ($min:expr, $max:expr),
            unit: $unit:literal,
        }
    )+) => {
        /// One configurable worker property.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub(crate) enum Prop {
            $(
                #[doc = $doc]
                $variant,
            )+
        }

        impl Prop {
            /// Every property, in the order they are documented and printed.
            pub(crate) const ALL: [Prop; PROPERTY_COUNT] = [$(Prop::$variant),+];

            /// Everything known about this property.
            pub(crate) fn spec(self) -> &'static PropSpec {
                &SPECS[self as usize]
            }
        }

        /// The specs, indexed by `Prop as usize`.
        static SPECS: [PropSpec; PROPERTY_COUNT] = [$(
            PropSpec {
                name: stringify!($field),
                alias: $alias,
                default: $default,
                min: $min,
                max: $max,
                unit: $unit,
                doc: $doc.trim_ascii(),
            },
        )+];

        /// How many worker properties there are.
        const PROPERTY_COUNT: usize = [$(stringify!($field)),+].len();

        /// The canonical names of the worker properties, in documentation order.
        pub const WORKER_PROPERTIES: [&str; PROPERTY_COUNT] = [$(stringify!($field)),+];
    };
}

worker_properties!(define_props);

impl Prop {
    /// The canonical (lower-case) name.
    pub(crate) fn name(self) -> &'static str {
        self.spec().name
    }

    /// The alternative name accepted for this property, if any.
    pub(crate) fn alias(self) -> Option<&'static str> {
        self.spec().alias
    }

    /// Finds a property by its lower-case canonical name or alias; the flag says "alias".
    pub(crate) fn from_lower(key: &str) -> Option<(Prop, bool)> {
        Prop::ALL.into_iter().find_map(|p| {
            if p.name() == key {
                Some((p, false))
            } else if p.alias() == Some(key) {
                Some((p, true))
            } else {
                None
            }
        })
    }

    /// Finds a property by its upper-case canonical name or alias; the flag says "alias".
    pub(crate) fn from_upper(key: &str) -> Option<(Prop, bool)> {
        if key.bytes().any(|b| b.is_ascii_lowercase()) {
            return None;
        }
        Prop::from_lower(&key.to_ascii_lowercase())
    }

    /// Splits `<task>_<prop>` at the longest known property suffix (canonical or alias), with
    /// `upper` choosing the upper-case spelling of the property. The task part must be non-empty.
    pub(crate) fn split_task_suffix(rest: &str, upper: bool) -> Option<(&str, Prop, bool)> {
        let mut best: Option<(&str, Prop, bool)> = None;
        for prop in Prop::ALL {
            for (spelled, alias) in [(Some(prop.name()), false), (prop.alias(), true)] {
                let Some(spelled) = spelled else { continue };
                let spelled = if upper {
                    spelled.to_ascii_uppercase()
                } else {
                    spelled.to_owned()
                };
                let Some(head) = rest.strip_suffix(spelled.as_str()) else {
                    continue;
                };
                let Some(task) = head.strip_suffix('_') else {
                    continue;
                };
                if task.is_empty() {
                    continue;
                }
                // A shorter task part means a longer property suffix.
                if best.is_none_or(|(t, _, _)| task.len() < t.len()) {
                    best = Some((task, prop, alias));
                }
            }
        }
        best
    }
}

/// The worker-property reference table of `docs/configuration.md`, in Markdown, rendered from
/// the one definition of the properties (`print_config --properties` prints it).
pub fn worker_properties_table() -> String {
    let mut table = String::from(
        "| property | alias | type | default | accepted | notes |\n|---|---|---|---|---|---|\n",
    );
    for prop in Prop::ALL {
        let spec = prop.spec();
        let alias = spec.alias.map(|a| format!("`{a}`")).unwrap_or_default();
        let default = match spec.default {
            PropDefault::Fixed("") => "none".to_owned(),
            PropDefault::Fixed(value) => format!("`{value}`"),
            PropDefault::Computed(_, label) => format!("`{label}`"),
            PropDefault::Follows(other) => format!("= `{}`", other.name()),
        };
        let accepted = match (spec.is_bounded(), spec.unit) {
            (true, "ms") => format!("{} – {} ({})", spec.min, spec.max, readable_ms(spec.max)),
            (true, _) => format!("{} – {}", spec.min, spec.max),
            (false, _) => String::new(),
        };
        let _ = writeln!(
            table,
            "| `{}` | {alias} | {} | {default} | {accepted} | {} |",
            spec.name, spec.unit, spec.doc
        );
    }
    table
}

/// A whole number of milliseconds in the largest unit that divides it: `5 s`, `1 h`.
fn readable_ms(ms: u64) -> String {
    match ms {
        0 => "0 ms".to_owned(),
        _ if ms.is_multiple_of(3_600_000) => format!("{} h", ms / 3_600_000),
        _ if ms.is_multiple_of(60_000) => format!("{} min", ms / 60_000),
        _ if ms.is_multiple_of(1_000) => format!("{} s", ms / 1_000),
        _ => format!("{ms} ms"),
    }
}

#[cfg(test)]
mod tests {
    use super::{Prop, PropDefault, WORKER_PROPERTIES, worker_properties_table};

    #[test]
    fn names_and_aliases_round_trip() {
        assert_eq!(Prop::ALL.map(Prop::name), WORKER_PROPERTIES);
        for prop in Prop::ALL {
            assert_eq!(Prop::from_lower(prop.name()), Some((prop, false)));
            assert_eq!(
                Prop::from_upper(&prop.name().to_ascii_uppercase()),
                Some((prop, false))
            );
        }
        assert_eq!(
            Prop::from_lower("poll_interval"),
            Some((Prop::PollingInterval, true))
        );
        assert_eq!(
            Prop::from_upper("THREAD_COUNT"),
            Some((Prop::Concurrency, true))
        );
        assert_eq!(Prop::from_upper("Domain"), None);
        assert_eq!(Prop::from_lower("DOMAIN"), None);
    }

    #[test]
    fn longest_suffix_wins_and_task_may_hold_underscores() {
        assert_eq!(
            Prop::split_task_suffix("my_task_batch_size", false),
            Some(("my_task", Prop::BatchSize, false))
        );
        assert_eq!(
            Prop::split_task_suffix("A_B_UPDATE_RETRY_BACKOFF", true),
            Some(("A_B", Prop::UpdateRetryBackoff, false))
        );
        assert_eq!(
            Prop::split_task_suffix("t_poll_interval", false),
            Some(("t", Prop::PollingInterval, true))
        );
        assert_eq!(Prop::split_task_suffix("domain", false), None);
        assert_eq!(Prop::split_task_suffix("_domain", false), None);
        assert_eq!(Prop::split_task_suffix("t_unknown", false), None);
    }

    #[test]
    fn every_spec_is_consistent() {
        for prop in Prop::ALL {
            let spec = prop.spec();
            assert!(spec.min <= spec.max, "{}", spec.name);
            assert!(!spec.doc.is_empty(), "{}", spec.name);
            if let PropDefault::Follows(other) = spec.default {
                assert!(
                    other < prop,
                    "{} must follow an earlier property",
                    spec.name
                );
                assert_eq!(
                    (other.spec().min, other.spec().max),
                    (spec.min, spec.max),
                    "{} follows {} so it needs the same bounds",
                    spec.name,
                    other.name()
                );
            }
        }
    }

    /// The table in `docs/configuration.md` is the one rendered from the specs.
    #[test]
    fn the_docs_table_is_derived_from_the_specs() {
        let docs = include_str!("../../../docs/configuration.md");
        let table = worker_properties_table();
        assert!(
            docs.contains(&table),
            "docs/configuration.md must contain this table exactly:\n\n{table}"
        );
    }
}
