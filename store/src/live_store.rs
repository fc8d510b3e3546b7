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
#[derive(Debug, Clone)]
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

    /// Where another writer keeps its copy of `location` (a file of a partition it still
    /// writes: see [`ACTIVE_DIR`]), by the writer the file's name names.
    fn active_copy(&self, location: &Path) -> Option<(Arc<dyn ObjectStore>, Path)> {
        let (store, prefix) = self.remote.as_ref()?;
        let writer = writer_of(location.filename()?)?;
        if Some(writer) == self.writer.as_deref() {
            return None;
        }
        let relative = location.prefix_match(&self.data_dir)?;
        let mapped = relative.fold(active_root(prefix, writer), |path, part| path.join(part));
        Some((Arc::clone(store), mapped))
    }

    /// The other writers' copies of files under `location` (of partitions they still write),
    /// under their data-directory paths: with `delimiter`, one level (objects and
    /// directories), else every object below.
    async fn active_listing(
        &self,
        location: &Path,
        delimiter: bool,
    ) -> Result<(Vec<ObjectMeta>, Vec<Path>)> {
        let mut objects = Vec::new();
        let mut directories = Vec::new();
        // A data directory without a writer id shares its bucket with nobody.
        let (Some((store, prefix)), Some(own)) = (&self.remote, self.writer.as_deref()) else {
            return Ok((objects, directories));
        };
        let Some(relative) = location.prefix_match(&self.data_dir) else {
            return Ok((objects, directories));
        };
        let relative: Vec<_> = relative.collect();
        let writers = store
            .list_with_delimiter(Some(&prefix.clone().join(crate::catalog::WRITERS_DIR)))
            .await?;
        for writer_dir in writers.common_prefixes {
            let Some(writer) = writer_dir.filename() else {
                continue;
            };
            if writer == own || !crate::parts::valid_writer(writer) {
                continue;
            }
            let root = active_root(prefix, writer);
            let below = relative
                .iter()
                .fold(root.clone(), |path, part| path.join(part.clone()));
            let back = |path: &Path| LiveStore::from_remote(&self.data_dir, &root, path);
            if delimiter {
                let listed = match store.list_with_delimiter(Some(&below)).await {
                    Ok(listed) => listed,
                    Err(Error::NotFound { .. }) => continue,
                    Err(error) => return Err(error),
                };
                directories.extend(listed.common_prefixes.iter().filter_map(back));
                for mut meta in listed.objects {
                    if let Some(mapped) = back(&meta.location) {
                        meta.location = mapped;
                        objects.push(meta);
                    }
                }
            } else {
                let listed: Vec<ObjectMeta> = store.list(Some(&below)).try_collect().await?;
                for mut meta in listed {
                    if let Some(mapped) = back(&meta.location) {
                        meta.location = mapped;
                        objects.push(meta);
                    }
                }
            }
        }
        Ok((objects, directories))
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

/// Where a writer sharing the bucket keeps copies of the files of partitions it still writes
/// (`<prefix>/_writers/<writer>/active/<table>/<partition>/<file>`), so other writers' readers
/// see them before compaction moves the partition to the tables' paths; the live rule hides
/// them from then on, and the writer deletes them after the grace period.
pub const ACTIVE_DIR: &str = "active";

fn active_root(prefix: &Path, writer: &str) -> Path {
    prefix
        .clone()
        .join(crate::catalog::WRITERS_DIR)
        .join(writer)
        .join(ACTIVE_DIR)
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

/// Adds the objects of `more` whose paths `objects` lacks.
fn add_absent(objects: &mut Vec<ObjectMeta>, more: Vec<ObjectMeta>) {
    let present: std::collections::HashSet<Path> =
        objects.iter().map(|meta| meta.location.clone()).collect();
    objects.extend(
        more.into_iter()
            .filter(|meta| !present.contains(&meta.location)),
    );
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
                    if let Some((remote, mapped)) = self.active_copy(location) {
                        match remote.get_opts(&mapped, options.clone()).await {
                            Err(Error::NotFound { .. }) => {}
                            other => return other,
                        }
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
                    if let Some((remote, mapped)) = self.active_copy(location) {
                        match remote.get_ranges(&mapped, ranges).await {
                            Err(Error::NotFound { .. }) => {}
                            other => return other,
                        }
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
        let this = self.clone();
        let prefix = prefix.cloned();
        stream::once(async move {
            let mut objects = match listing.try_collect::<Vec<_>>().await {
                Ok(objects) => objects,
                Err(Error::NotFound { .. }) if remote.is_some() => Vec::new(),
                Err(error) => return Err(error),
            };
            if let Some((remote_listing, remote_prefix, data_dir)) = remote {
                let remote_objects = remote_listing.try_collect::<Vec<_>>().await?;
                merge_remote(&mut objects, remote_objects, &remote_prefix, &data_dir);
            }
            if let Some(prefix) = &prefix {
                let (active, _) = this.active_listing(prefix, false).await?;
                add_absent(&mut objects, active);
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
            merge_remote(
                &mut result.objects,
                remote.objects,
                remote_prefix,
                &self.data_dir,
            );
        }
        if let Some(prefix) = prefix {
            let (objects, directories) = self.active_listing(prefix, true).await?;
            for directory in directories {
                if !result.common_prefixes.contains(&directory) {
                    result.common_prefixes.push(directory);
                }
            }
            add_absent(&mut result.objects, objects);
        }
        result.common_prefixes.sort();
        result.objects = live(std::mem::take(&mut result.objects), self.writer.as_deref());
        Ok(result)
    }

    async fn copy_opts(&self, _: &Path, _: &Path, _: CopyOptions) -> Result<()> {
        Err(LiveStore::refused("copying"))
    }
}
