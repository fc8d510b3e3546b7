//! Event and alert identity (contract, design.md §3): xxh3-128 over NUL-separated parts,
//! written as 32 lowercase hex digits.

use xxhash_rust::xxh3::xxh3_128;

/// Identity of an audit event: the hash of `cluster \0 auditID \0 stage`. The same request
/// stage seen twice (webhook retry, Kafka replay, re-read file) gets the same id.
pub fn audit_event_id(cluster: &str, audit_id: &str, stage: &str) -> String {
    hash_parts(&[cluster, audit_id, stage])
}

/// Identity of a Falco alert: the hash of `hostname \0 time \0 rule \0 output`, with `time`
/// as the original string.
pub fn falco_event_id(hostname: &str, time: &str, rule: &str, output: &str) -> String {
    hash_parts(&[hostname, time, rule, output])
}

/// Identity of an alert: the hash of `rule_id \0 event_id \0 event_id ...` with the event ids
/// in the order given, so the same rule over the same events gives the same id.
pub fn alert_id(rule_id: &str, event_ids: &[String]) -> String {
    let mut parts = Vec::with_capacity(event_ids.len() + 1);
    parts.push(rule_id);
    parts.extend(event_ids.iter().map(String::as_str));
    hash_parts(&parts)
}

fn hash_parts(parts: &[&str]) -> String {
    const STACK_BYTES: usize = 256;
    let length: usize = parts
        .iter()
        .map(|part| part.len() + 1)
        .sum::<usize>()
        .saturating_sub(1);
    let hash = if length <= STACK_BYTES {
        let mut buffer = [0u8; STACK_BYTES];
        let mut used = 0;
        for (index, part) in parts.iter().enumerate() {
            if index > 0 {
                used += 1;
            }
            buffer[used..used + part.len()].copy_from_slice(part.as_bytes());
            used += part.len();
        }
        xxh3_128(&buffer[..used])
    } else {
        xxh3_128(parts.join("\0").as_bytes())
    };
    hex(hash)
}

fn hex(value: u128) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(32);
    for shift in (0..32).rev() {
        text.push(char::from(DIGITS[((value >> (shift * 4)) & 0xf) as usize]));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_32_lowercase_hex_digits() {
        for id in [
            audit_event_id("", "", ""),
            falco_event_id("h", "t", "r", "o"),
            alert_id("rule", &[]),
        ] {
            assert_eq!(id.len(), 32);
            assert!(
                id.bytes()
                    .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f')),
                "{id}"
            );
        }
    }

    #[test]
    fn the_separator_keeps_parts_apart() {
        assert_ne!(
            audit_event_id("ab", "c", "d"),
            audit_event_id("a", "bc", "d")
        );
        assert_ne!(
            alert_id("r", &["a".into(), "b".into()]),
            alert_id("r", &["ab".into()])
        );
        assert_ne!(
            alert_id("r", &["a".into(), "b".into()]),
            alert_id("r", &["b".into(), "a".into()])
        );
    }

    #[test]
    fn alert_id_hashes_like_the_event_ids() {
        assert_eq!(
            alert_id("c", &["a".into(), "s".into()]),
            audit_event_id("c", "a", "s")
        );
    }
}
