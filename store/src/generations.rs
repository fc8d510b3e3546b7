//! A small JSON document that several writers of one bucket change, kept without a database:
//! each version is a new object `<dir>/<generation:020>.json` created with a conditional PUT
//! (`If-None-Match: *`). Writers changing it at once both try to create the next generation;
//! one wins, the other reads the winner's version and applies its change to that. The head is
//! the highest generation; generations [`KEEP`] behind the head are deleted.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::StoreError;
use crate::remote::Remote;

/// Generations kept behind the head.
pub const KEEP: u64 = 16;

fn key(dir: &str, generation: u64) -> String {
    format!("{dir}/{generation:020}.json")
}

/// The head generation under `dir` and its document, `None` before the first.
pub(crate) fn head<T: DeserializeOwned>(
    remote: &Remote,
    dir: &str,
) -> Result<Option<(u64, T)>, StoreError> {
    let newest = remote
        .list(dir)?
        .into_iter()
        .filter_map(|(relative, _)| {
            let name = relative.rsplit('/').next()?;
            name.strip_suffix(".json")?.parse::<u64>().ok()
        })
        .max();
    let Some(generation) = newest else {
        return Ok(None);
    };
    let bytes = remote.read(&key(dir, generation))?;
    let document = serde_json::from_slice(&bytes).map_err(|error| StoreError::CorruptCommit {
        path: std::path::PathBuf::from(key(dir, generation)),
        reason: format!("does not parse: {error}"),
    })?;
    Ok(Some((generation, document)))
}

/// Applies `change` to the head document (`initial` before the first generation) and creates
/// the next generation with the result; on a lost race, again on the new head. `change` says
/// whether it changed anything (nothing is written when it did not) and gives its answer.
/// Returns the answer and the generation written (or read, when nothing changed).
pub(crate) fn update<T, A>(
    remote: &Remote,
    dir: &str,
    initial: impl Fn() -> Result<T, StoreError>,
    mut change: impl FnMut(&mut T, u64) -> Result<(bool, A), StoreError>,
) -> Result<(A, u64), StoreError>
where
    T: Serialize + DeserializeOwned,
{
    loop {
        let (generation, mut document) = match head(remote, dir)? {
            Some(head) => head,
            None => (0, initial()?),
        };
        let next = generation + 1;
        let (changed, answer) = change(&mut document, next)?;
        if !changed {
            return Ok((answer, generation));
        }
        let bytes =
            serde_json::to_vec_pretty(&document).map_err(|error| StoreError::CorruptCommit {
                path: std::path::PathBuf::from(key(dir, next)),
                reason: error.to_string(),
            })?;
        if remote.put_if_absent(&key(dir, next), bytes)? {
            if next > KEEP {
                // Best effort: a leftover old generation is never read.
                let _ = remote.delete(&key(dir, next - KEEP - 1));
            }
            return Ok((answer, next));
        }
        // Another writer created that generation first: apply the change to its version.
    }
}
