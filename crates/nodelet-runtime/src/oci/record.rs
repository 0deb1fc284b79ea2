//! What the OCI runtime persists per container and per sandbox so a new
//! agent process can re-adopt everything (written atomically: tmp+rename).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::error::{Result, RuntimeError};
use crate::types::{SandboxConfig, SandboxInfo};

/// `containers/<id>/record.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerMeta {
    pub id: String,
    pub sandbox_id: String,
    pub pod_uid: String,
    pub name: String,
    pub attempt: u32,
    pub image_ref: String,
    pub image_id: String,
    /// `name@digest` the image was known by when the container was made
    /// (what `imageID` reports); absent in records of older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_repo_digest: Option<String>,
    pub log_path: PathBuf,
    pub cgroup_path: String,
    pub labels: BTreeMap<String, String>,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    /// Host pid of the container's init.
    pub pid: Option<i32>,
    /// Read when the container exits (absent in older records: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_message: Option<crate::types::TerminationMessage>,
}

/// `pods/<sandbox-id>.json`: the sandbox's config, which containers need
/// (hostname, hostPID, DNS, log directory).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodMeta {
    pub config: SandboxConfig,
    pub info: SandboxInfo,
}

pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| RuntimeError::Other(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(RuntimeError::io(path, e)),
    }
}

pub fn write_json<T: Serialize>(path: &Path, v: &T) -> Result<()> {
    let tmp = crate::tmpname::beside(path);
    let b = serde_json::to_vec_pretty(v)
        .map_err(|e| RuntimeError::Other(format!("{}: {e}", path.display())))?;
    write_private(&tmp, &b)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        RuntimeError::io(path, e)
    })
}

/// Writes `bytes` to `path`, created mode 0600: nodelet's state files are
/// for nodelet alone.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(|e| RuntimeError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two waiters of one container record its exit at once: a reader
    /// must see the old or the new file, never a torn one (with one temp
    /// name per process it saw half-written JSON).
    #[test]
    fn concurrent_writers_never_expose_a_torn_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("status.json");
        let value: BTreeMap<String, String> = (0..200)
            .map(|i| (format!("key{i}"), "x".repeat(64)))
            .collect();
        write_json(&path, &value).unwrap();
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..300 {
                        write_json(&path, &value).unwrap();
                    }
                });
            }
            let reader = s.spawn(|| {
                let mut reads = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let got: Option<BTreeMap<String, String>> = read_json(&path).unwrap();
                    assert_eq!(got.as_ref(), Some(&value));
                    reads += 1;
                }
                reads
            });
            std::thread::sleep(std::time::Duration::from_millis(300));
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            assert!(reader.join().unwrap() > 0);
        });
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("status.json")]);
    }
}
