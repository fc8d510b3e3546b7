//! The catalog of the writers sharing a bucket: one small JSON object any replica reads to
//! know who writes there and how far each has committed, kept without a database.
//!
//! Each version is a new object `_catalog/<generation:020>.json`, created with a conditional
//! PUT (`If-None-Match: *`, see [`crate::generations`]): two writers updating at once both try
//! to create the next generation, one wins, the other reads the winner's and tries the one
//! after. The head is the highest generation; old ones are deleted once [`KEEP_GENERATIONS`]
//! newer exist.
//!
//! Each writer's own state lives under `_writers/<writer>/`: its commit log (`ledger/`,
//! appended in chunks) and a copy of its search indexes (`search/`), see the pipeline's
//! `sharing` module.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::remote::Remote;
use crate::{StoreError, generations};

/// Where catalog generations are in the bucket.
pub const CATALOG_DIR: &str = "_catalog";
/// Where each writer's own state is in the bucket (`_writers/<writer>/`).
pub const WRITERS_DIR: &str = "_writers";
/// Generations kept behind the head.
pub const KEEP_GENERATIONS: u64 = generations::KEEP;
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

/// The head of the catalog, `None` before any writer wrote one.
pub fn read(remote: &Remote) -> Result<Option<Catalog>, StoreError> {
    let Some((generation, catalog)) = generations::head::<Catalog>(remote, CATALOG_DIR)? else {
        return Ok(None);
    };
    if catalog.version != VERSION || catalog.generation != generation {
        return Err(StoreError::CorruptCommit {
            path: std::path::PathBuf::from(format!("{CATALOG_DIR}/{generation:020}.json")),
            reason: format!(
                "catalog version {} generation {} (expected version {VERSION} generation {generation})",
                catalog.version, catalog.generation
            ),
        });
    }
    Ok(Some(catalog))
}

/// Sets `writer`'s state in a new generation of the catalog (nothing when it already says
/// so). Returns the head after the update.
pub fn update(remote: &Remote, writer: &str, state: &WriterState) -> Result<Catalog, StoreError> {
    let initial = || {
        Ok(Catalog {
            version: VERSION,
            generation: 0,
            writers: BTreeMap::new(),
        })
    };
    let (catalog, _) = generations::update(
        remote,
        CATALOG_DIR,
        initial,
        |catalog: &mut Catalog, next| {
            if catalog.writers.get(writer) == Some(state) {
                return Ok((false, catalog.clone()));
            }
            catalog.generation = next;
            catalog.writers.insert(writer.to_owned(), state.clone());
            Ok((true, catalog.clone()))
        },
    )?;
    Ok(catalog)
}
