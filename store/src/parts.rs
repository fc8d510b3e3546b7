//! Data file names and which files of a partition are live.
//!
//! A commit names its files `part-<seq:020>-<n:04>.<ext>`: they hold rows of commit `seq`
//! only. A file that replaces other files of its partition (a compaction's merged file, a
//! retention rewrite) also names the commits whose rows it holds:
//! `part-<seq:020>-<n:04>-<first:020>-<last:020>.<ext>` holds rows of commits `first..=last`
//! and was written by commit `seq` (> `last`).
//!
//! A data directory that writes to a bucket shared by several writers (`serve` replicas, see
//! [`crate::remote`]) puts its writer id before the extension: `part-<seq:020>-<n:04>.<writer>.<ext>`.
//! Commit numbers are per writer, so the live rule applies among one writer's files.
//!
//! **The live rule.** In one partition directory, a file is superseded when another file was
//! written by a later commit and covers all the commits it covers. Readers skip superseded
//! files, so from the instant a replacing file is renamed into place a reader sees it instead of
//! the files it replaces, never both and never neither, even while those still sit beside it
//! (they are moved out right after, see [`crate::commit`]). Spark, DuckDB and Trino reading
//! the directories directly do not know the rule: for them the replaced files overlap the new
//! one during the few microseconds between the rename and the move.

/// What a data file's name says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PartName {
    /// First commit whose rows the file holds.
    pub first: u64,
    /// Last commit whose rows the file holds.
    pub last: u64,
    /// Commit that wrote the file.
    pub seq: u64,
    /// File number within that commit.
    pub n: u32,
}

impl PartName {
    /// A file of commit `seq` holding rows of that commit only.
    pub fn new(seq: u64, n: u32) -> PartName {
        PartName {
            first: seq,
            last: seq,
            seq,
            n,
        }
    }

    /// A file written by commit `seq` replacing files of commits `first..=last`.
    pub fn replacing(seq: u64, n: u32, first: u64, last: u64) -> PartName {
        PartName {
            first,
            last,
            seq,
            n,
        }
    }

    /// Parses `part-…` names (any extension, with or without a writer); `None` for anything
    /// else.
    pub fn parse(name: &str) -> Option<PartName> {
        let stem = name.strip_prefix("part-")?;
        let stem = stem.rsplit_once('.').map_or(stem, |(stem, _)| stem);
        let stem = match stem.split_once('.') {
            Some((stem, writer)) => {
                valid_writer(writer).then_some(())?;
                stem
            }
            None => stem,
        };
        let fields: Vec<&str> = stem.split('-').collect();
        let number = |text: &str| -> Option<u64> {
            (!text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit()))
                .then(|| text.parse().ok())
                .flatten()
        };
        match fields.as_slice() {
            [seq, n] => Some(PartName::new(number(seq)?, u32::try_from(number(n)?).ok()?)),
            [seq, n, first, last] => {
                let part = PartName::replacing(
                    number(seq)?,
                    u32::try_from(number(n)?).ok()?,
                    number(first)?,
                    number(last)?,
                );
                (part.first <= part.last && part.last < part.seq).then_some(part)
            }
            _ => None,
        }
    }

    /// The file name with extension `extension` (without the dot), written by `writer` (a
    /// data directory sharing its bucket) or not.
    pub fn file_name(&self, writer: Option<&str>, extension: &str) -> String {
        let writer = writer
            .map(|writer| format!(".{writer}"))
            .unwrap_or_default();
        if self.first == self.seq && self.last == self.seq {
            format!("part-{:020}-{:04}{writer}.{extension}", self.seq, self.n)
        } else {
            format!(
                "part-{:020}-{:04}-{:020}-{:020}{writer}.{extension}",
                self.seq, self.n, self.first, self.last
            )
        }
    }

    /// Whether `other` replaces this file: written later, covering every commit this covers.
    pub fn superseded_by(&self, other: &PartName) -> bool {
        other.seq > self.seq && other.first <= self.first && self.last <= other.last
    }
}

/// The writer a data file's name names (`part-….<writer>.<ext>`), `None` for a file of a data
/// directory that does not share its bucket (or a name that is not a data file's).
pub fn writer_of(name: &str) -> Option<&str> {
    let stem = name.strip_prefix("part-")?;
    let (stem, _extension) = stem.rsplit_once('.')?;
    let (_, writer) = stem.split_once('.')?;
    valid_writer(writer).then_some(writer)
}

/// Whether `writer` can be a writer id: a DNS label (lowercase letters, digits and `-`, 1 to
/// 63 characters, starting and ending with a letter or digit), as Kubernetes pod names are.
pub fn valid_writer(writer: &str) -> bool {
    let bytes = writer.as_bytes();
    let edge = |byte: &u8| byte.is_ascii_lowercase() || byte.is_ascii_digit();
    (1..=63).contains(&bytes.len())
        && bytes.first().is_some_and(edge)
        && bytes.last().is_some_and(edge)
        && bytes.iter().all(|byte| edge(byte) || *byte == b'-')
}

/// Keeps the live files of one partition directory: drops every file another file of `files`
/// supersedes (see the module docs). `part_of` tells what a file's name says; files it gives
/// `None` for (not `part-…`) are kept as they are.
pub fn retain_live<T>(files: &mut Vec<T>, part_of: impl Fn(&T) -> Option<PartName>) {
    let parts: Vec<Option<PartName>> = files.iter().map(&part_of).collect();
    let replacing: Vec<PartName> = parts
        .iter()
        .flatten()
        .filter(|part| part.first != part.seq || part.last != part.seq)
        .copied()
        .collect();
    if replacing.is_empty() {
        return;
    }
    let mut index = 0;
    files.retain(|_| {
        let part = parts[index];
        index += 1;
        part.is_none_or(|part| !replacing.iter().any(|other| part.superseded_by(other)))
    });
}

/// [`retain_live`] over files of several partition directories: `dir_of` tells each file's
/// directory. The kept files come back grouped by directory.
pub fn retain_live_per_dir<T>(
    files: Vec<T>,
    dir_of: impl Fn(&T) -> String,
    part_of: impl Fn(&T) -> Option<PartName>,
) -> Vec<T> {
    let mut by_dir: std::collections::BTreeMap<String, Vec<T>> = std::collections::BTreeMap::new();
    for file in files {
        by_dir.entry(dir_of(&file)).or_default().push(file);
    }
    by_dir
        .into_values()
        .flat_map(|mut files| {
            retain_live(&mut files, &part_of);
            files
        })
        .collect()
}
