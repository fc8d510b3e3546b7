//! What waits for the next store commit: events, alerts, dead letters, the source checkpoint
//! of the last batch and the detection state after it. The live pipeline and the one-shot file
//! path both commit through it, so a checkpoint always travels in the same commit as the
//! events it covers, and the detection state with the positions it was taken at.

use anyhow::Context;
use event::{Alert, DeadLetter, Event};
use ingest::{Batch, Checkpoint};
use store::ColumnarStore;

/// Key of the detection-state snapshot inside the stored checkpoint object.
const DETECTION_KEY: &str = "detection";

#[derive(Default)]
pub struct Pending {
    pub events: Vec<Event>,
    pub alerts: Vec<Alert>,
    pub dead_letters: Vec<DeadLetter>,
    pub checkpoint: Option<Checkpoint>,
    /// `Detector::snapshot()` after the last batch added.
    pub detection: Option<serde_json::Value>,
}

/// Splits a stored checkpoint into source positions and the detection-state snapshot.
pub fn read_stored_checkpoint(
    stored: Option<serde_json::Value>,
) -> anyhow::Result<(Checkpoint, Option<serde_json::Value>)> {
    let Some(mut value) = stored else {
        return Ok((Checkpoint::default(), None));
    };
    let detection = value
        .as_object_mut()
        .and_then(|object| object.remove(DETECTION_KEY));
    let checkpoint = serde_json::from_value(value)
        .context("the checkpoint in the data directory is unreadable")?;
    Ok((checkpoint, detection))
}

impl Pending {
    /// Adds a detected batch; its checkpoint supersedes the one before.
    pub fn add(&mut self, batch: Batch, alerts: Vec<Alert>) {
        self.events.extend(batch.events);
        self.alerts.extend(alerts);
        self.dead_letters.extend(batch.dead_letters);
        self.checkpoint = Some(batch.checkpoint);
    }

    /// Adds a batch pushed through the API: it moves no source position.
    pub fn add_pushed(&mut self, batch: Batch, alerts: Vec<Alert>) {
        self.events.extend(batch.events);
        self.alerts.extend(alerts);
        self.dead_letters.extend(batch.dead_letters);
    }

    /// Nothing to commit: no data and no position to advance.
    pub fn is_empty(&self) -> bool {
        self.checkpoint.is_none()
            && self.events.is_empty()
            && self.alerts.is_empty()
            && self.dead_letters.is_empty()
    }

    /// Makes everything durable in one atomic store commit, then indexes the events under the
    /// same sequence number (the index is derived: it may lag after a crash, never lead).
    pub fn commit_to(
        &self,
        store: &mut ColumnarStore,
        index: Option<&mut search::SearchIndex>,
    ) -> anyhow::Result<()> {
        let mut checkpoint = self
            .checkpoint
            .as_ref()
            .map(serde_json::to_value)
            .transpose()
            .context("failed to serialise the checkpoint")?;
        if let Some(detection) = &self.detection {
            // No new positions (alerts of an idle tick): the last committed ones, new state.
            if checkpoint.is_none() {
                checkpoint = store.checkpoint().cloned();
            }
            let object = checkpoint.get_or_insert_with(|| serde_json::json!({}));
            if let serde_json::Value::Object(object) = object {
                object.insert(DETECTION_KEY.to_owned(), detection.clone());
            }
        }
        let info = store
            .commit(
                &self.events,
                &self.alerts,
                &self.dead_letters,
                checkpoint.as_ref(),
            )
            .context("failed to commit to the store")?;
        if let Some(index) = index {
            crate::indexing::index_commit(index, info.seq, &self.events, &self.alerts)?;
        }
        Ok(())
    }
}
