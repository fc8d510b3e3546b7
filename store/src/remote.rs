//! The bucket settled partitions move to: S3 or anything that speaks its API (MinIO, R2,
//! Ceph; the tests use moto's server), through the `object_store` crate DataFusion reads with.
//!
//! Tiering: the data directory keeps the partitions still being written; compaction merges a
//! settled partition's files and writes the result to the bucket under the same relative path
//! (`events/date=…/hour=…/part-….parquet`), so the bucket is a plain hive-partitioned table any
//! engine reads. The commit names the file as remote; its upload, after the commit point, is
//! the instant readers switch to it (see [`crate::parts`]), and a crash before it is finished
//! on open from the local temporary file. Files a commit replaces in the bucket are moved
//! under `_retired/<seq>/` there too and deleted after the grace period.
//!
//! Credentials come from the environment as the AWS SDKs take them (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, web identity tokens on EKS), never from the
//! configuration file. The bucket's location is recorded in the data directory
//! (`_remote.json`) so every reader (`sql`, `verify`, the API) finds the same bucket, and a
//! configuration pointing elsewhere is refused.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use serde::{Deserialize, Serialize};

use crate::StoreError;
use crate::commit::RETIRED_DIR;
use crate::files;

/// Where the bucket is (`[store.object_store]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteConfig {
    /// `s3://BUCKET` or `s3://BUCKET/PREFIX`.
    pub url: String,
    /// The S3 API's address for anything but AWS (MinIO, R2, moto), e.g.
    /// `http://127.0.0.1:9000`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The bucket's region (default: `AWS_REGION`, else `us-east-1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Allow plain HTTP to `endpoint` (a server on loopback).
    #[serde(default)]
    pub allow_http: bool,
    /// This data directory's writer id when several `serve` replicas share the bucket (each
    /// with its own data directory and its own id, e.g. the pod's name): it goes into the
    /// names of the files this one writes (see [`crate::parts`]) and names its commit log and
    /// search indexes in the bucket. Left out: the only writer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writer: Option<String>,
    /// Takes `writer` from this environment variable instead (one configuration for every
    /// replica: a StatefulSet gives each pod its name, e.g. `POD_NAME`). See
    /// [`RemoteConfig::resolve_writer`].
    #[serde(default, skip_serializing)]
    pub writer_env: Option<String>,
    /// With a writer id: how often this writer publishes its commit log and search indexes to
    /// the bucket and copies the other writers' (seconds).
    #[serde(default = "default_sync_seconds")]
    pub sync_seconds: u64,
}

fn default_sync_seconds() -> u64 {
    10
}

impl RemoteConfig {
    /// `(bucket, prefix)` of the URL.
    pub fn bucket_and_prefix(&self) -> Result<(String, String), StoreError> {
        let rest = self
            .url
            .strip_prefix("s3://")
            .ok_or_else(|| StoreError::InvalidConfig {
                reason: format!(
                    "object_store.url must be s3://BUCKET[/PREFIX], got {:?}",
                    self.url
                ),
            })?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(StoreError::InvalidConfig {
                reason: format!("object_store.url names no bucket: {:?}", self.url),
            });
        }
        Ok((bucket.to_owned(), prefix.trim_matches('/').to_owned()))
    }

    /// Sets `writer` from the environment variable `writer_env` names, if one does (called
    /// once where the configuration is read, before [`RemoteConfig::validate`]).
    pub fn resolve_writer(
        &mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(), StoreError> {
        let Some(variable) = &self.writer_env else {
            return Ok(());
        };
        if self.writer.is_some() {
            return Err(StoreError::InvalidConfig {
                reason: "object_store: set writer or writer_env, not both".to_owned(),
            });
        }
        match lookup(variable) {
            Some(writer) if !writer.is_empty() => {
                self.writer = Some(writer);
                Ok(())
            }
            _ => Err(StoreError::InvalidConfig {
                reason: format!(
                    "object_store.writer_env names {variable}, which is not set in the environment"
                ),
            }),
        }
    }

    pub fn validate(&self) -> Result<(), StoreError> {
        self.bucket_and_prefix()?;
        if self.sync_seconds == 0 {
            return Err(StoreError::InvalidConfig {
                reason: "object_store.sync_seconds must be at least 1".to_owned(),
            });
        }
        if let Some(writer) = &self.writer
            && !crate::parts::valid_writer(writer)
        {
            return Err(StoreError::InvalidConfig {
                reason: format!(
                    "object_store.writer {writer:?} is not a writer id: lowercase letters, digits and '-', at most 63, starting and ending with a letter or digit"
                ),
            });
        }
        if let Some(endpoint) = &self.endpoint
            && endpoint.starts_with("http://")
            && !self.allow_http
        {
            return Err(StoreError::InvalidConfig {
                reason: format!(
                    "object_store.endpoint {endpoint} is plain HTTP: set allow_http = true (for a server on loopback only)"
                ),
            });
        }
        Ok(())
    }
}

/// Name of the file recording the bucket in the data directory.
pub const REMOTE_FILE: &str = "_remote.json";

/// The bucket this data directory's settled partitions went to, if any.
pub fn recorded(data_dir: &Path) -> Result<Option<RemoteConfig>, StoreError> {
    let path = data_dir.join(REMOTE_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            serde_json::from_str(&text)
                .map(Some)
                .map_err(|error| StoreError::CorruptCommit {
                    path,
                    reason: error.to_string(),
                })
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(StoreError::ReadFile { path, source }),
    }
}

/// Records `config` as this data directory's bucket, or checks it is the one recorded.
pub(crate) fn bind(data_dir: &Path, config: &RemoteConfig) -> Result<(), StoreError> {
    match recorded(data_dir)? {
        Some(existing)
            if existing.bucket_and_prefix()? == config.bucket_and_prefix()?
                && existing.writer == config.writer =>
        {
            Ok(())
        }
        Some(existing) if existing.bucket_and_prefix()? == config.bucket_and_prefix()? => {
            Err(StoreError::InvalidConfig {
                reason: format!(
                    "this data directory writes to {} as writer {}, not {}: a writer id cannot change (its files are named by it)",
                    existing.url,
                    existing.writer.as_deref().unwrap_or("(none)"),
                    config.writer.as_deref().unwrap_or("(none)")
                ),
            })
        }
        Some(existing) => Err(StoreError::InvalidConfig {
            reason: format!(
                "this data directory's settled partitions are in {}, not {}: point object_store.url back there (or move the data)",
                existing.url, config.url
            ),
        }),
        None => {
            let path = data_dir.join(REMOTE_FILE);
            let tmp = data_dir.join(format!(".{REMOTE_FILE}.tmp"));
            let json = serde_json::to_string_pretty(config).map_err(|error| {
                StoreError::CorruptCommit {
                    path: path.clone(),
                    reason: error.to_string(),
                }
            })?;
            files::write_lines(&tmp, &[json])?;
            files::rename(&tmp, &path)?;
            files::sync_dir(data_dir)
        }
    }
}

/// A connection to the bucket, with blocking helpers for the store's synchronous code.
#[derive(Debug, Clone)]
pub struct Remote {
    config: RemoteConfig,
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    runtime: &'static tokio::runtime::Runtime,
}

/// Files larger than this are uploaded in parts.
const MULTIPART_BYTES: u64 = 16 << 20;

impl Remote {
    /// Connects with the credentials of the environment (see the module docs).
    pub fn open(config: &RemoteConfig) -> Result<Remote, StoreError> {
        Remote::connect(config, AmazonS3Builder::from_env())
    }

    /// Connects with an access key given here rather than taken from the environment.
    pub fn open_with_key(
        config: &RemoteConfig,
        access_key_id: &str,
        secret_access_key: &str,
    ) -> Result<Remote, StoreError> {
        let builder = AmazonS3Builder::new()
            .with_access_key_id(access_key_id)
            .with_secret_access_key(secret_access_key);
        Remote::connect(config, builder)
    }

    fn connect(config: &RemoteConfig, builder: AmazonS3Builder) -> Result<Remote, StoreError> {
        config.validate()?;
        let (bucket, prefix) = config.bucket_and_prefix()?;
        let mut builder = builder.with_bucket_name(bucket);
        if let Some(region) = &config.region {
            builder = builder.with_region(region);
        }
        if let Some(endpoint) = &config.endpoint {
            // Path-style requests: what MinIO, Ceph and local servers expect.
            builder = builder
                .with_endpoint(endpoint)
                .with_virtual_hosted_style_request(false);
        }
        let store = builder
            .with_allow_http(config.allow_http)
            .build()
            .map_err(|source| StoreError::Remote {
                operation: format!("connecting to {}", config.url),
                source,
            })?;
        Ok(Remote {
            config: config.clone(),
            store: Arc::new(store),
            prefix: ObjectPath::from(prefix),
            runtime: crate::blocking::runtime()?,
        })
    }

    pub fn config(&self) -> &RemoteConfig {
        &self.config
    }

    /// This data directory's writer id in a shared bucket.
    pub fn writer(&self) -> Option<&str> {
        self.config.writer.as_deref()
    }

    /// Whether `relative` (a path in the bucket) is a data file another writer wrote.
    fn is_other_writers(&self, relative: &str) -> bool {
        let name = relative.rsplit('/').next().unwrap_or(relative);
        crate::parts::PartName::parse(name).is_some()
            && crate::parts::writer_of(name) != self.writer()
    }

    /// The bucket as an object store, and the prefix the tables are under.
    pub fn object_store(&self) -> (Arc<dyn ObjectStore>, ObjectPath) {
        (Arc::clone(&self.store), self.prefix.clone())
    }

    /// `prefix/relative` (`relative` is `/`-separated, as the ledger names files).
    pub fn location(&self, relative: &str) -> ObjectPath {
        relative
            .split('/')
            .filter(|part| !part.is_empty())
            .fold(self.prefix.clone(), |path, part| path.join(part))
    }

    /// The path relative to the prefix, `/`-separated.
    fn relative(&self, location: &ObjectPath) -> Option<String> {
        let parts: Vec<String> = location
            .prefix_match(&self.prefix)?
            .map(|part| part.as_ref().to_owned())
            .collect();
        Some(parts.join("/"))
    }

    /// Runs `work` on the client's runtime from a thread of its own (callers may be anywhere,
    /// inside a runtime or not).
    fn run<T: Send>(&self, work: impl Future<Output = T> + Send) -> T {
        crate::blocking::on_own_thread(self.runtime, |runtime| runtime.block_on(work))
    }

    fn error(&self, operation: String) -> impl FnOnce(object_store::Error) -> StoreError {
        move |source| StoreError::Remote { operation, source }
    }

    /// Uploads the local file `local` as `relative` (in parts when large).
    pub fn upload(&self, local: &Path, relative: &str) -> Result<(), StoreError> {
        let location = self.location(relative);
        let size = std::fs::metadata(local)
            .map_err(|source| StoreError::ReadFile {
                path: local.to_owned(),
                source,
            })?
            .len();
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| StoreError::ReadFile {
                path: path.to_owned(),
                source,
            })
        };
        let on_error = self.error(format!("uploading {relative}"));
        if size <= MULTIPART_BYTES {
            let bytes = read(local)?;
            return self
                .run(self.store.put(&location, PutPayload::from(bytes)))
                .map(|_| ())
                .map_err(on_error);
        }
        let local = local.to_owned();
        self.run(async {
            let upload = self.store.put_multipart(&location).await?;
            let mut writer = WriteMultipart::new_with_chunk_size(upload, 8 << 20);
            let mut file =
                std::fs::File::open(&local).map_err(|source| object_store::Error::Generic {
                    store: "local",
                    source: Box::new(source),
                })?;
            let mut chunk = vec![0u8; 8 << 20];
            loop {
                let read = std::io::Read::read(&mut file, &mut chunk).map_err(|source| {
                    object_store::Error::Generic {
                        store: "local",
                        source: Box::new(source),
                    }
                })?;
                if read == 0 {
                    break;
                }
                writer.wait_for_capacity(4).await?;
                writer.write(&chunk[..read]);
            }
            writer.finish().await.map(|_| ())
        })
        .map_err(on_error)
    }

    /// Every object under `relative_dir` (recursively), as `(relative path, size)`, except the
    /// data files of other writers: what this data directory's ledger explains.
    pub fn list(&self, relative_dir: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let location = self.location(relative_dir);
        let listed: Vec<object_store::ObjectMeta> = self
            .run(self.store.list(Some(&location)).try_collect())
            .map_err(self.error(format!("listing {relative_dir}")))?;
        Ok(listed
            .into_iter()
            .filter_map(|meta| Some((self.relative(&meta.location)?, meta.size)))
            .filter(|(relative, _)| !self.is_other_writers(relative))
            .collect())
    }

    /// The whole contents of `relative`.
    pub fn read(&self, relative: &str) -> Result<Bytes, StoreError> {
        let location = self.location(relative);
        self.run(async { self.store.get(&location).await?.bytes().await })
            .map_err(self.error(format!("reading {relative}")))
    }

    /// The rows of the Parquet file `relative` of `size` bytes, from its footer (two ranged
    /// reads).
    pub fn parquet_rows(&self, relative: &str, size: u64) -> Result<u64, StoreError> {
        let location = self.location(relative);
        let corrupt = |reason: String| StoreError::CorruptCommit {
            path: std::path::PathBuf::from(location.to_string()),
            reason,
        };
        if size < 12 {
            return Err(corrupt("too small for a Parquet file".to_owned()));
        }
        let tail = self
            .run(self.store.get_range(&location, size - 8..size))
            .map_err(self.error(format!("reading the footer of {relative}")))?;
        if tail.len() != 8 || &tail[4..] != b"PAR1" {
            return Err(corrupt("no Parquet footer".to_owned()));
        }
        let length = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
        if length + 8 > size {
            return Err(corrupt("a footer longer than the file".to_owned()));
        }
        let metadata = self
            .run(self.store.get_range(&location, size - 8 - length..size - 8))
            .map_err(self.error(format!("reading the footer of {relative}")))?;
        let decoded =
            datafusion::parquet::file::metadata::ParquetMetaDataReader::decode_metadata(&metadata)
                .map_err(|error| corrupt(error.to_string()))?;
        Ok(u64::try_from(decoded.file_metadata().num_rows()).unwrap_or(0))
    }

    /// Writes `bytes` as `relative` (replacing it).
    pub fn put(&self, relative: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        let location = self.location(relative);
        self.run(self.store.put(&location, PutPayload::from(bytes)))
            .map(|_| ())
            .map_err(self.error(format!("writing {relative}")))
    }

    /// Writes `bytes` as `relative` only if nothing is there yet (a conditional PUT,
    /// `If-None-Match: *`): `false` when another writer got there first.
    pub fn put_if_absent(&self, relative: &str, bytes: Vec<u8>) -> Result<bool, StoreError> {
        let location = self.location(relative);
        let options = object_store::PutOptions {
            mode: object_store::PutMode::Create,
            ..object_store::PutOptions::default()
        };
        match self.run(
            self.store
                .put_opts(&location, PutPayload::from(bytes), options),
        ) {
            Ok(_) => Ok(true),
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => Ok(false),
            Err(error) => Err(self.error(format!("creating {relative}"))(error)),
        }
    }

    /// The size of `relative`, `None` when it is not there.
    pub fn head(&self, relative: &str) -> Result<Option<u64>, StoreError> {
        let location = self.location(relative);
        match self.run(self.store.head(&location)) {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(source) => Err(self.error(format!("looking up {relative}"))(source)),
        }
    }

    /// Moves `relative` under `_retired/<seq>/` (a copy, then a delete). `false` when it is
    /// not there (already moved).
    pub fn retire(&self, relative: &str, seq: u64) -> Result<bool, StoreError> {
        self.rename(relative, &format!("{RETIRED_DIR}/{seq:020}/{relative}"))
    }

    /// Moves `from` to `to` in the bucket (a server-side copy, then a delete). `false` when
    /// `from` is not there (already moved).
    pub fn rename(&self, from: &str, to: &str) -> Result<bool, StoreError> {
        let source = self.location(from);
        let target = self.location(to);
        match self.run(self.store.copy(&source, &target)) {
            Ok(()) => {}
            Err(object_store::Error::NotFound { .. }) => return Ok(false),
            Err(error) => return Err(self.error(format!("moving {from} to {to}"))(error)),
        }
        self.run(self.store.delete(&source))
            .map_err(self.error(format!("moving {from} to {to}")))?;
        Ok(true)
    }

    /// Deletes `relative` (nothing when it is not there).
    pub fn delete(&self, relative: &str) -> Result<(), StoreError> {
        let location = self.location(relative);
        match self.run(self.store.delete(&location)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(self.error(format!("deleting {relative}"))(error)),
        }
    }

    /// Deletes the retirements older than `grace` (by their objects' times). Returns how many
    /// objects went.
    pub fn purge_retired(&self, grace: Duration) -> Result<usize, StoreError> {
        let root = self.location(RETIRED_DIR);
        let cutoff =
            chrono::Utc::now() - chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX);
        let listed: Vec<object_store::ObjectMeta> = self
            .run(self.store.list(Some(&root)).try_collect())
            .map_err(self.error("listing retired files".to_owned()))?;
        let old: Vec<ObjectPath> = listed
            .into_iter()
            .filter(|meta| meta.last_modified <= cutoff)
            .map(|meta| meta.location)
            .collect();
        for location in &old {
            self.run(self.store.delete(location))
                .map_err(self.error(format!("deleting retired {location}")))?;
        }
        Ok(old.len())
    }
}
