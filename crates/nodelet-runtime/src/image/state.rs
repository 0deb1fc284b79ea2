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

use super::blob::{sync_dir, unique_suffix};
use crate::error::{Result, RuntimeError};

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
