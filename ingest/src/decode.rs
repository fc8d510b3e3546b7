//! Turns split lines into events and dead letters, and collects them into a batch.

use std::time::{SystemTime, UNIX_EPOCH};

use event::{DeadLetter, DecodeOptions};

use crate::lines::LineItem;
use crate::position::{Batch, BatchStats, Checkpoint, Origin};

/// Accumulates the events, dead letters and counters of the next batch.
#[derive(Debug)]
pub(crate) struct BatchBuilder {
    max_line_bytes: usize,
    events: Vec<event::Event>,
    dead_letters: Vec<DeadLetter>,
    stats: BatchStats,
}

impl BatchBuilder {
    pub(crate) fn new(max_line_bytes: usize) -> BatchBuilder {
        BatchBuilder {
            max_line_bytes,
            events: Vec::new(),
            dead_letters: Vec::new(),
            stats: BatchStats::default(),
        }
    }

    /// Decodes one line (or records one skipped overlong line) read from `source`.
    pub(crate) fn add(&mut self, item: &LineItem<'_>, source: &str, options: &DecodeOptions) {
        match *item {
            LineItem::Line { offset, end, bytes } => {
                self.stats.bytes += end - offset;
                if bytes.trim_ascii().is_empty() {
                    return;
                }
                self.stats.lines += 1;
                match event::decode_line(bytes, options, &mut self.events) {
                    Ok(outcome) => {
                        self.stats.events += outcome.events as u64;
                        self.stats.filtered += outcome.filtered as u64;
                    }
                    Err(error) => {
                        let reason = error.to_string();
                        tracing::warn!(source, offset, length = bytes.len(), %reason, "dead letter: line not decoded");
                        self.push_dead_letter(DeadLetter {
                            time: now_rfc3339(),
                            source: source.to_owned(),
                            offset,
                            length: bytes.len() as u64,
                            reason,
                            excerpt: event::dead_letter_excerpt(bytes),
                        });
                    }
                }
            }
            LineItem::Overlong {
                offset,
                end,
                length,
            } => {
                self.stats.bytes += end - offset;
                self.stats.lines += 1;
                let reason = format!(
                    "line exceeds max_line_bytes ({} bytes)",
                    self.max_line_bytes
                );
                tracing::warn!(source, offset, length, %reason, "dead letter: line too long");
                self.push_dead_letter(DeadLetter {
                    time: now_rfc3339(),
                    source: source.to_owned(),
                    offset,
                    length,
                    reason,
                    excerpt: None,
                });
            }
        }
    }

    /// Counts bytes consumed outside any line, such as whitespace between JSON documents.
    pub(crate) fn skip_bytes(&mut self, bytes: u64) {
        self.stats.bytes += bytes;
    }

    /// Records a dead letter that is not one line, such as a broken gzip stream.
    pub(crate) fn push_dead_letter(&mut self, dead_letter: DeadLetter) {
        self.stats.dead_letters += 1;
        self.dead_letters.push(dead_letter);
    }

    pub(crate) fn event_count(&self) -> usize {
        self.events.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.events.is_empty()
            && self.dead_letters.is_empty()
            && self.stats == BatchStats::default()
    }

    /// Hands out what was collected, with the checkpoint valid after it, and starts afresh.
    pub(crate) fn take(&mut self, checkpoint: Checkpoint) -> Batch {
        Batch {
            events: std::mem::take(&mut self.events),
            dead_letters: std::mem::take(&mut self.dead_letters),
            origin: Origin::Files(checkpoint),
            stats: std::mem::take(&mut self.stats),
        }
    }
}

/// The current time, RFC 3339 with microseconds, for dead letters.
pub(crate) fn now_rfc3339() -> String {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_micros() as i64);
    event::format_rfc3339_micros(micros)
}
