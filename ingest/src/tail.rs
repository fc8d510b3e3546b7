//! The live file tailer: follows paths and globs through rotation, truncation and compression.
//!
//! All file IO and decoding run on one blocking thread, which sends batches into a bounded
//! channel (waiting when it is full). Filesystem events from `notify` wake the thread early;
//! a rescan every `poll_interval_ms` catches what events miss.
//!
//! Files are known by content: the fingerprint of the first line (see `fingerprint.rs`) keys
//! the checkpoint, so a rename keeps the position and a copy or gzipped backup of a file
//! already read is resumed at the same offset instead of being read again.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::{Duration, Instant, SystemTime};

use event::{DeadLetter, DecodeOptions};
use notify::Watcher;
use tokio::runtime::Handle;
use tokio::sync::mpsc::Sender;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::IngestError;
use crate::config::{Config, StartAt};
use crate::decode::{BatchBuilder, now_rfc3339};
use crate::fingerprint::{
    Fingerprint, ReadAt, gzip_fingerprint, is_corrupt_gzip, is_gzip, plain_fingerprint,
    read_full_at, read_some,
};
use crate::lines::{LineItem, LineSplitter};
use crate::position::{Batch, Checkpoint, FilePosition, SourcePosition};
use crate::scan::{Pattern, compile_pattern};

const CHUNK_BYTES: usize = 256 * 1024;
/// The position of a file no longer found is pruned after this long (and 20 poll intervals).
const MIN_PRUNE_AFTER: Duration = Duration::from_secs(60);
/// A rotated file that did not grow for this long (and four poll intervals) is complete: its
/// unterminated last line is taken, and it is closed if its path no longer leads to it.
const MIN_SETTLE: Duration = Duration::from_secs(1);

/// Follows the configured files and turns them into batches.
#[derive(Debug)]
pub struct FileTailer {
    groups: Vec<Group>,
    start: Checkpoint,
    settings: Settings,
}

#[derive(Debug, Clone)]
struct Group {
    patterns: Vec<Pattern>,
    options: DecodeOptions,
}

#[derive(Debug, Clone, Copy)]
struct Settings {
    max_line_bytes: usize,
    start_at: StartAt,
    poll_interval: Duration,
    batch_max_events: usize,
    batch_max_wait: Duration,
}

impl FileTailer {
    /// Validates `config` and prepares to resume from `start` (a checkpoint from an earlier
    /// batch, or `Checkpoint::default()`).
    pub fn new(config: &Config, start: Checkpoint) -> Result<FileTailer, IngestError> {
        config.validate()?;
        let groups = config
            .files
            .iter()
            .map(|group| {
                Ok(Group {
                    patterns: group
                        .paths
                        .iter()
                        .map(|path| compile_pattern(path))
                        .collect::<Result<_, _>>()?,
                    options: DecodeOptions {
                        cluster: group.cluster.clone(),
                        keep_request_received: config.keep_request_received,
                    },
                })
            })
            .collect::<Result<_, IngestError>>()?;
        let settings = Settings {
            max_line_bytes: config.max_line_bytes,
            start_at: config.start_at,
            poll_interval: Duration::from_millis(config.poll_interval_ms),
            batch_max_events: config.batch_max_events,
            batch_max_wait: Duration::from_millis(config.batch_max_wait_ms),
        };
        Ok(FileTailer {
            groups,
            start,
            settings,
        })
    }

    /// Runs until `cancel` fires or the receiver is dropped, sending batches into `batches`
    /// (waiting while it is full, never dropping). A batch not yet sent when `cancel` fires is
    /// dropped; its lines are read again after a restart from the last sent checkpoint.
    pub async fn run(
        self,
        batches: Sender<Batch>,
        cancel: CancellationToken,
    ) -> Result<(), IngestError> {
        let (wake_sender, wake_receiver) = std::sync::mpsc::sync_channel::<()>(1);
        let rescan = Arc::new(AtomicBool::new(false));
        let handle = Handle::current();
        let thread_cancel = cancel.clone();
        let thread_wake = wake_sender.clone();
        let thread_rescan = Arc::clone(&rescan);
        let mut task = tokio::task::spawn_blocking(move || {
            let watcher = start_watcher(&self.groups, thread_wake, thread_rescan);
            let output = Output {
                builder: BatchBuilder::new(self.settings.max_line_bytes),
                batches,
                cancel: thread_cancel,
                handle,
                stopped: false,
                dirty: false,
                pending_since: None,
                batch_max_events: self.settings.batch_max_events,
            };
            let mut tailer = Tailer::new(self.groups, self.settings, &self.start, output);
            tailer.run(&wake_receiver, &rescan, watcher)
        });
        let joined = tokio::select! {
            joined = &mut task => joined,
            () = cancel.cancelled() => {
                let _ = wake_sender.try_send(());
                task.await
            }
        };
        joined.map_err(|error| IngestError::TailerThread {
            reason: error.to_string(),
        })?
    }
}

/// Starts watching the directories of all patterns; on failure the tailer only polls.
fn start_watcher(
    groups: &[Group],
    wake: SyncSender<()>,
    rescan: Arc<AtomicBool>,
) -> Option<notify::RecommendedWatcher> {
    let handler = move |result: notify::Result<notify::Event>| {
        use notify::EventKind;
        use notify::event::ModifyKind;
        let structural = match &result {
            // Our own reads show up as accesses: waking for them would loop.
            Ok(event) if matches!(event.kind, EventKind::Access(_)) => return,
            Ok(event) => matches!(
                event.kind,
                EventKind::Create(_)
                    | EventKind::Remove(_)
                    | EventKind::Modify(ModifyKind::Name(_))
                    | EventKind::Any
            ),
            Err(_) => true,
        };
        if structural {
            rescan.store(true, Ordering::Relaxed);
        }
        match wake.try_send(()) {
            Ok(()) | Err(TrySendError::Full(())) | Err(TrySendError::Disconnected(())) => {}
        }
    };
    let mut watcher = match notify::recommended_watcher(handler) {
        Ok(watcher) => watcher,
        Err(source) => {
            let error = IngestError::StartWatcher { source };
            warn!(%error, "file events unavailable, polling only");
            return None;
        }
    };
    for pattern in groups.iter().flat_map(|group| &group.patterns) {
        let (dir, recursive) = pattern.watch_target();
        let mode = if recursive {
            notify::RecursiveMode::Recursive
        } else {
            notify::RecursiveMode::NonRecursive
        };
        if let Err(error) = watcher.watch(&dir, mode) {
            warn!(dir = %dir.display(), %error, "cannot watch directory, polling it");
        }
    }
    Some(watcher)
}

type FileKey = (u64, u64);

/// What an open plain file is to the tailer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// First line not complete yet: not identified, nothing read.
    Pending,
    /// Read and tracked under its fingerprint.
    Owner,
    /// Same fingerprint as a file read elsewhere (a copy): not read while that one is.
    Shadow,
}

/// An open plain file.
#[derive(Debug)]
struct Reader {
    path: PathBuf,
    source: String,
    group: usize,
    key: FileKey,
    file: File,
    splitter: LineSplitter,
    fingerprint: Option<Fingerprint>,
    role: Role,
    /// Renamed, or its path no longer leads to it: no writer is expected to append to it.
    rotated: bool,
    /// The path no longer leads to it and no scan found it elsewhere (rotated away, deleted).
    detached: bool,
    /// The file's size when last looked at, and since when it has not changed.
    last_size: u64,
    unchanged_since: Instant,
    last_seen_scan: u64,
}

/// A known fingerprint and how far its content has been read.
#[derive(Debug)]
struct Entry {
    position: FilePosition,
    /// The open reader that reads this content now.
    owner: Option<FileKey>,
    last_seen: Instant,
}

/// A gzip file read to its end (or skipped), remembered to avoid decompressing it again.
#[derive(Debug, Clone, PartialEq, Eq)]
struct GzSeen {
    size: u64,
    modified: Option<SystemTime>,
    fingerprint: Option<String>,
    /// The last rescan that found it: forgotten once a rescan does not.
    last_seen_scan: u64,
}

/// Where batches go.
struct Output {
    builder: BatchBuilder,
    batches: Sender<Batch>,
    cancel: CancellationToken,
    handle: Handle,
    /// Cancelled or the receiver is gone: stop.
    stopped: bool,
    /// Positions changed since the last batch.
    dirty: bool,
    pending_since: Option<Instant>,
    batch_max_events: usize,
}

impl Output {
    fn add(&mut self, item: &LineItem<'_>, source: &str, options: &DecodeOptions) {
        self.builder.add(item, source, options);
        self.mark_dirty();
    }

    fn mark_dirty(&mut self) {
        self.dirty = true;
        self.pending_since.get_or_insert_with(Instant::now);
    }

    fn full(&self) -> bool {
        self.builder.event_count() >= self.batch_max_events
    }

    /// Sends what was collected with a snapshot of `entries`; waits while the channel is full.
    fn flush(&mut self, entries: &HashMap<String, Entry>) {
        if self.stopped || (!self.dirty && self.builder.is_empty()) {
            return;
        }
        let checkpoint = snapshot(entries);
        let batch = self.builder.take(checkpoint);
        self.dirty = false;
        self.pending_since = None;
        let batches = &self.batches;
        let cancel = &self.cancel;
        let sent = self.handle.block_on(async {
            tokio::select! {
                biased;
                () = cancel.cancelled() => false,
                sent = batches.send(batch) => sent.is_ok(),
            }
        });
        if !sent {
            debug!("file tailer stopping: cancelled or receiver closed");
            self.stopped = true;
        }
    }
}

fn snapshot(entries: &HashMap<String, Entry>) -> Checkpoint {
    Checkpoint {
        positions: entries
            .iter()
            .map(|(fingerprint, entry)| {
                (
                    fingerprint.clone(),
                    SourcePosition::File(entry.position.clone()),
                )
            })
            .collect(),
    }
}

/// The state of the tailer thread.
struct Tailer {
    groups: Vec<Group>,
    settings: Settings,
    readers: HashMap<FileKey, Reader>,
    entries: HashMap<String, Entry>,
    gz_seen: HashMap<FileKey, GzSeen>,
    output: Output,
    scans: u64,
    buffer: Vec<u8>,
}

impl Tailer {
    fn new(groups: Vec<Group>, settings: Settings, start: &Checkpoint, output: Output) -> Tailer {
        let entries = start
            .file_positions()
            .map(|position| {
                let entry = Entry {
                    position: position.clone(),
                    owner: None,
                    last_seen: Instant::now(),
                };
                (position.fingerprint.clone(), entry)
            })
            .collect();
        Tailer {
            groups,
            settings,
            readers: HashMap::new(),
            entries,
            gz_seen: HashMap::new(),
            output,
            scans: 0,
            buffer: vec![0; CHUNK_BYTES],
        }
    }

    fn run(
        &mut self,
        wake: &Receiver<()>,
        rescan: &AtomicBool,
        _watcher: Option<notify::RecommendedWatcher>,
    ) -> Result<(), IngestError> {
        let mut last_scan: Option<Instant> = None;
        loop {
            if self.output.cancel.is_cancelled() || self.output.stopped {
                return Ok(());
            }
            let scan_due = last_scan.is_none_or(|at| at.elapsed() >= self.settings.poll_interval);
            if scan_due || rescan.swap(false, Ordering::Relaxed) {
                self.scan();
                last_scan = Some(Instant::now());
            }
            self.read_all();
            if self.output.stopped {
                return Ok(());
            }
            let now = Instant::now();
            if self
                .output
                .pending_since
                .is_some_and(|since| now.duration_since(since) >= self.settings.batch_max_wait)
            {
                self.output.flush(&self.entries);
            }
            let mut timeout = last_scan.map_or(Duration::ZERO, |at| {
                self.settings.poll_interval.saturating_sub(at.elapsed())
            });
            if let Some(since) = self.output.pending_since {
                timeout = timeout.min(self.settings.batch_max_wait.saturating_sub(since.elapsed()));
            }
            match wake.recv_timeout(timeout) {
                Ok(()) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => std::thread::sleep(timeout),
            }
        }
    }

    /// Rescans all patterns: finds new files, renames, rotations and gzip backups.
    fn scan(&mut self) {
        self.scans += 1;
        let scan = self.scans;
        let mut found: Vec<(PathBuf, usize)> = Vec::new();
        for (index, group) in self.groups.iter().enumerate() {
            let mut paths = Vec::new();
            for pattern in &group.patterns {
                pattern.scan(&mut paths);
            }
            found.extend(paths.into_iter().map(|path| (path, index)));
        }
        let mut visited = std::collections::HashSet::new();
        for (path, group) in found {
            if !visited.insert(path.clone()) {
                continue;
            }
            if let Err(error) = self.discover(&path, group, scan) {
                debug!(path = %path.display(), %error, "file not readable now");
            }
        }
        // Open files whose path leads elsewhere now were rotated away or deleted.
        for reader in self.readers.values_mut() {
            let same = reader.last_seen_scan == scan
                || std::fs::metadata(&reader.path)
                    .is_ok_and(|metadata| (metadata.dev(), metadata.ino()) == reader.key);
            if same {
                reader.detached = false;
                reader.last_seen_scan = scan;
                continue;
            }
            if !reader.detached {
                info!(path = %reader.path.display(), offset = reader.splitter.consumed(), "file rotated away or deleted, draining it");
            }
            reader.detached = true;
            reader.rotated = true;
        }
        for reader in self.readers.values() {
            if let Some(fingerprint) = &reader.fingerprint
                && let Some(entry) = self.entries.get_mut(&fingerprint.hex)
            {
                entry.last_seen = Instant::now();
            }
        }
        let before = self.entries.len();
        let prune_after = MIN_PRUNE_AFTER.max(self.settings.poll_interval * 20);
        self.entries
            .retain(|_, entry| entry.owner.is_some() || entry.last_seen.elapsed() < prune_after);
        if self.entries.len() != before {
            debug!(
                pruned = before - self.entries.len(),
                "forgot positions of files gone"
            );
            self.output.mark_dirty();
        }
        self.gz_seen.retain(|_, seen| seen.last_seen_scan == scan);
    }

    /// Looks at one path found by a scan.
    fn discover(&mut self, path: &Path, group: usize, scan: u64) -> io::Result<()> {
        let metadata = std::fs::metadata(path)?;
        let key = (metadata.dev(), metadata.ino());
        if let Some(reader) = self.readers.get_mut(&key) {
            if reader.path != path && reader.last_seen_scan != scan {
                info!(from = %reader.path.display(), to = %path.display(), "file renamed");
                reader.rotated = true;
                reader.path = path.to_path_buf();
                reader.source = path.display().to_string();
                if let Some(fingerprint) = &reader.fingerprint
                    && let Some(entry) = self.entries.get_mut(&fingerprint.hex)
                    && entry.owner == Some(key)
                {
                    entry.position.path = reader.source.clone();
                    self.output.mark_dirty();
                }
            }
            reader.last_seen_scan = scan;
            return Ok(());
        }
        let seen = GzSeen {
            size: metadata.len(),
            modified: metadata.modified().ok(),
            fingerprint: None,
            last_seen_scan: scan,
        };
        if let Some(known) = self.gz_seen.get_mut(&key)
            && known.size == seen.size
            && known.modified == seen.modified
        {
            known.last_seen_scan = scan;
            if let Some(entry) = known
                .fingerprint
                .as_ref()
                .and_then(|fingerprint| self.entries.get_mut(fingerprint))
            {
                entry.last_seen = Instant::now();
            }
            return Ok(());
        }
        let file = File::open(path)?;
        if is_gzip(&file)? {
            return self.read_gzip(path, group, file, key, seen);
        }
        let source = path.display().to_string();
        debug!(path = %source, "new file");
        self.readers.insert(
            key,
            Reader {
                path: path.to_path_buf(),
                source,
                group,
                key,
                file,
                splitter: LineSplitter::new(0, self.settings.max_line_bytes),
                fingerprint: None,
                role: Role::Pending,
                rotated: false,
                detached: false,
                last_size: metadata.len(),
                unchanged_since: Instant::now(),
                last_seen_scan: scan,
            },
        );
        Ok(())
    }

    /// Checks every open file for truncation and reads whatever is new in it.
    fn read_all(&mut self) {
        let keys: Vec<FileKey> = self.readers.keys().copied().collect();
        for key in keys {
            if let Err(error) = self.read_one(key) {
                let path = self
                    .readers
                    .get(&key)
                    .map(|reader| reader.path.clone())
                    .unwrap_or_default();
                warn!(path = %path.display(), %error, "reading file failed, retrying later");
            }
            if self.output.stopped {
                return;
            }
        }
    }

    fn read_one(&mut self, key: FileKey) -> io::Result<()> {
        let settle = MIN_SETTLE.max(self.settings.poll_interval * 4);
        let Some(reader) = self.readers.get_mut(&key) else {
            return Ok(());
        };
        let size = reader.file.metadata()?.len();
        if size != reader.last_size {
            reader.last_size = size;
            reader.unchanged_since = Instant::now();
        }
        let settled = reader.rotated && reader.unchanged_since.elapsed() >= settle;
        let detached = reader.detached;
        if reader.role != Role::Shadow && reader.role != Role::Pending {
            // A size below what was read, or a first line that changed (truncated and
            // rewritten past the old size between two looks).
            let truncated = size < reader.splitter.fed()
                || !prefix_unchanged(&reader.file, reader.fingerprint.as_ref())?;
            if truncated {
                warn!(path = %reader.path.display(), offset = reader.splitter.fed(), size, "file truncated, reading it again from the start");
                if let Some(fingerprint) = reader.fingerprint.take()
                    && let Some(entry) = self.entries.get_mut(&fingerprint.hex)
                    && entry.owner == Some(key)
                {
                    entry.owner = None;
                }
                reader.role = Role::Pending;
                reader.splitter.reset(0);
            }
        }
        if reader.role == Role::Pending && is_gzip(&reader.file)? {
            // Seen while still empty: it is a gzip file being written. The next scan reads it
            // as one.
            debug!(path = %reader.path.display(), "new file turned out to be gzip");
            self.readers.remove(&key);
            return Ok(());
        }
        if reader.role != Role::Owner {
            self.identify(key, size, settled)?;
        }
        let Some(reader) = self.readers.get_mut(&key) else {
            return Ok(());
        };
        if reader.role != Role::Owner {
            if detached && settled {
                debug!(path = %reader.path.display(), "closing rotated file not read here");
                self.readers.remove(&key);
            }
            return Ok(());
        }
        self.read_plain(key)?;
        if settled {
            self.finish_plain(key, detached);
        }
        Ok(())
    }

    /// Gives a pending or shadow file its fingerprint and decides where to read it from.
    fn identify(&mut self, key: FileKey, size: u64, at_end: bool) -> io::Result<()> {
        let initial = self.scans <= 1;
        let Some(reader) = self.readers.get_mut(&key) else {
            return Ok(());
        };
        let fingerprint = match &reader.fingerprint {
            Some(fingerprint) => fingerprint.clone(),
            None => match plain_fingerprint(&reader.file, at_end)? {
                Some(fingerprint) => fingerprint,
                None => return Ok(()),
            },
        };
        let owner_elsewhere = self
            .entries
            .get(&fingerprint.hex)
            .and_then(|entry| entry.owner)
            .filter(|owner| *owner != key && self.readers.contains_key(owner));
        let reader = self.readers.get_mut(&key).expect("reader looked up above");
        reader.fingerprint = Some(fingerprint.clone());
        if owner_elsewhere.is_some() {
            if reader.role != Role::Shadow {
                info!(path = %reader.path.display(), fingerprint = %fingerprint.hex, "file is a copy of one being read, not reading it");
                reader.role = Role::Shadow;
            }
            return Ok(());
        }
        let position = FilePosition {
            path: reader.source.clone(),
            dev: key.0,
            inode: key.1,
            fingerprint: fingerprint.hex.clone(),
            offset: 0,
            compressed: false,
        };
        let start = match self.entries.get_mut(&fingerprint.hex) {
            Some(entry) => {
                if size < entry.position.offset {
                    if reader.role != Role::Shadow {
                        info!(path = %reader.path.display(), size, offset = entry.position.offset, "file is an older copy of one already read, not reading it");
                        reader.role = Role::Shadow;
                    }
                    return Ok(());
                }
                let offset = entry.position.offset;
                info!(path = %reader.path.display(), offset, "resuming file");
                entry.position = FilePosition { offset, ..position };
                entry.owner = Some(key);
                offset
            }
            None => {
                let offset = if initial && self.settings.start_at == StartAt::End {
                    last_line_boundary(&reader.file, size)?
                } else {
                    0
                };
                debug!(path = %reader.path.display(), offset, fingerprint = %fingerprint.hex, "reading new file");
                self.entries.insert(
                    fingerprint.hex.clone(),
                    Entry {
                        position: FilePosition { offset, ..position },
                        owner: Some(key),
                        last_seen: Instant::now(),
                    },
                );
                offset
            }
        };
        reader.role = Role::Owner;
        reader.splitter.reset(start);
        self.output.mark_dirty();
        Ok(())
    }

    /// Reads an owned plain file up to its end; returns the bytes read.
    fn read_plain(&mut self, key: FileKey) -> io::Result<u64> {
        let Tailer {
            readers,
            entries,
            output,
            groups,
            buffer,
            ..
        } = self;
        let Some(reader) = readers.get_mut(&key) else {
            return Ok(0);
        };
        let Some(fingerprint) = reader
            .fingerprint
            .as_ref()
            .map(|fingerprint| fingerprint.hex.clone())
        else {
            return Ok(0);
        };
        let options = &groups[reader.group].options;
        let mut total = 0u64;
        loop {
            let read = read_full_at(&reader.file, buffer, reader.splitter.fed())?;
            if read == 0 {
                return Ok(total);
            }
            total += read as u64;
            let source = &reader.source;
            reader.splitter.push(&buffer[..read], &mut |item| {
                output.add(&item, source, options);
                if let Some(entry) = entries.get_mut(&fingerprint) {
                    entry.position.offset = item.end();
                }
                if output.full() {
                    output.flush(entries);
                }
            });
            if output.stopped || read < buffer.len() {
                return Ok(total);
            }
        }
    }

    /// A rotated file is complete: take its last unterminated line, and close it if its path
    /// no longer leads to it.
    fn finish_plain(&mut self, key: FileKey, close: bool) {
        let Tailer {
            readers,
            entries,
            output,
            groups,
            ..
        } = self;
        let Some(reader) = readers.get_mut(&key) else {
            return;
        };
        let options = &groups[reader.group].options;
        let fingerprint = reader
            .fingerprint
            .as_ref()
            .map(|fingerprint| fingerprint.hex.clone())
            .unwrap_or_default();
        let source = &reader.source;
        reader.splitter.finish(&mut |item| {
            output.add(&item, source, options);
            if let Some(entry) = entries.get_mut(&fingerprint) {
                entry.position.offset = item.end();
            }
        });
        if close {
            info!(path = %reader.path.display(), offset = reader.splitter.consumed(), "rotated file read to its end, closed");
            if let Some(entry) = entries.get_mut(&fingerprint)
                && entry.owner == Some(key)
            {
                entry.owner = None;
            }
            readers.remove(&key);
        }
    }

    /// Reads a gzip file from the position of its fingerprint, unless a plain file with the
    /// same content is still open (then it is looked at again on the next scan).
    fn read_gzip(
        &mut self,
        path: &Path,
        group: usize,
        file: File,
        key: FileKey,
        mut seen: GzSeen,
    ) -> io::Result<()> {
        let Some(fingerprint) = gzip_fingerprint(&file)? else {
            debug!(path = %path.display(), "gzip file without a complete first line yet");
            return Ok(());
        };
        let source = path.display().to_string();
        let start = match self.entries.get_mut(&fingerprint.hex) {
            Some(entry) => {
                entry.last_seen = Instant::now();
                if entry
                    .owner
                    .is_some_and(|owner| self.readers.contains_key(&owner))
                {
                    return Ok(());
                }
                entry.position.offset
            }
            None if self.scans <= 1 && self.settings.start_at == StartAt::End => {
                self.gz_seen.insert(key, seen);
                return Ok(());
            }
            None => 0,
        };
        seen.fingerprint = Some(fingerprint.hex.clone());
        let position = FilePosition {
            path: source.clone(),
            dev: key.0,
            inode: key.1,
            fingerprint: fingerprint.hex.clone(),
            offset: start,
            compressed: true,
        };
        if start > 0 && gzip_size_trailer(&file, seen.size)? == Some(start as u32) {
            // The trailer's length says the position is the end: nothing new to decompress.
            info!(path = %source, offset = start, "gzip file already read as a plain file");
            self.track_gzip(position);
            self.gz_seen.insert(key, seen);
            return Ok(());
        }
        let mut stream =
            flate2::read::MultiGzDecoder::new(io::BufReader::new(ReadAt::new(&file, 0)));
        match io::copy(
            &mut io::Read::take(io::Read::by_ref(&mut stream), start),
            &mut io::sink(),
        ) {
            Ok(skipped) if skipped == start => {}
            Ok(_) => {
                debug!(path = %source, start, "gzip file shorter than its position, waiting");
                return Ok(());
            }
            Err(error) if is_corrupt_gzip(&error) => return Ok(()),
            Err(error) => return Err(error),
        }
        info!(path = %source, offset = start, "reading gzip file");
        self.track_gzip(position);
        let Tailer {
            entries,
            output,
            groups,
            buffer,
            ..
        } = self;
        let options = &groups[group].options;
        let mut splitter = LineSplitter::new(start, self.settings.max_line_bytes);
        let fingerprint = fingerprint.hex;
        loop {
            let mut sink = |item: LineItem<'_>| {
                output.add(&item, &source, options);
                if let Some(entry) = entries.get_mut(&fingerprint) {
                    entry.position.offset = item.end();
                }
                if output.full() {
                    output.flush(entries);
                }
            };
            match read_some(&mut stream, buffer) {
                Ok(0) => {
                    splitter.finish(&mut sink);
                    break;
                }
                Ok(read) => splitter.push(&buffer[..read], &mut sink),
                Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => {
                    debug!(path = %source, offset = splitter.consumed(), "gzip file still being written, continuing later");
                    return Ok(());
                }
                Err(error) if is_corrupt_gzip(&error) => {
                    let offset = splitter.fed();
                    let reason = format!("broken gzip stream: {error}");
                    warn!(source, offset, %reason, "dead letter: gzip stream broken");
                    output.builder.push_dead_letter(DeadLetter {
                        time: now_rfc3339(),
                        source: source.clone(),
                        offset,
                        length: 0,
                        reason,
                        excerpt: None,
                    });
                    output.mark_dirty();
                    break;
                }
                Err(error) => return Err(error),
            }
            if output.stopped {
                return Ok(());
            }
        }
        self.gz_seen.insert(key, seen);
        Ok(())
    }
}

impl Tailer {
    /// Records that `position` (a gzip file) now stands for its fingerprint's content.
    fn track_gzip(&mut self, position: FilePosition) {
        let entry = self
            .entries
            .entry(position.fingerprint.clone())
            .or_insert(Entry {
                position: position.clone(),
                owner: None,
                last_seen: Instant::now(),
            });
        if entry.position != position {
            entry.position = position;
            self.output.mark_dirty();
        }
    }
}

/// Whether the first bytes of an open file still hash to its fingerprint.
fn prefix_unchanged(file: &File, fingerprint: Option<&Fingerprint>) -> io::Result<bool> {
    let Some(fingerprint) = fingerprint else {
        return Ok(true);
    };
    let mut prefix = vec![0u8; fingerprint.len];
    let read = read_full_at(file, &mut prefix, 0)?;
    Ok(read == fingerprint.len
        && crate::fingerprint::fingerprint(&prefix, true).as_ref() == Some(fingerprint))
}

/// The offset just after the last `\n` of the first `size` bytes (0 if there is none).
fn last_line_boundary(file: &File, size: u64) -> io::Result<u64> {
    let mut buffer = vec![0u8; 64 * 1024];
    let mut end = size;
    while end > 0 {
        let start = end.saturating_sub(buffer.len() as u64);
        let chunk = &mut buffer[..(end - start) as usize];
        file.read_exact_at(chunk, start)?;
        if let Some(index) = memchr::memrchr(b'\n', chunk) {
            return Ok(start + index as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// The uncompressed length (mod 2^32) a gzip file's last member declares in its trailer.
fn gzip_size_trailer(file: &File, size: u64) -> io::Result<Option<u32>> {
    if size < 18 {
        return Ok(None);
    }
    let mut trailer = [0u8; 4];
    file.read_exact_at(&mut trailer, size - 4)?;
    Ok(Some(u32::from_le_bytes(trailer)))
}
