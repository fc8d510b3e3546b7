//! One-shot reading of whole files (plain or gzip, told apart by magic bytes) for `import`
//! and `detect`.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use event::{DeadLetter, DecodeOptions};

use crate::IngestError;
use crate::decode::{BatchBuilder, now_rfc3339};
use crate::fingerprint::{
    ReadAt, gzip_fingerprint, is_corrupt_gzip, is_gzip, plain_fingerprint, read_some,
};
use crate::lines::{LineItem, LineSplitter};
use crate::position::{BatchStats, Checkpoint, FilePosition, SourcePosition};
use crate::{Batch, config};

const CHUNK_BYTES: usize = 256 * 1024;

/// How to read files once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOptions {
    pub cluster: String,
    pub keep_request_received: bool,
    pub max_line_bytes: usize,
    pub batch_max_events: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            cluster: config::DEFAULT_CLUSTER.to_owned(),
            keep_request_received: false,
            max_line_bytes: config::DEFAULT_MAX_LINE_BYTES,
            batch_max_events: config::DEFAULT_BATCH_MAX_EVENTS,
        }
    }
}

/// What a whole read did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadSummary {
    pub files: u64,
    /// Bytes read from disk (compressed size for gzip files).
    pub file_bytes: u64,
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
        checkpoint: Checkpoint::default(),
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
        let mut position = fingerprint.map(|fingerprint| FilePosition {
            path: source.clone(),
            dev: metadata.dev(),
            inode: metadata.ino(),
            fingerprint: fingerprint.hex,
            offset: 0,
            compressed,
        });
        let mut splitter = LineSplitter::new(0, max_line_bytes);
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
