//! The sources the pipeline runs, as a closed set: files tailed live, bodies pushed through
//! the ingest API (read back from the write-ahead log), and Kafka consumer groups. Each sends batches into the pipeline's channel until
//! cancelled; a full channel makes it wait, it never drops a batch it read.

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::{Batch, FileTailer, IngestError, KafkaSource, PushSource};

/// One running source.
#[derive(Debug)]
pub enum Source {
    /// Audit-log and Falco files followed through rotation (`[[ingest.files]]`).
    Files(FileTailer),
    /// Bodies pushed to `/api/v1/ingest/*` (`[[api.ingest_tokens]]`), read back from the
    /// write-ahead log.
    Push(PushSource),
    /// A Kafka consumer group's topics (`[[ingest.kafka]]`).
    Kafka(Box<KafkaSource>),
}

impl Source {
    /// A short name for logs and errors.
    pub fn name(&self) -> &'static str {
        match self {
            Source::Files(_) => "files",
            Source::Push(_) => "push",
            Source::Kafka(_) => "kafka",
        }
    }

    /// Sends batches into `batches` until `cancel` fires (or the receiver is gone).
    pub async fn run(
        self,
        batches: mpsc::Sender<Batch>,
        cancel: CancellationToken,
    ) -> Result<(), IngestError> {
        match self {
            Source::Files(tailer) => tailer.run(batches, cancel).await,
            Source::Push(push) => push.run(batches, cancel).await,
            Source::Kafka(kafka) => kafka.run(batches, cancel).await,
        }
    }
}
