//! Hot reload of rule files for `serve`: the configured rule paths are watched with `notify`
//! (and re-checked every few seconds, in case events are missed); on a change the whole rule
//! set is compiled again. A set that fails to compile is rejected with its error in the log and
//! the running rules stay; a good one replaces them between two batches, keeping the state of
//! rules that still exist.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use detect::Engine;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::Stats;

/// How long to wait after a change for the editor to finish writing.
const SETTLE: Duration = Duration::from_millis(300);
/// How often the rule files' modification times are compared, whatever `notify` says.
const POLL: Duration = Duration::from_secs(5);

/// Watches the rule paths of `config`; the receiver yields each new engine. Without rule
/// paths there is nothing to watch and the receiver never changes.
pub fn watch_rules(
    config: &detect::Config,
    initial: Arc<Engine>,
    stats: Arc<Stats>,
    cancel: CancellationToken,
) -> watch::Receiver<Arc<Engine>> {
    let (engines_tx, engines_rx) = watch::channel(initial);
    if config.rule_paths.is_empty() {
        return engines_rx;
    }
    let (changed_tx, changed_rx) = mpsc::channel::<()>(1);
    let watcher = start_watcher(&config.rule_paths, changed_tx);
    let config = config.clone();
    tokio::spawn(async move {
        // Dropped (and stopped) when the task ends.
        let _watcher = watcher;
        reload_loop(config, engines_tx, changed_rx, stats, cancel).await;
    });
    engines_rx
}

fn start_watcher(
    paths: &[PathBuf],
    changed: mpsc::Sender<()>,
) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher;
    let handler = move |result: notify::Result<notify::Event>| {
        let relevant = match &result {
            Ok(event) => !matches!(event.kind, notify::EventKind::Access(_)),
            Err(_) => true,
        };
        if relevant {
            let _ = changed.try_send(());
        }
    };
    let mut watcher = match notify::recommended_watcher(handler) {
        Ok(watcher) => watcher,
        Err(error) => {
            tracing::warn!(%error, "rule file events unavailable; checking every {}s", POLL.as_secs());
            return None;
        }
    };
    for path in paths {
        // Editors replace files by renaming, so a file is watched through its directory.
        let target = if path.is_dir() {
            path.clone()
        } else {
            path.parent()
                .filter(|parent| !parent.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("."), PathBuf::from)
        };
        if let Err(error) = watcher.watch(&target, notify::RecursiveMode::NonRecursive) {
            tracing::warn!(path = %target.display(), %error, "cannot watch rule path; checking every {}s", POLL.as_secs());
        }
    }
    Some(watcher)
}

async fn reload_loop(
    config: detect::Config,
    engines: watch::Sender<Arc<Engine>>,
    mut changed: mpsc::Receiver<()>,
    stats: Arc<Stats>,
    cancel: CancellationToken,
) {
    let mut stamp = rule_files_stamp(&config.rule_paths);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            message = changed.recv() => {
                if message.is_none() {
                    // No watcher: poll only.
                    tokio::select! {
                        () = cancel.cancelled() => return,
                        () = tokio::time::sleep(POLL) => {}
                    }
                }
            }
            () = tokio::time::sleep(POLL) => {}
        }
        tokio::time::sleep(SETTLE).await;
        while changed.try_recv().is_ok() {}
        let now = rule_files_stamp(&config.rule_paths);
        if now == stamp {
            continue;
        }
        stamp = now;
        let load_config = config.clone();
        let loaded = tokio::task::spawn_blocking(move || load_config.load_rules()).await;
        match loaded {
            Ok(Ok(rules)) => {
                let count = rules.len();
                let _ = engines.send(Arc::new(Engine::new(rules)));
                stats.rule_reloads.inc();
                tracing::info!(rules = count, "rule files changed: rules reloaded");
            }
            Ok(Err(error)) => {
                stats.rule_reload_failures.inc();
                tracing::error!(%error, "rule files changed but do not compile; keeping the running rules");
            }
            Err(error) => tracing::error!(%error, "rule reload task failed"),
        }
    }
}

/// Names, sizes and modification times of the rule files: what tells a real change.
fn rule_files_stamp(paths: &[PathBuf]) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    let mut stamp = Vec::new();
    for path in paths {
        let files: Vec<PathBuf> = if path.is_dir() {
            std::fs::read_dir(path)
                .map(|entries| {
                    entries
                        .filter_map(Result::ok)
                        .map(|entry| entry.path())
                        .filter(|file| {
                            file.extension()
                                .is_some_and(|extension| extension == "yaml" || extension == "yml")
                        })
                        .collect()
                })
                .unwrap_or_default()
        } else {
            vec![path.clone()]
        };
        for file in files {
            let metadata = std::fs::metadata(&file).ok();
            stamp.push((
                file,
                metadata.as_ref().map_or(0, std::fs::Metadata::len),
                metadata.and_then(|metadata| metadata.modified().ok()),
            ));
        }
    }
    stamp.sort();
    stamp
}
