//! Time arguments: RFC 3339, or relative to now (`15m`, `24h`, `7d`, `30s`, `2w`).

/// Microseconds since the epoch for `text`, relative forms counted back from `now_micros`.
/// A text that is neither is the caller's mistake (`BadRequest`).
pub fn parse_time(text: &str, now_micros: i64) -> Result<i64, crate::ApiError> {
    let text = text.trim();
    if let Some(micros) = event::parse_rfc3339_micros(text) {
        return Ok(micros);
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit_micros: i64 = match unit {
        "s" => 1_000_000,
        "m" => 60_000_000,
        "h" => 3_600_000_000,
        "d" => 86_400_000_000,
        "w" => 7 * 86_400_000_000,
        _ => 0,
    };
    match number.parse::<i64>() {
        Ok(count) if unit_micros > 0 => count
            .checked_mul(unit_micros)
            .map(|span| now_micros - span)
            .ok_or_else(|| crate::ApiError::bad_request(format!("time {text:?} is too far back"))),
        _ => Err(crate::ApiError::bad_request(format!(
            "time {text:?} is neither RFC 3339 (2026-01-02T03:04:05Z) nor relative (15m, 24h, 7d)"
        ))),
    }
}

/// Now, in microseconds since the epoch.
pub(crate) fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// `from`/`to` query parameters as microseconds.
pub(crate) fn range(
    from: Option<&str>,
    to: Option<&str>,
) -> Result<(Option<i64>, Option<i64>), crate::ApiError> {
    let now = now_micros();
    let parse = |text: Option<&str>| {
        text.filter(|t| !t.is_empty())
            .map(|t| parse_time(t, now))
            .transpose()
    };
    let (from, to) = (parse(from)?, parse(to)?);
    if let (Some(from), Some(to)) = (from, to)
        && from >= to
    {
        return Err(crate::ApiError::bad_request("from must be before to"));
    }
    Ok((from, to))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_and_relative_times() {
        let now = 10 * 86_400_000_000;
        assert_eq!(parse_time("15m", now).unwrap(), now - 15 * 60_000_000);
        assert_eq!(parse_time("7d", now).unwrap(), now - 7 * 86_400_000_000);
        assert_eq!(parse_time("1970-01-01T00:00:01Z", now).unwrap(), 1_000_000);
        assert!(parse_time("yesterday", now).is_err());
        assert!(parse_time("5y", now).is_err());
        assert!(parse_time("", now).is_err());
    }
}
