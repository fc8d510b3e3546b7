//! The object store DataFusion reads the tables through: the local file system seen as a
//! snapshot-consistent, read-only table store.
//!
//! - **Listings hold live files only** (see [`crate::parts`]): while a compaction's merged file
//!   and the files it replaces are both in a partition, a query lists the merged file alone.
//! - **Retired files stay readable**: a query that listed a file before compaction or
//!   retention moved it to `_retired/<seq>/` still reads it there, until the grace period
//!   ends. So a query never sees a row twice, never misses one and never fails because the
//!   files changed under it.
//! - **Read-only**: writes, copies and deletes are refused, whatever a statement tries.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::object_store::path::Path;
use datafusion::object_store::{
    CopyOptions, Error, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};

use crate::commit::RETIRED_DIR;
use crate::parts::{PartName, retain_live_per_dir, writer_of};

/// See the module docs.
#[derive(Debug)]
pub struct LiveStore {
    inner: Arc<dyn ObjectStore>,
    /// The data directory, as a path of `inner`.
    data_dir: Path,
    /// The bucket settled partitions went to, and the prefix there that mirrors `data_dir`.
    remote: Option<(Arc<dyn ObjectStore>, Path)>,
    /// This data directory's writer id in a shared bucket: the writer of its files whose
    /// names name none.
    writer: Option<String>,
}

impl LiveStore {
    /// Wraps `inner`, where the data directory is at `data_dir`.
    pub fn new(inner: Arc<dyn ObjectStore>, data_dir: Path) -> LiveStore {
        LiveStore {
            inner,
            data_dir,
            remote: None,
            writer: None,
        }
    }

    /// Also shows the files of `remote` under `prefix` as if they were in the data directory
    /// (tiered storage: see [`crate::remote`]), those of every writer sharing the bucket
    /// included; `writer` is this data directory's.
    pub fn with_remote(
        mut self,
        remote: Arc<dyn ObjectStore>,
        prefix: Path,
        writer: Option<String>,
    ) -> LiveStore {
        self.remote = Some((remote, prefix));
        self.writer = writer;
        self
    }

    /// `location` (under the data directory) in the bucket.
    fn to_remote(&self, location: &Path) -> Option<(Arc<dyn ObjectStore>, Path)> {
        let (store, prefix) = self.remote.as_ref()?;
        let relative = location.prefix_match(&self.data_dir)?;
        let mapped = relative.fold(prefix.clone(), |path, part| path.join(part));
        Some((Arc::clone(store), mapped))
    }

    /// A bucket path back under the data directory.
    fn from_remote(data_dir: &Path, prefix: &Path, location: &Path) -> Option<Path> {
        let relative = location.prefix_match(prefix)?;
        Some(relative.fold(data_dir.clone(), |path, part| path.join(part)))
    }

    fn refused(what: &str) -> Error {
        Error::NotSupported {
            source: format!("{what}: kubetrail's tables are read-only").into(),
        }
    }

    /// Where `location` may sit once retired, newest retirement first.
    async fn retired_locations(&self, location: &Path) -> Vec<Path> {
        let Some(relative) = location.prefix_match(&self.data_dir) else {
            return Vec::new();
        };
        let relative: Vec<_> = relative.collect();
        let root = self.data_dir.clone().join(RETIRED_DIR);
        let mut retirements = match self.inner.list_with_delimiter(Some(&root)).await {
            Ok(listing) => listing.common_prefixes,
            Err(_) => Vec::new(),
        };
        // Retirements in the bucket (another writer's among them), under their local paths.
        if let Some((store, mapped)) = self.to_remote(&root)
            && let Some((_, prefix)) = &self.remote
            && let Ok(listing) = store.list_with_delimiter(Some(&mapped)).await
        {
            retirements.extend(
                listing
                    .common_prefixes
                    .iter()
                    .filter_map(|common| LiveStore::from_remote(&self.data_dir, prefix, common)),
            );
        }
        retirements.sort();
        retirements.dedup();
        retirements
            .into_iter()
            .rev()
            .map(|retirement| {
                relative
                    .iter()
                    .fold(retirement, |path, part| path.join(part.clone()))
            })
            .collect()
    }
}

impl fmt::Display for LiveStore {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "LiveStore({})", self.inner)
    }
}

/// The live objects of a listing: per directory and writer (commit numbers are per writer),
/// the files another file supersedes go. A name that names no writer is `own`'s.
fn live(objects: Vec<ObjectMeta>, own: Option<&str>) -> Vec<ObjectMeta> {
    let parent_and_writer = |meta: &ObjectMeta| {
        let text = meta.location.as_ref();
        let (parent, name) = text.rsplit_once('/').unwrap_or(("", text));
        let writer = writer_of(name).or(own).unwrap_or("");
        format!("{parent}/{writer}")
    };
    retain_live_per_dir(objects, parent_and_writer, part_of)
}

/// Adds the bucket's objects, under their data-directory paths, to `objects` (a path in both
/// is the same file: the local copy is listed).
fn merge_remote(
    objects: &mut Vec<ObjectMeta>,
    remote: Vec<ObjectMeta>,
    prefix: &Path,
    data_dir: &Path,
) {
    let local: std::collections::HashSet<Path> =
        objects.iter().map(|meta| meta.location.clone()).collect();
    for mut meta in remote {
        let Some(location) = LiveStore::from_remote(data_dir, prefix, &meta.location) else {
            continue;
        };
        if !local.contains(&location) {
            meta.location = location;
            objects.push(meta);
        }
    }
}

fn part_of(meta: &ObjectMeta) -> Option<PartName> {
    meta.location.filename().and_then(PartName::parse)
}

#[async_trait]
impl ObjectStore for LiveStore {
    async fn put_opts(&self, _: &Path, _: PutPayload, _: PutOptions) -> Result<PutResult> {
        Err(LiveStore::refused("writing"))
    }

    async fn put_multipart_opts(
        &self,
        _: &Path,
        _: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        Err(LiveStore::refused("writing"))
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        match self.inner.get_opts(location, options.clone()).await {
            Err(Error::NotFound { path, source }) => {
                for retired in self.retired_locations(location).await {
                    if let Ok(found) = self.inner.get_opts(&retired, options.clone()).await {
                        return Ok(found);
                    }
                }
                if let Some((remote, mapped)) = self.to_remote(location) {
                    match remote.get_opts(&mapped, options.clone()).await {
                        Err(Error::NotFound { .. }) => {}
                        other => return other,
                    }
                    for retired in self.retired_locations(location).await {
                        if let Some((remote, mapped)) = self.to_remote(&retired)
                            && let Ok(found) = remote.get_opts(&mapped, options.clone()).await
                        {
                            return Ok(found);
                        }
                    }
                }
                Err(Error::NotFound { path, source })
            }
            other => other,
        }
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> Result<Vec<bytes::Bytes>> {
        match self.inner.get_ranges(location, ranges).await {
            Err(Error::NotFound { path, source }) => {
                for retired in self.retired_locations(location).await {
                    if let Ok(found) = self.inner.get_ranges(&retired, ranges).await {
                        return Ok(found);
                    }
                }
                if let Some((remote, mapped)) = self.to_remote(location) {
                    match remote.get_ranges(&mapped, ranges).await {
                        Err(Error::NotFound { .. }) => {}
                        other => return other,
                    }
                    for retired in self.retired_locations(location).await {
                        if let Some((remote, mapped)) = self.to_remote(&retired)
                            && let Ok(found) = remote.get_ranges(&mapped, ranges).await
                        {
                            return Ok(found);
                        }
                    }
                }
                Err(Error::NotFound { path, source })
            }
            other => other,
        }
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        locations
            .map(|_| Err(LiveStore::refused("deleting")))
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        let listing = self.inner.list(prefix);
        let remote =
            prefix
                .and_then(|prefix| self.to_remote(prefix))
                .and_then(|(store, mapped)| {
                    let (_, remote_prefix) = self.remote.clone()?;
                    Some((
                        store.list(Some(&mapped)),
                        remote_prefix,
                        self.data_dir.clone(),
                    ))
                });
        let writer = self.writer.clone();
        stream::once(async move {
            let mut objects = listing.try_collect::<Vec<_>>().await?;
            if let Some((remote_listing, remote_prefix, data_dir)) = remote {
                let remote_objects = remote_listing.try_collect::<Vec<_>>().await?;
                merge_remote(&mut objects, remote_objects, &remote_prefix, &data_dir);
            }
            Ok(objects)
        })
        .flat_map(move |listed: Result<Vec<ObjectMeta>>| match listed {
            Ok(objects) => {
                stream::iter(live(objects, writer.as_deref()).into_iter().map(Ok)).boxed()
            }
            Err(error) => stream::once(async move { Err(error) }).boxed(),
        })
        .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let mut result = match self.inner.list_with_delimiter(prefix).await {
            Ok(result) => result,
            Err(Error::NotFound { .. }) if self.remote.is_some() => ListResult {
                common_prefixes: Vec::new(),
                objects: Vec::new(),
            },
            Err(error) => return Err(error),
        };
        if let Some((store, mapped)) = prefix.and_then(|prefix| self.to_remote(prefix))
            && let Some((_, remote_prefix)) = &self.remote
        {
            let remote = store.list_with_delimiter(Some(&mapped)).await?;
            for common in remote.common_prefixes {
                if let Some(local) = LiveStore::from_remote(&self.data_dir, remote_prefix, &common)
                    && !result.common_prefixes.contains(&local)
                {
                    result.common_prefixes.push(local);
                }
            }
            result.common_prefixes.sort();
            merge_remote(
                &mut result.objects,
                remote.objects,
                remote_prefix,
                &self.data_dir,
            );
        }
        result.objects = live(std::mem::take(&mut result.objects), self.writer.as_deref());
        Ok(result)
    }

    async fn copy_opts(&self, _: &Path, _: &Path, _: CopyOptions) -> Result<()> {
        Err(LiveStore::refused("copying"))
    }
}
