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

    /// Holds `layers/<hex>.lock` while a layer is unpacked, so that two
    /// unpacks of one layer (two pulls, a pull and a load) take turns and
    /// garbage collection leaves a layer being written alone.
    fn lock(&self, hex: &str, blocking: bool) -> Result<Option<fs::File>> {
        let p = self.dir.join(format!("{hex}.lock"));
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(|e| RuntimeError::io(&p, e))?;
        let op = if blocking {
            rustix::fs::FlockOperation::LockExclusive
        } else {
            rustix::fs::FlockOperation::NonBlockingLockExclusive
        };
        match rustix::fs::flock(&f, op) {
            Ok(()) => Ok(Some(f)),
            Err(rustix::io::Errno::WOULDBLOCK) if !blocking => Ok(None),
            Err(e) => Err(RuntimeError::io(&p, e.into())),
        }
    }

    /// Unpacks `blob` (gzip, zstd or plain tar) as layer `diff_id` unless
    /// already done, verifying the uncompressed stream hashes to `diff_id`.
    /// Returns whether it unpacked. Safe to call concurrently (per-layer
    /// lock); blocks, so call it from a blocking thread.
    pub fn ensure(&self, diff_id: &str, blob: &Path) -> Result<bool> {
        let hex = hex_of(diff_id)?;
        if self.is_complete(diff_id) {
            return Ok(false);
        }
        let _lock = self.lock(hex, true)?;
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
                    "setuid": stats.setuid,
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
                // Nothing of a refused layer stays, its lock file neither
                // (removed while held, as `remove_if_idle` does).
                let _ = remove_tree(&top);
                let _ = fs::remove_file(self.dir.join(format!("{hex}.lock")));
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
            Box::new(zstd::stream::read::Decoder::with_buffer(br).map_err(|e| {
                RuntimeError::InvalidImage {
                    image: diff_id.to_string(),
                    reason: format!("zstd layer: {e}"),
                }
            })?)
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

    /// The setuid/setgid files the unpack of `diff_id` kept (from its
    /// `done` marker; empty for layers unpacked before it listed them).
    pub fn setuid_files(&self, diff_id: &str) -> Vec<String> {
        let Ok(hex) = hex_of(diff_id) else {
            return Vec::new();
        };
        fs::read(self.dir.join(hex).join("done"))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| serde_json::from_value(v["setuid"].clone()).ok())
            .unwrap_or_default()
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

    /// Removes a layer and its lock file (a rolled-back load leaves no
    /// trace of the layers it added).
    pub fn remove(&self, diff_id: &str) -> Result<()> {
        let hex = hex_of(diff_id)?;
        remove_tree(&self.dir.join(hex))?;
        let _ = fs::remove_file(self.dir.join(format!("{hex}.lock")));
        Ok(())
    }

    /// Removes an unreferenced layer unless an unpack holds it; returns
    /// whether it was removed.
    pub fn remove_if_idle(&self, diff_id: &str) -> Result<bool> {
        let hex = hex_of(diff_id)?;
        let Some(_lock) = self.lock(hex, false)? else {
            return Ok(false);
        };
        remove_tree(&self.dir.join(hex))?;
        let _ = fs::remove_file(self.dir.join(format!("{hex}.lock")));
        Ok(true)
    }

    /// Bytes under a layer directory (its unpacked files), for reports.
    pub fn disk_usage(&self, diff_id: &str) -> u64 {
        fn walk(p: &Path) -> u64 {
            let Ok(rd) = fs::read_dir(p) else { return 0 };
            rd.flatten()
                .map(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => walk(&e.path()),
                    Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
                    _ => 0,
                })
                .sum()
        }
        hex_of(diff_id).map_or(0, |h| walk(&self.dir.join(h)))
    }
}
