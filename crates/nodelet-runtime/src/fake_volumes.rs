//! FOR ENGINE UNIT TESTS ONLY: an in-memory [`VolumeHost`]. Payloads are
//! kept per directory so tests can read what a volume holds; every call is
//! recorded; failures can be scripted per volume name or hostPath.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use nodelet_spec::volume::Payload;

use crate::volume::{
    Ownership, SubpathRequest, VolumeError, VolumeHost, VolumeResult, VolumeSetup,
};

/// One recorded volume call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumeOp {
    Setup { pod_uid: String, name: String },
    Write { dir: PathBuf, changed: bool },
    HostPath { path: String },
    Subpath { volume: String, sub_path: String },
    RemovePod { pod_uid: String },
}

#[derive(Default)]
struct St {
    ops: Vec<VolumeOp>,
    dirs: BTreeMap<PathBuf, Payload>,
    setups: BTreeMap<PathBuf, VolumeSetup>,
    failing_paths: HashMap<String, String>,
    usage: HashMap<PathBuf, u64>,
}

#[derive(Clone, Default)]
pub struct FakeVolumes {
    st: Arc<Mutex<St>>,
}

impl FakeVolumes {
    fn lock(&self) -> MutexGuard<'_, St> {
        self.st.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn ops(&self) -> Vec<VolumeOp> {
        self.lock().ops.clone()
    }

    /// What the volume dir ending in `/<name>` of pod `pod_uid` holds.
    pub fn payload(&self, pod_uid: &str, name: &str) -> Option<Payload> {
        let st = self.lock();
        st.dirs
            .iter()
            .find(|(p, _)| p.starts_with(format!("/fake/{pod_uid}/")) && p.ends_with(name))
            .map(|(_, v)| v.clone())
    }

    /// Volume dirs that exist.
    pub fn dirs(&self) -> Vec<PathBuf> {
        self.lock().setups.keys().cloned().collect()
    }

    /// Makes `host_path(path, _)` fail with `message` until cleared.
    pub fn fail_host_path(&self, path: &str, message: Option<&str>) {
        let mut st = self.lock();
        match message {
            Some(m) => {
                st.failing_paths.insert(path.to_owned(), m.to_owned());
            }
            None => {
                st.failing_paths.remove(path);
            }
        }
    }

    /// What `usage` reports for the dir ending in `/<name>`.
    pub fn set_usage(&self, pod_uid: &str, name: &str, bytes: u64) {
        let dir = self
            .dirs()
            .into_iter()
            .find(|p| p.starts_with(format!("/fake/{pod_uid}/")) && p.ends_with(name));
        if let Some(d) = dir {
            self.lock().usage.insert(d, bytes);
        }
    }
}

#[async_trait]
impl VolumeHost for FakeVolumes {
    async fn setup(&self, req: &VolumeSetup) -> VolumeResult<PathBuf> {
        let dir = PathBuf::from(format!("/fake/{}/{}/{}", req.pod_uid, req.plugin, req.name));
        let mut st = self.lock();
        st.ops.push(VolumeOp::Setup {
            pod_uid: req.pod_uid.clone(),
            name: req.name.clone(),
        });
        st.setups.insert(dir.clone(), req.clone());
        Ok(dir)
    }

    async fn write_payload(
        &self,
        dir: &Path,
        payload: &Payload,
        _: Ownership,
        _: &str,
    ) -> VolumeResult<bool> {
        let mut st = self.lock();
        let changed = st.dirs.get(dir) != Some(payload);
        st.dirs.insert(dir.to_path_buf(), payload.clone());
        st.ops.push(VolumeOp::Write {
            dir: dir.to_path_buf(),
            changed,
        });
        Ok(changed)
    }

    async fn host_path(&self, path: &str, _: &str) -> VolumeResult<PathBuf> {
        let mut st = self.lock();
        st.ops.push(VolumeOp::HostPath {
            path: path.to_owned(),
        });
        match st.failing_paths.get(path) {
            Some(m) => Err(VolumeError(m.clone())),
            None => Ok(PathBuf::from(path)),
        }
    }

    async fn prepare_subpath(&self, req: &SubpathRequest) -> VolumeResult<PathBuf> {
        self.lock().ops.push(VolumeOp::Subpath {
            volume: req.volume.clone(),
            sub_path: req.sub_path.clone(),
        });
        Ok(req.volume_path.join(&req.sub_path))
    }

    async fn usage(&self, path: &Path) -> VolumeResult<u64> {
        Ok(self.lock().usage.get(path).copied().unwrap_or(0))
    }

    async fn remove_pod(&self, pod_uid: &str) -> VolumeResult<()> {
        let mut st = self.lock();
        st.ops.push(VolumeOp::RemovePod {
            pod_uid: pod_uid.to_owned(),
        });
        let prefix = format!("/fake/{pod_uid}/");
        st.dirs.retain(|p, _| !p.starts_with(&prefix));
        st.setups.retain(|p, _| !p.starts_with(&prefix));
        Ok(())
    }

    async fn pods(&self) -> VolumeResult<Vec<String>> {
        let st = self.lock();
        let mut out: Vec<String> = st
            .setups
            .keys()
            .filter_map(|p| p.iter().nth(2).map(|s| s.to_string_lossy().into_owned()))
            .collect();
        out.dedup();
        Ok(out)
    }
}
