//! The bytes on disk: a segment header, then frames. A frame is the payload's length and its
//! CRC-32 (`crc32fast`) followed by the payload, so a torn or damaged frame is recognised and
//! never misread.
//!
//! ```text
//! segment  = magic (8) | log id (u64 LE) | base offset (u64 LE) | frame*
//! frame    = payload length (u32 LE) | crc32 of payload (u32 LE) | payload
//! payload  = version (u8) | received (i64 LE, µs) | route | cluster | sender
//!            | key count (u32 LE) | keys (u128 LE each) | body (the rest)
//! version  = 1: the body as received | 2: the body as one zstd frame
//! string   = length (u16 LE) | UTF-8 bytes
//! ```

/// First bytes of every segment file.
pub(crate) const MAGIC: &[u8; 8] = b"KTWAL\0\0\x01";
/// Bytes before the first frame of a segment.
pub(crate) const SEGMENT_HEADER_BYTES: u64 = 24;
/// Bytes before a frame's payload.
pub(crate) const FRAME_HEADER_BYTES: u64 = 8;
/// A payload whose body is stored as received.
const VERSION_RAW: u8 = 1;
/// A payload whose body is one zstd frame (audit JSON shrinks 5 to 10 times, and what the
/// fsync must write with it, so the answer comes sooner).
const VERSION_ZSTD: u8 = 2;
/// zstd's fastest level: hundreds of MB/s per core, for a small part of the ratio of the
/// slower ones.
const ZSTD_LEVEL: i32 = 1;
/// The smallest valid payload: version, time, three empty strings, no keys.
const MIN_PAYLOAD_BYTES: usize = 1 + 8 + 2 * 3 + 4;

/// One pushed request body and what is needed to decode and deduplicate it later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// When the request was received (µs since the epoch).
    pub received_micros: i64,
    /// The ingest route (`audit`, `falco`): what the body must hold.
    pub route: String,
    /// The cluster of the ingest token the body came with.
    pub cluster: String,
    /// Who sent it (for dead letters).
    pub sender: String,
    /// The keys of the events this record holds that no earlier retained record held (the
    /// reader keeps only these). On append: every key of the body; the log drops the ones it
    /// already holds.
    pub keys: Vec<u128>,
    /// The request body as received (decompressed).
    pub body: Vec<u8>,
}

/// A record ready for the log: its body compressed (zstd) on the caller's thread, so the log's
/// single writer thread only writes. A body that does not shrink is kept as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The record, with `body` as it goes into the frame.
    pub(crate) record: Record,
    pub(crate) compressed: bool,
}

impl Sealed {
    /// The keys of the record's events.
    pub fn keys(&self) -> &[u128] {
        &self.record.keys
    }

    /// The bytes of the body in the frame.
    pub fn stored_body_len(&self) -> usize {
        self.record.body.len()
    }

    /// The record with its body as received (decompressed).
    pub(crate) fn open(self) -> Result<Record, String> {
        if !self.compressed {
            return Ok(self.record);
        }
        let body = zstd::stream::decode_all(self.record.body.as_slice())
            .map_err(|error| format!("the body does not decompress: {error}"))?;
        Ok(Record {
            body,
            ..self.record
        })
    }
}

impl Record {
    /// Compresses the body for the log (a few ms per MB: call it off the async runtime).
    pub fn seal(self) -> Sealed {
        match zstd::bulk::compress(&self.body, ZSTD_LEVEL) {
            Ok(compressed) if compressed.len() < self.body.len() => Sealed {
                record: Record {
                    body: compressed,
                    ..self
                },
                compressed: true,
            },
            _ => Sealed {
                record: self,
                compressed: false,
            },
        }
    }
}

impl From<Record> for Sealed {
    fn from(record: Record) -> Sealed {
        record.seal()
    }
}

pub(crate) fn segment_header(log_id: u64, base: u64) -> [u8; SEGMENT_HEADER_BYTES as usize] {
    let mut header = [0u8; SEGMENT_HEADER_BYTES as usize];
    header[..8].copy_from_slice(MAGIC);
    header[8..16].copy_from_slice(&log_id.to_le_bytes());
    header[16..24].copy_from_slice(&base.to_le_bytes());
    header
}

/// `(log id, base offset)` of a segment header, or why it is not one.
pub(crate) fn parse_segment_header(bytes: &[u8]) -> Result<(u64, u64), String> {
    if bytes.len() < SEGMENT_HEADER_BYTES as usize {
        return Err("shorter than a segment header".to_owned());
    }
    if &bytes[..8] != MAGIC {
        return Err("not a kubetrail write-ahead log segment".to_owned());
    }
    Ok((
        u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes")),
        u64::from_le_bytes(bytes[16..24].try_into().expect("8 bytes")),
    ))
}

/// The frame of `sealed` (header and payload).
pub(crate) fn encode(sealed: &Sealed) -> Vec<u8> {
    let record = &sealed.record;
    let strings = record.route.len() + record.cluster.len() + record.sender.len();
    let mut frame = Vec::with_capacity(
        FRAME_HEADER_BYTES as usize
            + MIN_PAYLOAD_BYTES
            + strings
            + record.keys.len() * 16
            + record.body.len(),
    );
    frame.extend_from_slice(&[0u8; FRAME_HEADER_BYTES as usize]);
    frame.push(if sealed.compressed {
        VERSION_ZSTD
    } else {
        VERSION_RAW
    });
    frame.extend_from_slice(&record.received_micros.to_le_bytes());
    for text in [&record.route, &record.cluster, &record.sender] {
        let bytes = &text.as_bytes()[..text.len().min(usize::from(u16::MAX))];
        frame.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
        frame.extend_from_slice(bytes);
    }
    frame.extend_from_slice(&(record.keys.len() as u32).to_le_bytes());
    for key in &record.keys {
        frame.extend_from_slice(&key.to_le_bytes());
    }
    frame.extend_from_slice(&record.body);
    let payload = &frame[FRAME_HEADER_BYTES as usize..];
    let length = payload.len() as u32;
    let crc = crc32fast::hash(payload);
    frame[..4].copy_from_slice(&length.to_le_bytes());
    frame[4..8].copy_from_slice(&crc.to_le_bytes());
    frame
}

/// What the start of `bytes` holds.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame {
    /// A whole, intact frame of `length` bytes (header included), its body as stored:
    /// opening at open only needs the keys, so only the reader decompresses.
    Whole { record: Sealed, length: u64 },
    /// Fewer bytes than the frame says: a torn write, or the end of what is written.
    Short,
    /// A frame that does not check: a torn write over older bytes, or damage.
    Bad(String),
}

/// Reads one frame at the start of `bytes`.
pub(crate) fn decode(bytes: &[u8]) -> Frame {
    let header = FRAME_HEADER_BYTES as usize;
    if bytes.len() < header {
        return Frame::Short;
    }
    let length = u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes"));
    if length < MIN_PAYLOAD_BYTES {
        return Frame::Bad(format!("a frame of {length} bytes is too short"));
    }
    if bytes.len() < header + length {
        return Frame::Short;
    }
    let payload = &bytes[header..header + length];
    if crc32fast::hash(payload) != crc {
        return Frame::Bad("CRC mismatch".to_owned());
    }
    match parse_payload(payload) {
        Some(record) => Frame::Whole {
            record,
            length: (header + length) as u64,
        },
        None => Frame::Bad("the payload does not parse".to_owned()),
    }
}

/// Whether a whole frame starts where the (bad) frame at `at` says it ends: then the bad
/// frame is damage in the middle of the log, not the torn tail of the last append (a torn
/// group of appends leaves only torn or zeroed frames after it).
pub(crate) fn valid_frame_after(bytes: &[u8], at: usize) -> bool {
    let Some(header) = bytes.get(at..at + FRAME_HEADER_BYTES as usize) else {
        return false;
    };
    let length = u32::from_le_bytes(header[..4].try_into().expect("4 bytes")) as usize;
    let next = at + FRAME_HEADER_BYTES as usize + length;
    next < bytes.len() && matches!(decode(&bytes[next..]), Frame::Whole { .. })
}

fn parse_payload(payload: &[u8]) -> Option<Sealed> {
    let mut at = 0usize;
    let mut take = |count: usize| -> Option<&[u8]> {
        let bytes = payload.get(at..at.checked_add(count)?)?;
        at += count;
        Some(bytes)
    };
    let compressed = match take(1)? {
        [VERSION_RAW] => false,
        [VERSION_ZSTD] => true,
        _ => return None,
    };
    let received_micros = i64::from_le_bytes(take(8)?.try_into().ok()?);
    let mut text = || -> Option<String> {
        let length = u16::from_le_bytes(take(2)?.try_into().ok()?);
        String::from_utf8(take(usize::from(length))?.to_vec()).ok()
    };
    let route = text()?;
    let cluster = text()?;
    let sender = text()?;
    let count = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
    let keys_bytes = take(count.checked_mul(16)?)?;
    let keys = keys_bytes
        .chunks_exact(16)
        .map(|chunk| u128::from_le_bytes(chunk.try_into().expect("16 bytes")))
        .collect();
    let record = Record {
        received_micros,
        route,
        cluster,
        sender,
        keys,
        body: payload[at..].to_vec(),
    };
    Some(Sealed { record, compressed })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        Record {
            received_micros: 1_700_000_000_000_000,
            route: "audit".to_owned(),
            cluster: "prod".to_owned(),
            sender: "api:ingest/audit:apiserver".to_owned(),
            keys: vec![1, u128::MAX],
            body: br#"{"kind":"EventList","items":[]}"#.to_vec(),
        }
    }

    /// A body zstd shrinks: an `EventList` of similar events.
    fn compressible() -> Record {
        let item = r#"{"kind":"Event","verb":"get","user":{"username":"system:serviceaccount:kube-system:generic-garbage-collector"}}"#;
        Record {
            body: format!(
                r#"{{"kind":"EventList","items":[{}]}}"#,
                [item; 40].join(",")
            )
            .into_bytes(),
            ..record()
        }
    }

    #[test]
    fn a_frame_reads_back_and_every_shorter_prefix_is_short() {
        for record in [record(), compressible()] {
            let sealed = record.clone().seal();
            let frame = encode(&sealed);
            assert_eq!(
                decode(&frame),
                Frame::Whole {
                    record: sealed.clone(),
                    length: frame.len() as u64
                }
            );
            assert_eq!(sealed.open(), Ok(record));
            for cut in 0..frame.len() {
                assert_eq!(decode(&frame[..cut]), Frame::Short, "cut at {cut}");
            }
        }
    }

    #[test]
    fn bodies_that_shrink_are_stored_compressed_and_others_as_they_are() {
        let sealed = compressible().seal();
        assert!(sealed.compressed);
        assert!(
            sealed.stored_body_len() * 5 < compressible().body.len(),
            "{} of {} bytes",
            sealed.stored_body_len(),
            compressible().body.len()
        );
        let tiny = record().seal();
        assert!(!tiny.compressed);
        assert_eq!(tiny.record, record());
        // Frames of the first format (before compression) still read.
        assert_eq!(encode(&tiny)[FRAME_HEADER_BYTES as usize], VERSION_RAW);
    }

    #[test]
    fn a_flipped_bit_anywhere_in_the_payload_is_a_crc_mismatch() {
        let frame = encode(&compressible().seal());
        for at in FRAME_HEADER_BYTES as usize..frame.len() {
            let mut damaged = frame.clone();
            damaged[at] ^= 0x10;
            assert_eq!(
                decode(&damaged),
                Frame::Bad("CRC mismatch".to_owned()),
                "bit flipped at {at}"
            );
        }
    }

    #[test]
    fn zeros_are_not_a_frame() {
        assert!(matches!(decode(&[0u8; 64]), Frame::Bad(_)));
    }
}
