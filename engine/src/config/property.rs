//! The worker properties: canonical names, aliases and how each is spelled in every source.

/// One configurable worker property.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Prop {
    /// `polling_interval` (alias `poll_interval`), milliseconds.
    PollingInterval,
    /// `domain`.
    Domain,
    /// `worker_id`.
    WorkerId,
    /// `concurrency` (alias `thread_count`).
    Concurrency,
    /// `batch_size`.
    BatchSize,
    /// `poll_timeout`, milliseconds.
    PollTimeout,
    /// `paused`.
    Paused,
    /// `update_retries`.
    UpdateRetries,
    /// `update_retry_backoff`, milliseconds.
    UpdateRetryBackoff,
    /// `shutdown_grace`, milliseconds.
    ShutdownGrace,
    /// `lease_extend_enabled`.
    LeaseExtendEnabled,
}

impl Prop {
    /// Every property, in the order they are documented and printed.
    pub(crate) const ALL: [Prop; 11] = [
        Prop::PollingInterval,
        Prop::Domain,
        Prop::WorkerId,
        Prop::Concurrency,
        Prop::BatchSize,
        Prop::PollTimeout,
        Prop::Paused,
        Prop::UpdateRetries,
        Prop::UpdateRetryBackoff,
        Prop::ShutdownGrace,
        Prop::LeaseExtendEnabled,
    ];

    /// The canonical (lower-case) name.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Prop::PollingInterval => "polling_interval",
            Prop::Domain => "domain",
            Prop::WorkerId => "worker_id",
            Prop::Concurrency => "concurrency",
            Prop::BatchSize => "batch_size",
            Prop::PollTimeout => "poll_timeout",
            Prop::Paused => "paused",
            Prop::UpdateRetries => "update_retries",
            Prop::UpdateRetryBackoff => "update_retry_backoff",
            Prop::ShutdownGrace => "shutdown_grace",
            Prop::LeaseExtendEnabled => "lease_extend_enabled",
        }
    }

    /// The alternative name accepted for this property, if any.
    pub(crate) const fn alias(self) -> Option<&'static str> {
        match self {
            Prop::PollingInterval => Some("poll_interval"),
            Prop::Concurrency => Some("thread_count"),
            _ => None,
        }
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

#[cfg(test)]
mod tests {
    use super::Prop;

    #[test]
    fn names_and_aliases_round_trip() {
        assert_eq!(Prop::ALL.map(Prop::name), crate::config::WORKER_PROPERTIES);
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
}
