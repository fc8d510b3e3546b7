//! The catalog of the writers sharing a bucket: one small JSON object any replica reads to
//! know who writes there and how far each has committed, kept without a database.
//!
//! Each version is a new object `_catalog/<generation:020>.json`, created with a conditional
//! PUT (`If-None-Match: *`): two writers updating at once both try to create the next
//! generation, one wins, the other reads the winner's and tries the one after. The head is the
//! highest generation; old ones are deleted once [`KEEP_GENERATIONS`] newer exist.
//!
//! Each writer's own state lives under `_writers/<writer>/`: its commit log (`ledger/`,
//! appended in chunks) and a copy of its search indexes (`search/`), see the pipeline's
//! `sharing` module.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::StoreError;
use crate::remote::Remote;

/// Where catalog generations are in the bucket.
pub const CATALOG_DIR: &str = "_catalog";
/// Where each writer's own state is in the bucket (`_writers/<writer>/`).
pub const WRITERS_DIR: &str = "_writers";
/// Generations kept behind the head.
pub const KEEP_GENERATIONS: u64 = 16;
const VERSION: u32 = 1;

/// One version of the catalog.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    pub version: u32,
    pub generation: u64,
    pub writers: BTreeMap<String, WriterState>,
}

/// How far one writer has committed, as it last said.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriterState {
    /// The newest line of its commit log (its store's commit seq) and that line's SHA-256.
    pub ledger_seq: u64,
    pub ledger_sha256: Option<String>,
    /// The commit seq its copied search indexes hold.
    pub search_seq: u64,
    /// When it said so (RFC 3339).
    pub updated: String,
}

fn key(generation: u64) -> String {
    format!("{CATALOG_DIR}/{generation:020}.json")
}

/// The head of the catalog, `None` before any writer wrote one.
pub fn read(remote: &Remote) -> Result<Option<Catalog>, StoreError> {
    let newest = remote
        .list(CATALOG_DIR)?
        .into_iter()
        .filter_map(|(relative, _)| {
            let name = relative.rsplit('/').next()?;
            name.strip_suffix(".json")?.parse::<u64>().ok()
        })
        .max();
    let Some(generation) = newest else {
        return Ok(None);
    };
    let bytes = remote.read(&key(generation))?;
    let catalog: Catalog =
        serde_json::from_slice(&bytes).map_err(|error| StoreError::CorruptCommit {
            path: std::path::PathBuf::from(key(generation)),
            reason: format!("the catalog does not parse: {error}"),
        })?;
    if catalog.version != VERSION {
        return Err(StoreError::CorruptCommit {
            path: std::path::PathBuf::from(key(generation)),
            reason: format!("catalog version {} is not {VERSION}", catalog.version),
        });
    }
    Ok(Some(catalog))
}

/// Sets `writer`'s state in a new generation of the catalog (nothing when it already says
/// so). Returns the head after the update.
pub fn update(remote: &Remote, writer: &str, state: &WriterState) -> Result<Catalog, StoreError> {
    loop {
        let head = read(remote)?.unwrap_or(Catalog {
            version: VERSION,
            generation: 0,
            writers: BTreeMap::new(),
        });
        if head.writers.get(writer) == Some(state) {
            return Ok(head);
        }
        let mut next = head.clone();
        next.generation = head.generation + 1;
        next.writers.insert(writer.to_owned(), state.clone());
        let bytes =
            serde_json::to_vec_pretty(&next).map_err(|error| StoreError::CorruptCommit {
                path: std::path::PathBuf::from(key(next.generation)),
                reason: error.to_string(),
            })?;
        if remote.put_if_absent(&key(next.generation), bytes)? {
            if next.generation > KEEP_GENERATIONS {
                // Best effort: a leftover old generation is never read.
                let _ = remote.delete(&key(next.generation - KEEP_GENERATIONS - 1));
            }
            return Ok(next);
        }
        // Another writer created that generation first: read it and try again.
    }
}
