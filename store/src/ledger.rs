//! The ledger: a hash chain of every commit, kept for the data directory's whole life.
//!
//! Commit records (`_commits/`) are pruned after a few commits and hold the caller's resume
//! state; the ledger keeps what integrity needs, forever and small: one JSON line per commit
//! under `_ledger/<first seq:020>.jsonl`, naming every file the commit added (with its SHA-256
//! and size) and every file it removed (retention), and the SHA-256 of the previous line.
//!
//! ```text
//! {"seq":42,"kind":"commit","committed_at":"…","prev":"<sha256 of line 41>","added":[{"path":"events/date=…/hour=…/part-…-0000.parquet","bytes":81234,"sha256":"…"}]}
//! {"seq":43,"kind":"retention","committed_at":"…","prev":"<sha256 of line 42>","reason":"…","removed":["events/date=…/hour=…/part-….parquet"]}
//! ```
//!
//! Invariants:
//! - A line is derived from its commit record alone, so the record (published atomically with
//!   the files) is the write-ahead copy of the line: the line is appended when the commit
//!   finishes, and on open for every retained record the ledger does not hold yet (records are
//!   pruned only after their line is durable). A torn last line (a crash mid-append) is cut off
//!   on open and written again from its record.
//! - `prev` of the first line is [`GENESIS`]; of every other line, the SHA-256 (lowercase hex)
//!   of the bytes of the line before it, without its newline. Sequence numbers follow each
//!   other without gaps: a deletion by policy is a line of its own, told apart from a deletion
//!   by someone, which no line explains.
//! - Segments are named by the seq of their first line and hold whole lines; a new one starts
//!   when the current one passes [`SEGMENT_BYTES`].

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::StoreError;
use crate::files;

/// Directory of the ledger under the data directory.
pub const LEDGER_DIR: &str = "_ledger";
/// `prev` of the first line of a ledger.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// A segment past this size is closed; the next line starts a new one.
pub const SEGMENT_BYTES: u64 = 64 << 20;

/// What a commit did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommitKind {
    /// Rows written by the pipeline (events, alerts, dead letters) with the resume state.
    #[default]
    Commit,
    /// Files deleted by a retention policy; `reason` names it.
    Retention,
    /// Files written before this data directory had a ledger, taken in as they were found.
    Adopt,
    /// Small files of a partition merged into one: the rows are the same, only the files
    /// holding them changed (see [`crate::compaction`]).
    Compaction,
}

/// One file a ledger line adds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerFile {
    /// Path under the data directory, `/`-separated: `events/date=…/hour=…/part-….parquet`.
    pub path: String,
    pub bytes: u64,
    /// SHA-256 of the file's contents, lowercase hex.
    pub sha256: String,
    /// In the bucket (see [`crate::remote`]), at the same path under its prefix.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub remote: bool,
}

/// One line of the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerEntry {
    pub seq: u64,
    pub kind: CommitKind,
    pub committed_at: String,
    /// SHA-256 of the previous line, or [`GENESIS`].
    pub prev: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub added: Vec<LedgerFile>,
    /// Paths (as in `added`) this commit deleted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<String>,
}

impl LedgerEntry {
    /// The line's bytes, without the newline.
    pub fn line(&self) -> String {
        serde_json::to_string(self).expect("a ledger entry always serialises")
    }
}

/// A position in the chain: a line's seq and its SHA-256. `verify` prints the newest one;
/// kept elsewhere (a ticket, a WORM bucket), it proves later that history up to it was not
/// rewritten, and lets `verify --since` hash only the files added after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub seq: u64,
    pub sha256: String,
}

impl std::fmt::Display for Head {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}:{}", self.seq, self.sha256)
    }
}

impl std::str::FromStr for Head {
    type Err = String;

    fn from_str(text: &str) -> Result<Head, String> {
        let (seq, sha256) = text
            .split_once(':')
            .ok_or_else(|| format!("expected SEQ:SHA256, got {text:?}"))?;
        let seq = seq
            .parse()
            .map_err(|_| format!("the seq of {text:?} is not a number"))?;
        if sha256.len() != 64 || !sha256.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            return Err(format!("the hash of {text:?} is not 64 hex digits"));
        }
        Ok(Head {
            seq,
            sha256: sha256.to_ascii_lowercase(),
        })
    }
}

/// SHA-256 of `bytes`, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

/// SHA-256 of the file at `path`, lowercase hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut hashing = HashingWriter::new(std::io::sink());
    std::io::copy(&mut File::open(path)?, &mut hashing)?;
    Ok(hashing.finish().1)
}

/// A writer that hashes (SHA-256) what goes through it, so a file is hashed as it is written
/// rather than read back.
pub(crate) struct HashingWriter<W> {
    inner: W,
    context: ring::digest::Context,
}

impl<W: Write> HashingWriter<W> {
    pub(crate) fn new(inner: W) -> HashingWriter<W> {
        HashingWriter {
            inner,
            context: ring::digest::Context::new(&ring::digest::SHA256),
        }
    }

    /// The inner writer and the SHA-256 (lowercase hex) of everything written.
    pub(crate) fn finish(self) -> (W, String) {
        (self.inner, hex(self.context.finish().as_ref()))
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.context.update(&buf[..written]);
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, byte| {
            let _ = write!(out, "{byte:02x}");
            out
        })
}

/// The segments of the ledger in `data_dir`, oldest first, as `(first seq, path)`.
pub fn segments(data_dir: &Path) -> Result<Vec<(u64, PathBuf)>, StoreError> {
    let mut segments: Vec<(u64, PathBuf)> = files::list_dir(&data_dir.join(LEDGER_DIR))?
        .into_iter()
        .filter(|(_, _, is_dir)| !is_dir)
        .filter_map(|(path, name, _)| segment_seq(&name).map(|seq| (seq, path)))
        .collect();
    segments.sort();
    Ok(segments)
}

/// The lines after `seq`, oldest first, skipping segments that end at or before it. A line
/// that does not parse ends the read (`verify` reports it).
pub fn entries_after(data_dir: &Path, seq: u64) -> Result<Vec<LedgerEntry>, StoreError> {
    let segments = segments(data_dir)?;
    let mut entries = Vec::new();
    for (index, (_, path)) in segments.iter().enumerate() {
        if segments
            .get(index + 1)
            .is_some_and(|(next_first, _)| *next_first <= seq + 1)
        {
            continue;
        }
        for line in read(path)?.lines() {
            let Ok(entry) = serde_json::from_str::<LedgerEntry>(line) else {
                return Ok(entries);
            };
            if entry.seq > seq {
                entries.push(entry);
            }
        }
    }
    Ok(entries)
}

fn segment_seq(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".jsonl")?;
    (digits.len() == 20 && digits.bytes().all(|byte| byte.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// The writer's end of the ledger: where the chain stands and where the next line goes.
#[derive(Debug)]
pub(crate) struct Ledger {
    dir: PathBuf,
    head: Option<Head>,
    /// The segment lines are appended to and its size.
    segment: Option<(PathBuf, u64)>,
}

impl Ledger {
    /// Opens the ledger of `data_dir` (creating its directory), cutting off a torn last line.
    pub(crate) fn open(data_dir: &Path) -> Result<Ledger, StoreError> {
        let dir = data_dir.join(LEDGER_DIR);
        files::create_dir_durable(data_dir, &dir)?;
        let mut ledger = Ledger {
            dir,
            head: None,
            segment: None,
        };
        let mut segments = segments(data_dir)?;
        while let Some((_, path)) = segments.pop() {
            let mut text = read(&path)?;
            if !text.is_empty() && !text.ends_with('\n') {
                let keep = text.rfind('\n').map_or(0, |end| end + 1);
                warn!(path = %path.display(), cut = text.len() - keep, "ledger ends in a torn line (a crash mid-append); cutting it off, its commit record writes it again");
                truncate(&path, keep as u64)?;
                text.truncate(keep);
            }
            let Some(last) = text.lines().last() else {
                // An empty segment (a crash right after creating it) holds nothing.
                files::remove_file(&path)?;
                continue;
            };
            let entry: LedgerEntry =
                serde_json::from_str(last).map_err(|error| StoreError::CorruptLedger {
                    path: path.clone(),
                    reason: format!("its last line does not parse: {error}"),
                })?;
            ledger.head = Some(Head {
                seq: entry.seq,
                sha256: sha256_hex(last.as_bytes()),
            });
            ledger.segment = Some((path, text.len() as u64));
            break;
        }
        Ok(ledger)
    }

    /// The newest line's position, `None` for an empty ledger.
    pub(crate) fn head(&self) -> Option<&Head> {
        self.head.as_ref()
    }

    /// `prev` of the next line.
    pub(crate) fn prev(&self) -> &str {
        self.head.as_ref().map_or(GENESIS, |head| &head.sha256)
    }

    /// Appends `entry` durably, unless the ledger already holds its seq (a commit finished
    /// again after a crash).
    pub(crate) fn append(&mut self, entry: &LedgerEntry) -> Result<(), StoreError> {
        if self.head.as_ref().is_some_and(|head| head.seq >= entry.seq) {
            return Ok(());
        }
        let line = entry.line();
        let (path, size) = match self.segment.take() {
            Some((path, size)) if size < SEGMENT_BYTES => (path, size),
            _ => (self.dir.join(format!("{:020}.jsonl", entry.seq)), 0),
        };
        let write_error = |source| StoreError::WriteFile {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(write_error)?;
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        file.write_all(&bytes).map_err(write_error)?;
        file.sync_data().map_err(|source| StoreError::Sync {
            path: path.clone(),
            source,
        })?;
        if size == 0 {
            files::sync_dir(&self.dir)?;
        }
        self.head = Some(Head {
            seq: entry.seq,
            sha256: sha256_hex(line.as_bytes()),
        });
        self.segment = Some((path, size + bytes.len() as u64));
        Ok(())
    }
}

fn read(path: &Path) -> Result<String, StoreError> {
    fs::read_to_string(path).map_err(|source| StoreError::ReadLedger {
        path: path.to_owned(),
        source,
    })
}

fn truncate(path: &Path, len: u64) -> Result<(), StoreError> {
    let write_error = |source| StoreError::WriteFile {
        path: path.to_owned(),
        source,
    };
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(write_error)?;
    file.set_len(len).map_err(write_error)?;
    file.sync_all().map_err(|source| StoreError::Sync {
        path: path.to_owned(),
        source,
    })
}
