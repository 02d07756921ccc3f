//! Parsing of raw string values into typed settings. Each parser returns what it expected on
//! failure; the caller adds the key and the source.

use std::time::Duration;

/// Expectation text for a duration in milliseconds.
pub(crate) const EXPECT_MILLIS: &str = "a whole number of milliseconds (digits only, e.g. 250)";
/// Expectation text for a count that must be at least 1.
pub(crate) const EXPECT_POSITIVE: &str = "a whole number of at least 1";
/// Expectation text for a retry count.
pub(crate) const EXPECT_RETRIES: &str = "a whole number from 0 to 4294967295";
/// Expectation text for a boolean.
pub(crate) const EXPECT_BOOL: &str = "a boolean: true/false, 1/0, yes/no or on/off (any case)";
/// Expectation text for the poll timeout.
pub(crate) const EXPECT_POLL_TIMEOUT: &str = "a whole number of milliseconds, at most 5000";
/// Expectation text for a worker id.
pub(crate) const EXPECT_WORKER_ID: &str = "a non-empty worker id without control characters";
/// Expectation text for a domain.
pub(crate) const EXPECT_DOMAIN: &str =
    "a domain name without control characters (empty for no domain)";
/// Expectation text for the server URL.
pub(crate) const EXPECT_URL: &str =
    "an http:// or https:// URL with a host, e.g. http://localhost:8080/api";
/// Expectation text for the HTTP timeout.
pub(crate) const EXPECT_HTTP_TIMEOUT: &str = "a whole number of milliseconds greater than 0";

/// The longest poll timeout the server honours, in milliseconds.
pub(crate) const MAX_POLL_TIMEOUT_MS: u64 = 5000;

/// A non-negative integer written with ASCII digits only (no sign, point or exponent).
pub(crate) fn parse_u64(raw: &str) -> Option<u64> {
    let raw = raw.trim();
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse().ok()
}

/// A duration in whole milliseconds.
pub(crate) fn parse_millis(raw: &str) -> Result<Duration, &'static str> {
    parse_u64(raw)
        .map(Duration::from_millis)
        .ok_or(EXPECT_MILLIS)
}

/// A count of at least 1.
pub(crate) fn parse_positive(raw: &str) -> Result<usize, &'static str> {
    parse_u64(raw)
        .filter(|n| *n >= 1)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or(EXPECT_POSITIVE)
}

/// A retry count.
pub(crate) fn parse_retries(raw: &str) -> Result<u32, &'static str> {
    parse_u64(raw)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or(EXPECT_RETRIES)
}

/// The poll timeout, at most [`MAX_POLL_TIMEOUT_MS`].
pub(crate) fn parse_poll_timeout(raw: &str) -> Result<Duration, &'static str> {
    parse_u64(raw)
        .filter(|n| *n <= MAX_POLL_TIMEOUT_MS)
        .map(Duration::from_millis)
        .ok_or(EXPECT_POLL_TIMEOUT)
}

/// The HTTP timeout, more than 0 ms.
pub(crate) fn parse_http_timeout(raw: &str) -> Result<Duration, &'static str> {
    parse_u64(raw)
        .filter(|n| *n > 0)
        .map(Duration::from_millis)
        .ok_or(EXPECT_HTTP_TIMEOUT)
}

/// A boolean: true/false, 1/0, yes/no, on/off in any case.
pub(crate) fn parse_bool(raw: &str) -> Result<bool, &'static str> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(EXPECT_BOOL),
    }
}

/// A domain; empty (after trimming) means "no domain".
pub(crate) fn parse_domain(raw: &str) -> Result<Option<String>, &'static str> {
    let raw = raw.trim();
    if raw.chars().any(char::is_control) {
        return Err(EXPECT_DOMAIN);
    }
    Ok((!raw.is_empty()).then(|| raw.to_owned()))
}

/// A worker id, non-empty after trimming.
pub(crate) fn parse_worker_id(raw: &str) -> Result<String, &'static str> {
    let raw = raw.trim();
    if raw.is_empty() || raw.chars().any(char::is_control) {
        Err(EXPECT_WORKER_ID)
    } else {
        Ok(raw.to_owned())
    }
}

/// The server URL normalised to end in `/api` with no trailing slash.
pub(crate) fn parse_server_url(raw: &str) -> Result<String, &'static str> {
    let trimmed = raw.trim().trim_end_matches('/');
    let uri: hyper::Uri = trimmed.parse().map_err(|_| EXPECT_URL)?;
    let scheme_ok = matches!(uri.scheme_str(), Some(s) if s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https"));
    let host_ok = uri.host().is_some_and(|h| !h.is_empty());
    if !scheme_ok || !host_ok || uri.query().is_some() {
        return Err(EXPECT_URL);
    }
    if trimmed.ends_with("/api") {
        Ok(trimmed.to_owned())
    } else {
        Ok(format!("{trimmed}/api"))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn millis_accept_digits_only() {
        assert_eq!(parse_millis("250"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_millis(" 0 "), Ok(Duration::ZERO));
        for bad in ["abc", "-5", "1.5", "+5", "", "1e3", "99999999999999999999"] {
            assert_eq!(parse_millis(bad), Err(EXPECT_MILLIS), "{bad:?}");
        }
    }

    #[test]
    fn counts_and_limits() {
        assert_eq!(parse_positive("3"), Ok(3));
        assert_eq!(parse_positive("0"), Err(EXPECT_POSITIVE));
        assert_eq!(parse_retries("0"), Ok(0));
        assert_eq!(parse_retries("4294967296"), Err(EXPECT_RETRIES));
        assert_eq!(parse_poll_timeout("5000"), Ok(Duration::from_millis(5000)));
        assert_eq!(parse_poll_timeout("5001"), Err(EXPECT_POLL_TIMEOUT));
        assert_eq!(parse_http_timeout("0"), Err(EXPECT_HTTP_TIMEOUT));
    }

    #[test]
    fn names_reject_control_characters() {
        assert_eq!(parse_domain(" eu "), Ok(Some("eu".to_owned())));
        assert_eq!(parse_domain("  "), Ok(None));
        assert_eq!(parse_domain("a\nb"), Err(EXPECT_DOMAIN));
        assert_eq!(parse_worker_id("w-1"), Ok("w-1".to_owned()));
        assert_eq!(parse_worker_id("a\tb"), Err(EXPECT_WORKER_ID));
    }

    #[test]
    fn booleans_in_any_case() {
        for yes in ["true", "TRUE", "1", "Yes", "on", "ON"] {
            assert_eq!(parse_bool(yes), Ok(true), "{yes}");
        }
        for no in ["false", "False", "0", "NO", "off", "Off"] {
            assert_eq!(parse_bool(no), Ok(false), "{no}");
        }
        for bad in ["", "y", "2", "enabled"] {
            assert_eq!(parse_bool(bad), Err(EXPECT_BOOL), "{bad:?}");
        }
    }

    #[test]
    fn server_url_is_normalised() {
        for raw in [
            "http://h:8080",
            "http://h:8080/",
            "http://h:8080/api",
            "http://h:8080/api/",
        ] {
            assert_eq!(
                parse_server_url(raw),
                Ok("http://h:8080/api".to_owned()),
                "{raw}"
            );
        }
        assert_eq!(
            parse_server_url("https://x.io/conductor"),
            Ok("https://x.io/conductor/api".to_owned())
        );
        for bad in ["", "localhost:8080", "ftp://h/api", "http://", "not a url"] {
            assert_eq!(parse_server_url(bad), Err(EXPECT_URL), "{bad:?}");
        }
    }
}
