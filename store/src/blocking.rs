//! Async work (DataFusion's streams, the S3 client) driven from the store's synchronous code.

use tokio::runtime::Runtime;

use crate::StoreError;

/// The runtime the store's synchronous code drives async work on: one per process, never
/// dropped (a runtime may not be dropped where async code runs, and its users may be).
pub(crate) fn runtime() -> Result<&'static Runtime, StoreError> {
    static RUNTIME: std::sync::OnceLock<Result<Runtime, String>> = std::sync::OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("kubetrail-store")
                .enable_all()
                .build()
                .map_err(|error| error.to_string())
        })
        .as_ref()
        .map_err(|reason| StoreError::Runtime {
            reason: reason.clone(),
        })
}

/// Runs `work` with `runtime` on a thread of its own: the caller may be anywhere, inside a
/// runtime (where blocking on another is refused) or not.
pub(crate) fn on_own_thread<T: Send>(
    runtime: &'static Runtime,
    work: impl FnOnce(&Runtime) -> T + Send,
) -> T {
    std::thread::scope(|scope| {
        scope
            .spawn(|| work(runtime))
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}
