//! What waits for the next store commit: events, alerts, dead letters and the source
//! checkpoint of the last batch. The live pipeline and the one-shot file path both commit
//! through it, so a checkpoint always travels in the same commit as the events it covers.

use anyhow::Context;
use event::{Alert, DeadLetter, Event};
use ingest::{Batch, Checkpoint};
use store::ColumnarStore;

#[derive(Default)]
pub struct Pending {
    pub events: Vec<Event>,
    pub alerts: Vec<Alert>,
    pub dead_letters: Vec<DeadLetter>,
    pub checkpoint: Option<Checkpoint>,
}

impl Pending {
    /// Adds a detected batch; its checkpoint supersedes the one before.
    pub fn add(&mut self, batch: Batch, alerts: Vec<Alert>) {
        self.events.extend(batch.events);
        self.alerts.extend(alerts);
        self.dead_letters.extend(batch.dead_letters);
        self.checkpoint = Some(batch.checkpoint);
    }

    /// Nothing to commit: no data and no position to advance.
    pub fn is_empty(&self) -> bool {
        self.checkpoint.is_none() && self.events.is_empty() && self.alerts.is_empty()
    }

    /// Makes everything durable in one atomic store commit.
    pub fn commit_to(&self, store: &mut ColumnarStore) -> anyhow::Result<()> {
        let checkpoint = self
            .checkpoint
            .as_ref()
            .map(serde_json::to_value)
            .transpose()
            .context("failed to serialise the checkpoint")?;
        store
            .commit(
                &self.events,
                &self.alerts,
                &self.dead_letters,
                checkpoint.as_ref(),
            )
            .context("failed to commit to the store")?;
        Ok(())
    }
}
