//! Events pushed to kubetrail rather than read by it: the API server's audit webhook (an
//! `EventList`) and Falco's `http_output` (or falcosidekick), through the write-ahead log.
//!
//! [`PushLog`] opens the log under the data directory (`_wal/`). Its [`PushSender`] decodes
//! a body (to refuse what is not events of the route's kind and to know its event keys),
//! appends it and returns once it is fsynced: a retried batch whose keys the log holds is not
//! appended again. Its [`PushSource`] reads the log like a file from the committed position,
//! decodes each body again and keeps the events whose keys the record holds; a body that does
//! not decode becomes one dead letter naming the sender and its log offset. Each batch carries
//! the log position after it ([`Origin::Wal`]), committed with its events.

use std::collections::HashSet;
use std::path::Path;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::IngestError;
use crate::decode::now_rfc3339;
use crate::dedupe::id_key;
use crate::position::{Batch, Checkpoint, Origin, WalPosition, WalReceipt};

/// The write-ahead log's directory under the data directory.
pub const WAL_DIR: &str = "_wal";
/// A batch read from the log holds about this many body bytes at most.
const MAX_BATCH_BYTES: usize = 8 * 1024 * 1024;

/// The write-ahead log of pushed bodies: where the ingest routes append and the pipeline reads.
#[derive(Debug, Clone)]
pub struct PushLog {
    wal: wal::Wal,
}

/// Appends pushed bodies to the log. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PushSender {
    wal: wal::Wal,
}

/// The pipeline's end of the log: a source whose batches are what was pushed.
#[derive(Debug)]
pub struct PushSource {
    reader: wal::Reader,
}

/// Who pushed a body, and what it should hold.
#[derive(Debug, Clone, Copy)]
pub struct PushFrom<'a> {
    /// The kind of events the route accepts.
    pub kind: event::Source,
    /// The cluster the events belong to (audit events do not name one).
    pub cluster: &'a str,
    /// Names the sender in dead letters, e.g. `api:ingest/audit:apiserver-prod`.
    pub sender: &'a str,
}

/// What became of a pushed body; returned once it is durable in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// Events in the body.
    pub accepted: usize,
    /// Events of the body the log held already (a retry): not stored again.
    pub duplicates: usize,
    /// Why the body was refused (it is kept as a dead letter); the sender must not retry it.
    pub rejected: Option<String>,
}

impl PushLog {
    /// Opens (or creates) the log in `<data_dir>/_wal`, recovering it after a crash.
    pub fn open(data_dir: &Path, config: &wal::Config) -> Result<PushLog, IngestError> {
        let wal = wal::Wal::open(&data_dir.join(WAL_DIR), config)?;
        Ok(PushLog { wal })
    }

    /// Where the ingest routes append.
    pub fn sender(&self) -> PushSender {
        PushSender {
            wal: self.wal.clone(),
        }
    }

    /// The source reading the log from the position `start` holds (the last commit's), or
    /// from its oldest record.
    pub fn source(&self, start: &Checkpoint) -> PushSource {
        let from = start
            .wal_position()
            .map(|position| (position.log, position.offset));
        PushSource {
            reader: self.wal.reader(from),
        }
    }

    /// The log's counters, for `/metrics`.
    pub fn metrics(&self) -> wal::WalMetrics {
        self.wal.metrics()
    }
}

impl PushSender {
    /// Why the log accepts nothing now, if it does not (see [`wal::Wal::failure`]).
    pub fn failure(&self) -> Option<String> {
        self.wal.failure()
    }

    /// Identifies the events of `body`, appends it to the log (unless the log holds all its events already)
    /// and returns once it is fsynced. A body that is not events of the expected kind is
    /// appended too (it becomes a dead letter) and comes back `rejected`. A full log or disk
    /// is an error: the sender retries later.
    pub async fn push(&self, body: Vec<u8>, from: PushFrom<'_>) -> Result<Pushed, IngestError> {
        let record_from = (from.kind, from.cluster.to_owned(), from.sender.to_owned());
        let (record, pushed) = tokio::task::spawn_blocking(move || {
            let (kind, cluster, sender) = record_from;
            let decoded = identify_body(&body, kind, &cluster);
            let (keys, pushed) = match decoded {
                Ok(events) => (
                    events.iter().map(|event| id_key(&event.event_id)).collect(),
                    Pushed {
                        accepted: events.len(),
                        duplicates: 0,
                        rejected: None,
                    },
                ),
                Err(reason) => (
                    Vec::new(),
                    Pushed {
                        accepted: 0,
                        duplicates: 0,
                        rejected: Some(reason),
                    },
                ),
            };
            let record = wal::Record {
                received_micros: now_micros(),
                route: route_name(kind).to_owned(),
                cluster,
                sender,
                keys,
                body,
            };
            // Compressed here, so the log's writer thread only writes.
            (record.seal(), pushed)
        })
        .await
        .map_err(|error| IngestError::PushTask {
            reason: error.to_string(),
        })?;
        let mut pushed = pushed;
        if pushed.rejected.is_none() && record.keys().is_empty() {
            // No events (an empty list, or only dropped stages): nothing to keep.
            return Ok(pushed);
        }
        let appended = self.wal.append(record).await?;
        pushed.duplicates = appended.duplicate_keys;
        Ok(pushed)
    }
}

impl PushSource {
    /// Reads the log into `batches` until `cancel` fires. Each batch carries the log position
    /// after it; what was read but not committed is read again after a restart.
    pub async fn run(
        mut self,
        batches: mpsc::Sender<Batch>,
        cancel: CancellationToken,
    ) -> Result<(), IngestError> {
        loop {
            tokio::select! {
                () = cancel.cancelled() => return Ok(()),
                () = self.reader.wait() => {}
            }
            let mut reader = self.reader;
            let (reader, batch) = tokio::task::spawn_blocking(move || {
                let batch = read_batch(&mut reader);
                (reader, batch)
            })
            .await
            .map_err(|error| IngestError::PushTask {
                reason: error.to_string(),
            })?;
            self.reader = reader;
            let Some(batch) = batch? else {
                continue;
            };
            tokio::select! {
                () = cancel.cancelled() => return Ok(()),
                sent = batches.send(batch) => if sent.is_err() { return Ok(()) },
            }
        }
    }
}

/// The next records of the log as one batch (`None` when there were none).
fn read_batch(reader: &mut wal::Reader) -> Result<Option<Batch>, IngestError> {
    let records = reader.read(MAX_BATCH_BYTES)?;
    let Some(last) = records.last() else {
        return Ok(None);
    };
    let position = WalPosition {
        log: reader.log_id(),
        offset: last.end,
    };
    let mut batch = Batch::default();
    for read in records {
        let record = read.record;
        let decoded = match route_kind(&record.route) {
            Some(kind) => decode_body(&record.body, kind, &record.cluster),
            None => Err(format!("unknown ingest route {:?}", record.route)),
        };
        match decoded {
            Ok(events) => {
                let mut keys: HashSet<u128> = record.keys.iter().copied().collect();
                let before = batch.events.len();
                batch.events.extend(
                    events
                        .into_iter()
                        .filter(|event| keys.remove(&id_key(&event.event_id))),
                );
                batch.stats.events += (batch.events.len() - before) as u64;
            }
            Err(reason) => {
                batch.dead_letters.push(event::DeadLetter {
                    time: now_rfc3339(),
                    source: record.sender,
                    offset: read.offset,
                    length: record.body.len() as u64,
                    reason,
                    excerpt: event::dead_letter_excerpt(&record.body),
                });
                batch.stats.dead_letters += 1;
            }
        }
    }
    batch.origin = Origin::Wal(WalReceipt {
        position,
        committer: reader.committer(),
    });
    Ok(Some(batch))
}

/// The events of a pushed body, decoded (the pipeline's side of the log), or why it is not
/// events of the route's kind.
fn decode_body(
    body: &[u8],
    kind: event::Source,
    cluster: &str,
) -> Result<Vec<event::Event>, String> {
    let mut events = Vec::new();
    event::decode_line(body, &options(cluster), &mut events).map_err(|error| error.to_string())?;
    check_kind(events.iter().map(|event| event.source), kind)?;
    Ok(events)
}

/// Who the events of a body are, without decoding them (the ingest routes' side: the
/// pipeline decodes them once, when it reads the log). Refuses what `decode_body` refuses.
fn identify_body(
    body: &[u8],
    kind: event::Source,
    cluster: &str,
) -> Result<Vec<event::Identity>, String> {
    let mut events = Vec::new();
    event::identify_line(body, &options(cluster), &mut events)
        .map_err(|error| error.to_string())?;
    check_kind(events.iter().map(|event| event.source), kind)?;
    Ok(events)
}

fn options(cluster: &str) -> event::DecodeOptions {
    event::DecodeOptions {
        cluster: cluster.to_owned(),
        ..event::DecodeOptions::default()
    }
}

fn check_kind(
    mut sources: impl Iterator<Item = event::Source>,
    kind: event::Source,
) -> Result<(), String> {
    if sources.any(|source| source != kind) {
        return Err(match kind {
            event::Source::K8sAudit => {
                "not audit events; Falco events go to /api/v1/ingest/falco".to_owned()
            }
            event::Source::Falco => {
                "not Falco events; audit events go to /api/v1/ingest/audit".to_owned()
            }
        });
    }
    Ok(())
}

fn route_name(kind: event::Source) -> &'static str {
    match kind {
        event::Source::K8sAudit => "audit",
        event::Source::Falco => "falco",
    }
}

fn route_kind(route: &str) -> Option<event::Source> {
    match route {
        "audit" => Some(event::Source::K8sAudit),
        "falco" => Some(event::Source::Falco),
        _ => None,
    }
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_micros() as i64)
}
