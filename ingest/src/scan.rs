//! Finding the files that paths and globs name, and the directories to watch for them.

use std::fs;
use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobMatcher};

use crate::IngestError;

/// One configured path or glob.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    matcher: GlobMatcher,
    /// The longest leading part without glob syntax: the file itself for a plain path.
    base: PathBuf,
    /// How many path components below `base` a match has; `None` when `**` allows any.
    depth: Option<usize>,
    literal: bool,
}

fn has_glob_syntax(component: &str) -> bool {
    component.contains(['*', '?', '[', ']', '{', '}', '\\'])
}

/// Compiles a path or glob; `*` does not cross `/`, `**` does.
pub(crate) fn compile_pattern(pattern: &str) -> Result<Pattern, IngestError> {
    let matcher = GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map_err(|source| IngestError::InvalidGlob {
            pattern: pattern.to_owned(),
            source,
        })?
        .compile_matcher();
    let components: Vec<&str> = pattern.split('/').collect();
    let literal_count = components
        .iter()
        .take_while(|component| !has_glob_syntax(component))
        .count();
    let literal = literal_count == components.len();
    let mut base = components[..literal_count].join("/");
    if base.is_empty() && pattern.starts_with('/') {
        base.push('/');
    }
    let rest = &components[literal_count..];
    let depth = if rest.iter().any(|component| component.contains("**")) {
        None
    } else {
        Some(rest.len())
    };
    Ok(Pattern {
        matcher,
        base: PathBuf::from(if base.is_empty() { "." } else { &base }),
        depth,
        literal,
    })
}

impl Pattern {
    /// Regular files (or symlinks to them) the pattern matches now, appended to `found`.
    pub(crate) fn scan(&self, found: &mut Vec<PathBuf>) {
        if self.literal {
            if fs::metadata(&self.base).is_ok_and(|metadata| metadata.is_file()) {
                found.push(self.base.clone());
            }
            return;
        }
        self.walk(&self.base, 0, found);
    }

    fn walk(&self, dir: &Path, depth: usize, found: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = if self.base == Path::new(".") && depth == 0 {
                PathBuf::from(entry.file_name())
            } else {
                entry.path()
            };
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            let below = depth + 1;
            if file_type.is_dir() {
                // Symlinked directories are not followed (no cycles); real ones only as deep as
                // the pattern reaches.
                if self.depth.is_none_or(|max| below < max) {
                    self.walk(&path, below, found);
                }
            } else if self.depth.is_none_or(|max| below == max)
                && self.matcher.is_match(&path)
                && fs::metadata(&path).is_ok_and(|metadata| metadata.is_file())
            {
                found.push(path);
            }
        }
    }

    /// The directory to watch for this pattern and whether to watch below it.
    pub(crate) fn watch_target(&self) -> (PathBuf, bool) {
        if self.literal {
            let parent = self
                .base
                .parent()
                .filter(|parent| !parent.as_os_str().is_empty());
            return (
                parent.map_or_else(|| PathBuf::from("."), Path::to_path_buf),
                false,
            );
        }
        (self.base.clone(), self.depth != Some(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_only_at_their_depth() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("a/b")).unwrap();
        for name in [
            "audit.log",
            "audit-1.log",
            "other.txt",
            "a/audit.log",
            "a/b/audit.log",
        ] {
            fs::write(root.join(name), "x\n").unwrap();
        }
        let scan = |glob: &str| {
            let pattern = compile_pattern(&format!("{}/{glob}", root.display())).unwrap();
            let mut found = Vec::new();
            pattern.scan(&mut found);
            let mut names: Vec<String> = found
                .iter()
                .map(|path| path.strip_prefix(root).unwrap().display().to_string())
                .collect();
            names.sort();
            names
        };
        assert_eq!(scan("audit*.log"), vec!["audit-1.log", "audit.log"]);
        assert_eq!(scan("*/audit.log"), vec!["a/audit.log"]);
        assert_eq!(
            scan("**/audit.log"),
            vec!["a/audit.log", "a/b/audit.log", "audit.log"]
        );
        assert_eq!(scan("audit.log"), vec!["audit.log"]);
        assert_eq!(scan("missing.log"), Vec::<String>::new());
    }

    #[test]
    fn bad_glob_is_an_error() {
        assert!(matches!(
            compile_pattern("/var/log/[audit"),
            Err(IngestError::InvalidGlob { .. })
        ));
    }
}
