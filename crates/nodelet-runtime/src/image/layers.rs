//! Unpacked layers: `layers/<diff_id hex>/diff` (the overlay lowerdir) and
//! `layers/<diff_id hex>/done`, written last. A directory without `done` is
//! the remains of a crash mid-unpack and is redone from the blob.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use super::blob::{HashingReader, sync_dir, unique_suffix};
use super::reference::is_sha256_hex;
use super::unpack::{UnpackLimits, unpack_layer};
use crate::error::{Result, RuntimeError};

#[derive(Debug, Clone)]
pub struct LayerStore {
    dir: PathBuf,
    limits: UnpackLimits,
}

fn hex_of(diff_id: &str) -> Result<&str> {
    match diff_id.strip_prefix("sha256:") {
        Some(h) if is_sha256_hex(h) => Ok(h),
        _ => Err(RuntimeError::InvalidImage {
            image: diff_id.to_string(),
            reason: "diff_id is not a sha256 digest".into(),
        }),
    }
}

/// Removes a directory tree, tolerating its absence.
pub(crate) fn remove_tree(p: &Path) -> Result<()> {
    match fs::remove_dir_all(p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(RuntimeError::io(p, e)),
        _ => Ok(()),
    }
}

impl LayerStore {
    pub fn open(dir: &Path, limits: UnpackLimits) -> Result<LayerStore> {
        fs::create_dir_all(dir).map_err(|e| RuntimeError::io(dir, e))?;
        Ok(LayerStore {
            dir: dir.to_path_buf(),
            limits,
        })
    }

    /// The lowerdir for `diff_id`.
    pub fn diff_path(&self, diff_id: &str) -> Result<PathBuf> {
        Ok(self.dir.join(hex_of(diff_id)?).join("diff"))
    }

    pub fn is_complete(&self, diff_id: &str) -> bool {
        hex_of(diff_id).is_ok_and(|h| self.dir.join(h).join("done").is_file())
    }

    /// Unpacks `blob` (gzip or plain tar) as layer `diff_id` unless already
    /// done, verifying the uncompressed stream hashes to `diff_id`. Returns
    /// whether it unpacked. Callers hold the store lock.
    pub fn ensure(&self, diff_id: &str, blob: &Path) -> Result<bool> {
        let hex = hex_of(diff_id)?;
        if self.is_complete(diff_id) {
            return Ok(false);
        }
        let top = self.dir.join(hex);
        remove_tree(&top)?;
        let diff = top.join("diff");
        fs::create_dir_all(&diff).map_err(|e| RuntimeError::io(&diff, e))?;
        match self.unpack_verified(diff_id, blob, &diff) {
            Ok(stats) => {
                let marker = serde_json::json!({
                    "diff_id": diff_id, "entries": stats.entries, "bytes": stats.bytes,
                });
                let tmp = top.join(format!(".done.{}", unique_suffix()));
                let res = fs::write(&tmp, marker.to_string())
                    .and_then(|()| fs::File::open(&tmp)?.sync_all())
                    .and_then(|()| fs::rename(&tmp, top.join("done")));
                if let Err(e) = res {
                    let _ = remove_tree(&top);
                    return Err(RuntimeError::io(&top, e));
                }
                sync_dir(&top)?;
                Ok(true)
            }
            Err(e) => {
                let _ = remove_tree(&top);
                Err(e)
            }
        }
    }

    fn unpack_verified(
        &self,
        diff_id: &str,
        blob: &Path,
        diff: &Path,
    ) -> Result<super::unpack::UnpackStats> {
        let f = fs::File::open(blob).map_err(|e| RuntimeError::io(blob, e))?;
        let mut br = BufReader::new(f);
        let head = br.fill_buf().map_err(|e| RuntimeError::io(blob, e))?;
        let reader: Box<dyn std::io::Read> = if head.starts_with(&[0x1f, 0x8b]) {
            Box::new(flate2::read::MultiGzDecoder::new(br))
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            return Err(RuntimeError::InvalidImage {
                image: diff_id.to_string(),
                reason: "zstd-compressed layers are not supported".into(),
            });
        } else {
            Box::new(br)
        };
        let mut hr = HashingReader::new(reader);
        let stats = unpack_layer(&mut hr, diff, diff_id, &self.limits)?;
        let (actual, _) = hr.finish().map_err(|e| RuntimeError::InvalidImage {
            image: diff_id.to_string(),
            reason: format!("reading layer: {e}"),
        })?;
        if actual != diff_id {
            return Err(super::blob::digest_mismatch(diff_id, &actual));
        }
        // One syncfs instead of an fsync per file before `done` is written.
        let fd = fs::File::open(diff).map_err(|e| RuntimeError::io(diff, e))?;
        rustix::fs::syncfs(&fd).map_err(|e| RuntimeError::io(diff, e.into()))?;
        Ok(stats)
    }

    /// Diff ids of every layer directory (complete or not).
    pub fn list(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for e in fs::read_dir(&self.dir).map_err(|e| RuntimeError::io(&self.dir, e))? {
            let e = e.map_err(|err| RuntimeError::io(&self.dir, err))?;
            if let Some(n) = e.file_name().to_str()
                && is_sha256_hex(n)
            {
                out.push(format!("sha256:{n}"));
            }
        }
        Ok(out)
    }

    pub fn remove(&self, diff_id: &str) -> Result<()> {
        remove_tree(&self.dir.join(hex_of(diff_id)?))
    }
}
