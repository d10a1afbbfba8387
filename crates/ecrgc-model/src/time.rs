//! Timestamps as the snapshot stores them: microseconds since the Unix epoch, UTC.
//!
//! Arrow, Parquet, DataFusion, DuckDB and Athena all read `Timestamp(Microsecond, "UTC")`
//! natively, so the whole pipeline uses that one representation.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};

/// Microseconds since the Unix epoch, UTC.
pub type Micros = i64;

/// One day in microseconds.
pub const DAY: Micros = 86_400 * 1_000_000;
/// One hour in microseconds.
pub const HOUR: Micros = 3_600 * 1_000_000;

/// How far a clock ecrgc is given may sit from the machine's real clock (seconds): a plan's
/// `--now` and its times against the executor's clock (further away, the plan is a what-if),
/// a `collect --now` and a committed run's snapshot time ahead of it (further ahead, refused
/// and ignored). Five minutes covers the drift of machines kept by NTP and the minutes a plan
/// takes to run; a `--now` chosen to move the expiry clock is hours or days away.
pub const MAX_CLOCK_SKEW_SECONDS: i64 = 300;

/// Converts a UTC instant into stored microseconds.
pub fn to_micros(t: DateTime<Utc>) -> Micros {
    t.timestamp_micros()
}

/// Converts stored microseconds back into a UTC instant (saturating on absurd values).
pub fn from_micros(m: Micros) -> DateTime<Utc> {
    Utc.timestamp_micros(m)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Formats stored microseconds as RFC 3339, e.g. `2026-11-21T03:00:00Z`; fractional
/// seconds appear only when there are some, so the value round-trips exactly.
pub fn rfc3339(m: Micros) -> String {
    from_micros(m).to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Parses an RFC 3339 timestamp (any offset) into stored microseconds.
pub fn parse_rfc3339(s: &str) -> Result<Micros, chrono::ParseError> {
    Ok(DateTime::parse_from_rfc3339(s)?
        .with_timezone(&Utc)
        .timestamp_micros())
}

/// The `dt=YYYY-MM-DD` partition value of an instant.
pub fn partition_date(m: Micros) -> String {
    from_micros(m).format("%Y-%m-%d").to_string()
}

/// The instant `count` units (`DAY`, `HOUR`) before `t`, computed with checked arithmetic.
/// A span reaching past the earliest instant a timestamp holds gives that earliest instant:
/// a cut-off "before all records" (every pull recent, every image young, nothing unused
/// that long), never a wrapped-around date in the future.
pub fn before(t: Micros, count: i64, unit: Micros) -> Micros {
    count
        .checked_mul(unit)
        .and_then(|span| t.checked_sub(span))
        .unwrap_or(Micros::MIN)
}

/// The instant `count` units after `t`, or `None` when it does not fit a timestamp.
pub fn after(t: Micros, count: i64, unit: Micros) -> Option<Micros> {
    count.checked_mul(unit).and_then(|span| t.checked_add(span))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_through_micros() {
        let m = parse_rfc3339("2026-11-21T03:00:00+01:00").expect("valid timestamp");
        assert_eq!(rfc3339(m), "2026-11-21T02:00:00Z");
        assert_eq!(partition_date(m), "2026-11-21");
        let fine = parse_rfc3339("2026-11-21T02:00:00.123456Z").expect("valid timestamp");
        assert_eq!(rfc3339(fine), "2026-11-21T02:00:00.123456Z");
    }

    #[test]
    fn spans_past_the_range_never_wrap() {
        let now = parse_rfc3339("2026-11-21T00:00:00Z").expect("valid timestamp");
        assert_eq!(before(now, 90, DAY), now - 90 * DAY);
        assert_eq!(before(now, 999_999_999, DAY), Micros::MIN);
        assert_eq!(before(now, i64::MAX, HOUR), Micros::MIN);
        assert_eq!(after(now, 72, HOUR), Some(now + 72 * HOUR));
        assert_eq!(after(now, i64::MAX / 2, HOUR), None);
    }
}
