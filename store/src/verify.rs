//! `kubetrail verify`: checks a data directory against its ledger, read-only.
//!
//! 1. The chain: every ledger line parses, sequence numbers follow each other from the first
//!    line, each `prev` is the SHA-256 of the line before it (the first line's is
//!    [`GENESIS`](crate::ledger::GENESIS)), and every retained commit record agrees with its
//!    line. A record the ledger does not hold means the ledger was cut short.
//! 2. The files: replaying the lines (files added, files removed by retention) gives the files
//!    that must exist, with size and SHA-256. Each is looked for and hashed; every other file
//!    in the tables is unexpected.
//!
//! With a recorded head (`--since SEQ:SHA256`, printed by an earlier run), the chain must
//! still hold that line unchanged, and only the files added after it are hashed; older ones
//! are checked for presence and size. That makes a daily check cost the day's data, not the
//! year's.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::StoreError;
use crate::commit::{ALERTS_DIR, COMMITS_DIR, DEAD_LETTERS_DIR, EVENTS_DIR};
use crate::files;
use crate::ledger::{self, GENESIS, Head, LedgerEntry};

/// How to verify.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// A head recorded earlier: the chain must hold it, and files committed up to it are not
    /// hashed again.
    pub since: Option<Head>,
    /// Threads hashing files; 0 for one per CPU.
    pub threads: usize,
}

/// One thing wrong with a data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A committed file is gone, and no retention line removed it.
    Missing { path: String, seq: u64 },
    /// A committed file's contents changed.
    Altered {
        path: String,
        seq: u64,
        expected: String,
        found: String,
    },
    /// A committed file's size changed.
    Resized {
        path: String,
        seq: u64,
        expected: u64,
        found: u64,
    },
    /// A file in the tables that no ledger line added.
    Unexpected { path: String, bytes: u64 },
    /// The chain does not hold together at this line.
    BrokenChain {
        segment: String,
        seq: Option<u64>,
        reason: String,
    },
    /// The ledger ends before the newest commit: lines were cut off.
    Truncated {
        ledger_ends_at: u64,
        newest_commit: u64,
    },
    /// A retained commit record disagrees with its ledger line.
    RecordMismatch { seq: u64 },
    /// The recorded head is not in the chain as recorded.
    HeadMismatch { head: Head, found: Option<String> },
}

impl fmt::Display for Problem {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Missing { path, seq } => {
                write!(formatter, "missing {path} (committed in seq {seq})")
            }
            Problem::Altered {
                path,
                seq,
                expected,
                found,
            } => write!(
                formatter,
                "altered {path} (committed in seq {seq}): sha256 {found}, the ledger says {expected}"
            ),
            Problem::Resized {
                path,
                seq,
                expected,
                found,
            } => write!(
                formatter,
                "altered {path} (committed in seq {seq}): {found} bytes, the ledger says {expected}"
            ),
            Problem::Unexpected { path, bytes } => write!(
                formatter,
                "unexpected {path} ({bytes} bytes): no commit added it"
            ),
            Problem::BrokenChain {
                segment,
                seq: Some(seq),
                reason,
            } => write!(
                formatter,
                "broken chain in _ledger/{segment} at seq {seq}: {reason}"
            ),
            Problem::BrokenChain {
                segment,
                seq: None,
                reason,
            } => write!(formatter, "broken chain in _ledger/{segment}: {reason}"),
            Problem::Truncated {
                ledger_ends_at,
                newest_commit,
            } => write!(
                formatter,
                "truncated chain: the ledger ends at seq {ledger_ends_at} but commit {newest_commit} exists"
            ),
            Problem::RecordMismatch { seq } => write!(
                formatter,
                "commit record {seq} disagrees with its ledger line (one of them was changed)"
            ),
            Problem::HeadMismatch {
                head,
                found: Some(found),
            } => write!(
                formatter,
                "recorded head {head} is not in the chain: seq {} hashes to {found} (history was rewritten)",
                head.seq
            ),
            Problem::HeadMismatch { head, found: None } => write!(
                formatter,
                "recorded head {head} is not in the chain: the ledger has no seq {}",
                head.seq
            ),
        }
    }
}

impl Problem {
    /// A short name of the kind of problem: `missing`, `altered`, `unexpected`,
    /// `broken_chain`, `truncated`, `record_mismatch`, `head_mismatch`.
    pub fn kind(&self) -> &'static str {
        match self {
            Problem::Missing { .. } => "missing",
            Problem::Altered { .. } | Problem::Resized { .. } => "altered",
            Problem::Unexpected { .. } => "unexpected",
            Problem::BrokenChain { .. } => "broken_chain",
            Problem::Truncated { .. } => "truncated",
            Problem::RecordMismatch { .. } => "record_mismatch",
            Problem::HeadMismatch { .. } => "head_mismatch",
        }
    }

    /// The data file the problem is about, if it is about one.
    pub fn path(&self) -> Option<&str> {
        match self {
            Problem::Missing { path, .. }
            | Problem::Altered { path, .. }
            | Problem::Resized { path, .. }
            | Problem::Unexpected { path, .. } => Some(path),
            _ => None,
        }
    }
}

/// What `verify` found.
#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    pub problems: Vec<Problem>,
    /// The newest line of the chain, to record for the next `--since`.
    pub head: Option<Head>,
    /// Ledger lines read.
    pub entries: u64,
    /// Committed files that should exist, and their bytes.
    pub files: u64,
    pub bytes: u64,
    /// Files (and bytes) hashed by this run.
    pub hashed_files: u64,
    pub hashed_bytes: u64,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// A file the chain says exists.
struct Expected {
    seq: u64,
    bytes: u64,
    sha256: String,
    /// In the bucket (see [`crate::remote`]).
    remote: bool,
}

/// Verifies the data directory at `data_dir` (see the module documentation). Only reads; a
/// running `serve` may keep writing meanwhile (a commit landing during the run can show as a
/// transient problem: run it again to tell).
pub fn verify(data_dir: &Path, options: &VerifyOptions) -> Result<VerifyReport, StoreError> {
    if !data_dir.join(COMMITS_DIR).is_dir() {
        return Err(StoreError::DataDirMissing {
            path: data_dir.to_owned(),
        });
    }
    let mut report = VerifyReport::default();
    // Records first: one finishing meanwhile then shows in the ledger read after.
    let records = read_records(data_dir)?;
    let mut expected: BTreeMap<String, Expected> = BTreeMap::new();
    // Only the lines compared below keep their hash: a year of commits is millions of lines.
    let mut hashes: HashMap<u64, String> = records
        .keys()
        .copied()
        .chain(options.since.as_ref().map(|head| head.seq))
        .map(|seq| (seq, String::new()))
        .collect();
    read_chain(data_dir, &mut report, &mut expected, &mut hashes)?;
    hashes.retain(|_, hash| !hash.is_empty());
    let ledger_end = report.head.as_ref().map_or(0, |head| head.seq);
    for (seq, line_hash) in &records {
        match hashes.get(seq) {
            Some(hash) if hash == line_hash => {}
            Some(_) => report.problems.push(Problem::RecordMismatch { seq: *seq }),
            // Past the ledger's end (reported as truncated below) or before its start (a
            // lost beginning, reported as a broken chain).
            None => {}
        }
    }
    if let Some(newest) = records.keys().next_back()
        && *newest > ledger_end
    {
        report.problems.push(Problem::Truncated {
            ledger_ends_at: ledger_end,
            newest_commit: *newest,
        });
    }
    let mut hash_after = 0;
    if let Some(head) = &options.since {
        match hashes.get(&head.seq) {
            Some(found) if *found == head.sha256 => hash_after = head.seq,
            found => report.problems.push(Problem::HeadMismatch {
                head: head.clone(),
                found: found.cloned(),
            }),
        }
    }
    check_files(data_dir, options, hash_after, &expected, &mut report)?;
    Ok(report)
}

/// The retained commit records of format 3 on, as seq → SHA-256 of their ledger line.
fn read_records(data_dir: &Path) -> Result<BTreeMap<u64, String>, StoreError> {
    let mut records = BTreeMap::new();
    for (seq, path) in crate::commit::record_paths(data_dir)? {
        // Pruned between the listing and the read: an older record, its line is in the ledger.
        let Some(record) = crate::commit::read_record_if_present(&path)? else {
            continue;
        };
        if let Some(entry) = record.ledger_entry() {
            records.insert(seq, ledger::sha256_hex(entry.line().as_bytes()));
        }
    }
    Ok(records)
}

/// Reads every ledger line in order, checking the chain and replaying the files; fills in
/// the hash of each line whose seq `hashes` holds.
fn read_chain(
    data_dir: &Path,
    report: &mut VerifyReport,
    expected: &mut BTreeMap<String, Expected>,
    hashes: &mut HashMap<u64, String>,
) -> Result<(), StoreError> {
    let mut previous: Option<Head> = None;
    for (first_seq, path) in ledger::segments(data_dir)? {
        let segment = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = std::fs::read(&path).map_err(|source| StoreError::ReadLedger {
            path: path.clone(),
            source,
        })?;
        let mut broken = |seq: Option<u64>, reason: String| {
            report.problems.push(Problem::BrokenChain {
                segment: segment.clone(),
                seq,
                reason,
            });
        };
        if !text.is_empty() && !text.ends_with(b"\n") {
            broken(None, "it ends in a partial line".to_owned());
        }
        let mut first = true;
        for line in text
            .split(|byte| *byte == b'\n')
            .filter(|line| !line.is_empty())
        {
            let entry: LedgerEntry = match serde_json::from_slice(line) {
                Ok(entry) => entry,
                Err(error) => {
                    let after = previous.as_ref().map(|head| head.seq + 1);
                    broken(after, format!("a line does not parse: {error}"));
                    // The next line's prev cannot match anything known.
                    previous = None;
                    continue;
                }
            };
            let hash = ledger::sha256_hex(line);
            if first && entry.seq != first_seq {
                broken(
                    Some(entry.seq),
                    format!("the segment is named for seq {first_seq}"),
                );
            }
            first = false;
            match &previous {
                None if report.entries == 0 && entry.prev != GENESIS => broken(
                    Some(entry.seq),
                    "the first line does not start the chain (lines before it are gone)".to_owned(),
                ),
                None => {}
                Some(head) => {
                    if entry.seq != head.seq + 1 {
                        broken(
                            Some(entry.seq),
                            format!("it follows seq {} (lines are missing)", head.seq),
                        );
                    }
                    if entry.prev != head.sha256 {
                        broken(
                            Some(entry.seq),
                            format!(
                                "its prev is {} but the line before hashes to {} (a line was changed)",
                                entry.prev, head.sha256
                            ),
                        );
                    }
                }
            }
            report.entries += 1;
            for path in &entry.removed {
                expected.remove(path);
            }
            for file in entry.added {
                expected.insert(
                    file.path,
                    Expected {
                        seq: entry.seq,
                        bytes: file.bytes,
                        sha256: file.sha256,
                        remote: file.remote,
                    },
                );
            }
            if let Some(wanted) = hashes.get_mut(&entry.seq) {
                wanted.clone_from(&hash);
            }
            previous = Some(Head {
                seq: entry.seq,
                sha256: hash,
            });
        }
    }
    report.head = previous;
    Ok(())
}

/// Compares the tables' files with what the chain expects, hashing those committed after
/// `hash_after` on `options.threads` threads.
fn check_files(
    data_dir: &Path,
    options: &VerifyOptions,
    hash_after: u64,
    expected: &BTreeMap<String, Expected>,
    report: &mut VerifyReport,
) -> Result<(), StoreError> {
    let mut present: BTreeMap<String, u64> = BTreeMap::new();
    for table in [EVENTS_DIR, ALERTS_DIR, DEAD_LETTERS_DIR] {
        for (path, bytes) in files::list_files(&data_dir.join(table))? {
            let name = path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default();
            // A commit in flight: invisible to readers and removed on open if never published.
            if name.starts_with(".part-") && name.ends_with(".tmp") {
                continue;
            }
            present.insert(crate::commit::relative_path(data_dir, &path), bytes);
        }
    }
    // Files in the bucket are checked there (listed once, hashed as downloaded).
    let remote = match crate::remote::recorded(data_dir)? {
        Some(config) => Some(crate::remote::Remote::open(&config)?),
        None => None,
    };
    let mut present_remote: BTreeMap<String, u64> = BTreeMap::new();
    if let Some(remote) = &remote {
        for table in [EVENTS_DIR, ALERTS_DIR, DEAD_LETTERS_DIR] {
            // A merged file staged for a commit (or left by one that never came) is hidden.
            present_remote.extend(remote.list(table)?.into_iter().filter(|(path, _)| {
                let name = path.rsplit('/').next().unwrap_or_default();
                !(name.starts_with(".part-") && name.ends_with(".tmp"))
            }));
        }
    }
    let mut to_hash = Vec::new();
    for (path, file) in expected {
        report.files += 1;
        report.bytes += file.bytes;
        let present = if file.remote {
            &mut present_remote
        } else {
            &mut present
        };
        match present.remove(path) {
            None => report.problems.push(Problem::Missing {
                path: path.clone(),
                seq: file.seq,
            }),
            Some(bytes) if bytes != file.bytes => report.problems.push(Problem::Resized {
                path: path.clone(),
                seq: file.seq,
                expected: file.bytes,
                found: bytes,
            }),
            Some(_) if file.seq > hash_after => to_hash.push((path, file)),
            Some(_) => {}
        }
    }
    for (path, bytes) in present {
        report.problems.push(Problem::Unexpected { path, bytes });
    }
    if let Some(remote) = &remote {
        for (path, bytes) in present_remote {
            let path = format!("{}/{path}", remote.config().url.trim_end_matches('/'));
            report.problems.push(Problem::Unexpected { path, bytes });
        }
    }
    let threads = match options.threads {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        threads => threads,
    };
    let next = AtomicUsize::new(0);
    let found: Mutex<Vec<Problem>> = Mutex::new(Vec::new());
    let failure: Mutex<Option<StoreError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..threads.min(to_hash.len()).max(1) {
            scope.spawn(|| {
                while let Some((path, file)) = to_hash.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let full = data_dir.join(path.as_str());
                    let hashed = match (&remote, file.remote) {
                        (Some(remote), true) => match remote.read(path) {
                            Ok(bytes) => Ok(ledger::sha256_hex(&bytes)),
                            Err(error) => {
                                *failure.lock().expect("not poisoned") = Some(error);
                                break;
                            }
                        },
                        _ => ledger::sha256_file(&full),
                    };
                    match hashed {
                        Ok(sha256) if sha256 == file.sha256 => {}
                        Ok(sha256) => found.lock().expect("not poisoned").push(Problem::Altered {
                            path: (*path).clone(),
                            seq: file.seq,
                            expected: file.sha256.clone(),
                            found: sha256,
                        }),
                        // Deleted since the listing: missing.
                        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                            found.lock().expect("not poisoned").push(Problem::Missing {
                                path: (*path).clone(),
                                seq: file.seq,
                            });
                        }
                        Err(source) => {
                            *failure.lock().expect("not poisoned") =
                                Some(StoreError::ReadFile { path: full, source });
                            break;
                        }
                    }
                }
            });
        }
    });
    if let Some(error) = failure.into_inner().expect("not poisoned") {
        return Err(error);
    }
    report.hashed_files = to_hash.len() as u64;
    report.hashed_bytes = to_hash.iter().map(|(_, file)| file.bytes).sum();
    let mut found = found.into_inner().expect("not poisoned");
    found.sort_by_key(ToString::to_string);
    report.problems.extend(found);
    Ok(())
}
