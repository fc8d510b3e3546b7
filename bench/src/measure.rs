//! What the benchmarks measure besides time: this process's CPU time and resident memory and
//! the machine's memory (from `/proc`, Linux), the bytes of directories, percentiles.

use std::collections::HashMap;
use std::path::Path;

/// A `kB` field of `/proc/self/status` or `/proc/meminfo`, in bytes.
fn kib_field(file: &str, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(file).ok()?;
    let line = text.lines().find(|line| line.starts_with(field))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The largest resident set size of this process so far (`VmHWM`).
pub fn peak_rss_bytes() -> Option<u64> {
    kib_field("/proc/self/status", "VmHWM:")
}

/// The resident set size of this process now (`VmRSS`).
pub fn rss_bytes() -> Option<u64> {
    kib_field("/proc/self/status", "VmRSS:")
}

/// Total memory of the machine (`MemTotal`).
pub fn total_memory_bytes() -> Option<u64> {
    kib_field("/proc/meminfo", "MemTotal:")
}

/// CPU seconds (user + system) of this process so far, from `/proc/self/stat` (100 ticks/s).
pub fn cpu_seconds() -> f64 {
    process_cpu_seconds("self")
}

/// CPU seconds (user + system) of process `pid` (or `self`) so far, from `/proc/<pid>/stat`
/// (100 ticks/s); NaN when it cannot be read.
pub fn process_cpu_seconds(pid: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_or(f64::NAN, |stat| stat_cpu_seconds(&stat))
}

/// User + system CPU seconds of a `/proc/.../stat` line.
fn stat_cpu_seconds(stat: &str) -> f64 {
    // The fields after the command name, which is in parentheses and may hold spaces;
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// CPU seconds of each thread of this process now, by thread id, with the thread's name
/// (from `/proc/self/task/<tid>/stat`, 100 ticks/s).
pub fn thread_cpu_seconds() -> HashMap<String, (String, f64)> {
    let mut threads = HashMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return threads;
    };
    for task in tasks.flatten() {
        let tid = task.file_name().to_string_lossy().into_owned();
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let name = stat
            .split_once('(')
            .and_then(|(_, rest)| rest.rsplit_once(')'))
            .map_or("", |(name, _)| name)
            .to_owned();
        threads.insert(tid, (name, stat_cpu_seconds(&stat)));
    }
    threads
}

/// Bytes of the files under `dir` (only those ending in `.ext` when given).
pub fn dir_bytes(dir: &Path, ext: Option<&str>) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut total = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            total += dir_bytes(&path, ext);
        } else if ext.is_none_or(|ext| path.extension().and_then(|e| e.to_str()) == Some(ext))
            && let Ok(meta) = entry.metadata()
        {
            total += meta.len();
        }
    }
    total
}

/// The `p` percentile (0..=1) of sorted values, by rank; 0 when there are none.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_ranks_and_proc_is_read() {
        let sorted = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&sorted, 0.5), 2.0);
        assert_eq!(percentile(&sorted, 0.99), 4.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
        assert!(rss_bytes().is_some_and(|bytes| bytes > 0));
        assert!(peak_rss_bytes() >= rss_bytes());
        assert!(cpu_seconds() >= 0.0);
        assert!(process_cpu_seconds(&std::process::id().to_string()) >= 0.0);
        assert!(process_cpu_seconds("0").is_nan());
        let threads = thread_cpu_seconds();
        let main = threads.get(&std::process::id().to_string());
        assert!(main.is_some_and(|(name, cpu)| !name.is_empty() && *cpu >= 0.0));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.parquet"), [0u8; 10]).unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        std::fs::write(dir.path().join("d/b.json"), [0u8; 5]).unwrap();
        assert_eq!(dir_bytes(dir.path(), None), 15);
        assert_eq!(dir_bytes(dir.path(), Some("parquet")), 10);
    }
}
