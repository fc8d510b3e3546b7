//! The live pipeline's own async runtime, whose threads yield the CPU to the rest of the
//! process: an API server waiting for its webhook answer, or an analyst's search, comes before
//! decoding, detection and indexing. Pushed events wait in the write-ahead log meanwhile, and
//! the log's `max_pending_bytes` bounds how far the pipeline may fall behind.
//!
//! Linux keeps a nice value per thread and a new thread starts with its creator's, so every
//! thread the pipeline starts (its stages, the index's writer threads, decoding threads) runs
//! at the lower priority too. The API's runtime, the write-ahead log's writer and the Kafka
//! client's threads are started elsewhere and keep the process's.

use std::future::Future;

use tokio::runtime::{Builder, Runtime};
use tokio::task::JoinHandle;

use crate::PipelineError;

/// How much lower the pipeline's threads run (a nice increment: 10 gives a busy pipeline
/// thread about a tenth of a core's share next to a busy API thread).
pub const PIPELINE_NICE: i32 = 10;

/// The runtime the live pipeline runs on. Dropping it (even inside another runtime) stops
/// its threads without waiting; run the pipeline to its end first.
#[derive(Debug)]
pub struct PipelineRuntime(Option<Runtime>);

impl PipelineRuntime {
    /// Starts the runtime: worker and blocking threads with 8 MiB stacks (as the process's
    /// other runtime), each lowered by [`PIPELINE_NICE`] as it starts.
    pub fn start() -> Result<PipelineRuntime, PipelineError> {
        let runtime = Builder::new_multi_thread()
            .enable_all()
            .thread_name("pipeline")
            .thread_stack_size(8 * 1024 * 1024)
            .on_thread_start(lower_priority)
            .build()
            .map_err(|error| PipelineError::Stage {
                stage: "runtime",
                reason: format!("failed to start the pipeline's threads: {error}"),
            })?;
        Ok(PipelineRuntime(Some(runtime)))
    }

    /// Runs `future` on the pipeline's threads.
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.0
            .as_ref()
            .expect("running until dropped")
            .spawn(future)
    }
}

impl Drop for PipelineRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// Lowers the calling thread's CPU priority. Raising it back would need a privilege the
/// process should not have, so a thread never serves the API after this.
fn lower_priority() {
    let current = rustix::process::getpriority_process(None).unwrap_or(0);
    if current < PIPELINE_NICE
        && let Err(error) = rustix::process::setpriority_process(None, PIPELINE_NICE)
    {
        tracing::debug!(%error, "cannot lower the pipeline thread's CPU priority");
    }
}
