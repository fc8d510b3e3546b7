//! Events pushed to kubetrail rather than read by it: the API server's audit webhook (an
//! `EventList`) and Falco's `http_output` (or falcosidekick). A body is decoded like one
//! line of a file; what does not decode, or is of the other source kind, becomes one dead
//! letter naming the sender. The batch carries a [`PushReceipt`] that the pipeline answers
//! once the batch is durable, so the sender can wait for that before it answers its caller.
//!
//! [`push_channel`] makes the two ends: the [`PushSender`] for whoever receives the bodies
//! (the HTTP ingest routes) and the [`PushSource`] that the pipeline runs like any source.

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::IngestError;
use crate::decode::now_rfc3339;
use crate::position::{Batch, Origin, PushReceipt};

/// Hands pushed bodies to the pipeline. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PushSender {
    batches: mpsc::Sender<Batch>,
}

/// The pipeline's end of [`push_channel`]: a source whose batches are what was pushed.
#[derive(Debug)]
pub struct PushSource {
    batches: mpsc::Receiver<Batch>,
}

/// A sender and the source it feeds; up to `capacity` pushed batches wait for the pipeline
/// before `push` waits too (back-pressure on the pushing client).
pub fn push_channel(capacity: usize) -> (PushSender, PushSource) {
    let (batches_tx, batches_rx) = mpsc::channel(capacity.max(1));
    (
        PushSender {
            batches: batches_tx,
        },
        PushSource {
            batches: batches_rx,
        },
    )
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

/// What became of a pushed body.
#[derive(Debug)]
pub struct Pushed {
    /// Events accepted into the pipeline.
    pub accepted: usize,
    /// Why the body was refused (it is kept as a dead letter); the sender must not retry it.
    pub rejected: Option<String>,
    durable: oneshot::Receiver<()>,
}

impl Pushed {
    /// Waits until the batch is durable; `false` if the pipeline stopped first.
    pub async fn durable(self) -> bool {
        self.durable.await.is_ok()
    }
}

impl PushSender {
    /// Decodes `body` and hands the batch to the pipeline, waiting while its queue is full.
    pub async fn push(&self, body: &[u8], from: PushFrom<'_>) -> Result<Pushed, IngestError> {
        let (batch, rejected) = decode_pushed(body, from);
        let accepted = batch.events.len();
        let (receipt, durable) = oneshot::channel();
        let batch = Batch {
            origin: Origin::Pushed(PushReceipt(receipt)),
            ..batch
        };
        self.batches
            .send(batch)
            .await
            .map_err(|_| IngestError::PushClosed)?;
        Ok(Pushed {
            accepted,
            rejected,
            durable,
        })
    }
}

impl PushSource {
    /// Passes pushed batches on to `batches` until `cancel` fires or every sender is gone.
    /// Batches still queued then are dropped unanswered: their senders are told to retry.
    pub async fn run(mut self, batches: mpsc::Sender<Batch>, cancel: CancellationToken) {
        loop {
            let batch = tokio::select! {
                () = cancel.cancelled() => return,
                batch = self.batches.recv() => match batch {
                    Some(batch) => batch,
                    None => return,
                },
            };
            tokio::select! {
                () = cancel.cancelled() => return,
                sent = batches.send(batch) => if sent.is_err() { return },
            }
        }
    }
}

/// The events of a pushed body, or one dead letter (and the reason) when it is not events of
/// the expected kind.
fn decode_pushed(body: &[u8], from: PushFrom<'_>) -> (Batch, Option<String>) {
    let options = event::DecodeOptions {
        cluster: from.cluster.to_owned(),
        ..event::DecodeOptions::default()
    };
    let mut events = Vec::new();
    let decoded = event::decode_line(body, &options, &mut events);
    let problem = match decoded {
        Err(error) => Some(error.to_string()),
        Ok(_) if events.iter().any(|event| event.source != from.kind) => Some(match from.kind {
            event::Source::K8sAudit => {
                "not audit events; Falco events go to /api/v1/ingest/falco".to_owned()
            }
            event::Source::Falco => {
                "not Falco events; audit events go to /api/v1/ingest/audit".to_owned()
            }
        }),
        Ok(_) => None,
    };
    // Counted as events and dead letters only: a body is not a line of a file.
    let mut batch = Batch::default();
    match &problem {
        Some(reason) => {
            batch.dead_letters.push(event::DeadLetter {
                time: now_rfc3339(),
                source: from.sender.to_owned(),
                offset: 0,
                length: body.len() as u64,
                reason: reason.clone(),
                excerpt: event::dead_letter_excerpt(body),
            });
            batch.stats.dead_letters = 1;
        }
        None => {
            batch.stats.events = events.len() as u64;
            batch.events = events;
        }
    }
    (batch, problem)
}
