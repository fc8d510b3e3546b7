//! Byte-level JSON writing: templates with `~` holes, escaped strings, integers, RFC 3339 times and UUIDs.

/// A value for one `~` hole of a template.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Arg<'a> {
    /// Copied as is; only for values known to need no JSON escaping (names, images, numbers as text).
    Raw(&'a str),
    /// JSON-escaped (without quotes; the template supplies them).
    Esc(&'a str),
    Int(i64),
    /// RFC 3339 with whole seconds, as in `metadata.creationTimestamp`.
    Secs(i64),
    /// RFC 3339 with microseconds, as in `requestReceivedTimestamp`.
    Micros(i64),
    Uuid(u128),
    /// Written by the caller: [`fill_with`] calls its writer with the index of this nested hole.
    Nested,
}

/// Appends `template` with every `~` replaced by the next argument.
pub(crate) fn fill(buf: &mut Vec<u8>, template: &str, args: &[Arg<'_>]) {
    fill_with(buf, template, args, |_, nested| {
        unreachable!("nested hole {nested} without a writer: {template}")
    });
}

/// Like [`fill`], and an [`Arg::Nested`] hole is written by `nested(buf, n)`, `n` counting the
/// nested holes from 0; for the parts of a body that code builds (lists, optional fields).
pub(crate) fn fill_with(
    buf: &mut Vec<u8>,
    template: &str,
    args: &[Arg<'_>],
    mut nested: impl FnMut(&mut Vec<u8>, usize),
) {
    let bytes = template.as_bytes();
    let mut start = 0;
    let mut next_arg = 0;
    let mut next_nested = 0;
    for hole in memchr::memchr_iter(b'~', bytes) {
        buf.extend_from_slice(&bytes[start..hole]);
        match args[next_arg] {
            Arg::Nested => {
                nested(buf, next_nested);
                next_nested += 1;
            }
            arg => write_arg(buf, arg),
        }
        next_arg += 1;
        start = hole + 1;
    }
    buf.extend_from_slice(&bytes[start..]);
    debug_assert_eq!(next_arg, args.len(), "template arguments: {template}");
}

#[inline(always)]
fn write_arg(buf: &mut Vec<u8>, arg: Arg<'_>) {
    match arg {
        Arg::Nested => unreachable!("nested holes are written by fill_with"),
        Arg::Raw(text) => buf.extend_from_slice(text.as_bytes()),
        Arg::Esc(text) => escaped(buf, text),
        Arg::Int(value) => int(buf, value),
        Arg::Secs(micros) => time(buf, micros, false),
        Arg::Micros(micros) => time(buf, micros, true),
        Arg::Uuid(value) => uuid(buf, value),
    }
}

pub(crate) fn raw(buf: &mut Vec<u8>, text: &str) {
    buf.extend_from_slice(text.as_bytes());
}

/// Appends `text` JSON-escaped, without the surrounding quotes.
pub(crate) fn escaped(buf: &mut Vec<u8>, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = text.as_bytes();
    let mut start = 0;
    for (index, &byte) in bytes.iter().enumerate() {
        if byte == b'"' || byte == b'\\' || byte < 0x20 {
            buf.extend_from_slice(&bytes[start..index]);
            match byte {
                b'"' => buf.extend_from_slice(b"\\\""),
                b'\\' => buf.extend_from_slice(b"\\\\"),
                b'\n' => buf.extend_from_slice(b"\\n"),
                b'\t' => buf.extend_from_slice(b"\\t"),
                _ => buf.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(byte >> 4)],
                    HEX[usize::from(byte & 15)],
                ]),
            }
            start = index + 1;
        }
    }
    buf.extend_from_slice(&bytes[start..]);
}

/// Appends `"text"` JSON-escaped.
pub(crate) fn string(buf: &mut Vec<u8>, text: &str) {
    buf.push(b'"');
    escaped(buf, text);
    buf.push(b'"');
}

pub(crate) fn int(buf: &mut Vec<u8>, value: i64) {
    if value < 0 {
        buf.push(b'-');
    }
    let mut rest = value.unsigned_abs();
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[at..]);
}

fn two(buf: &mut Vec<u8>, value: u32) {
    buf.extend_from_slice(&[b'0' + (value / 10) as u8, b'0' + (value % 10) as u8]);
}

/// Days since 1970-01-01 to (year, month, day), after Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Appends a UTC RFC 3339 time such as `2024-06-01T12:00:00.123456Z` (or without the fraction).
pub(crate) fn time(buf: &mut Vec<u8>, micros: i64, with_micros: bool) {
    let seconds = micros.div_euclid(1_000_000);
    let fraction = micros.rem_euclid(1_000_000);
    let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
    let second_of_day = seconds.rem_euclid(86_400) as u32;
    int(buf, year);
    buf.push(b'-');
    two(buf, month);
    buf.push(b'-');
    two(buf, day);
    buf.push(b'T');
    two(buf, second_of_day / 3600);
    buf.push(b':');
    two(buf, second_of_day / 60 % 60);
    buf.push(b':');
    two(buf, second_of_day % 60);
    if with_micros {
        buf.push(b'.');
        let mut digits = [b'0'; 6];
        let mut rest = fraction;
        for slot in digits.iter_mut().rev() {
            *slot = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        buf.extend_from_slice(&digits);
    }
    buf.push(b'Z');
}

/// Appends a random 128-bit value formatted as a version-4 UUID (`xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`).
pub(crate) fn uuid(buf: &mut Vec<u8>, value: u128) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let value =
        (value & !(0xF_u128 << 76) & !(0x3_u128 << 62)) | (0x4_u128 << 76) | (0x2_u128 << 62);
    for index in 0..32 {
        if matches!(index, 8 | 12 | 16 | 20) {
            buf.push(b'-');
        }
        let nibble = (value >> (124 - 4 * index)) & 0xF;
        buf.push(HEX[nibble as usize]);
    }
}

/// The UUID text of `value`, as [`uuid`] writes it.
pub(crate) fn uuid_string(value: u128) -> String {
    let mut buf = Vec::with_capacity(36);
    uuid(&mut buf, value);
    String::from_utf8_lossy(&buf).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut buf = Vec::new();
        f(&mut buf);
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn times_match_known_dates() {
        assert_eq!(render(|b| time(b, 0, true)), "1970-01-01T00:00:00.000000Z");
        // 2024-02-29T23:59:59.000042Z, a leap day.
        assert_eq!(
            render(|b| time(b, 1_709_251_199_000_042, true)),
            "2024-02-29T23:59:59.000042Z"
        );
        assert_eq!(
            render(|b| time(b, 1_717_243_200_000_000, false)),
            "2024-06-01T12:00:00Z"
        );
    }

    #[test]
    fn uuid_is_version_4() {
        let text = render(|b| uuid(b, u128::MAX));
        assert_eq!(text, "ffffffff-ffff-4fff-bfff-ffffffffffff");
        let text = render(|b| uuid(b, 0));
        assert_eq!(text, "00000000-0000-4000-8000-000000000000");
    }

    #[test]
    fn fill_escapes_and_formats() {
        let text = render(|b| {
            fill(
                b,
                r#"{"a":"~","b":~,"c":"~"}"#,
                &[Arg::Esc("say \"hi\"\n"), Arg::Int(-42), Arg::Raw("x")],
            )
        });
        assert_eq!(text, r#"{"a":"say \"hi\"\n","b":-42,"c":"x"}"#);
        assert_eq!(render(|b| int(b, i64::MIN)), i64::MIN.to_string());
    }
}
