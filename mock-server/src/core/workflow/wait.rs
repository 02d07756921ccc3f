//! WAIT (conductor-oss `WaitTaskMapper`, `Wait`, `DateTimeUtils`): IN_PROGRESS until
//!
//! - its input's `duration` has passed (`"10s"`, `"1m 5s"`, `"2 hours"`, `"1d"`: days, hours,
//!   minutes, seconds in that order, each optional, case-insensitive), or
//! - its input's `until` has come (`"yyyy-MM-dd HH:mm"`, `"yyyy-MM-dd HH:mm z"` or
//!   `"yyyy-MM-dd"`; no zone means UTC; zones `UTC`, `GMT`, `UT`, `Z`, `±hh:mm`, `±hhmm`,
//!   `GMT±hh:mm`; a past time completes it on the next sweep),
//!
//! when the sweeper completes it; with neither it waits until an update ends it
//! (`callbackAfterSeconds` 2147483647, as on the server). Both, an unreadable duration or an
//! unreadable `until` end it FAILED_WITH_TERMINAL_ERROR.

use std::sync::LazyLock;

use baton_model::{JsonMap, TaskStatus};
use regex::Regex;
use serde_json::Value;

use super::Instance;
use super::decider::Retry;
use crate::core::State;
use crate::core::ledger::FP_SERVER;
use crate::core::metadata::WAIT;

/// The server's duration pattern (`DateTimeUtils.DURATION_PATTERN`).
static DURATION: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^\s*(?:(\d+)\s*(?:days?|d))?\s*(?:(\d+)\s*(?:hours?|hrs?|h))?\s*(?:(\d+)\s*(?:minutes?|mins?|m))?\s*(?:(\d+)\s*(?:seconds?|secs?|s))?\s*$",
    )
    .ok()
});

/// `text` as whole seconds, as the server's `DateTimeUtils.parseDuration` reads it.
pub(crate) fn parse_duration(text: &str) -> Option<u64> {
    let captures = DURATION.as_ref()?.captures(text)?;
    let part = |i: usize| -> Option<u64> {
        captures
            .get(i)
            .map_or(Some(0), |m| m.as_str().parse::<u64>().ok())
    };
    let (days, hours, minutes, seconds) = (part(1)?, part(2)?, part(3)?, part(4)?);
    days.checked_mul(86_400)?
        .checked_add(hours.checked_mul(3_600)?)?
        .checked_add(minutes.checked_mul(60)?)?
        .checked_add(seconds)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// A zone's offset from UTC in minutes.
fn zone_offset_minutes(zone: &str) -> Option<i64> {
    let upper = zone.to_ascii_uppercase();
    let offset = match upper.as_str() {
        "UTC" | "GMT" | "UT" | "Z" => return Some(0),
        other => other
            .strip_prefix("GMT")
            .or_else(|| other.strip_prefix("UTC"))
            .unwrap_or(other),
    };
    let (sign, digits) = match offset.as_bytes().first()? {
        b'+' => (1, offset.get(1..)?),
        b'-' => (-1, offset.get(1..)?),
        _ => return None,
    };
    let digits = digits.replace(':', "");
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (hours, minutes) = match digits.len() {
        1 | 2 => (digits.parse::<i64>().ok()?, 0),
        4 => (
            digits.get(..2)?.parse::<i64>().ok()?,
            digits.get(2..)?.parse::<i64>().ok()?,
        ),
        _ => return None,
    };
    (hours <= 18 && minutes < 60).then_some(sign * (hours * 60 + minutes))
}

/// `text` (`yyyy-MM-dd[ HH:mm[ zone]]`) as epoch milliseconds.
pub(crate) fn parse_until(text: &str) -> Option<i64> {
    let mut parts = text.split_whitespace();
    let date = parts.next()?;
    let time = parts.next();
    let zone = parts.next();
    if parts.next().is_some() {
        return None;
    }
    let mut ymd = date.split('-');
    let year = ymd.next()?.parse::<i64>().ok()?;
    let month = ymd.next()?.parse::<i64>().ok()?;
    let day = ymd.next()?.parse::<i64>().ok()?;
    if ymd.next().is_some() || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let (hour, minute) = match time {
        Some(time) => {
            let (h, m) = time.split_once(':')?;
            (h.parse::<i64>().ok()?, m.parse::<i64>().ok()?)
        }
        None => (0, 0),
    };
    if !(0..24).contains(&hour) || !(0..60).contains(&minute) {
        return None;
    }
    let offset = match zone {
        Some(zone) => zone_offset_minutes(zone)?,
        None => 0,
    };
    let minutes = days_from_civil(year, month, day) * 1_440 + hour * 60 + minute - offset;
    minutes.checked_mul(60_000)
}

/// Whether a WAIT task with this input waits for an update (a signal) rather than a time:
/// neither `duration` nor `until` (the server's `waitTimeout == 0`). Synchronous execution
/// counts such an open WAIT as a blocking task.
pub(crate) fn waits_for_signal(input: &JsonMap) -> bool {
    text(input, "duration").is_empty() && text(input, "until").is_empty()
}

/// The text of an input value (`""` when absent or null).
fn text(input: &JsonMap, key: &str) -> String {
    match input.get(key) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(other) => other.to_string(),
    }
}

impl State {
    /// A WAIT task: open until its duration or time has passed, or until updated.
    pub(super) fn wait_task(
        &mut self,
        id: u64,
        instance: &mut Instance,
        at: (usize, i32),
        input: JsonMap,
        retry: Retry<'_>,
        now: u64,
    ) {
        let duration = text(&input, "duration");
        let until = text(&input, "until");
        let (seq, mut record) = self.system_record(id, instance, at, WAIT, input, retry, now);
        let wait_ms = match (duration.is_empty(), until.is_empty()) {
            (false, false) => Err(
                "Both 'duration' and 'until' specified. Please provide only one input".to_owned(),
            ),
            (false, true) => parse_duration(&duration)
                .map(|seconds| Some(seconds.saturating_mul(1_000)))
                .ok_or_else(|| format!("Not valid duration: {duration}")),
            (true, false) => parse_until(&until)
                .map(|at_ms| {
                    let wait = at_ms.saturating_sub(self.clock.epoch_ms(now)).max(0);
                    Some(u64::try_from(wait).unwrap_or(0))
                })
                .ok_or_else(|| {
                    format!("Invalid/Unsupported Wait Until format.  Provided: {until}")
                }),
            (true, true) => Ok(None),
        };
        match wait_ms {
            Err(reason) => {
                record.reason = Some(reason.into());
                self.end_system_task(
                    instance,
                    seq,
                    record,
                    TaskStatus::FailedWithTerminalError,
                    now,
                );
            }
            Ok(Some(ms)) => {
                record.callback_after_seconds = i64::try_from(ms / 1_000).unwrap_or(i64::MAX);
                let deadline = now.saturating_add(ms.saturating_mul(1_000));
                self.wait_deadlines.insert(deadline, seq);
                self.live.insert(seq, record);
            }
            Ok(None) => {
                record.callback_after_seconds = i64::from(i32::MAX);
                self.live.insert(seq, record);
            }
        }
    }

    /// The sweeper found WAIT task `seq` due: it completes (unless it has ended already).
    pub(in crate::core) fn wait_over(&mut self, seq: u64, now: u64) {
        let open = self
            .live
            .get(&seq)
            .is_some_and(|record| record.spec.key.task_type == WAIT && record.spec.is_system());
        if !open {
            return;
        }
        let Some(mut record) = self.live.remove(&seq) else {
            return;
        };
        record.status = TaskStatus::Completed;
        record.update_time = now;
        self.ledger.set_ending(seq, FP_SERVER);
        self.end(seq, record, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_the_server_reads_them() {
        assert_eq!(parse_duration("10s"), Some(10));
        assert_eq!(parse_duration("1m 5s"), Some(65));
        assert_eq!(parse_duration(" 2 Hours 3 mins "), Some(7_380));
        assert_eq!(parse_duration("1d1h1m1s"), Some(90_061));
        assert_eq!(parse_duration("5 seconds"), Some(5));
        assert_eq!(parse_duration("5s 1m"), None);
        assert_eq!(parse_duration("soon"), None);
    }

    #[test]
    fn until_reads_dates_times_and_zones() {
        assert_eq!(parse_until("1970-01-01"), Some(0));
        assert_eq!(parse_until("1970-01-02 00:01"), Some(86_460_000));
        assert_eq!(parse_until("2026-11-29 05:15 UTC"), Some(1_795_929_300_000));
        assert_eq!(
            parse_until("2026-11-29 06:15 +01:00"),
            parse_until("2026-11-29 05:15 GMT")
        );
        assert_eq!(
            parse_until("2026-11-29 00:00 GMT-0530"),
            parse_until("2026-11-29 05:30")
        );
        assert_eq!(parse_until("2000-02-29"), Some(951_782_400_000));
        assert_eq!(parse_until("2026-13-01"), None);
        assert_eq!(parse_until("2026-11-29 5pm"), None);
        assert_eq!(parse_until("2026-11-29 05:15 Mars/Olympus"), None);
    }
}
