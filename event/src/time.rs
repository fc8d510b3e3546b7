//! RFC 3339 timestamps to and from microseconds since the Unix epoch (UTC).
//!
//! Audit events carry `metav1.MicroTime` (`2025-04-01T13:33:57.123456Z`) and Falco carries
//! nanoseconds; both are the common `YYYY-MM-DDTHH:MM:SS(.fraction)?(Z|±HH:MM)` form, which is
//! parsed here without allocating. Log shippers that re-serialise events also write a space
//! for the `T`, `±HHMM` offsets, or no zone at all, which is read as UTC. Anything else goes
//! through chrono.

use std::fmt::Write as _;

const MICROS_PER_SECOND: i64 = 1_000_000;
const SECONDS_PER_DAY: i64 = 86_400;

/// Parse an RFC 3339 timestamp into microseconds since the Unix epoch, UTC. Fractions finer
/// than a microsecond are truncated. Also accepted: a space instead of `T`, an offset without
/// its colon (`+0200`), and no zone (UTC). `None` when the text is none of these.
pub fn parse_rfc3339_micros(text: &str) -> Option<i64> {
    parse_fast(text.as_bytes()).or_else(|| {
        chrono::DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|time| time.timestamp_micros())
    })
}

/// Format microseconds since the Unix epoch as RFC 3339 UTC with six fraction digits,
/// e.g. `2026-01-02T03:04:05.123456Z`.
pub fn format_rfc3339_micros(micros: i64) -> String {
    let seconds = micros.div_euclid(MICROS_PER_SECOND);
    let fraction = micros.rem_euclid(MICROS_PER_SECOND);
    let days = seconds.div_euclid(SECONDS_PER_DAY);
    let second_of_day = seconds.rem_euclid(SECONDS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let mut text = String::with_capacity(27);
    // Writing to a String cannot fail.
    let _ = write!(
        text,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{fraction:06}Z",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    );
    text
}

fn parse_fast(bytes: &[u8]) -> Option<i64> {
    if bytes.len() < 19
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || !matches!(bytes[10], b'T' | b't' | b' ')
        || bytes[13] != b':'
        || bytes[16] != b':'
    {
        return None;
    }
    let year = digits(bytes, 0, 4)?;
    let month = digits(bytes, 5, 2)?;
    let day = digits(bytes, 8, 2)?;
    let hour = digits(bytes, 11, 2)?;
    let minute = digits(bytes, 14, 2)?;
    let second = digits(bytes, 17, 2)?;
    let mut index = 19;
    let mut fraction_micros = 0;
    if bytes.get(index) == Some(&b'.') {
        index += 1;
        let start = index;
        while index < bytes.len() && bytes[index].is_ascii_digit() {
            index += 1;
        }
        let count = index - start;
        if count == 0 {
            return None;
        }
        for position in 0..6 {
            let digit = if position < count {
                i64::from(bytes[start + position] - b'0')
            } else {
                0
            };
            fraction_micros = fraction_micros * 10 + digit;
        }
    }
    let offset_seconds = match bytes.get(index) {
        // No zone: re-serialised by a log shipper; the API server writes UTC.
        None => 0,
        Some(b'Z' | b'z') => {
            index += 1;
            0
        }
        Some(sign @ (b'+' | b'-')) => {
            // `+HH:MM`, or `+HHMM` as some shippers write it.
            let (minutes_at, length) = match bytes.get(index + 3) {
                Some(b':') => (index + 4, 6),
                _ => (index + 3, 5),
            };
            if bytes.len() != index + length {
                return None;
            }
            let offset_hours = digits(bytes, index + 1, 2)?;
            let offset_minutes = digits(bytes, minutes_at, 2)?;
            if offset_hours > 23 || offset_minutes > 59 {
                return None;
            }
            index += length;
            let magnitude = offset_hours * 3600 + offset_minutes * 60;
            if *sign == b'-' { -magnitude } else { magnitude }
        }
        Some(_) => return None,
    };
    // Leap seconds (`:60`) and other rarities are left to chrono.
    if index != bytes.len()
        || !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let seconds = days * SECONDS_PER_DAY + hour * 3600 + minute * 60 + second - offset_seconds;
    Some(seconds * MICROS_PER_SECOND + fraction_micros)
}

fn digits(bytes: &[u8], start: usize, count: usize) -> Option<i64> {
    let mut value = 0;
    for &byte in bytes.get(start..start + count)? {
        if !byte.is_ascii_digit() {
            return None;
        }
        value = value * 10 + i64::from(byte - b'0');
    }
    Some(value)
}

fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day count since 1970-01-01, inverse of `days_from_civil`.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_seen_in_audit_and_falco_events() {
        let cases: &[(&str, Option<i64>)] = &[
            ("1970-01-01T00:00:00Z", Some(0)),
            ("2025-04-01T13:33:57.123456Z", Some(1_743_514_437_123_456)),
            (
                "2023-05-10T14:09:17.699479000Z",
                Some(1_683_727_757_699_479),
            ),
            ("2023-05-10T14:09:17.6Z", Some(1_683_727_757_600_000)),
            ("2023-05-10T16:09:17+02:00", Some(1_683_727_757_000_000)),
            ("2023-05-10T09:39:17.5-04:30", Some(1_683_727_757_500_000)),
            ("2023-05-10t14:09:17z", Some(1_683_727_757_000_000)),
            ("1969-12-31T23:59:59.999999Z", Some(-1)),
            ("2024-02-29T00:00:00Z", Some(1_709_164_800_000_000)),
            // Leap second: chrono fallback.
            (
                "2016-12-31T23:59:60Z",
                Some(1_483_228_799_000_000 + 1_000_000),
            ),
            ("2023-02-29T00:00:00Z", None),
            ("2023-13-01T00:00:00Z", None),
            // As log shippers re-serialise them: a space for `T`, no zone (UTC), `+HHMM`.
            ("2023-05-10 14:09:17.699479Z", Some(1_683_727_757_699_479)),
            ("2023-05-10T14:09:17", Some(1_683_727_757_000_000)),
            ("2023-05-10 14:09:17.6", Some(1_683_727_757_600_000)),
            ("2023-05-10 16:09:17+0200", Some(1_683_727_757_000_000)),
            ("2023-05-10T14:09:17.", None),
            ("2023-05-10T14:09:17+02", None),
            ("2023-05-10T14:09:17+02:0", None),
            ("2023-05-10T14:09:1", None),
            ("2023-05-10T14:09:17.Z", None),
            ("2023-05-10T14:09:17Zjunk", None),
            ("2023-05-10", None),
            ("", None),
            ("not a time at all, really", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_rfc3339_micros(text), *expected, "{text}");
        }
    }

    #[test]
    fn formats_utc_with_six_fraction_digits() {
        assert_eq!(format_rfc3339_micros(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            format_rfc3339_micros(1_743_514_437_123_456),
            "2025-04-01T13:33:57.123456Z"
        );
        assert_eq!(format_rfc3339_micros(-1), "1969-12-31T23:59:59.999999Z");
        assert_eq!(
            format_rfc3339_micros(1_709_164_800_000_000),
            "2024-02-29T00:00:00.000000Z"
        );
    }
}
