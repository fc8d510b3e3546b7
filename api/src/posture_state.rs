//! The posture state `GET /api/v1/posture` answers from when no time range is asked: the
//! latest write of each object and the raw events that decide them, kept up to date from the
//! events the pipeline passes on ([`ApiState::publish`]).
//!
//! Reading it from the store takes long on a large store (the deciding writes' raw JSON is
//! spread over every Parquet file), so it is kept across restarts in
//! `<data_dir>/_posture/state.json.zst`, with the commit sequence number of the newest events
//! file it has taken in. At start-up the state is loaded and only events files of later
//! commits are read (file names carry their commit's number); without a kept state, the whole
//! store is read once. The state is written back every few minutes when it changed, and when
//! the server stops.
//!
//! Why the kept state is never behind the files it claims: the pipeline shows events to
//! [`LivePosture::observe`] before their commit writes any file, and a save lists the events
//! files (their newest number) before it copies the state. It may be ahead (events observed
//! but not yet committed): observing a write twice changes nothing but the `writes` count.
//! Objects whose writes retention later deletes stay in the state: posture is the latest state
//! the stream showed, whatever its age.

use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use datafusion::prelude::ParquetReadOptions;
use serde::{Deserialize, Serialize};

use crate::routes_posture::{read_bodies, report_json, scan, writes_filter};
use crate::{ApiError, ApiState};

/// Where the state is kept, under the data directory.
const STATE_FILE: &str = "_posture/state.json.zst";
/// The kept state's format; another number is read as no kept state.
const FORMAT: u32 = 1;
/// How often a changed state is written back.
const SAVE_EVERY: Duration = Duration::from_secs(300);

/// The posture state kept from the pipeline's events, seeded once at start-up.
#[derive(Debug, Default)]
pub(crate) struct LivePosture {
    state: Mutex<Live>,
    /// Held while the state is written (the periodic save and the one at stop may meet).
    saving: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct Live {
    selection: posture::Selection,
    /// Raw events by id: at least those the selection needs (pruned now and then).
    bodies: HashMap<String, String>,
    /// Write events observed live and read from the store.
    writes: u64,
    /// The store's writes have been read in.
    seeded: bool,
    /// Bumped by every observed write; the unrestricted report is cached per version.
    version: u64,
    /// The version last written to the data directory.
    saved_version: u64,
    cached: Option<(u64, Instant, serde_json::Value)>,
    /// A newer report is being made in the background.
    refreshing: bool,
}

/// What a report is made from: the selection, the deciding raw events, the writes read and
/// the state's version.
#[derive(Debug)]
pub(crate) struct Snapshot {
    pub(crate) selection: posture::Selection,
    pub(crate) raws: Vec<(String, String)>,
    pub(crate) writes: u64,
    pub(crate) version: u64,
}

/// What the live state can give a request.
pub(crate) enum Taken {
    /// The store's writes are not read in yet: read the store.
    NotSeeded,
    /// A report made earlier (`stale: true` when writes arrived since), and the snapshot to
    /// make a newer one from in the background, if none is being made.
    Cached {
        report: serde_json::Value,
        refresh: Option<Snapshot>,
    },
    /// Make the report from this.
    Snapshot(Snapshot),
}

/// Which (cluster, namespace) a caller may see.
pub(crate) type Keep<'a> = &'a dyn Fn(&str, Option<&str>) -> bool;

/// The state as kept on disk.
#[derive(Serialize, Deserialize)]
struct Kept {
    format: u32,
    /// Every events file of this commit or an earlier one is taken in.
    seq: u64,
    writes: u64,
    selection: posture::Selection,
    /// The raw events the selection needs.
    bodies: Vec<(String, String)>,
}

/// Whether an event is a write the posture checks read.
fn posture_write(event: &event::Event) -> bool {
    event.subresource.is_none()
        && event
            .resource
            .as_deref()
            .is_some_and(|resource| posture::RESOURCES.contains(&resource))
        && event
            .verb
            .as_deref()
            .is_some_and(|verb| posture::VERBS.contains(&verb))
}

impl LivePosture {
    /// Takes in the writes among `events` (called for every batch that passed detection).
    pub(crate) fn observe(&self, events: &[event::Event]) {
        if !events.iter().any(posture_write) {
            return;
        }
        let mut live = self.lock();
        for event in events.iter().filter(|event| posture_write(event)) {
            live.selection.observe_with_raw(
                &posture::Meta {
                    event_id: &event.event_id,
                    time_micros: event.time,
                    cluster: &event.cluster,
                    resource: event.resource.as_deref().unwrap_or_default(),
                    namespace: event.namespace.as_deref(),
                    name: event.name.as_deref(),
                    verb: event.verb.as_deref().unwrap_or_default(),
                    response_code: event.response_code,
                    user: event.user.as_deref(),
                    request_uri: event.request_uri.as_deref(),
                },
                &event.raw,
            );
            live.bodies
                .insert(event.event_id.clone(), event.raw.clone());
            live.writes += 1;
            live.version += 1;
        }
        live.prune();
    }

    /// What a request without a time range gets: for an unrestricted caller (`keep` none) a
    /// cached report if it is current or at most `max_age_secs` old; else a snapshot of what
    /// `keep` admits.
    pub(crate) fn take(&self, keep: Option<Keep<'_>>, max_age_secs: Option<u64>) -> Taken {
        let mut live = self.lock();
        if !live.seeded {
            return Taken::NotSeeded;
        }
        if keep.is_none()
            && let Some((version, _, report)) = live
                .cached
                .as_ref()
                .filter(|(version, made, _)| {
                    *version == live.version
                        || max_age_secs.is_some_and(|max_age| made.elapsed().as_secs() <= max_age)
                })
                .cloned()
        {
            // Current, or as old as the caller accepts (stale while revalidating).
            let stale = version != live.version;
            let refresh = (stale && !live.refreshing).then(|| {
                live.refreshing = true;
                live.snapshot(None)
            });
            let mut report = report;
            report["stale"] = stale.into();
            return Taken::Cached { report, refresh };
        }
        Taken::Snapshot(live.snapshot(keep))
    }

    /// Takes in what seeding read, marks the state seeded and returns the snapshot of the
    /// first report (marked as being made).
    fn seeded(&self, read: Seed) -> Snapshot {
        let mut live = self.lock();
        if let Some(kept) = read.kept {
            live.selection.merge(kept.selection);
            live.bodies.extend(kept.bodies);
            live.writes += kept.writes;
        }
        live.selection.merge(read.selection);
        live.bodies.extend(read.bodies);
        live.writes += read.rows;
        // Writes that name their object only in the body (pods of a ReplicaSet) become writes
        // of that object, so only the latest write of each object needs its body.
        let Live {
            selection, bodies, ..
        } = &mut *live;
        selection.name_from_bodies(|event_id| bodies.get(event_id).map(String::as_str));
        live.selection.compact();
        live.prune();
        live.seeded = true;
        live.version += 1;
        live.refreshing = true;
        live.snapshot(None)
    }

    /// Keeps the unrestricted report made from the state's `version`.
    pub(crate) fn cache(&self, version: u64, report: serde_json::Value) {
        self.lock().cached = Some((version, Instant::now(), report));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Live> {
        self.state.lock().expect("posture state poisoned")
    }
}

impl Live {
    /// The selection (all of it, or what `keep` admits) and the raw events it needs.
    fn snapshot(&self, keep: Option<Keep<'_>>) -> Snapshot {
        let selection = match keep {
            None => self.selection.clone(),
            Some(keep) => self.selection.restricted(keep),
        };
        let raws = selection
            .needed()
            .into_iter()
            .filter_map(|(id, _)| self.bodies.get(&id).map(|raw| (id, raw.clone())))
            .collect();
        Snapshot {
            selection,
            raws,
            writes: self.writes,
            version: self.version,
        }
    }

    /// Drops the bodies no write decides any more, once they are twice as many as needed.
    fn prune(&mut self) {
        if self.bodies.len() <= 2 * self.selection.len() + 4096 {
            return;
        }
        // Writes in namespaces deleted since decide nothing any more.
        self.selection.compact();
        let needed: HashSet<String> = self
            .selection
            .needed()
            .into_iter()
            .map(|(event_id, _)| event_id)
            .collect();
        self.bodies.retain(|event_id, _| needed.contains(event_id));
    }
}

fn state_path(data_dir: &Path) -> PathBuf {
    data_dir.join(STATE_FILE)
}

/// The kept state, if there is a readable one of this format.
fn load(data_dir: &Path) -> Option<Kept> {
    let path = state_path(data_dir);
    let file = match std::fs::File::open(&path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return None,
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "the kept posture state is unreadable; reading the store");
            return None;
        }
    };
    let read = zstd::Decoder::new(file)
        .map_err(|error| error.to_string())
        .and_then(|decoder| {
            serde_json::from_reader::<_, Kept>(std::io::BufReader::new(decoder))
                .map_err(|error| error.to_string())
        });
    match read {
        Ok(kept) if kept.format == FORMAT => Some(kept),
        Ok(kept) => {
            tracing::info!(
                format = kept.format,
                "the kept posture state has another format; reading the store"
            );
            None
        }
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "the kept posture state is unreadable; reading the store");
            None
        }
    }
}

/// Writes `kept` in place of the kept state: a temporary file, fsynced, renamed over it.
fn save(data_dir: &Path, kept: &Kept) -> std::io::Result<()> {
    let path = state_path(data_dir);
    let dir = path.parent().expect("the state file is in a directory");
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("zst.tmp");
    let file = std::fs::File::create(&tmp)?;
    let mut encoder = zstd::Encoder::new(std::io::BufWriter::new(file), 1)?;
    serde_json::to_writer(&mut encoder, kept)?;
    let mut buffered = encoder.finish()?;
    buffered.flush()?;
    let file = buffered.into_inner().map_err(|error| error.into_error())?;
    file.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    std::fs::File::open(dir)?.sync_all()
}

/// The commit number of the newest events file, and the events files after `seq`.
fn events_files_after(data_dir: &Path, seq: u64) -> Result<(u64, Vec<String>), ApiError> {
    let files = store::read_back::files_after(data_dir, store::commit::EVENTS_DIR, seq)
        .map_err(|error| ApiError::internal(format!("listing events files: {error}")))?;
    let newest = files.last().map_or(seq, |(file_seq, _)| *file_seq);
    let paths = files
        .into_iter()
        .map(|(_, path)| path.to_string_lossy().into_owned())
        .collect();
    Ok((newest, paths))
}

impl ApiState {
    /// The checklist's options from the running rules' lists (cluster-wide).
    pub(crate) fn posture_options(&self) -> posture::Options {
        posture::Options {
            trusted_registries: self.rule_list("trusted_registries"),
            sensitive_host_paths: self.rule_list("sensitive_host_paths"),
            ..posture::Options::default()
        }
    }

    /// Reads the kept state and the store's later writes into the live state, once, in the
    /// background (called when the service is ready), then keeps it saved. Until it is done,
    /// requests read the store themselves.
    pub(crate) fn seed_posture(&self) {
        let state = self.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            match state.read_posture().await {
                Ok(read) => {
                    let from_kept = read.kept.is_some();
                    let (files, rows) = (read.files, read.rows);
                    let snapshot = state.inner.posture.seeded(read);
                    state.refresh_posture(snapshot);
                    tracing::info!(
                        kept_state = from_kept,
                        files_read = files,
                        writes_read = rows,
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "posture state ready"
                    );
                    if files > 0 {
                        state.save_posture().await;
                    }
                    state.keep_posture_saved().await;
                }
                Err(error) => {
                    tracing::warn!(%error, "posture state could not be read from the store; /posture reads the store per request")
                }
            }
        });
    }

    /// The kept state and the writes of the events files it has not taken in (every file
    /// without a kept state).
    async fn read_posture(&self) -> Result<Seed, ApiError> {
        let data_dir = self.inner.data_dir.clone();
        let kept = tokio::task::spawn_blocking(move || load(&data_dir))
            .await
            .map_err(|error| ApiError::internal(format!("loading the posture state: {error}")))?;
        let context = self.sql_context().await?;
        let filter = writes_filter();
        let data_dir = self.inner.data_dir.clone();
        let after = kept.as_ref().map_or(0, |kept| kept.seq);
        let (_, files) = tokio::task::spawn_blocking(move || events_files_after(&data_dir, after))
            .await
            .map_err(|error| ApiError::internal(format!("listing events files: {error}")))??;
        let events = match (&kept, files.is_empty()) {
            (_, true) => None,
            (None, false) => Some(context.table("events").await?),
            (Some(_), false) => Some(
                context
                    .read_parquet(
                        files.clone(),
                        ParquetReadOptions::default().schema(&store::events_file_schema()),
                    )
                    .await?,
            ),
        };
        let (selection, rows, bodies) = match events {
            None => (posture::Selection::default(), 0, Vec::new()),
            Some(events) => {
                let (selection, rows) = scan(events.clone(), &filter).await?;
                let bodies = read_bodies(events, &filter, selection.needed()).await?;
                (selection, rows, bodies)
            }
        };
        Ok(Seed {
            kept,
            selection,
            rows,
            bodies,
            files: files.len(),
        })
    }

    /// Saves the state every few minutes when it changed (the server saves it once more when
    /// it stops).
    async fn keep_posture_saved(&self) {
        loop {
            tokio::time::sleep(SAVE_EVERY).await;
            self.save_posture().await;
        }
    }

    /// Writes the state to the data directory if it is seeded and changed since the last
    /// save.
    pub(crate) async fn save_posture(&self) {
        let _saving = self.inner.posture.saving.lock().await;
        let started = Instant::now();
        let data_dir = self.inner.data_dir.clone();
        // The files first, then the state: every file listed was observed before it was
        // written, so the state copied after holds its events.
        let seq = match tokio::task::spawn_blocking(move || events_files_after(&data_dir, 0)).await
        {
            Ok(Ok((seq, _))) => seq,
            Ok(Err(error)) => {
                tracing::warn!(%error, "saving the posture state failed");
                return;
            }
            Err(error) => {
                tracing::warn!(%error, "saving the posture state failed");
                return;
            }
        };
        let (snapshot, version) = {
            let live = self.inner.posture.lock();
            if !live.seeded || live.version == live.saved_version {
                return;
            }
            (live.snapshot(None), live.version)
        };
        let kept = Kept {
            format: FORMAT,
            seq,
            writes: snapshot.writes,
            selection: snapshot.selection,
            bodies: snapshot.raws,
        };
        let data_dir = self.inner.data_dir.clone();
        let saved = tokio::task::spawn_blocking(move || save(&data_dir, &kept)).await;
        match saved {
            Ok(Ok(())) => {
                self.inner.posture.lock().saved_version = version;
                tracing::debug!(
                    seq,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "posture state saved"
                );
            }
            Ok(Err(error)) => tracing::warn!(%error, "saving the posture state failed"),
            Err(error) => tracing::warn!(%error, "saving the posture state failed"),
        }
    }

    /// Makes the unrestricted report from `snapshot` in the background and caches it.
    pub(crate) fn refresh_posture(&self, snapshot: Snapshot) {
        let state = self.clone();
        let options = self.posture_options();
        tokio::spawn(async move {
            let version = snapshot.version;
            let report = report_json(snapshot, options).await;
            let mut live = state.inner.posture.lock();
            live.refreshing = false;
            match report {
                Ok(report) => live.cached = Some((version, Instant::now(), report)),
                Err(error) => tracing::warn!(%error, "making the posture report failed"),
            }
        });
    }
}

/// What seeding read.
struct Seed {
    kept: Option<Kept>,
    selection: posture::Selection,
    rows: u64,
    bodies: Vec<(String, String)>,
    files: usize,
}
