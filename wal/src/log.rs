//! The log itself: opening (recovery of a torn tail), appends with group commit and
//! deduplication by event key, the committed mark the pipeline moves, and retention.
//!
//! One writer thread owns the active segment, the keys and the segment list. Appends queue
//! on a channel; the writer takes every request waiting, writes them, fsyncs once and answers
//! them all, so concurrent requests share one fsync. The durable end (what readers may read)
//! moves only after that fsync.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{oneshot, watch};

use crate::record::{self, Frame, SEGMENT_HEADER_BYTES, Sealed};
use crate::{Config, Reader, WalError};

/// Most bytes one group writes before its fsync.
const MAX_GROUP_BYTES: usize = 64 * 1024 * 1024;
/// How often an idle writer looks for segments to delete.
const IDLE: Duration = Duration::from_millis(500);

/// A handle on an open log. Cheap to clone; the writer thread runs while a handle lives.
#[derive(Debug, Clone)]
pub struct Wal {
    requests: Sender<Request>,
    state: Arc<State>,
}

/// What the writer thread and the readers share.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) dir: PathBuf,
    pub(crate) log_id: u64,
    config: Config,
    /// End offset of what is fsynced: readers read up to here.
    pub(crate) durable: watch::Sender<u64>,
    /// End offset of what the store committed (valid once `committed_known`).
    committed: AtomicU64,
    committed_known: AtomicBool,
    /// Base offset → end offset of every retained segment.
    pub(crate) segments: Mutex<BTreeMap<u64, u64>>,
    counters: Counters,
    /// Why the log accepts nothing now (a failed fsync it could not take back yet).
    failing: Mutex<Option<String>>,
    /// Held by a test to make requests queue up before the writer takes them.
    #[cfg(test)]
    pub(crate) gate: Mutex<()>,
    /// How many of the next fsyncs a test makes fail.
    #[cfg(test)]
    pub(crate) failing_syncs: AtomicU64,
}

#[derive(Debug, Default)]
struct Counters {
    appends: AtomicU64,
    appended_bytes: AtomicU64,
    fsyncs: AtomicU64,
    duplicate_keys: AtomicU64,
    refused_full: AtomicU64,
    refused_disk_full: AtomicU64,
    sync_failures: AtomicU64,
}

impl State {
    /// The committed mark, once the pipeline has said where it resumes.
    fn committed(&self) -> Option<u64> {
        self.committed_known
            .load(Ordering::Acquire)
            .then(|| self.committed.load(Ordering::Acquire))
    }

    pub(crate) fn mark_committed(&self, offset: u64) {
        self.committed.fetch_max(offset, Ordering::AcqRel);
        self.committed_known.store(true, Ordering::Release);
    }

    pub(crate) fn first_offset(&self) -> u64 {
        let segments = self.segments.lock().unwrap_or_else(PoisonError::into_inner);
        segments.keys().next().copied().unwrap_or(0)
    }

    pub(crate) fn segment_path(&self, base: u64) -> PathBuf {
        segment_path(&self.dir, base)
    }

    fn failure(&self) -> Option<String> {
        self.failing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_failure(&self, failure: Option<String>) {
        *self.failing.lock().unwrap_or_else(PoisonError::into_inner) = failure;
    }
}

/// Moves the committed mark: what is below it may be deleted once out of the dedupe window,
/// and no longer counts as pending. Cheap to clone; keeps no writer alive.
#[derive(Debug, Clone)]
pub struct Committer(pub(crate) Arc<State>);

impl Committer {
    /// Everything before `offset` is committed to the store.
    pub fn committed(&self, offset: u64) {
        self.0.mark_committed(offset);
    }
}

/// What became of an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Whether a record was written; `false` when every key was already in the log.
    pub written: bool,
    /// Keys written with the record (new to the log).
    pub new_keys: usize,
    /// Keys dropped because a retained record holds them already (or repeated in the body).
    pub duplicate_keys: usize,
    /// The end offset of the log after this append (durable now).
    pub end: u64,
}

/// Counters and gauges of the log, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WalMetrics {
    /// Bytes appended and not yet committed to the store.
    pub pending_bytes: u64,
    /// Bytes of every retained segment (pending and kept for the dedupe window).
    pub retained_bytes: u64,
    /// Records written.
    pub appends: u64,
    pub appended_bytes: u64,
    /// fsyncs of segment files (one per group of concurrent appends).
    pub fsyncs: u64,
    /// Event keys dropped at append because the log held them already.
    pub duplicate_keys: u64,
    /// Appends refused because `max_pending_bytes` were pending.
    pub refused_full: u64,
    /// Appends refused because the disk was full.
    pub refused_disk_full: u64,
    /// fsyncs that failed (their appends were answered with an error and taken back).
    pub sync_failures: u64,
    /// Whether the log accepts nothing now: an fsync failed and taking back what it did not
    /// make durable failed too. The writer keeps trying.
    pub failing: bool,
}

#[derive(Debug)]
struct Request {
    record: Sealed,
    reply: oneshot::Sender<Result<Appended, WalError>>,
}

/// A retained segment as the writer knows it.
#[derive(Debug, Default)]
struct Segment {
    keys: Vec<u128>,
    newest_micros: i64,
    /// End offset (exclusive).
    end: u64,
}

impl Wal {
    /// Opens (or creates) the log in `dir`: checks every segment, truncates a torn tail of the
    /// last one, rebuilds the keys of the retained records, and starts the writer thread.
    pub fn open(dir: &Path, config: &Config) -> Result<Wal, WalError> {
        config.validate()?;
        std::fs::create_dir_all(dir).map_err(|e| WalError::io("create", dir, e))?;
        let recovered = recover(dir)?;
        let (log_id, mut segments, keys) = match recovered {
            Some(recovered) => recovered,
            None => {
                let log_id = new_log_id();
                create_segment(dir, log_id, 0)?;
                let mut segments = BTreeMap::new();
                segments.insert(0, Segment::default());
                (log_id, segments, HashMap::new())
            }
        };
        let (&active_base, active) = segments.iter_mut().next_back().expect("one segment");
        let active_path = segment_path(dir, active_base);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&active_path)
            .map_err(|e| WalError::io("open", &active_path, e))?;
        let active_len = SEGMENT_HEADER_BYTES + (active.end - active_base);
        file.seek(SeekFrom::Start(active_len))
            .map_err(|e| WalError::io("seek", &active_path, e))?;
        // What survived the crash unsynced is durable from now on.
        file.sync_data()
            .map_err(|e| WalError::io("fsync", &active_path, e))?;
        let (end, durable_keys) = (active.end, active.keys.len());
        let (durable, _) = watch::channel(end);
        let state = Arc::new(State {
            dir: dir.to_path_buf(),
            log_id,
            config: config.clone(),
            durable,
            committed: AtomicU64::new(0),
            committed_known: AtomicBool::new(false),
            segments: Mutex::new(segments.iter().map(|(base, s)| (*base, s.end)).collect()),
            counters: Counters::default(),
            failing: Mutex::new(None),
            #[cfg(test)]
            gate: Mutex::new(()),
            #[cfg(test)]
            failing_syncs: AtomicU64::new(0),
        });
        tracing::info!(
            dir = %dir.display(),
            segments = segments.len(),
            keys = keys.len(),
            end,
            "write-ahead log open"
        );
        let writer = Writer {
            state: Arc::clone(&state),
            file,
            active_base,
            active_len,
            keys,
            segments,
            durable_keys,
            sync_failed: None,
            failed: false,
        };
        let (requests, receiver) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("wal-writer".to_owned())
            .spawn(move || writer.run(&receiver))
            .map_err(|e| WalError::io("start the writer thread for", dir, e))?;
        Ok(Wal { requests, state })
    }

    /// Appends `record` unless every key in it is already in the log, and returns once it is
    /// fsynced (with the other appends waiting at the same time). Keys already in the log are
    /// dropped from the record; a record without keys (a body that did not decode) is always
    /// written.
    /// A [`Record`](crate::Record) is sealed (compressed) here, on the runtime's thread; callers that care
    /// seal it on a blocking thread first.
    pub async fn append(&self, record: impl Into<Sealed>) -> Result<Appended, WalError> {
        let record = record.into();
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request { record, reply })
            .map_err(|_| WalError::Closed)?;
        answer.await.map_err(|_| WalError::Closed)?
    }

    /// Identifies this log (and not one that replaced it) in positions.
    pub fn log_id(&self) -> u64 {
        self.state.log_id
    }

    /// The end offset of what is durable.
    pub fn durable_end(&self) -> u64 {
        *self.state.durable.borrow()
    }

    /// Moves the committed mark (see [`Committer`]).
    pub fn committer(&self) -> Committer {
        Committer(Arc::clone(&self.state))
    }

    /// A reader from `from` (`(log id, offset)`, the committed position), which also becomes
    /// the committed mark. A position of another log, or none, reads from the oldest retained
    /// record.
    pub fn reader(&self, from: Option<(u64, u64)>) -> Reader {
        let first = self.state.first_offset();
        let end = self.durable_end();
        let start = match from {
            Some((log_id, offset)) if log_id == self.state.log_id => {
                if offset > end {
                    tracing::warn!(
                        offset,
                        end,
                        "the committed position is past the end of the write-ahead log; reading from its end"
                    );
                    end
                } else if offset < first {
                    tracing::warn!(
                        offset,
                        first,
                        "the committed position is before the oldest retained record; reading from it"
                    );
                    first
                } else {
                    offset
                }
            }
            Some(_) => {
                tracing::warn!(
                    "the committed position belongs to another write-ahead log; reading this one from its start"
                );
                first
            }
            None => first,
        };
        self.state.mark_committed(start);
        Reader::new(Arc::clone(&self.state), start)
    }

    #[cfg(test)]
    pub(crate) fn state_for_tests(&self) -> &State {
        &self.state
    }

    /// A snapshot of the log's counters.
    pub fn metrics(&self) -> WalMetrics {
        let state = &self.state;
        let end = *state.durable.borrow();
        let first = state.first_offset();
        let committed = state.committed().unwrap_or(first).min(end);
        let counters = &state.counters;
        WalMetrics {
            pending_bytes: end - committed,
            retained_bytes: end - first,
            appends: counters.appends.load(Ordering::Relaxed),
            appended_bytes: counters.appended_bytes.load(Ordering::Relaxed),
            fsyncs: counters.fsyncs.load(Ordering::Relaxed),
            duplicate_keys: counters.duplicate_keys.load(Ordering::Relaxed),
            refused_full: counters.refused_full.load(Ordering::Relaxed),
            refused_disk_full: counters.refused_disk_full.load(Ordering::Relaxed),
            sync_failures: counters.sync_failures.load(Ordering::Relaxed),
            failing: state.failure().is_some(),
        }
    }

    /// Why the log accepts nothing now, if it does not: an fsync failed and the writer could
    /// not yet take back what it left undecided. Appends are refused (the ingest routes
    /// answer 503) until it can; the writer retries every half second.
    pub fn failure(&self) -> Option<String> {
        self.state.failure()
    }
}

/// The writer thread's state.
struct Writer {
    state: Arc<State>,
    file: File,
    active_base: u64,
    /// Length of the active file, header included.
    active_len: u64,
    /// Every key of a retained record → the base of its segment.
    keys: HashMap<u128, u64>,
    segments: BTreeMap<u64, Segment>,
    /// How many keys of the active segment's records the durable end covers.
    durable_keys: usize,
    /// An fsync of this group failed (a roll's or the group's own).
    sync_failed: Option<WalError>,
    /// What the last failed fsync left undecided is not yet taken back: refuse everything.
    failed: bool,
}

impl Writer {
    fn run(mut self, requests: &Receiver<Request>) {
        loop {
            match requests.recv_timeout(IDLE) {
                Ok(first) => {
                    #[cfg(test)]
                    drop(self.state.gate.lock());
                    let mut bytes = first.record.stored_body_len();
                    let mut group = vec![first];
                    while bytes < MAX_GROUP_BYTES
                        && let Ok(next) = requests.try_recv()
                    {
                        bytes += next.record.stored_body_len();
                        group.push(next);
                    }
                    self.write_group(group);
                }
                Err(RecvTimeoutError::Timeout) => {
                    if self.failed {
                        self.take_back_unsynced();
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
            self.retain();
        }
    }

    fn end(&self) -> u64 {
        self.active_base + self.active_len - SEGMENT_HEADER_BYTES
    }

    fn active_path(&self) -> PathBuf {
        segment_path(&self.state.dir, self.active_base)
    }

    /// Writes every request of the group, fsyncs once, then answers them all. When an fsync
    /// fails, nothing of the group is acknowledged and everything written since the last good
    /// fsync is taken back (see [`Writer::take_back_unsynced`]), so a retry writes it again.
    fn write_group(&mut self, group: Vec<Request>) {
        if self.failed {
            self.take_back_unsynced();
        }
        let mut answers = Vec::with_capacity(group.len());
        let mut written = false;
        for request in group {
            let result = if self.failed || self.sync_failed.is_some() {
                Err(WalError::Failed)
            } else {
                self.write_one(request.record)
            };
            written |= matches!(result, Ok(Appended { written: true, .. }));
            answers.push((request.reply, result));
        }
        if written && self.sync_failed.is_none() {
            let path = self.active_path();
            match self.sync() {
                Ok(()) => self.publish_end(),
                Err(error) => self.sync_failed = Some(WalError::io("fsync", &path, error)),
            }
        }
        if let Some(error) = self.sync_failed.take() {
            self.state
                .counters
                .sync_failures
                .fetch_add(1, Ordering::Relaxed);
            tracing::error!(%error, "an fsync of the write-ahead log failed; the appends it covered are refused and taken back");
            // Even an answer that wrote nothing may rest on a record of this group.
            for (_, result) in &mut answers {
                if result.is_ok() {
                    *result = Err(WalError::NotDurable);
                }
            }
            self.take_back_unsynced();
        }
        for (reply, result) in answers {
            let _ = reply.send(result);
        }
    }

    /// fsyncs the active segment.
    fn sync(&self) -> std::io::Result<()> {
        #[cfg(test)]
        if self
            .state
            .failing_syncs
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(std::io::Error::other("an fsync failure made by a test"));
        }
        self.file.sync_data()?;
        self.state.counters.fsyncs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// After a failed fsync: cuts the active segment back to its durable end and forgets the
    /// keys written after it. A failed fsync may have dropped those pages from the disk while
    /// they still read back from memory, and a later fsync would not say so; cutting them off
    /// (and fsyncing the cut) leaves the file as durable as what was acknowledged. Readers
    /// never read past the durable end, so they never saw them. Until the cut is durable,
    /// every append is refused; it is retried with each group and every half second.
    fn take_back_unsynced(&mut self) {
        let durable_end = *self.state.durable.borrow();
        debug_assert!(durable_end >= self.active_base);
        let durable_len = SEGMENT_HEADER_BYTES + (durable_end - self.active_base);
        let base = self.active_base;
        let segment = self.segments.get_mut(&base).expect("the active segment");
        for key in segment.keys.split_off(self.durable_keys) {
            if self.keys.get(&key) == Some(&base) {
                self.keys.remove(&key);
            }
        }
        segment.end = durable_end;
        self.active_len = durable_len;
        let path = self.active_path();
        let cut = self
            .file
            .set_len(durable_len)
            .and_then(|()| self.file.seek(SeekFrom::Start(durable_len)).map(drop))
            .and_then(|()| self.sync());
        match cut {
            Ok(()) => {
                if self.failed {
                    tracing::info!(path = %path.display(), durable_end, "the write-ahead log is cut back to its durable end and accepts appends again");
                }
                self.failed = false;
                self.state.set_failure(None);
            }
            Err(error) => {
                if !self.failed {
                    tracing::error!(path = %path.display(), %error, "cannot cut the write-ahead log back to its durable end; refusing appends and retrying");
                }
                self.failed = true;
                self.state
                    .set_failure(Some(WalError::io("cut back", &path, error).to_string()));
            }
        }
    }

    /// Lets readers see everything up to the current end (after an fsync).
    fn publish_end(&mut self) {
        let end = self.end();
        self.state
            .segments
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(self.active_base, end);
        self.state.durable.send_replace(end);
        self.durable_keys = self.segments[&self.active_base].keys.len();
    }

    fn write_one(&mut self, mut sealed: Sealed) -> Result<Appended, WalError> {
        let record = &mut sealed.record;
        let state = Arc::clone(&self.state);
        let counters = &state.counters;
        let had_keys = !record.keys.is_empty();
        let mut in_record = HashSet::with_capacity(record.keys.len());
        let before_keys = record.keys.len();
        record
            .keys
            .retain(|key| !self.keys.contains_key(key) && in_record.insert(*key));
        let duplicate_keys = before_keys - record.keys.len();
        counters
            .duplicate_keys
            .fetch_add(duplicate_keys as u64, Ordering::Relaxed);
        if had_keys && record.keys.is_empty() {
            return Ok(Appended {
                written: false,
                new_keys: 0,
                duplicate_keys,
                end: self.end(),
            });
        }
        let frame = record::encode(&sealed);
        let record = &sealed.record;
        let frame_len = frame.len() as u64;
        if let Some(committed) = state.committed() {
            let pending = self.end().saturating_sub(committed);
            if pending > 0 && pending + frame_len > state.config.max_pending_bytes {
                counters.refused_full.fetch_add(1, Ordering::Relaxed);
                return Err(WalError::Full {
                    pending_bytes: pending,
                });
            }
        }
        if self.active_len > SEGMENT_HEADER_BYTES
            && self.active_len + frame_len > self.state.config.segment_bytes
        {
            self.roll()?;
        }
        let before = self.active_len;
        if let Err(error) = self.file.write_all(&frame) {
            // Take back whatever part of the frame reached the file.
            let path = self.active_path();
            if let Err(undo) = self
                .file
                .set_len(before)
                .and_then(|()| self.file.seek(SeekFrom::Start(before)).map(drop))
            {
                // The group fails as if its fsync had: everything unsynced is taken back.
                self.sync_failed = Some(WalError::io("take back a failed write to", &path, undo));
            }
            return Err(self.refuse(WalError::io("write", &path, error)));
        }
        self.active_len += frame_len;
        let base = self.active_base;
        let end = self.end();
        let segment = self.segments.get_mut(&base).expect("the active segment");
        for key in &record.keys {
            self.keys.insert(*key, base);
        }
        segment.keys.extend_from_slice(&record.keys);
        segment.newest_micros = segment.newest_micros.max(record.received_micros);
        segment.end = end;
        counters.appends.fetch_add(1, Ordering::Relaxed);
        counters
            .appended_bytes
            .fetch_add(frame_len, Ordering::Relaxed);
        Ok(Appended {
            written: true,
            new_keys: record.keys.len(),
            duplicate_keys,
            end,
        })
    }

    /// A write error as the caller sees it: a full disk is its own answer.
    fn refuse(&self, error: WalError) -> WalError {
        let full = matches!(
            &error,
            WalError::Io { source, .. }
                if matches!(source.kind(), ErrorKind::StorageFull | ErrorKind::QuotaExceeded)
        );
        if full {
            self.state
                .counters
                .refused_disk_full
                .fetch_add(1, Ordering::Relaxed);
            WalError::DiskFull
        } else {
            error
        }
    }

    /// Seals the active segment (fsynced) and starts the next one at its end. A failed fsync
    /// fails the whole group (`sync_failed`).
    fn roll(&mut self) -> Result<(), WalError> {
        let path = self.active_path();
        if let Err(error) = self.sync() {
            self.sync_failed = Some(WalError::io("fsync", &path, error));
            return Err(WalError::NotDurable);
        }
        self.publish_end();
        let base = self.end();
        let file = create_segment(&self.state.dir, self.state.log_id, base)
            .map_err(|error| self.refuse(error))?;
        self.file = file;
        self.active_base = base;
        self.active_len = SEGMENT_HEADER_BYTES;
        self.durable_keys = 0;
        self.segments.insert(
            base,
            Segment {
                end: base,
                ..Segment::default()
            },
        );
        self.state
            .segments
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(base, base);
        Ok(())
    }

    /// Deletes the oldest sealed segments that are committed and out of the dedupe window (or
    /// past `max_retained_bytes`), with their keys.
    fn retain(&mut self) {
        let Some(committed) = self.state.committed() else {
            return;
        };
        let config = &self.state.config;
        let window_micros =
            i64::try_from(config.dedupe_window_secs.saturating_mul(1_000_000)).unwrap_or(i64::MAX);
        let cutoff = now_micros().saturating_sub(window_micros);
        let mut sealed_bytes: u64 = self
            .segments
            .iter()
            .filter(|(base, _)| **base != self.active_base)
            .map(|(base, segment)| segment.end - base)
            .sum();
        while let Some((&base, segment)) = self.segments.first_key_value() {
            if base == self.active_base || segment.end > committed {
                break;
            }
            let out_of_window = segment.newest_micros < cutoff;
            if !(out_of_window || sealed_bytes > config.max_retained_bytes) {
                break;
            }
            let path = segment_path(&self.state.dir, base);
            if let Err(error) = std::fs::remove_file(&path) {
                tracing::warn!(path = %path.display(), %error, "cannot delete a committed write-ahead log segment");
                break;
            }
            let segment = self.segments.remove(&base).expect("just seen");
            sealed_bytes -= segment.end - base;
            for key in &segment.keys {
                if self.keys.get(key) == Some(&base) {
                    self.keys.remove(key);
                }
            }
            self.state
                .segments
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&base);
            tracing::debug!(base, "committed write-ahead log segment deleted");
        }
    }
}

pub(crate) fn segment_path(dir: &Path, base: u64) -> PathBuf {
    dir.join(format!("{base:020}.wal"))
}

fn create_segment(dir: &Path, log_id: u64, base: u64) -> Result<File, WalError> {
    let path = segment_path(dir, base);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| WalError::io("create", &path, e))?;
    if let Err(error) = file
        .write_all(&record::segment_header(log_id, base))
        .and_then(|()| file.sync_data())
    {
        // No half-made segment stays behind to block the next try (or the next start).
        let _ = std::fs::remove_file(&path);
        return Err(WalError::io("write", &path, error));
    }
    File::open(dir)
        .and_then(|directory| directory.sync_all())
        .map_err(|e| WalError::io("fsync", dir, e))?;
    Ok(file)
}

/// What the segments of a log directory hold: the log id, the segments by base offset, and
/// every key with the base of its segment.
type Recovered = (u64, BTreeMap<u64, Segment>, HashMap<u128, u64>);

/// The segments of `dir`, checked: `None` when there is none. A torn or damaged tail of the
/// last segment is cut off; damage anywhere else is an error.
fn recover(dir: &Path) -> Result<Option<Recovered>, WalError> {
    let mut bases = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| WalError::io("list", dir, e))? {
        let entry = entry.map_err(|e| WalError::io("list", dir, e))?;
        let name = entry.file_name();
        let Some(base) = name
            .to_str()
            .and_then(|name| name.strip_suffix(".wal"))
            .and_then(|stem| stem.parse::<u64>().ok())
        else {
            continue;
        };
        bases.push(base);
    }
    bases.sort_unstable();
    let mut log_id = None;
    let mut segments = BTreeMap::new();
    let mut keys = HashMap::new();
    let count = bases.len();
    for (index, base) in bases.into_iter().enumerate() {
        let last = index + 1 == count;
        let path = segment_path(dir, base);
        let bytes = std::fs::read(&path).map_err(|e| WalError::io("read", &path, e))?;
        let corrupt = |offset: u64, reason: String| WalError::Corrupt {
            path: path.clone(),
            offset,
            reason,
        };
        let (id, header_base) = match record::parse_segment_header(&bytes) {
            Ok(header) => header,
            // A segment whose creation was cut short holds nothing.
            Err(_) if last && bytes.len() < SEGMENT_HEADER_BYTES as usize => {
                std::fs::remove_file(&path).map_err(|e| WalError::io("delete", &path, e))?;
                continue;
            }
            Err(reason) => return Err(corrupt(0, reason)),
        };
        if header_base != base || *log_id.get_or_insert(id) != id {
            return Err(corrupt(0, "the header does not match the log".to_owned()));
        }
        if let Some(previous) = segments.values().next_back().map(|s: &Segment| s.end)
            && previous != base
        {
            return Err(corrupt(0, format!("a gap after offset {previous}")));
        }
        let mut segment = Segment {
            end: base,
            ..Segment::default()
        };
        let mut at = SEGMENT_HEADER_BYTES as usize;
        while at < bytes.len() {
            match record::decode(&bytes[at..]) {
                Frame::Whole {
                    record: Sealed { record, .. },
                    length,
                } => {
                    for key in &record.keys {
                        keys.insert(*key, base);
                    }
                    segment.keys.extend(record.keys);
                    segment.newest_micros = segment.newest_micros.max(record.received_micros);
                    at += length as usize;
                }
                Frame::Bad(reason) if last && record::valid_frame_after(&bytes, at) => {
                    // A whole record after a bad one: damage, not a torn append.
                    return Err(corrupt(at as u64, reason));
                }
                Frame::Short | Frame::Bad(_) if last => {
                    tracing::warn!(
                        path = %path.display(),
                        offset = at,
                        cut = bytes.len() - at,
                        "the write-ahead log ends in a torn record (a crash during an append); cutting it off"
                    );
                    let file = OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .map_err(|e| WalError::io("open", &path, e))?;
                    file.set_len(at as u64)
                        .and_then(|()| file.sync_all())
                        .map_err(|e| WalError::io("truncate", &path, e))?;
                    break;
                }
                Frame::Short => return Err(corrupt(at as u64, "a record is cut short".to_owned())),
                Frame::Bad(reason) => return Err(corrupt(at as u64, reason)),
            }
        }
        segment.end = base + (at as u64 - SEGMENT_HEADER_BYTES);
        segments.insert(base, segment);
    }
    Ok(log_id.map(|log_id| (log_id, segments, keys)))
}

fn new_log_id() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos() as u64);
    nanos ^ (u64::from(std::process::id()) << 48)
}

pub(crate) fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_micros() as i64)
}
