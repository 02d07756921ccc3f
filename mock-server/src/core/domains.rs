//! Task domains (conductor-api.md §4.3): which queue a workflow's task goes to, chosen once when
//! the task is scheduled.

use std::collections::BTreeMap;

/// The list entry meaning "the plain queue, without a domain".
pub(crate) const NO_DOMAIN: &str = "NO_DOMAIN";

/// The domain for a task of `task_type` under the start request's `task_to_domain` map.
///
/// The entry for `task_type` wins over `"*"`. Its comma-separated list is walked in order,
/// skipping `NO_DOMAIN`; the first domain `is_active` (polled within the active window) wins.
/// If none is active, the last entry decides: no domain when it is `NO_DOMAIN`, otherwise that
/// domain, even though nobody polls it. No mapping: no domain.
pub(crate) fn choose(
    task_to_domain: &BTreeMap<String, String>,
    task_type: &str,
    is_active: impl Fn(&str) -> bool,
) -> Option<String> {
    let list = task_to_domain
        .get(task_type)
        .or_else(|| task_to_domain.get("*"))?;
    let entries: Vec<&str> = list.split(',').map(str::trim).collect();
    if let Some(active) = entries.iter().find(|d| **d != NO_DOMAIN && is_active(d)) {
        return Some((*active).to_owned());
    }
    match entries.last() {
        Some(&NO_DOMAIN) | None => None,
        Some(last) => Some((*last).to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_first_active_domain_wins_else_the_last_entry() {
        let domains = map(&[("encode", "a,b,c"), ("*", "star")]);
        let active = |set: &'static [&'static str]| move |d: &str| set.contains(&d);
        assert_eq!(
            choose(&domains, "encode", active(&["b", "c"])),
            Some("b".into())
        );
        assert_eq!(choose(&domains, "encode", active(&[])), Some("c".into()));
        assert_eq!(choose(&domains, "other", active(&[])), Some("star".into()));
        assert_eq!(choose(&map(&[]), "encode", active(&["a"])), None);
    }

    #[test]
    fn no_domain_is_skipped_and_as_last_entry_means_the_plain_queue() {
        let domains = map(&[("*", "NO_DOMAIN, gpu ,NO_DOMAIN")]);
        assert_eq!(choose(&domains, "x", |d| d == "gpu"), Some("gpu".into()));
        assert_eq!(choose(&domains, "x", |_| true), Some("gpu".into()));
        assert_eq!(choose(&domains, "x", |_| false), None);
    }
}
