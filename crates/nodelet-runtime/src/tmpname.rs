//! Unique temporary names for tmp+rename writes.
//!
//! A temp name must differ per call, not only per process: two tasks of
//! one agent writing the same file at once (two waiters recording one
//! container's exit) would otherwise truncate and write one shared temp
//! file, and the first rename would expose a file the second writer is
//! still rewriting, so a reader could see it torn.

use std::path::{Path, PathBuf};

/// A number no other call in this process returns (a counter in the high
/// bits, the clock's nanoseconds below it for uniqueness across
/// processes that share a directory).
pub(crate) fn unique_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()));
    (N.fetch_add(1, Ordering::Relaxed) << 32) ^ nanos
}

/// `.<file name>.tmp.<pid>.<unique>` beside `path`: hidden, and named for
/// the file it will replace.
pub(crate) fn beside(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(
        ".{name}.tmp.{}.{}",
        std::process::id(),
        unique_suffix()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_call_gets_its_own_name() {
        let p = Path::new("/run/x/status.json");
        let a = beside(p);
        let b = beside(p);
        assert_ne!(a, b);
        assert_eq!(a.parent(), p.parent());
        assert!(
            a.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".status.json.tmp.")
        );
    }
}
