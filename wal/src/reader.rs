//! Reading the log in order from a position, up to what is durable: the pipeline's side.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::sync::{Arc, PoisonError};

use tokio::sync::watch;

use crate::log::State;
use crate::record::{self, FRAME_HEADER_BYTES, Frame, Record, SEGMENT_HEADER_BYTES};
use crate::{Committer, WalError};

/// One record read back, with where it starts and ends in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadRecord {
    pub offset: u64,
    pub end: u64,
    pub record: Record,
}

/// Reads records in order; never past the durable end.
#[derive(Debug)]
pub struct Reader {
    state: Arc<State>,
    durable: watch::Receiver<u64>,
    position: u64,
    /// The open segment (its base) and the file, positioned at `position`.
    open: Option<(u64, File)>,
}

impl Reader {
    pub(crate) fn new(state: Arc<State>, position: u64) -> Reader {
        Reader {
            durable: state.durable.subscribe(),
            state,
            position,
            open: None,
        }
    }

    /// The offset of the next record to read.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// The log this reader reads (for positions).
    pub fn log_id(&self) -> u64 {
        self.state.log_id
    }

    /// Moves the committed mark of the log read.
    pub fn committer(&self) -> Committer {
        Committer(Arc::clone(&self.state))
    }

    /// Waits until there is something durable to read.
    pub async fn wait(&mut self) {
        let position = self.position;
        // The sender lives in the state this reader holds: this never fails.
        let _ = self.durable.wait_for(|end| *end > position).await;
    }

    /// Reads the durable records from the current position, up to about `max_bytes` (at least
    /// one when there is one). Blocking file IO: async callers run it in `spawn_blocking`.
    pub fn read(&mut self, max_bytes: usize) -> Result<Vec<ReadRecord>, WalError> {
        let durable = *self.durable.borrow();
        let mut records = Vec::new();
        let mut bytes = 0usize;
        while self.position < durable && (records.is_empty() || bytes < max_bytes) {
            let read = self.read_one()?;
            bytes += read.record.body.len();
            self.position = read.end;
            records.push(read);
        }
        Ok(records)
    }

    fn read_one(&mut self) -> Result<ReadRecord, WalError> {
        let base = {
            let segments = self
                .state
                .segments
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            segments
                .range(..=self.position)
                .next_back()
                .map(|(base, _)| *base)
        };
        let base = base.ok_or_else(|| WalError::Corrupt {
            path: self.state.dir.clone(),
            offset: self.position,
            reason: "no segment holds this offset".to_owned(),
        })?;
        let path = self.state.segment_path(base);
        if self.open.as_ref().is_none_or(|(open, _)| *open != base) {
            let mut file = File::open(&path).map_err(|e| WalError::io("open", &path, e))?;
            file.seek(SeekFrom::Start(
                SEGMENT_HEADER_BYTES + (self.position - base),
            ))
            .map_err(|e| WalError::io("seek", &path, e))?;
            self.open = Some((base, file));
        }
        let (_, file) = self.open.as_mut().expect("opened above");
        let mut frame = vec![0u8; FRAME_HEADER_BYTES as usize];
        file.read_exact(&mut frame)
            .map_err(|e| WalError::io("read", &path, e))?;
        let length = u32::from_le_bytes(frame[..4].try_into().expect("4 bytes")) as usize;
        frame.resize(FRAME_HEADER_BYTES as usize + length, 0);
        file.read_exact(&mut frame[FRAME_HEADER_BYTES as usize..])
            .map_err(|e| WalError::io("read", &path, e))?;
        match record::decode(&frame) {
            Frame::Whole { record, length } => Ok(ReadRecord {
                offset: self.position,
                end: self.position + length,
                record: record.open().map_err(|reason| WalError::Corrupt {
                    path,
                    offset: self.position,
                    reason,
                })?,
            }),
            Frame::Short => Err(WalError::Corrupt {
                path,
                offset: self.position,
                reason: "a durable record is cut short".to_owned(),
            }),
            Frame::Bad(reason) => Err(WalError::Corrupt {
                path,
                offset: self.position,
                reason,
            }),
        }
    }
}
