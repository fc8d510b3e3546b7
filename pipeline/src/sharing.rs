//! Several writers on one bucket (`[store.object_store] writer`): what each `serve` replica
//! publishes for the others and copies from them, so any replica answers for all of them.
//!
//! ```text
//! <bucket>/<prefix>/
//!   events/ alerts/ dead_letters/     every writer's settled partitions, files named by writer
//!   _catalog/<generation>.json       who writes here and how far (see store::catalog)
//!   _writers/<writer>/ledger/<segment>/<offset>.jsonl   its commit log, appended in chunks
//!   _writers/<writer>/search/        a copy of its search indexes (_state.json, date=…/)
//! <data_dir>/_peers/search/<writer>/ the other writers' search indexes, copied here
//! ```
//!
//! **Publishing** (each writer, every `sync_seconds`): the new bytes of its commit log; for
//! each day index, the files of the segments its `meta.json` names, then that `meta.json`,
//! then `_state.json` (so a copy never names a segment it lacks); files its indexes no longer
//! use are deleted; then its entry in the catalog.
//!
//! **Copying** (each writer, the same pass): for every other writer in the catalog, each day
//! whose `meta.json` changed gets the segment files it lacks, then the `meta.json`, then the
//! writer's `_state.json`. A day whose listing is older than its `meta.json` waits for the
//! next pass. The searcher reads the copies ([`search::Searcher::with_peers`]), each writer's
//! documents up to its own `_state.json` seq.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use store::StoreError;
use store::catalog::{self, WRITERS_DIR, WriterState};
use store::remote::Remote;

use crate::PipelineError;
use crate::stores::search_dir;

/// Where the other writers' search indexes are copied, under the data directory.
pub const PEERS_DIR: &str = "_peers/search";

/// The directory the other writers' search indexes are copied to.
pub fn peers_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(PEERS_DIR)
}

const STATE_FILE: &str = "_state.json";
const MANAGED_FILE: &str = ".managed.json";
/// How far back from the end of the published log its last line is looked for.
const HEAD_WINDOW: u64 = 16 << 20;
const META_FILE: &str = "meta.json";

/// The name of a data directory's own area in its bucket when it has no writer id (it shares
/// the bucket with nobody).
pub const SOLE_WRITER: &str = "sole";

/// A data directory's own area in its bucket: `_writers/<writer>/`.
fn own_area(config: &store::Config) -> String {
    format!("{WRITERS_DIR}/{}", config.writer().unwrap_or(SOLE_WRITER))
}

/// One writer's end of the sharing (see the module docs).
#[derive(Debug)]
pub struct Sharing {
    remote: Remote,
    writer: String,
    /// `_writers/<writer>`: see [`own_area`].
    area: String,
    /// Other writers share the bucket (a writer id is set): active files, the catalog and
    /// their search indexes.
    shared: bool,
    /// Search days older than this many days leave local disk once in the bucket.
    hot_days: Option<u32>,
    data_dir: PathBuf,
    /// What this writer's copy in the bucket holds: relative key → size (`None` before the
    /// first listing).
    published: Option<HashMap<String, u64>>,
    /// The `meta.json` and `_state.json` bytes last published, by key.
    published_meta: HashMap<String, Vec<u8>>,
    last_state: Option<WriterState>,
    /// The newest line of the commit log in the bucket.
    ledger_head: Option<store::ledger::Head>,
    /// How long a copy of a file gone from here stays (readers may have listed it).
    grace: std::time::Duration,
    /// Copies of files gone from here, and since when.
    gone: HashMap<String, std::time::Instant>,
    /// The other writers whose copy here is whole as of the `_state.json` it holds: copied
    /// again only once their state changes.
    complete: HashSet<String>,
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pass {
    pub uploaded_files: usize,
    pub uploaded_bytes: u64,
    pub copied_files: usize,
    pub copied_bytes: u64,
    /// Search days past the hot period whose copy in the bucket is whole, with the
    /// `meta.json` copied: for [`crate::Stores::make_cold`].
    pub cold_candidates: Vec<(chrono::NaiveDate, Vec<u8>)>,
}

impl Pass {
    fn uploaded(&mut self, bytes: u64) {
        self.uploaded_files += 1;
        self.uploaded_bytes += bytes;
    }
}

impl Sharing {
    /// `None` without a bucket. With one: its commit log always, its search indexes when
    /// other writers share the bucket or `hot_days` moves old days there.
    pub fn open(
        config: &store::Config,
        hot_days: Option<u32>,
    ) -> Result<Option<Sharing>, PipelineError> {
        let Some(remote_config) = &config.object_store else {
            return Ok(None);
        };
        Ok(Some(Sharing {
            remote: Remote::open(remote_config)?,
            writer: config.writer().unwrap_or(SOLE_WRITER).to_owned(),
            area: own_area(config),
            shared: config.writer().is_some(),
            hot_days,
            data_dir: config.data_dir.clone(),
            published: None,
            published_meta: HashMap::new(),
            last_state: None,
            ledger_head: None,
            grace: config.compaction.grace(),
            gone: HashMap::new(),
            complete: HashSet::new(),
        }))
    }

    fn own(&self, relative: &str) -> String {
        format!("{}/{relative}", self.area)
    }

    /// Publishes this writer's state, then copies the others'.
    pub fn pass(&mut self) -> Result<Pass, PipelineError> {
        let mut pass = Pass::default();
        self.publish(&mut pass)?;
        if self.shared {
            self.copy_peers(&mut pass)?;
        }
        Ok(pass)
    }

    fn publish(&mut self, pass: &mut Pass) -> Result<(), PipelineError> {
        let mut published = match self.published.take() {
            Some(published) => published,
            None => self.remote.list(&self.area)?.into_iter().collect(),
        };
        let result = self.publish_with(&mut published, pass);
        self.published = Some(published);
        result
    }

    fn publish_with(
        &mut self,
        published: &mut HashMap<String, u64>,
        pass: &mut Pass,
    ) -> Result<(), PipelineError> {
        self.publish_ledger(published, pass)?;
        if self.shared {
            self.publish_active(published, pass)?;
        }
        if !self.shared && self.hot_days.is_none() {
            return Ok(());
        }
        let search = search_dir(&self.data_dir);
        let state = read_optional(&search.join(STATE_FILE))?;
        let mut wanted: HashSet<String> = HashSet::new();
        // Cold days are in the bucket only: their copy stays.
        for day in search::cold_days(&search)? {
            let prefix = self.own(&format!("search/date={day}/"));
            wanted.extend(
                published
                    .keys()
                    .filter(|key| key.starts_with(&prefix))
                    .cloned(),
            );
        }
        let hot_since = self
            .hot_days
            .map(|days| chrono::Utc::now().date_naive() - chrono::Duration::days(i64::from(days)));
        if let Some(state) = &state {
            for (day, dir) in day_dirs(&search)? {
                let Some(meta) = read_optional(&dir.join(META_FILE))? else {
                    continue;
                };
                let names = file_names(&dir)?;
                let Some(needed) = search::replica::files_needed(&meta, &names)? else {
                    continue;
                };
                for name in &needed {
                    let key = self.own(&format!("search/{day}/{name}"));
                    self.upload_changed(published, &dir.join(name), &key, pass)?;
                    wanted.insert(key);
                }
                // tantivy's list of the files it manages, so a copy brought back is managed.
                if let Some(managed) = read_optional(&dir.join(MANAGED_FILE))? {
                    let key = self.own(&format!("search/{day}/{MANAGED_FILE}"));
                    self.put_changed(published, &key, managed, pass)?;
                    wanted.insert(key);
                }
                let key = self.own(&format!("search/{day}/{META_FILE}"));
                self.put_changed(published, &key, meta.clone(), pass)?;
                wanted.insert(key);
                let date = day
                    .strip_prefix("date=")
                    .and_then(|date| chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").ok());
                if let (Some(date), Some(hot_since)) = (date, hot_since)
                    && date < hot_since
                {
                    pass.cold_candidates.push((date, meta));
                }
            }
            let key = self.own(&format!("search/{STATE_FILE}"));
            self.put_changed(published, &key, state.clone(), pass)?;
            wanted.insert(key);
        }
        // Files no meta names any more (merged segments, days retention dropped).
        let search_prefix = self.own("search/");
        let stale: Vec<String> = published
            .keys()
            .filter(|key| key.starts_with(&search_prefix) && !wanted.contains(*key))
            .cloned()
            .collect();
        for key in stale {
            self.remote.delete(&key)?;
            published.remove(&key);
            self.published_meta.remove(&key);
        }
        if !self.shared {
            return Ok(());
        }
        let head = self.ledger_head.clone();
        let search_seq = state
            .as_deref()
            .and_then(|state| serde_json::from_slice::<serde_json::Value>(state).ok())
            .and_then(|state| state.get("seq").and_then(serde_json::Value::as_u64))
            .unwrap_or(0);
        let mut writer_state = WriterState {
            ledger_seq: head.as_ref().map_or(0, |head| head.seq),
            ledger_sha256: head.map(|head| head.sha256),
            search_seq,
            updated: String::new(),
        };
        let unchanged = self.last_state.as_ref().is_some_and(|last| {
            WriterState {
                updated: String::new(),
                ..last.clone()
            } == writer_state
        });
        if !unchanged {
            writer_state.updated = chrono::Utc::now().to_rfc3339();
            catalog::update(&self.remote, &self.writer, &writer_state)?;
            self.last_state = Some(writer_state);
        }
        Ok(())
    }

    /// Writes `bytes` as `key` unless that is what was last written there.
    fn put_changed(
        &mut self,
        published: &mut HashMap<String, u64>,
        key: &str,
        bytes: Vec<u8>,
        pass: &mut Pass,
    ) -> Result<(), PipelineError> {
        if self.published_meta.get(key) == Some(&bytes) && published.contains_key(key) {
            return Ok(());
        }
        let size = bytes.len() as u64;
        self.remote.put(key, bytes.clone())?;
        published.insert(key.to_owned(), size);
        self.published_meta.insert(key.to_owned(), bytes);
        pass.uploaded(size);
        Ok(())
    }

    /// Uploads the local file `path` as `key` unless the bucket has it at that size (the
    /// files copied are immutable once named by a commit or a `meta.json`).
    fn upload_changed(
        &self,
        published: &mut HashMap<String, u64>,
        path: &Path,
        key: &str,
        pass: &mut Pass,
    ) -> Result<(), PipelineError> {
        let size = file_size(path)?;
        if published.get(key) != Some(&size) {
            self.remote.upload(path, key)?;
            published.insert(key.to_owned(), size);
            pass.uploaded(size);
        }
        Ok(())
    }

    /// Copies the files of the tables still here (partitions not yet moved to the bucket) to
    /// `active/<table>/<partition>/<file>`, named by this writer, so the other writers' SQL
    /// sees them now (see `store::live_store::ACTIVE_DIR`); copies of files gone from here
    /// (compacted to the bucket, removed by retention) are deleted after the grace period.
    fn publish_active(
        &mut self,
        published: &mut HashMap<String, u64>,
        pass: &mut Pass,
    ) -> Result<(), PipelineError> {
        let mut wanted = HashSet::new();
        for table in [
            store::commit::EVENTS_DIR,
            store::commit::ALERTS_DIR,
            store::commit::DEAD_LETTERS_DIR,
        ] {
            for (path, relative) in table_files(&self.data_dir, table)? {
                let (dir, name) = relative.rsplit_once('/').unwrap_or(("", &relative));
                let Some(part) = store::parts::PartName::parse(name) else {
                    continue;
                };
                let extension = name.rsplit_once('.').map_or("", |(_, extension)| extension);
                let named = part.file_name(Some(&self.writer), extension);
                let key = self.own(&format!("{}/{dir}/{named}", store::live_store::ACTIVE_DIR));
                match self.upload_changed(published, &path, &key, pass) {
                    Ok(()) => {}
                    // Moved away since the listing (compacted, retired): nothing to copy.
                    Err(_) if !path.exists() => continue,
                    Err(error) => return Err(error),
                }
                wanted.insert(key);
            }
        }
        let active = self.own(&format!("{}/", store::live_store::ACTIVE_DIR));
        let now = std::time::Instant::now();
        let gone: HashSet<String> = published
            .keys()
            .filter(|key| key.starts_with(&active) && !wanted.contains(*key))
            .cloned()
            .collect();
        self.gone.retain(|key, _| gone.contains(key));
        for key in gone {
            let since = *self.gone.entry(key.clone()).or_insert(now);
            if now.duration_since(since) >= self.grace {
                self.remote.delete(&key)?;
                published.remove(&key);
                self.gone.remove(&key);
            }
        }
        Ok(())
    }

    /// The commit log's complete lines not yet in the bucket, as a new chunk per segment:
    /// `ledger/<segment>/<offset:020>.jsonl` holds the segment's bytes from `offset`.
    fn publish_ledger(
        &mut self,
        published: &mut HashMap<String, u64>,
        pass: &mut Pass,
    ) -> Result<(), PipelineError> {
        let mut ends: BTreeMap<String, u64> = BTreeMap::new();
        let prefix = self.own("ledger/");
        for (key, size) in published.iter() {
            let Some(rest) = key.strip_prefix(&prefix) else {
                continue;
            };
            let Some((segment, chunk)) = rest.split_once('/') else {
                continue;
            };
            let Some(offset) = chunk
                .strip_suffix(".jsonl")
                .and_then(|offset| offset.parse::<u64>().ok())
            else {
                continue;
            };
            let end = ends.entry(segment.to_owned()).or_default();
            *end = (*end).max(offset + size);
        }
        for (_, path) in store::ledger::segments(&self.data_dir)? {
            let Some(segment) = path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
            else {
                continue;
            };
            let from = ends.get(&segment).copied().unwrap_or(0);
            if file_size(&path)? <= from {
                continue;
            }
            let mut chunk = read_from(&path, from)?;
            // Complete lines only: a line being appended goes next time.
            chunk.truncate(
                chunk
                    .iter()
                    .rposition(|byte| *byte == b'\n')
                    .map_or(0, |end| end + 1),
            );
            if chunk.is_empty() {
                continue;
            }
            let key = self.own(&format!("ledger/{segment}/{from:020}.jsonl"));
            let size = chunk.len() as u64;
            self.remote.put(&key, chunk)?;
            published.insert(key, size);
            ends.insert(segment, from + size);
            pass.uploaded(size);
        }
        // The head the catalog names: the last line published (not a newer one appended
        // since), found in the newest segment's published bytes.
        if let Some((segment, end)) = ends.iter().next_back() {
            let path = self.data_dir.join(store::ledger::LEDGER_DIR).join(segment);
            let start = end.saturating_sub(HEAD_WINDOW);
            let mut tail = read_from(&path, start)?;
            tail.truncate((end - start) as usize);
            let text = String::from_utf8_lossy(&tail);
            if let Some(line) = text.trim_end_matches('\n').rsplit('\n').next()
                && let Ok(entry) = serde_json::from_str::<store::ledger::LedgerEntry>(line)
            {
                self.ledger_head = Some(store::ledger::Head {
                    seq: entry.seq,
                    sha256: store::ledger::sha256_hex(line.as_bytes()),
                });
            }
        }
        Ok(())
    }

    /// Copies the search indexes of every other writer in the catalog.
    fn copy_peers(&mut self, pass: &mut Pass) -> Result<(), PipelineError> {
        let Some(catalog) = catalog::read(&self.remote)? else {
            return Ok(());
        };
        for writer in catalog.writers.keys() {
            if *writer == self.writer || !store::parts::valid_writer(writer) {
                continue;
            }
            let whole = self.copy_peer(writer, pass)?;
            if whole {
                self.complete.insert(writer.clone());
            } else {
                self.complete.remove(writer);
            }
        }
        Ok(())
    }

    /// Copies `writer`'s search indexes; `true` when the copy is whole as of the state it
    /// installed (no day had to wait for a later pass).
    fn copy_peer(&self, writer: &str, pass: &mut Pass) -> Result<bool, PipelineError> {
        let prefix = format!("{WRITERS_DIR}/{writer}/search");
        let local = peers_dir(&self.data_dir).join(writer);
        // Nothing changed since a whole copy: one small GET per pass.
        let state = match self.remote.read(&format!("{prefix}/{STATE_FILE}")) {
            Ok(state) => state,
            Err(_)
                if self
                    .remote
                    .head(&format!("{prefix}/{STATE_FILE}"))?
                    .is_none() =>
            {
                return Ok(false);
            }
            Err(error) => return Err(error.into()),
        };
        let local_state = read_optional(&local.join(STATE_FILE))?;
        if self.complete.contains(writer) && local_state.as_deref() == Some(&state[..]) {
            return Ok(true);
        }
        create_dir(&local)?;
        let mut whole = true;
        // The bucket's files per day directory.
        let mut days: BTreeMap<String, Vec<(String, u64)>> = BTreeMap::new();
        let mut has_state = false;
        for (key, size) in self.remote.list(&prefix)? {
            let Some(rest) = key.strip_prefix(&format!("{prefix}/")) else {
                continue;
            };
            match rest.split_once('/') {
                Some((day, name)) if day.starts_with("date=") && !name.contains('/') => {
                    days.entry(day.to_owned())
                        .or_default()
                        .push((name.to_owned(), size));
                }
                None if rest == STATE_FILE => has_state = true,
                _ => {}
            }
        }
        if !has_state {
            return Ok(false);
        }
        for (day, files) in &days {
            let copied = copy_day(
                &self.remote,
                &format!("{prefix}/{day}"),
                files,
                &local.join(day),
            )?;
            match copied {
                Some((count, bytes)) => {
                    pass.copied_files += count;
                    pass.copied_bytes += bytes;
                }
                None => whole = false,
            }
        }
        // Days the writer no longer has (retention).
        for (day, dir) in day_dirs(&local)? {
            if !days.contains_key(&day) {
                std::fs::remove_dir_all(&dir).map_err(|source| StoreError::Remove {
                    path: dir.clone(),
                    source,
                })?;
            }
        }
        // The state read first: the days copied are at least as new as it says.
        if local_state.as_deref() != Some(&state[..]) {
            write_atomically(&local.join(STATE_FILE), &state)?;
        }
        Ok(whole)
    }
}

/// Copies the day index at `prefix` in the bucket (whose objects are `files`, names and sizes)
/// into `dir`: the files its `meta.json` names that `dir` lacks, tantivy's `.managed.json`,
/// then the `meta.json`, then deletes the files it no longer names. `None` when the listing
/// is older than the `meta.json` (or the day went meanwhile): nothing installed, try later.
/// Else how many files and bytes were copied.
fn copy_day(
    remote: &Remote,
    prefix: &str,
    files: &[(String, u64)],
    dir: &Path,
) -> Result<Option<(usize, u64)>, PipelineError> {
    let meta = match remote.read(&format!("{prefix}/{META_FILE}")) {
        Ok(meta) => meta.to_vec(),
        // Deleted since the listing (the day was dropped): the next pass removes it.
        Err(_) => return Ok(None),
    };
    if read_optional(&dir.join(META_FILE))?.as_deref() == Some(&meta[..]) {
        return Ok(Some((0, 0)));
    }
    let names: Vec<String> = files.iter().map(|(name, _)| name.clone()).collect();
    let Some(needed) = search::replica::files_needed(&meta, &names)? else {
        return Ok(None);
    };
    create_dir(dir)?;
    let (mut count, mut bytes) = (0, 0);
    for name in &needed {
        let size = files
            .iter()
            .find(|(listed, _)| listed == name)
            .map_or(0, |(_, size)| *size);
        let path = dir.join(name);
        if file_size(&path).ok() == Some(size) {
            continue;
        }
        let copied = remote.read(&format!("{prefix}/{name}"))?;
        write_atomically(&path, &copied)?;
        count += 1;
        bytes += copied.len() as u64;
    }
    if names.iter().any(|name| name == MANAGED_FILE)
        && let Ok(managed) = remote.read(&format!("{prefix}/{MANAGED_FILE}"))
    {
        write_atomically(&dir.join(MANAGED_FILE), &managed)?;
    }
    write_atomically(&dir.join(META_FILE), &meta)?;
    // Files the new meta does not name (readers that still use them keep them open).
    for name in file_names(dir)? {
        if name != META_FILE && !needed.contains(&name) {
            remove_file(&dir.join(&name))?;
        }
    }
    Ok(Some((count, bytes)))
}

/// This data directory's day indexes in the bucket, as the search index fetches its cold days
/// (see `search::ColdStore`): `_writers/<writer>/search/date=…/`.
#[derive(Debug)]
pub struct BucketDays {
    remote: Remote,
    prefix: String,
}

impl BucketDays {
    /// `None` without a bucket.
    pub fn open(config: &store::Config) -> Result<Option<BucketDays>, PipelineError> {
        let Some(remote_config) = &config.object_store else {
            return Ok(None);
        };
        Ok(Some(BucketDays {
            remote: Remote::open(remote_config)?,
            prefix: format!("{}/search", own_area(config)),
        }))
    }
}

impl BucketDays {
    /// For a reader of `data_dir` (the CLI): its recorded bucket's days, `None` without one.
    pub fn recorded(data_dir: &Path) -> Result<Option<BucketDays>, PipelineError> {
        let mut config = store::Config::with_data_dir(data_dir);
        config.object_store = store::remote::recorded(data_dir)?;
        BucketDays::open(&config)
    }
}

impl search::ColdStore for BucketDays {
    fn fetch(&self, day: chrono::NaiveDate, into: &Path) -> Result<(), search::SearchError> {
        let failed = |error: String| {
            search::SearchError::Index(format!(
                "fetching the search day {day} from the bucket: {error}"
            ))
        };
        let prefix = format!("{}/date={day}", self.prefix);
        let files: Vec<(String, u64)> = self
            .remote
            .list(&prefix)
            .map_err(|error| failed(error.to_string()))?
            .into_iter()
            .filter_map(|(key, size)| {
                let name = key.strip_prefix(&format!("{prefix}/"))?;
                (!name.contains('/')).then(|| (name.to_owned(), size))
            })
            .collect();
        match copy_day(&self.remote, &prefix, &files, into) {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(failed("its copy in the bucket is not whole".to_owned())),
            Err(error) => Err(failed(error.to_string())),
        }
    }
}

/// The data files of `table` here (hidden and retired ones left out), as (path, path relative
/// to the data directory).
fn table_files(data_dir: &Path, table: &str) -> Result<Vec<(PathBuf, String)>, PipelineError> {
    let mut found = Vec::new();
    let mut dirs = vec![(data_dir.join(table), table.to_owned())];
    while let Some((dir, relative)) = dirs.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(StoreError::ReadFile { path: dir, source }.into());
            }
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let path = entry.path();
            if path.is_dir() {
                if name.contains('=') {
                    dirs.push((path, format!("{relative}/{name}")));
                }
            } else if name.starts_with("part-") {
                found.push((path, format!("{relative}/{name}")));
            }
        }
    }
    Ok(found)
}

/// The `date=…` directories under `dir`, by name.
fn day_dirs(dir: &Path) -> Result<Vec<(String, PathBuf)>, PipelineError> {
    let mut days = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(days),
        Err(source) => {
            return Err(StoreError::ReadFile {
                path: dir.to_owned(),
                source,
            }
            .into());
        }
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("date=") && entry.path().is_dir() {
            days.push((name, entry.path()));
        }
    }
    days.sort();
    Ok(days)
}

/// The names of the regular files in `dir` (hidden ones left out).
fn file_names(dir: &Path) -> Result<Vec<String>, PipelineError> {
    let entries = std::fs::read_dir(dir).map_err(|source| StoreError::ReadFile {
        path: dir.to_owned(),
        source,
    })?;
    let mut names = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') && entry.path().is_file() {
            names.push(name);
        }
    }
    Ok(names)
}

fn file_size(path: &Path) -> Result<u64, PipelineError> {
    Ok(std::fs::metadata(path)
        .map_err(|source| StoreError::ReadFile {
            path: path.to_owned(),
            source,
        })?
        .len())
}

/// The bytes of `path` from `offset` on.
fn read_from(path: &Path, offset: u64) -> Result<Vec<u8>, PipelineError> {
    use std::io::{Read, Seek, SeekFrom};
    let error = |source| StoreError::ReadFile {
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(error)?;
    file.seek(SeekFrom::Start(offset)).map_err(error)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(error)?;
    Ok(bytes)
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, PipelineError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(StoreError::ReadFile {
            path: path.to_owned(),
            source,
        }
        .into()),
    }
}

fn create_dir(dir: &Path) -> Result<(), PipelineError> {
    std::fs::create_dir_all(dir).map_err(|source| {
        StoreError::CreateDir {
            path: dir.to_owned(),
            source,
        }
        .into()
    })
}

fn remove_file(path: &Path) -> Result<(), PipelineError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(StoreError::Remove {
            path: path.to_owned(),
            source,
        }
        .into()),
    }
}

/// Writes `bytes` to a hidden temporary file beside `path`, then renames it into place, so a
/// reader sees the old file or the new one whole.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), PipelineError> {
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.copy"));
    std::fs::write(&tmp, bytes).map_err(|source| StoreError::WriteFile {
        path: tmp.clone(),
        source,
    })?;
    std::fs::rename(&tmp, path).map_err(|source| {
        StoreError::WriteFile {
            path: path.to_owned(),
            source,
        }
        .into()
    })
}
