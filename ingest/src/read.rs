//! One-shot reading of whole files (plain or gzip, told apart by magic bytes) for `import`
//! and `detect`.
//!
//! Files are JSON lines, except when the first non-blank line starts with `{` or `[` but is
//! not a complete JSON document: then the file is pretty-printed JSON (a falcosidekick
//! payload written with indentation, a JSON array of events, an AKS Event Hub body) and is
//! read whole (up to `MAX_DOCUMENT_FILE_BYTES`, decompressed) as a stream of JSON documents.
//! Each document is decoded like a line, with its byte offset; `lines` in the stats then
//! counts documents. What follows the last complete document, if it is not whitespace,
//! becomes one dead letter and ends the file. If even the first document does not parse, the
//! file is read as lines after all, so a JSON-lines file with a broken first line still gives
//! one dead letter per bad line.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use event::{DeadLetter, DecodeOptions};
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

use crate::IngestError;
use crate::decode::{BatchBuilder, now_rfc3339};
use crate::fingerprint::{
    ReadAt, gzip_fingerprint, is_corrupt_gzip, is_gzip, plain_fingerprint, read_some,
};
use crate::lines::{LineItem, LineSplitter};
use crate::position::{BatchStats, Checkpoint, FilePosition, SourcePosition};
use crate::{Batch, config};

const CHUNK_BYTES: usize = 256 * 1024;
/// The largest (decompressed) file read as a stream of pretty-printed JSON documents.
const MAX_DOCUMENT_FILE_BYTES: usize = 256 * 1024 * 1024;
const BYTE_ORDER_MARK: &[u8] = b"\xEF\xBB\xBF";

/// How to read files once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOptions {
    pub cluster: String,
    pub keep_request_received: bool,
    pub max_line_bytes: usize,
    pub batch_max_events: usize,
    /// Positions already read (e.g. by an earlier import): a file whose fingerprint is here
    /// resumes at its position, and one read to its end is skipped. Batches carry these
    /// positions plus the new ones, so committing them makes a re-read store nothing twice.
    pub start: Checkpoint,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            cluster: config::DEFAULT_CLUSTER.to_owned(),
            keep_request_received: false,
            max_line_bytes: config::DEFAULT_MAX_LINE_BYTES,
            batch_max_events: config::DEFAULT_BATCH_MAX_EVENTS,
            start: Checkpoint::default(),
        }
    }
}

/// What a whole read did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadSummary {
    pub files: u64,
    /// Bytes read from disk (compressed size for gzip files).
    pub file_bytes: u64,
    /// Files skipped because `ReadOptions::start` shows them read to their end.
    pub skipped_files: u64,
    pub stats: BatchStats,
}

/// Reads `paths` in order, handing batches of at most `batch_max_events` events (plus the
/// last partial one) to `on_batch`, and the number of bytes read from disk so far to
/// `progress`. Bad lines and broken gzip streams become dead letters; failing IO on a file or
/// an error from `on_batch` stops the read.
pub fn read_files<E>(
    paths: &[PathBuf],
    options: &ReadOptions,
    mut on_batch: impl FnMut(Batch) -> Result<(), E>,
    mut progress: impl FnMut(u64),
) -> Result<ReadSummary, IngestError>
where
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let decode_options = DecodeOptions {
        cluster: options.cluster.clone(),
        keep_request_received: options.keep_request_received,
    };
    let max_line_bytes = options.max_line_bytes.max(1);
    let mut reading = Reading {
        builder: BatchBuilder::new(max_line_bytes),
        checkpoint: options.start.clone(),
        summary: ReadSummary::default(),
        batch_max_events: options.batch_max_events.max(1),
        on_batch: &mut on_batch,
        error: None,
    };
    let mut buffer = vec![0u8; CHUNK_BYTES];
    for path in paths {
        let file = File::open(path).map_err(|source| IngestError::OpenFile {
            path: path.clone(),
            source,
        })?;
        let read_error = |source| IngestError::ReadFile {
            path: path.clone(),
            source,
        };
        let metadata = file.metadata().map_err(|source| IngestError::StatFile {
            path: path.clone(),
            source,
        })?;
        let compressed = is_gzip(&file).map_err(read_error)?;
        let fingerprint = if compressed {
            gzip_fingerprint(&file)
        } else {
            plain_fingerprint(&file, true)
        }
        .map_err(read_error)?;
        let source = path.display().to_string();
        let disk_bytes = Cell::new(0u64);
        let file_bytes_before = reading.summary.file_bytes;
        let counting = CountingReader {
            inner: ReadAt::new(&file, 0),
            count: &disk_bytes,
        };
        let mut stream: Box<dyn Read + '_> = if compressed {
            Box::new(flate2::read::MultiGzDecoder::new(
                io::BufReader::with_capacity(CHUNK_BYTES, counting),
            ))
        } else {
            Box::new(counting)
        };
        let resume_at = fingerprint
            .as_ref()
            // The start positions plus the files finished in this read: a copy of a file read
            // earlier (same first line) is not read again either.
            .and_then(|fingerprint| reading.checkpoint.positions.get(&fingerprint.hex))
            .map_or(0, |position| match position {
                SourcePosition::File(known) => known.offset,
                SourcePosition::Wal(_) | SourcePosition::Kafka(_) => 0,
            });
        let mut position = fingerprint.map(|fingerprint| FilePosition {
            path: source.clone(),
            dev: metadata.dev(),
            inode: metadata.ino(),
            fingerprint: fingerprint.hex,
            offset: resume_at,
            compressed,
        });
        if resume_at > 0 {
            // Positions are line boundaries in the decompressed stream: skip to it.
            let skipped = io::copy(&mut (&mut stream).take(resume_at), &mut io::sink())
                .map_err(read_error)?;
            let mut probe = [0u8; 1];
            if skipped < resume_at || read_some(&mut stream, &mut probe).map_err(read_error)? == 0 {
                tracing::info!(
                    source,
                    offset = resume_at,
                    "skipped: already read to its end"
                );
                reading.summary.files += 1;
                reading.summary.skipped_files += 1;
                reading.summary.file_bytes += disk_bytes.get();
                progress(file_bytes_before + disk_bytes.get());
                continue;
            }
            stream = Box::new(io::Cursor::new(probe).chain(stream));
        }
        let (mut head, mut pending_error) =
            read_first_line(&mut stream, &mut buffer, max_line_bytes);
        let mut read_as_documents = false;
        if resume_at == 0 && pending_error.is_none() && first_line_is_incomplete_json(&head) {
            let limit = (MAX_DOCUMENT_FILE_BYTES + 1).saturating_sub(head.len()) as u64;
            pending_error = (&mut stream).take(limit).read_to_end(&mut head).err();
            if pending_error.is_none() && head.len() <= MAX_DOCUMENT_FILE_BYTES {
                read_as_documents = reading.documents(&head, &source, &decode_options);
            }
        }
        if read_as_documents {
            if let Some(position) = position.as_mut() {
                position.offset = head.len() as u64;
            }
        } else {
            let mut stream = Replay {
                head: io::Cursor::new(std::mem::take(&mut head)),
                error: pending_error,
                inner: stream,
            };
            let mut splitter = LineSplitter::new(resume_at, max_line_bytes);
            loop {
                let mut sink = |item: LineItem<'_>| {
                    reading.line(&item, &source, &decode_options, position.as_mut())
                };
                match read_some(&mut stream, &mut buffer) {
                    Ok(0) => {
                        splitter.finish(&mut sink);
                        break;
                    }
                    Ok(read) => splitter.push(&buffer[..read], &mut sink),
                    Err(error) if compressed && is_corrupt_gzip(&error) => {
                        let offset = splitter.fed();
                        // The unterminated line before the break is kept: it may be complete.
                        splitter.finish(&mut sink);
                        let reason = format!("broken gzip stream: {error}");
                        tracing::warn!(source, offset, %reason, "dead letter: gzip stream ends early");
                        reading.builder.push_dead_letter(DeadLetter {
                            time: now_rfc3339(),
                            source: source.clone(),
                            offset,
                            length: 0,
                            reason,
                            excerpt: None,
                        });
                        break;
                    }
                    Err(error) => return Err(read_error(error)),
                }
                if let Some(error) = reading.error.take() {
                    return Err(error);
                }
                progress(file_bytes_before + disk_bytes.get());
            }
        }
        if let Some(error) = reading.error.take() {
            return Err(error);
        }
        progress(file_bytes_before + disk_bytes.get());
        if let Some(position) = position {
            reading
                .checkpoint
                .positions
                .insert(position.fingerprint.clone(), SourcePosition::File(position));
        }
        reading.summary.files += 1;
        reading.summary.file_bytes += disk_bytes.get();
    }
    if !reading.builder.is_empty() {
        reading.deliver(None);
        if let Some(error) = reading.error.take() {
            return Err(error);
        }
    }
    Ok(reading.summary)
}

/// The state of one `read_files` call.
struct Reading<'a, F> {
    builder: BatchBuilder,
    /// Positions of the files finished so far.
    checkpoint: Checkpoint,
    summary: ReadSummary,
    batch_max_events: usize,
    on_batch: &'a mut F,
    /// The consumer's error, reported once the current chunk is split.
    error: Option<IngestError>,
}

impl<F, E> Reading<'_, F>
where
    F: FnMut(Batch) -> Result<(), E>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn line(
        &mut self,
        item: &LineItem<'_>,
        source: &str,
        options: &DecodeOptions,
        position: Option<&mut FilePosition>,
    ) {
        self.builder.add(item, source, options);
        let position = position.map(|position| {
            position.offset = item.end();
            &*position
        });
        if self.builder.event_count() >= self.batch_max_events {
            self.deliver(position);
        }
    }

    /// Decodes `data`, a whole file, as a stream of JSON documents. Returns `false`, having
    /// decoded nothing, when the first document does not parse.
    fn documents(&mut self, data: &[u8], source: &str, options: &DecodeOptions) -> bool {
        let start = if data.starts_with(BYTE_ORDER_MARK) {
            BYTE_ORDER_MARK.len()
        } else {
            0
        };
        let body = &data[start..];
        let mut documents = serde_json::Deserializer::from_slice(body).into_iter::<&RawValue>();
        let mut decoded_any = false;
        // Bytes of `data` already counted in the stats.
        let mut counted = 0;
        loop {
            let parsed_up_to = documents.byte_offset();
            match documents.next() {
                None => {
                    self.builder.skip_bytes((data.len() - counted) as u64);
                    return decoded_any;
                }
                Some(Ok(document)) => {
                    let document_start =
                        start + (document.get().as_ptr() as usize - body.as_ptr() as usize);
                    let document_end = start + documents.byte_offset();
                    self.builder.skip_bytes((document_start - counted) as u64);
                    counted = document_end;
                    let item = LineItem::Line {
                        offset: document_start as u64,
                        end: document_end as u64,
                        bytes: document.get().as_bytes(),
                    };
                    self.builder.add(&item, source, options);
                    decoded_any = true;
                    // Positions stay at the file's start until it is read to the end.
                    if self.builder.event_count() >= self.batch_max_events {
                        self.deliver(None);
                    }
                }
                Some(Err(_)) if !decoded_any => return false,
                Some(Err(error)) => {
                    let rest = body[parsed_up_to..].trim_ascii_start();
                    let offset = data.len() - rest.len();
                    let reason = format!("invalid JSON after the last complete document: {error}");
                    tracing::warn!(source, offset, length = rest.len(), %reason, "dead letter: rest of file not decoded");
                    self.builder.skip_bytes((data.len() - counted) as u64);
                    self.builder.push_dead_letter(DeadLetter {
                        time: now_rfc3339(),
                        source: source.to_owned(),
                        offset: offset as u64,
                        length: rest.len() as u64,
                        reason,
                        excerpt: event::dead_letter_excerpt(rest),
                    });
                    return true;
                }
            }
        }
    }

    /// Sends the collected batch with the positions of finished files plus `current`.
    fn deliver(&mut self, current: Option<&FilePosition>) {
        if self.error.is_some() {
            return;
        }
        let mut checkpoint = self.checkpoint.clone();
        if let Some(current) = current {
            checkpoint.positions.insert(
                current.fingerprint.clone(),
                SourcePosition::File(current.clone()),
            );
        }
        let batch = self.builder.take(checkpoint);
        self.summary.stats.add(&batch.stats);
        if let Err(error) = (self.on_batch)(batch) {
            self.error = Some(IngestError::Consumer {
                source: error.into(),
            });
        }
    }
}

/// Counts the bytes read from the file (before decompression) for progress reports.
struct CountingReader<'a> {
    inner: ReadAt<'a>,
    count: &'a Cell<u64>,
}

impl Read for CountingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.count.set(self.count.get() + read as u64);
        Ok(read)
    }
}

/// Reads from `stream` until the first non-blank line is complete, the stream ends, or more
/// than `limit` bytes are held; returns what was read and the read error that stopped it.
fn read_first_line(
    stream: &mut impl Read,
    buffer: &mut [u8],
    limit: usize,
) -> (Vec<u8>, Option<io::Error>) {
    let mut head = Vec::new();
    while first_line(&head).is_none() && head.len() <= limit {
        match read_some(stream, buffer) {
            Ok(0) => break,
            Ok(read) => head.extend_from_slice(&buffer[..read]),
            Err(error) => return (head, Some(error)),
        }
    }
    (head, None)
}

/// The first non-blank line of `head` (after a byte-order mark), once its `\n` is there.
fn first_line(head: &[u8]) -> Option<&[u8]> {
    let body = head.strip_prefix(BYTE_ORDER_MARK).unwrap_or(head);
    let start = body.iter().position(|byte| !byte.is_ascii_whitespace())?;
    let length = memchr::memchr(b'\n', &body[start..])?;
    Some(&body[start..start + length])
}

/// Whether the first line opens a JSON object or array that the line does not close.
fn first_line_is_incomplete_json(head: &[u8]) -> bool {
    let Some(line) = first_line(head) else {
        return false;
    };
    let line = line.trim_ascii();
    matches!(line.first(), Some(b'{' | b'['))
        && serde_json::from_slice::<IgnoredAny>(line)
            .is_err_and(|error| error.classify() == serde_json::error::Category::Eof)
}

/// Gives back the bytes read ahead (`head`), then the read error met while reading them, if
/// any, and only then reads on from `inner`.
struct Replay<R> {
    head: io::Cursor<Vec<u8>>,
    error: Option<io::Error>,
    inner: R,
}

impl<R: Read> Read for Replay<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.head.read(buf)?;
        if read > 0 || buf.is_empty() {
            return Ok(read);
        }
        if let Some(error) = self.error.take() {
            return Err(error);
        }
        self.inner.read(buf)
    }
}
