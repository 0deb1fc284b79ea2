//! A container's local-storage footprint for the eviction manager's
//! `ephemeral-storage` checks: its writable layer (the overlay's upper
//! directory) and its log files, the current one and those rotated beside
//! it — what the kubelet counts as the container's `rootfs` + `logs`
//! usage.

use std::path::Path;

use crate::error::{Result, RuntimeError};
use crate::volume::usage::usage;

pub fn container_bytes(upper: &Path, log: &Path) -> Result<u64> {
    let layer = usage(upper).map_err(|e| RuntimeError::Other(e.to_string()))?;
    Ok(layer.saturating_add(log_bytes(log)))
}

/// The log file and its rotated siblings (`<name>.<suffix>`); a log not
/// written yet counts as 0.
fn log_bytes(log: &Path) -> u64 {
    let (Some(dir), Some(name)) = (log.parent(), log.file_name().and_then(|n| n.to_str())) else {
        return 0;
    };
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.starts_with(name)))
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_writable_layer_and_every_log_of_the_container() {
        let t = tempfile::tempdir().unwrap();
        let upper = t.path().join("upper");
        std::fs::create_dir_all(upper.join("tmp")).unwrap();
        std::fs::write(upper.join("tmp/file"), vec![1u8; 64 * 1024]).unwrap();
        let logs = t.path().join("logs");
        std::fs::create_dir_all(&logs).unwrap();
        std::fs::write(logs.join("0.log"), vec![b'x'; 1000]).unwrap();
        std::fs::write(logs.join("0.log.20261203-101010"), vec![b'x'; 500]).unwrap();
        std::fs::write(logs.join("1.log"), vec![b'x'; 7000]).unwrap();
        let n = container_bytes(&upper, &logs.join("0.log")).unwrap();
        assert!(n >= 64 * 1024 + 1500, "{n}");
        assert!(
            n < 64 * 1024 + 1500 + 7000 + 16 * 1024,
            "another attempt's log counted: {n}"
        );
        assert!(container_bytes(&t.path().join("gone"), &logs.join("0.log")).is_err());
    }
}
