//! The outbox on disk: an append-only log of alerts in segment files, one cursor file per
//! sink, and a lock file.
//!
//! ```text
//! <dir>/LOCK                               held (flock) while an Outbox has the directory open
//! <dir>/segments/<first_seq:020>.jsonl    alerts as JSON lines; line i has seq first_seq + i
//! <dir>/cursors/<sink>.cursor             {"next_seq": N}: the sink has delivered every seq < N
//! ```
//!
//! Every alert gets a sequence number (`seq`), counting from 0 for the life of the directory.
//! A single writer appends whole lines and fsyncs before publishing the new end of the log
//! (`committed`); readers never read past it, so they only see complete, durable lines. A
//! cursor is replaced atomically (write a temporary file, fsync, rename, fsync the directory).
//! Every function here does blocking IO: call it from a blocking thread.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use event::Severity;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::error::SinkError;
use crate::payload::QueuedAlert;

const SEGMENT_SUFFIX: &str = ".jsonl";
const CURSOR_SUFFIX: &str = ".cursor";

/// The alert log shared by the writer (`Outbox::enqueue`) and every sink's reader.
#[derive(Debug)]
pub(crate) struct Log {
    segments_dir: PathBuf,
    cursors_dir: PathBuf,
    segment_max_bytes: u64,
    /// Retained segments, oldest first; the last one is the one being appended to.
    segments: Mutex<Vec<SegmentInfo>>,
    writer: Mutex<Writer>,
    /// One past the last durable seq.
    committed: watch::Sender<u64>,
    /// Held for the life of the log; the OS releases the lock when the file is closed.
    _lock: File,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SegmentInfo {
    first_seq: u64,
    count: u64,
}

impl SegmentInfo {
    fn end_seq(self) -> u64 {
        self.first_seq + self.count
    }
}

#[derive(Debug)]
struct Writer {
    /// `None` before the first append and after a failed one, which forces a new segment.
    active: Option<ActiveSegment>,
    next_seq: u64,
}

#[derive(Debug)]
struct ActiveSegment {
    file: File,
    path: PathBuf,
    bytes: u64,
}

#[derive(Serialize, Deserialize)]
struct CursorFile {
    next_seq: u64,
}

/// What a reader got: the alerts that pass the sink's filter, and the seq to record as the
/// cursor once they are delivered.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub(crate) alerts: Vec<QueuedAlert>,
    pub(crate) end_seq: u64,
    /// Alerts below the sink's minimum severity.
    pub(crate) filtered: u64,
    /// Lines that are not an alert (never written by this crate; skipped with a warning).
    pub(crate) unreadable: u64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves the data consistent before anything that can panic.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Log {
    /// Opens (creating if needed) the outbox at `root`, takes its lock, recovers the segments
    /// (dropping a torn last line left by a crash) and returns the cursor of each named sink.
    ///
    /// A sink without a cursor file is new: it starts at the end of the log, and its cursor is
    /// written before this returns. Cursor files of sinks not named are removed.
    pub(crate) fn open(
        root: &Path,
        segment_max_bytes: u64,
        sink_names: &[&str],
    ) -> Result<(Log, Vec<u64>), SinkError> {
        let segments_dir = root.join("segments");
        let cursors_dir = root.join("cursors");
        for dir in [root, &segments_dir, &cursors_dir] {
            fs::create_dir_all(dir)
                .map_err(|e| SinkError::io("create outbox directory", dir, e))?;
        }
        let lock_path = root.join("LOCK");
        let lock_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| SinkError::io("open outbox lock", &lock_path, e))?;
        match lock_file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(SinkError::Locked {
                    path: root.to_owned(),
                });
            }
            Err(fs::TryLockError::Error(e)) => {
                return Err(SinkError::io("lock outbox", &lock_path, e));
            }
        }

        let segments = recover_segments(&segments_dir)?;
        let first_retained = segments.first().map(|s| s.first_seq);
        let log_end = segments.last().map_or(0, |s| s.end_seq());
        let active = match segments.last() {
            Some(last) => {
                let path = segment_path(&segments_dir, last.first_seq);
                let file = OpenOptions::new()
                    .append(true)
                    .open(&path)
                    .map_err(|e| SinkError::io("open segment", &path, e))?;
                let bytes = file
                    .metadata()
                    .map_err(|e| SinkError::io("read metadata of segment", &path, e))?
                    .len();
                Some(ActiveSegment { file, path, bytes })
            }
            None => None,
        };

        let existing = read_cursors(&cursors_dir)?;
        let next_seq = log_end;
        let floor = first_retained.unwrap_or(next_seq);

        let mut cursors = Vec::with_capacity(sink_names.len());
        for name in sink_names {
            let cursor = match existing.iter().find(|(n, _)| n == name) {
                Some((_, seq)) if *seq < floor => {
                    tracing::warn!(
                        sink = %name,
                        cursor = seq,
                        first_retained = floor,
                        "sink cursor points before the oldest retained alert; those alerts are gone"
                    );
                    floor
                }
                Some((_, seq)) if *seq > next_seq => {
                    // Only if segments were removed by hand: the seqs after the log's end will
                    // be given to new alerts, which this sink has not seen.
                    tracing::warn!(
                        sink = %name,
                        cursor = seq,
                        log_end = next_seq,
                        "sink cursor points past the end of the outbox; moving it back"
                    );
                    write_cursor(&cursors_dir, name, next_seq)?;
                    next_seq
                }
                Some((_, seq)) => *seq,
                None => {
                    tracing::info!(sink = %name, start = next_seq, "new alert sink starts at the end of the outbox");
                    write_cursor(&cursors_dir, name, next_seq)?;
                    next_seq
                }
            };
            cursors.push(cursor);
        }
        for (name, _) in &existing {
            if !sink_names.contains(&name.as_str()) {
                let path = cursor_path(&cursors_dir, name);
                tracing::info!(sink = %name, "removing the cursor of a sink no longer configured");
                fs::remove_file(&path).map_err(|e| SinkError::io("remove cursor", &path, e))?;
            }
        }

        let (committed, _) = watch::channel(next_seq);
        let log = Log {
            segments_dir,
            cursors_dir,
            segment_max_bytes: segment_max_bytes.max(1),
            segments: Mutex::new(segments),
            writer: Mutex::new(Writer { active, next_seq }),
            committed,
            _lock: lock_file,
        };
        Ok((log, cursors))
    }

    /// One past the last durable seq, and a way to wait for it to grow.
    pub(crate) fn committed(&self) -> &watch::Sender<u64> {
        &self.committed
    }

    /// Appends `count` alerts, given as JSON lines each ending in `\n`, and fsyncs them.
    /// On error nothing was committed; the next append starts a new segment so that a torn
    /// write is never followed by more data in the same file.
    pub(crate) fn append(&self, lines: &[u8], count: u64) -> Result<(), SinkError> {
        debug_assert_eq!(lines.iter().filter(|b| **b == b'\n').count() as u64, count);
        let mut writer = lock(&self.writer);
        let next_seq = writer.next_seq;
        if writer
            .active
            .as_ref()
            .is_none_or(|active| active.bytes >= self.segment_max_bytes)
        {
            writer.active = Some(self.start_segment(next_seq)?);
        }
        let active = writer.active.as_mut().expect("set above");
        let written = active
            .file
            .write_all(lines)
            .and_then(|()| active.file.sync_data());
        if let Err(error) = written {
            let path = active.path.clone();
            // Best effort: remove the torn tail now; recovery on open would drop it anyway.
            let _ = active.file.set_len(active.bytes);
            writer.active = None;
            return Err(SinkError::io("append alerts to segment", path, error));
        }
        active.bytes += lines.len() as u64;
        writer.next_seq += count;
        {
            let mut segments = lock(&self.segments);
            let last = segments
                .last_mut()
                .expect("start_segment registered a segment");
            last.count += count;
        }
        self.committed.send_replace(writer.next_seq);
        Ok(())
    }

    /// Creates the segment whose first line will be `first_seq`. A file of that name can
    /// only hold uncommitted bytes (from a failed append), so it is truncated.
    fn start_segment(&self, first_seq: u64) -> Result<ActiveSegment, SinkError> {
        let path = segment_path(&self.segments_dir, first_seq);
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| SinkError::io("create segment", &path, e))?;
        file.sync_all()
            .map_err(|e| SinkError::io("sync segment", &path, e))?;
        sync_dir(&self.segments_dir)?;
        let mut segments = lock(&self.segments);
        if segments
            .last()
            .is_none_or(|last| last.first_seq != first_seq)
        {
            segments.push(SegmentInfo {
                first_seq,
                count: 0,
            });
        }
        drop(segments);
        // Open for appending only after truncation, so writes go to the end.
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| SinkError::io("open segment", &path, e))?;
        Ok(ActiveSegment {
            file,
            path,
            bytes: 0,
        })
    }

    /// The retained segment holding `seq`.
    fn segment_of(&self, seq: u64) -> Option<SegmentInfo> {
        let segments = lock(&self.segments);
        let index = segments.partition_point(|s| s.first_seq <= seq);
        let segment = *segments.get(index.checked_sub(1)?)?;
        (seq < segment.end_seq()).then_some(segment)
    }

    /// Records durably that `sink` has delivered every seq below `next_seq`.
    pub(crate) fn write_cursor(&self, sink: &str, next_seq: u64) -> Result<(), SinkError> {
        write_cursor(&self.cursors_dir, sink, next_seq)
    }

    /// Deletes every segment, except the last, whose alerts all lie below `min_cursor`
    /// (the smallest durable cursor of all sinks).
    pub(crate) fn collect_garbage(&self, min_cursor: u64) -> Result<usize, SinkError> {
        let mut segments = lock(&self.segments);
        let mut deleted = 0;
        while segments.len() > 1 && segments[0].end_seq() <= min_cursor {
            let path = segment_path(&self.segments_dir, segments[0].first_seq);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(SinkError::io("delete delivered segment", path, e)),
            }
            segments.remove(0);
            deleted += 1;
        }
        Ok(deleted)
    }

    /// Number of segment files retained.
    #[cfg(test)]
    pub(crate) fn segment_count(&self) -> usize {
        lock(&self.segments).len()
    }
}

/// A sink's position in the log.
#[derive(Debug)]
pub(crate) struct LogReader {
    seq: u64,
    current: Option<OpenSegment>,
    line: Vec<u8>,
}

#[derive(Debug)]
struct OpenSegment {
    first_seq: u64,
    /// Seq of the next line `reader` returns.
    next_seq: u64,
    reader: BufReader<File>,
}

impl LogReader {
    pub(crate) fn new(seq: u64) -> LogReader {
        LogReader {
            seq,
            current: None,
            line: Vec::new(),
        }
    }

    /// Seq of the next alert this reader returns.
    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    /// Reads from the reader's position up to `max_alerts` alerts at or above
    /// `min_severity`, looking at no more than `max_lines` lines and never past the
    /// committed end. On error the position is unchanged.
    pub(crate) fn read_batch(
        &mut self,
        log: &Log,
        max_alerts: usize,
        max_lines: usize,
        min_severity: Option<Severity>,
    ) -> Result<Batch, SinkError> {
        let start = self.seq;
        let result = self.read_batch_inner(log, max_alerts, max_lines, min_severity);
        if result.is_err() {
            self.seq = start;
            self.current = None;
        }
        result
    }

    fn read_batch_inner(
        &mut self,
        log: &Log,
        max_alerts: usize,
        max_lines: usize,
        min_severity: Option<Severity>,
    ) -> Result<Batch, SinkError> {
        let committed = *log.committed.borrow();
        let mut batch = Batch::default();
        let mut lines = 0;
        while self.seq < committed && batch.alerts.len() < max_alerts && lines < max_lines {
            let seq = self.seq;
            self.read_line(log)?;
            lines += 1;
            self.seq += 1;
            let json = match std::str::from_utf8(&self.line) {
                Ok(json) => json.trim_end_matches('\n'),
                Err(_) => {
                    tracing::warn!(seq, "skipped an outbox line that is not UTF-8");
                    batch.unreadable += 1;
                    continue;
                }
            };
            match serde_json::from_str::<event::Alert>(json) {
                Ok(alert) => {
                    if min_severity.is_some_and(|min| alert.severity < min) {
                        batch.filtered += 1;
                    } else {
                        batch.alerts.push(QueuedAlert {
                            seq,
                            alert,
                            json: json.to_owned(),
                        });
                    }
                }
                Err(error) => {
                    tracing::warn!(seq, %error, "skipped an outbox line that is not an alert");
                    batch.unreadable += 1;
                }
            }
        }
        batch.end_seq = self.seq;
        Ok(batch)
    }

    /// Reads the line of `self.seq` into `self.line`, opening its segment if needed.
    fn read_line(&mut self, log: &Log) -> Result<(), SinkError> {
        let seq = self.seq;
        let positioned = self.current.as_ref().is_some_and(|open| {
            open.next_seq == seq
                && log
                    .segment_of(seq)
                    .is_some_and(|s| s.first_seq == open.first_seq)
        });
        if !positioned {
            let segment = log.segment_of(seq).ok_or_else(|| SinkError::Corrupt {
                path: log.segments_dir.clone(),
                reason: format!("no segment holds alert {seq}"),
            })?;
            let path = segment_path(&log.segments_dir, segment.first_seq);
            let file = File::open(&path).map_err(|e| SinkError::io("open segment", &path, e))?;
            let mut open = OpenSegment {
                first_seq: segment.first_seq,
                next_seq: segment.first_seq,
                reader: BufReader::new(file),
            };
            while open.next_seq < seq {
                self.line.clear();
                read_complete_line(&mut open.reader, &mut self.line, &path)?;
                open.next_seq += 1;
            }
            self.current = Some(open);
        }
        let open = self.current.as_mut().expect("positioned above");
        self.line.clear();
        let path = || segment_path(&log.segments_dir, open.first_seq);
        read_complete_line(&mut open.reader, &mut self.line, &path())?;
        open.next_seq += 1;
        Ok(())
    }
}

/// Reads one line; a committed line always ends in `\n`, so anything else is corruption.
fn read_complete_line(
    reader: &mut BufReader<File>,
    line: &mut Vec<u8>,
    path: &Path,
) -> Result<(), SinkError> {
    reader
        .read_until(b'\n', line)
        .map_err(|e| SinkError::io("read segment", path, e))?;
    if line.last() != Some(&b'\n') {
        return Err(SinkError::Corrupt {
            path: path.to_owned(),
            reason: "a committed line is missing or incomplete".to_owned(),
        });
    }
    Ok(())
}

fn segment_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!("{first_seq:020}{SEGMENT_SUFFIX}"))
}

fn cursor_path(dir: &Path, sink: &str) -> PathBuf {
    dir.join(format!("{sink}{CURSOR_SUFFIX}"))
}

/// Lists the segments, checks they follow one another, and cuts a torn last line.
fn recover_segments(dir: &Path) -> Result<Vec<SegmentInfo>, SinkError> {
    let mut firsts = Vec::new();
    let entries = fs::read_dir(dir).map_err(|e| SinkError::io("list segments in", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| SinkError::io("list segments in", dir, e))?;
        let file_name = entry.file_name();
        let Some(name) = file_name.to_str() else {
            continue;
        };
        match name
            .strip_suffix(SEGMENT_SUFFIX)
            .and_then(|stem| stem.parse::<u64>().ok())
        {
            Some(first_seq) => firsts.push(first_seq),
            None => {
                tracing::warn!(file = %entry.path().display(), "ignoring a file that is not an outbox segment")
            }
        }
    }
    firsts.sort_unstable();

    let mut segments = Vec::with_capacity(firsts.len());
    for (index, &first_seq) in firsts.iter().enumerate() {
        let path = segment_path(dir, first_seq);
        let (lines, complete_bytes, total_bytes) = count_lines(&path)?;
        let count = match firsts.get(index + 1) {
            // The next segment starts where this one's committed lines end; bytes after
            // them are the remains of a failed append.
            Some(&next_first) => {
                let count = next_first.checked_sub(first_seq).unwrap_or(u64::MAX);
                if count > lines {
                    return Err(SinkError::Corrupt {
                        path,
                        reason: format!(
                            "segment holds {lines} lines but the next segment starts at {next_first}"
                        ),
                    });
                }
                count
            }
            None => {
                if complete_bytes < total_bytes {
                    tracing::warn!(
                        segment = %path.display(),
                        bytes = total_bytes - complete_bytes,
                        "dropping an incomplete last line left by a crash"
                    );
                    let file = OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .map_err(|e| SinkError::io("open segment", &path, e))?;
                    file.set_len(complete_bytes)
                        .and_then(|()| file.sync_all())
                        .map_err(|e| SinkError::io("truncate segment", &path, e))?;
                }
                lines
            }
        };
        segments.push(SegmentInfo { first_seq, count });
    }
    Ok(segments)
}

/// Counts complete lines; returns (lines, bytes up to the last `\n`, total bytes).
fn count_lines(path: &Path) -> Result<(u64, u64, u64), SinkError> {
    let file = File::open(path).map_err(|e| SinkError::io("open segment", path, e))?;
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let (mut lines, mut complete, mut total) = (0u64, 0u64, 0u64);
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(SinkError::io("read segment", path, e)),
        };
        for (offset, byte) in buffer[..read].iter().enumerate() {
            if *byte == b'\n' {
                lines += 1;
                complete = total + offset as u64 + 1;
            }
        }
        total += read as u64;
    }
    Ok((lines, complete, total))
}

fn read_cursors(dir: &Path) -> Result<Vec<(String, u64)>, SinkError> {
    let mut cursors = Vec::new();
    let entries = fs::read_dir(dir).map_err(|e| SinkError::io("list cursors in", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| SinkError::io("list cursors in", dir, e))?;
        let path = entry.path();
        let file_name = entry.file_name();
        let Some(name) = file_name.to_str() else {
            continue;
        };
        let Some(sink) = name.strip_suffix(CURSOR_SUFFIX) else {
            // Leftover temporary files of an interrupted cursor write.
            if name.ends_with(".tmp") {
                let _ = fs::remove_file(&path);
            }
            continue;
        };
        let text = fs::read_to_string(&path).map_err(|e| SinkError::io("read cursor", &path, e))?;
        let cursor: CursorFile = serde_json::from_str(&text).map_err(|e| SinkError::Corrupt {
            path: path.clone(),
            reason: format!("cursor file is not valid: {e}"),
        })?;
        cursors.push((sink.to_owned(), cursor.next_seq));
    }
    Ok(cursors)
}

fn write_cursor(dir: &Path, sink: &str, next_seq: u64) -> Result<(), SinkError> {
    let path = cursor_path(dir, sink);
    let tmp = dir.join(format!("{sink}{CURSOR_SUFFIX}.tmp"));
    let text = serde_json::to_string(&CursorFile { next_seq })?;
    let mut file = File::create(&tmp).map_err(|e| SinkError::io("create cursor", &tmp, e))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all())
        .map_err(|e| SinkError::io("write cursor", &tmp, e))?;
    drop(file);
    fs::rename(&tmp, &path).map_err(|e| SinkError::io("replace cursor", &path, e))?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<(), SinkError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| SinkError::io("sync directory", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert_line(id: u64) -> String {
        let alert = event::Alert {
            alert_id: format!("{id:032x}"),
            rule_id: "rule".into(),
            title: "title".into(),
            severity: Severity::High,
            time: "2026-01-01T00:00:00Z".into(),
            event_ids: vec![],
            audit_ids: vec![],
            cluster: "c".into(),
            actor: None,
            namespace: None,
            resource: None,
            name: None,
            source: event::AlertSource::K8sAudit,
            attack: vec![],
            summary: "s".into(),
            fields: Default::default(),
        };
        serde_json::to_string(&alert).unwrap() + "\n"
    }

    #[test]
    fn segments_rotate_and_are_collected_once_delivered() {
        let dir = tempfile::tempdir().unwrap();
        let (log, cursors) = Log::open(dir.path(), 1, &["a"]).unwrap();
        assert_eq!(cursors, vec![0]);
        for id in 0..3 {
            log.append(alert_line(id).as_bytes(), 1).unwrap();
        }
        assert_eq!(log.segment_count(), 3);
        let mut reader = LogReader::new(0);
        let batch = reader.read_batch(&log, 10, 10, None).unwrap();
        assert_eq!(batch.alerts.len(), 3);
        assert_eq!(batch.end_seq, 3);
        assert_eq!(log.collect_garbage(3).unwrap(), 2);
        assert_eq!(log.segment_count(), 1);
    }

    #[test]
    fn a_torn_last_line_is_dropped_on_open() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (log, _) = Log::open(dir.path(), 1 << 20, &["a"]).unwrap();
            log.append(alert_line(1).as_bytes(), 1).unwrap();
        }
        let segment = segment_path(&dir.path().join("segments"), 0);
        let mut file = OpenOptions::new().append(true).open(&segment).unwrap();
        file.write_all(b"{\"alert_id\":").unwrap();
        drop(file);
        let (log, cursors) = Log::open(dir.path(), 1 << 20, &["a"]).unwrap();
        assert_eq!(cursors, vec![0]);
        assert_eq!(*log.committed().borrow(), 1);
        log.append(alert_line(2).as_bytes(), 1).unwrap();
        let batch = LogReader::new(0).read_batch(&log, 10, 10, None).unwrap();
        assert_eq!(batch.alerts.len(), 2);
        assert_eq!(batch.unreadable, 0);
    }
}
