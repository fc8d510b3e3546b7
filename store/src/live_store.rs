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
use crate::parts::{PartName, retain_live};

/// See the module docs.
#[derive(Debug)]
pub struct LiveStore {
    inner: Arc<dyn ObjectStore>,
    /// The data directory, as a path of `inner`.
    data_dir: Path,
}

impl LiveStore {
    /// Wraps `inner`, where the data directory is at `data_dir`.
    pub fn new(inner: Arc<dyn ObjectStore>, data_dir: Path) -> LiveStore {
        LiveStore { inner, data_dir }
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
        let Ok(listing) = self.inner.list_with_delimiter(Some(&root)).await else {
            return Vec::new();
        };
        let mut retirements = listing.common_prefixes;
        retirements.sort();
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

/// The live objects of a listing: per directory, the files another file supersedes go.
fn live(mut objects: Vec<ObjectMeta>) -> Vec<ObjectMeta> {
    objects.sort_by(|left, right| left.location.cmp(&right.location));
    let mut kept = Vec::with_capacity(objects.len());
    let mut directory: Vec<ObjectMeta> = Vec::new();
    let parent = |meta: &ObjectMeta| {
        let text = meta.location.as_ref();
        text.rsplit_once('/')
            .map_or("", |(parent, _)| parent)
            .to_owned()
    };
    for meta in objects {
        if directory
            .first()
            .is_some_and(|first| parent(first) != parent(&meta))
        {
            retain_live(&mut directory, part_of);
            kept.append(&mut directory);
        }
        directory.push(meta);
    }
    retain_live(&mut directory, part_of);
    kept.append(&mut directory);
    kept
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
        stream::once(async move { listing.try_collect::<Vec<_>>().await })
            .flat_map(|listed| match listed {
                Ok(objects) => stream::iter(live(objects).into_iter().map(Ok)).boxed(),
                Err(error) => stream::once(async move { Err(error) }).boxed(),
            })
            .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let mut result = self.inner.list_with_delimiter(prefix).await?;
        result.objects = live(std::mem::take(&mut result.objects));
        Ok(result)
    }

    async fn copy_opts(&self, _: &Path, _: &Path, _: CopyOptions) -> Result<()> {
        Err(LiveStore::refused("copying"))
    }
}
