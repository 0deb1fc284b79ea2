//! Sandbox records on disk: one JSON file per sandbox, written atomically.
//!
//! The record is written before namespaces or network exist ("creating") and
//! updated after, so an agent that crashes in between still finds the
//! sandbox at the next start and can tear down whatever was made. It keeps
//! the exact conflist, runtimeConfig and ADD result, because CNI DEL must
//! see the same config and `prevResult` as ADD did, even if the operator has
//! edited the config file since.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Result, RuntimeError};
use crate::types::{SandboxConfig, SandboxInfo};

/// File name of the record inside `<state_dir>/<id>/`.
const RECORD_FILE: &str = "sandbox.json";

/// How far creation got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SandboxPhase {
    /// Recorded, namespaces/network possibly partly made.
    Creating,
    Ready,
}

/// The CNI attachment of a sandbox: everything DEL needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CniAttachment {
    /// The conflist document ADD ran with.
    pub conflist: Value,
    pub ifname: String,
    /// `runtimeConfig` values (portMappings) ADD ran with.
    pub runtime_config: Value,
    /// `CNI_ARGS` pairs ADD ran with.
    pub args: Vec<(String, String)>,
    /// The final ADD result (`None` until ADD succeeded).
    pub result: Option<Value>,
    /// Made by the native path (`sandbox::native`) rather than the
    /// plugins. Either path can tear down what the other made (records
    /// from before it existed read as plugin-made); this tells the native
    /// DEL whether the bridge plugin's per-pod iptables chain exists.
    #[serde(default)]
    pub native: bool,
}

/// One sandbox as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SandboxRecord {
    pub phase: SandboxPhase,
    pub info: SandboxInfo,
    pub config: SandboxConfig,
    /// Directory holding the namespace pins.
    pub pin_dir: PathBuf,
    pub cni: Option<CniAttachment>,
    pub created_at: jiff::Timestamp,
}

/// Reads and writes records under one state directory.
#[derive(Debug, Clone)]
pub struct StateStore {
    dir: PathBuf,
}

impl StateStore {
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| RuntimeError::io(dir, e))?;
        Ok(StateStore {
            dir: dir.to_path_buf(),
        })
    }

    fn record_path(&self, id: &str) -> PathBuf {
        self.dir.join(id).join(RECORD_FILE)
    }

    pub fn save(&self, record: &SandboxRecord) -> Result<()> {
        let dir = self.dir.join(&record.info.id);
        std::fs::create_dir_all(&dir).map_err(|e| RuntimeError::io(&dir, e))?;
        let bytes = serde_json::to_vec_pretty(record)
            .map_err(|e| RuntimeError::Other(format!("serialising sandbox record: {e}")))?;
        write_atomic(&self.record_path(&record.info.id), &bytes)
    }

    /// `None` when no record exists.
    pub fn load(&self, id: &str) -> Result<Option<SandboxRecord>> {
        let path = self.record_path(id);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(RuntimeError::io(&path, e)),
        };
        serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            RuntimeError::Other(format!("{}: corrupt sandbox record: {e}", path.display()))
        })
    }

    /// Every readable record; unreadable ones are logged and skipped so one
    /// bad file does not hide the other pods at recovery.
    pub fn list(&self) -> Result<Vec<SandboxRecord>> {
        let mut out = Vec::new();
        let entries = std::fs::read_dir(&self.dir).map_err(|e| RuntimeError::io(&self.dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| RuntimeError::io(&self.dir, e))?;
            let Some(id) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if !is_sandbox_id(&id) {
                continue;
            }
            match self.load(&id) {
                Ok(Some(r)) => out.push(r),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(sandbox = %id, error = %e, "skipping unreadable sandbox record")
                }
            }
        }
        out.sort_by(|a, b| {
            a.created_at
                .cmp(&b.created_at)
                .then(a.info.id.cmp(&b.info.id))
        });
        Ok(out)
    }

    /// Removes the record and its directory; missing is fine.
    pub fn remove(&self, id: &str) -> Result<()> {
        let dir = self.dir.join(id);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(RuntimeError::io(&dir, e)),
        }
    }
}

/// Sandbox ids are 64 lowercase hex characters (as CRI's).
pub fn is_sandbox_id(id: &str) -> bool {
    id.len() == 64
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Writes `bytes` to `path` (mode 0600) so readers see the old or the new content, never
/// a torn file, even across a crash: temp file, fsync, rename, fsync dir.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let parent = path
        .parent()
        .ok_or_else(|| RuntimeError::Other(format!("{}: no parent directory", path.display())))?;
    let tmp = crate::tmpname::beside(path);
    let write = || -> io::Result<()> {
        // Owner only: state files are nodelet's, and none is for others.
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(parent)?.sync_all()
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        RuntimeError::io(path, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::SandboxNamespaces;
    use std::collections::BTreeMap;

    fn record(id: &str) -> SandboxRecord {
        SandboxRecord {
            phase: SandboxPhase::Ready,
            info: SandboxInfo {
                id: id.into(),
                pod_uid: "u".into(),
                ips: vec!["10.244.0.2".parse().unwrap()],
                host_ip: None,
                namespaces: SandboxNamespaces::default(),
                cgroup_parent: "nodelet/podu".into(),
                id_mapping: None,
            },
            config: SandboxConfig {
                pod_uid: "u".into(),
                pod_name: "p".into(),
                pod_namespace: "default".into(),
                hostname: "p".into(),
                host_network: false,
                host_pid: false,
                host_ipc: false,
                port_mappings: vec![],
                dns: None,
                labels: BTreeMap::new(),
                user_namespace: false,
                share_process_namespace: false,
            },
            pin_dir: PathBuf::from("/run/x"),
            cni: None,
            created_at: jiff::Timestamp::now(),
        }
    }

    #[test]
    fn save_load_list_remove_roundtrip() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path()).unwrap();
        let id = "a".repeat(64);
        assert!(store.load(&id).unwrap().is_none());
        store.save(&record(&id)).unwrap();
        assert_eq!(
            store.load(&id).unwrap().unwrap(),
            record(&id).clone_with_time(&store, &id)
        );
        std::fs::create_dir(dir.path().join("not-a-sandbox")).unwrap();
        assert_eq!(store.list().unwrap().len(), 1);
        store.remove(&id).unwrap();
        store.remove(&id).unwrap();
        assert!(store.list().unwrap().is_empty());
    }

    impl SandboxRecord {
        // Records carry a timestamp; compare against what was stored.
        fn clone_with_time(mut self, store: &StateStore, id: &str) -> SandboxRecord {
            self.created_at = store.load(id).unwrap().unwrap().created_at;
            self
        }
    }

    #[test]
    fn ids_are_64_hex() {
        assert!(is_sandbox_id(&"0f".repeat(32)));
        assert!(!is_sandbox_id("abc"));
        assert!(!is_sandbox_id(&"G".repeat(64)));
    }
}
