//! The store's index: which images exist, their references and layers.
//!
//! One small JSON file (`images.json`), replaced atomically (tmp + fsync +
//! rename + directory fsync) under the store lock, so readers never see a
//! half-written index and a crash leaves either the old or the new one.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::blob::sync_dir;
use crate::error::{Result, RuntimeError};
use crate::tmpname::unique_suffix;

/// One layer of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRecord {
    /// Blob digest (compressed when the source was).
    pub digest: String,
    /// sha256 of the uncompressed tar; names the unpacked directory.
    pub diff_id: String,
    /// Blob size in bytes.
    pub size: u64,
    pub media_type: String,
}

/// One image, keyed by its id (config digest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    pub id: String,
    pub manifest_digest: String,
    /// Normalised references, sorted; may be empty (dangling image).
    pub references: Vec<String>,
    /// Bottom first.
    pub layers: Vec<LayerRecord>,
    pub size: u64,
    pub created: Option<String>,
    pub loaded_at: String,
    /// The image index (manifest list) a registry pull chose this image
    /// from: what the image's repo digests name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_digest: Option<String>,
    /// `name@sha256:...` recorded by pulls (also by digest-only pulls,
    /// which leave no tag reference).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repo_digests: Vec<String>,
}

impl ImageRecord {
    /// The digest the registry knows this image by: its index's when it
    /// came from one, else its manifest's (containerd's image target).
    pub fn target_digest(&self) -> &str {
        self.index_digest
            .as_deref()
            .unwrap_or(&self.manifest_digest)
    }

    /// Every `name@digest` of the image: those recorded by pulls plus one
    /// per referenced repository at the target digest (containerd's
    /// `RepoDigests`), sorted.
    pub fn all_repo_digests(&self) -> Vec<String> {
        let mut out: Vec<String> = self.repo_digests.clone();
        for r in &self.references {
            if let Ok(parsed) = super::reference::parse_reference(r) {
                out.push(format!("{}@{}", parsed.name(), self.target_digest()));
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// Whether `digest` names this image (config, manifest or index).
    pub fn has_digest(&self, digest: &str) -> bool {
        self.id == digest
            || self.manifest_digest == digest
            || self.index_digest.as_deref() == Some(digest)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    pub images: BTreeMap<String, ImageRecord>,
}

impl State {
    pub fn read(path: &Path) -> Result<State> {
        match fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                RuntimeError::Other(format!("{}: corrupt image index: {e}", path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(RuntimeError::io(path, e)),
        }
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let tmp = dir.join(format!(
            ".images.json.{}.{}",
            std::process::id(),
            unique_suffix()
        ));
        let bytes = serde_json::to_vec_pretty(self)
            .map_err(|e| RuntimeError::Other(format!("encoding image index: {e}")))?;
        let res = (|| {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            fs::rename(&tmp, path)
        })();
        if let Err(e) = res {
            let _ = fs::remove_file(&tmp);
            return Err(RuntimeError::io(path, e));
        }
        sync_dir(dir)
    }
}
