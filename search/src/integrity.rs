//! Integrity of the search indexes, for `kubetrail verify`. The indexes are derived from the
//! Parquet tables (and rebuilt from them), so they are not in the store's hash chain; what can
//! be checked is that each day index's files are whole (tantivy's per-file checksums), that no
//! file was added beside them, and, by the caller, that each day holds as many events as that
//! day's Parquet (`Searcher` totals against Parquet row counts).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use tantivy::Index;

use crate::SearchError;
use crate::files::{self, LOCK_FILE, STATE_FILE};

/// One thing wrong with a day index's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProblem {
    /// The file or day directory, under the search directory.
    pub path: PathBuf,
    /// `altered`, `unexpected` or `unreadable`.
    pub kind: &'static str,
    pub detail: String,
}

/// Checks every day index under `dir` (the search directory): files whose checksum no longer
/// matches their contents, files tantivy does not manage, indexes that do not open.
pub fn check_files(dir: &Path) -> Result<Vec<FileProblem>, SearchError> {
    let mut problems = Vec::new();
    for (_, path) in files::list_days(dir)? {
        let relative = |file: &Path| {
            path.file_name()
                .map(PathBuf::from)
                .unwrap_or_default()
                .join(file)
        };
        let index = match Index::open_in_dir(&path) {
            Ok(index) => index,
            Err(error) => {
                problems.push(FileProblem {
                    path: relative(Path::new("")),
                    kind: "unreadable",
                    detail: error.to_string(),
                });
                continue;
            }
        };
        match index.validate_checksum() {
            Ok(altered) => {
                let mut altered: Vec<PathBuf> = altered.into_iter().collect();
                altered.sort();
                problems.extend(altered.into_iter().map(|file| FileProblem {
                    path: relative(&file),
                    kind: "altered",
                    detail: "its checksum does not match its contents".to_owned(),
                }));
            }
            Err(error) => problems.push(FileProblem {
                path: relative(Path::new("")),
                kind: "unreadable",
                detail: format!("a file of the index is missing or unreadable: {error}"),
            }),
        }
        let managed: HashSet<PathBuf> = index.directory().list_managed_files();
        let entries = std::fs::read_dir(&path)
            .map_err(|error| SearchError::io(format!("read {}", path.display()), error))?;
        let mut unexpected = Vec::new();
        for entry in entries {
            let entry = entry
                .map_err(|error| SearchError::io(format!("read {}", path.display()), error))?;
            let name = PathBuf::from(entry.file_name());
            let text = name.to_string_lossy();
            let known = managed.contains(&name)
                || text == "meta.json"
                || text == ".managed.json"
                || text == STATE_FILE
                || text == LOCK_FILE
                || text.starts_with(".tantivy-")
                || files::is_interrupted_write(&text);
            if !known {
                unexpected.push(name);
            }
        }
        unexpected.sort();
        problems.extend(unexpected.into_iter().map(|file| FileProblem {
            path: relative(&file),
            kind: "unexpected",
            detail: "tantivy does not manage it".to_owned(),
        }));
    }
    Ok(problems)
}

/// The days with an index under `dir` (the search directory), oldest first.
pub fn days(dir: &Path) -> Result<Vec<chrono::NaiveDate>, SearchError> {
    Ok(files::list_days(dir)?
        .into_iter()
        .map(|(day, _)| day)
        .collect())
}
