//! Values: how a raw string becomes a typed setting, and how a value set in code becomes a
//! raw string again. Each parser returns what it expected on failure; the caller adds the key
//! and the source.
//!
//! Worker properties are parsed through [`PropertyValue`], chosen by the field's type in
//! `WorkerSettings` and bounded by the property's spec; code values go back to strings through
//! [`CodeValue`], so every source is validated the same way.

use std::time::Duration;

use serde_json::Value;

use super::property::PropSpec;

/// Expectation text for a boolean.
pub(crate) const EXPECT_BOOL: &str = "a boolean: true/false, 1/0, yes/no or on/off (any case)";
/// Expectation text for a worker id.
pub(crate) const EXPECT_WORKER_ID: &str = "a non-empty worker id without control characters";
/// Expectation text for a domain.
pub(crate) const EXPECT_DOMAIN: &str =
    "a domain name without control characters (empty for no domain)";
/// Expectation text for the server URL.
pub(crate) const EXPECT_URL: &str =
    "an http:// or https:// URL with a host, e.g. http://localhost:8080/api";

/// The longest HTTP timeout accepted, in milliseconds (one hour).
pub(crate) const MAX_HTTP_TIMEOUT_MS: u64 = 3_600_000;

/// A worker property's resolved type: parsed from a raw string within the property's bounds.
pub(crate) trait PropertyValue: Sized {
    /// Parses `raw`, or says what was expected.
    fn parse(raw: &str, spec: &PropSpec) -> Result<Self, String>;

    /// The value in the `print_config` JSON line (durations as whole milliseconds).
    fn to_json(&self) -> Value;
}

/// A value set in code, written back as the string any other source would give.
pub(crate) trait CodeValue {
    /// The raw string form.
    fn to_raw(&self) -> String;
}

/// A whole number within the spec's bounds.
fn parse_bounded(raw: &str, spec: &PropSpec) -> Option<u64> {
    parse_u64(raw).filter(|n| (spec.min..=spec.max).contains(n))
}

/// What a bounded whole number must look like.
fn expect_count(spec: &PropSpec) -> String {
    format!(
        "a whole number of at least {} and at most {}",
        spec.min, spec.max
    )
}

/// What a bounded duration must look like.
fn expect_millis(spec: &PropSpec) -> String {
    format!(
        "a whole number of milliseconds (digits only, e.g. 250), at most {}",
        spec.max
    )
}

impl PropertyValue for Duration {
    fn parse(raw: &str, spec: &PropSpec) -> Result<Self, String> {
        parse_bounded(raw, spec)
            .map(Duration::from_millis)
            .ok_or_else(|| expect_millis(spec))
    }

    fn to_json(&self) -> Value {
        Value::from(millis(*self))
    }
}

impl PropertyValue for usize {
    fn parse(raw: &str, spec: &PropSpec) -> Result<Self, String> {
        parse_bounded(raw, spec)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| expect_count(spec))
    }

    fn to_json(&self) -> Value {
        Value::from(*self)
    }
}

impl PropertyValue for u32 {
    fn parse(raw: &str, spec: &PropSpec) -> Result<Self, String> {
        parse_bounded(raw, spec)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| expect_count(spec))
    }

    fn to_json(&self) -> Value {
        Value::from(*self)
    }
}

impl PropertyValue for bool {
    fn parse(raw: &str, _: &PropSpec) -> Result<Self, String> {
        parse_bool(raw).map_err(str::to_owned)
    }

    fn to_json(&self) -> Value {
        Value::from(*self)
    }
}

/// A worker id: non-empty after trimming, no control characters.
impl PropertyValue for String {
    fn parse(raw: &str, _: &PropSpec) -> Result<Self, String> {
        parse_worker_id(raw).map_err(str::to_owned)
    }

    fn to_json(&self) -> Value {
        Value::from(self.as_str())
    }
}

/// A domain: empty (after trimming) means none.
impl PropertyValue for Option<String> {
    fn parse(raw: &str, _: &PropSpec) -> Result<Self, String> {
        parse_domain(raw).map_err(str::to_owned)
    }

    fn to_json(&self) -> Value {
        self.as_deref().map_or(Value::Null, Value::from)
    }
}

/// An optional count: empty (after trimming) means unset.
impl PropertyValue for Option<u32> {
    fn parse(raw: &str, spec: &PropSpec) -> Result<Self, String> {
        if raw.trim().is_empty() {
            return Ok(None);
        }
        u32::parse(raw, spec)
            .map(Some)
            .map_err(|expected| format!("{expected}, or empty for none"))
    }

    fn to_json(&self) -> Value {
        self.map_or(Value::Null, Value::from)
    }
}

/// An optional duration: empty (after trimming) means unset.
impl PropertyValue for Option<Duration> {
    fn parse(raw: &str, spec: &PropSpec) -> Result<Self, String> {
        if raw.trim().is_empty() {
            return Ok(None);
        }
        parse_bounded(raw, spec)
            .map(|ms| Some(Duration::from_millis(ms)))
            .ok_or_else(|| {
                format!(
                    "a whole number of milliseconds from {} to {}, or empty for none",
                    spec.min, spec.max
                )
            })
    }

    fn to_json(&self) -> Value {
        self.map_or(Value::Null, |d| Value::from(millis(d)))
    }
}

impl CodeValue for Duration {
    /// Whole milliseconds: anything finer is dropped.
    fn to_raw(&self) -> String {
        self.as_millis().to_string()
    }
}

impl CodeValue for String {
    fn to_raw(&self) -> String {
        self.clone()
    }
}

macro_rules! code_value_by_display {
    ($($ty:ty),+) => {$(
        impl CodeValue for $ty {
            fn to_raw(&self) -> String {
                self.to_string()
            }
        }
    )+};
}
code_value_by_display!(usize, u32, bool);

/// Whole milliseconds of a duration, saturating (every configured duration is whole ms).
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A non-negative integer written with ASCII digits only (no sign, point or exponent).
pub(crate) fn parse_u64(raw: &str) -> Option<u64> {
    let raw = raw.trim();
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse().ok()
}

/// The HTTP timeout: more than 0 ms, at most [`MAX_HTTP_TIMEOUT_MS`].
pub(crate) fn parse_http_timeout(raw: &str) -> Result<Duration, String> {
    parse_millis_within(raw, 1, MAX_HTTP_TIMEOUT_MS)
}

/// The longest poll-deadline margin accepted, in milliseconds (one minute).
pub(crate) const MAX_POLL_DEADLINE_MARGIN_MS: u64 = 60_000;

/// The poll-deadline margin: 0 to [`MAX_POLL_DEADLINE_MARGIN_MS`].
pub(crate) fn parse_poll_deadline_margin(raw: &str) -> Result<Duration, String> {
    parse_millis_within(raw, 0, MAX_POLL_DEADLINE_MARGIN_MS)
}

/// The operations endpoint's address: `IP:PORT` (port 0 picks a free port).
pub(crate) fn parse_metrics_addr(raw: &str) -> Result<std::net::SocketAddr, String> {
    raw.trim()
        .parse()
        .map_err(|_| "an IP address and port, e.g. 127.0.0.1:9991 or 0.0.0.0:9991".to_owned())
}

/// The longest poll-error backoff: 1 ms to one hour.
pub(crate) fn parse_poll_error_backoff_max(raw: &str) -> Result<Duration, String> {
    parse_millis_within(raw, 1, 3_600_000)
}

/// Whole milliseconds from `min` to `max`.
fn parse_millis_within(raw: &str, min: u64, max: u64) -> Result<Duration, String> {
    parse_u64(raw)
        .filter(|n| (min..=max).contains(n))
        .map(Duration::from_millis)
        .ok_or_else(|| format!("a whole number of milliseconds from {min} to {max}"))
}

/// The smallest answer-size limit: a poll answer of one task must fit.
pub(crate) const MIN_RESPONSE_BYTES: u64 = 1024;
/// The largest answer-size and output limit: simd-json parses at most 4 GiB − 1.
pub(crate) const MAX_PAYLOAD_BYTES: u64 = u32::MAX as u64;

/// The answer-size limit: from [`MIN_RESPONSE_BYTES`] to [`MAX_PAYLOAD_BYTES`].
pub(crate) fn parse_max_response_bytes(raw: &str) -> Result<u64, String> {
    parse_u64(raw)
        .filter(|n| (MIN_RESPONSE_BYTES..=MAX_PAYLOAD_BYTES).contains(n))
        .ok_or_else(|| {
            format!("a whole number of bytes from {MIN_RESPONSE_BYTES} to {MAX_PAYLOAD_BYTES}")
        })
}

/// The output limit: 0 (no limit, `None`) up to [`MAX_PAYLOAD_BYTES`].
pub(crate) fn parse_max_output_bytes(raw: &str) -> Result<Option<u64>, String> {
    parse_u64(raw)
        .filter(|n| *n <= MAX_PAYLOAD_BYTES)
        .map(|n| (n > 0).then_some(n))
        .ok_or_else(|| format!("a whole number of bytes from 0 (no limit) to {MAX_PAYLOAD_BYTES}"))
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

    use crate::config::property::Prop;

    #[test]
    fn millis_accept_digits_only() {
        let spec = Prop::PollingInterval.spec();
        assert_eq!(Duration::parse("250", spec), Ok(Duration::from_millis(250)));
        assert_eq!(Duration::parse(" 0 ", spec), Ok(Duration::ZERO));
        for bad in ["abc", "-5", "1.5", "+5", "", "1e3", "99999999999999999999"] {
            let err = Duration::parse(bad, spec).unwrap_err();
            assert!(
                err.contains("whole number of milliseconds"),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn numbers_are_bounded_by_their_spec() {
        let concurrency = Prop::Concurrency.spec();
        assert_eq!(usize::parse("3", concurrency), Ok(3));
        assert_eq!(usize::parse("10000", concurrency), Ok(10_000));
        for bad in ["0", "10001", "100000"] {
            let err = usize::parse(bad, concurrency).unwrap_err();
            assert_eq!(
                err, "a whole number of at least 1 and at most 10000",
                "{bad}"
            );
        }
        let retries = Prop::UpdateRetries.spec();
        assert_eq!(u32::parse("0", retries), Ok(0));
        assert!(u32::parse("4294967296", retries).is_err());
        let poll_timeout = Prop::PollTimeout.spec();
        assert_eq!(
            Duration::parse("5000", poll_timeout),
            Ok(Duration::from_millis(5000))
        );
        assert!(
            Duration::parse("5001", poll_timeout)
                .unwrap_err()
                .contains("at most 5000")
        );
        assert!(parse_http_timeout("0").is_err());
        assert!(parse_http_timeout("3600001").is_err());
        assert_eq!(parse_http_timeout("1"), Ok(Duration::from_millis(1)));
    }

    #[test]
    fn size_limits_have_bounds_and_zero_turns_the_output_limit_off() {
        assert!(parse_max_response_bytes("1023").is_err());
        assert!(parse_max_response_bytes("4294967296").is_err());
        assert!(parse_max_response_bytes("1k").is_err());
        assert_eq!(parse_max_response_bytes("1024"), Ok(1024));
        assert_eq!(parse_max_output_bytes("0"), Ok(None));
        assert_eq!(parse_max_output_bytes("10485760"), Ok(Some(10_485_760)));
        assert!(parse_max_output_bytes("4294967296").is_err());
        assert!(parse_max_output_bytes("-1").is_err());
    }

    #[test]
    fn code_values_round_trip_through_their_raw_form() {
        assert_eq!(Duration::from_micros(2500).to_raw(), "2");
        assert_eq!(7usize.to_raw(), "7");
        assert_eq!(true.to_raw(), "true");
        let spec = Prop::ShutdownGrace.spec();
        assert_eq!(
            Duration::parse(&Duration::from_secs(3).to_raw(), spec),
            Ok(Duration::from_secs(3))
        );
        assert_eq!(None::<String>.to_json(), Value::Null);
        assert_eq!(Duration::from_millis(1500).to_json(), Value::from(1500));
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
