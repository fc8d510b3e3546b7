//! What one commit of the stores holds: the rows, and the state the pipeline resumes from once
//! they are durable (where every source stood, the detection state after the last event).
//! Both go into the same atomic store commit, so they always agree.

use event::{Alert, DeadLetter, Event};
use ingest::{Batch, Checkpoint, Origin, Receipt};
use serde::{Deserialize, Serialize};

/// Where the pipeline resumes after a restart: committed with the events it follows.
///
/// Stored as the columnar store's opaque commit state. Its JSON (`{"positions": ..,
/// "detection": ..}`) is what data directories of earlier versions hold too.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Resume {
    /// Where every source stood, keyed by source identity (file fingerprints, `wal` for the
    /// write-ahead log of pushed bodies, `kafka:<group>:<topic>:<partition>` for Kafka).
    #[serde(default)]
    pub positions: Checkpoint,
    /// The detection state after the last committed event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detection: Option<detect::Snapshot>,
}

/// A typed commit record: everything one commit of both stores makes durable together.
#[derive(Debug, Default)]
pub struct Commit {
    pub events: Vec<Event>,
    pub alerts: Vec<Alert>,
    pub dead_letters: Vec<DeadLetter>,
    /// Source positions after these rows.
    pub positions: Checkpoint,
    /// The detection state after these rows.
    pub detection: Option<detect::Snapshot>,
    /// The write-ahead log and Kafka positions this commit reaches, told to their sources
    /// once it is durable.
    pub receipts: Vec<Receipt>,
    /// A batch moved the positions since the last commit.
    pub moved: bool,
}

impl Commit {
    /// A commit that starts from the positions of the last one.
    pub fn after(positions: Checkpoint) -> Commit {
        Commit {
            positions,
            ..Commit::default()
        }
    }

    /// Adds a detected batch: its rows, and the position its origin moves (file positions,
    /// the write-ahead log's).
    pub fn add(&mut self, batch: Batch, alerts: Vec<Alert>) {
        self.events.extend(batch.events);
        self.alerts.extend(alerts);
        self.dead_letters.extend(batch.dead_letters);
        match batch.origin {
            Origin::Files(checkpoint) => {
                self.positions.replace_files(&checkpoint);
                self.moved = true;
            }
            Origin::Wal(receipt) => {
                self.positions.set_wal_position(receipt.position);
                self.moved = true;
                self.receipts.push(Receipt::Wal(receipt));
            }
            Origin::Kafka(receipt) => {
                for position in &receipt.positions {
                    self.positions.set_kafka_position(position);
                }
                self.moved = true;
                self.receipts.push(Receipt::Kafka(receipt));
            }
        }
    }

    /// Nothing to store: no rows and no position moved (a new detection state alone is kept
    /// for the next commit with data).
    pub fn is_empty(&self) -> bool {
        !self.moved
            && self.events.is_empty()
            && self.alerts.is_empty()
            && self.dead_letters.is_empty()
    }

    /// Tells the write-ahead log and the Kafka sources how far they are committed (after the
    /// commit).
    pub fn answer_receipts(&mut self) {
        for receipt in self.receipts.drain(..) {
            receipt.committed();
        }
    }

    /// The state this commit leaves the pipeline in.
    pub(crate) fn resume(&self) -> ResumeRef<'_> {
        ResumeRef {
            positions: &self.positions,
            detection: self.detection.as_ref(),
        }
    }
}

/// [`Resume`] borrowed from a commit, for serialising without copies.
#[derive(Debug, Serialize)]
pub(crate) struct ResumeRef<'a> {
    pub positions: &'a Checkpoint,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detection: Option<&'a detect::Snapshot>,
}
