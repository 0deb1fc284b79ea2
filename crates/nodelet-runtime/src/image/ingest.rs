//! Blobs on their way in from a registry: `ingest/<hex>.partial` while
//! they download, `ingest/<hex>` once their bytes hash to `<hex>`, until a
//! pull's commit moves them into `blobs/` (containerd's content ingests).
//!
//! Nothing here is an image yet, so nothing here is visible: an image
//! appears only when the store's index names it. What survives a crash
//! (kill -9 included) is only bytes to reuse: a verified blob is not
//! fetched again, and a partial one resumes from its length (HTTP range)
//! after its prefix is hashed again. A flock on `ingest/<hex>.lock` keeps
//! two pulls (in this process or another) from writing the same blob.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::blob::sync_dir;
use super::reference::is_sha256_hex;
use crate::error::{Result, RuntimeError};
use crate::tmpname::unique_suffix;

#[derive(Debug, Clone)]
pub struct Ingest {
    dir: PathBuf,
}

/// The exclusive right to write one blob's ingest files; released on drop.
#[derive(Debug)]
pub struct IngestLock {
    _file: File,
}

fn hex_of(digest: &str) -> Result<&str> {
    match digest.strip_prefix("sha256:") {
        Some(h) if is_sha256_hex(h) => Ok(h),
        _ => Err(RuntimeError::InvalidImage {
            image: digest.to_string(),
            reason: "not a sha256 digest".into(),
        }),
    }
}

impl Ingest {
    pub fn open(dir: &Path) -> Result<Ingest> {
        fs::create_dir_all(dir).map_err(|e| RuntimeError::io(dir, e))?;
        Ok(Ingest {
            dir: dir.to_path_buf(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the verified blob `digest` waits for its pull's commit.
    pub fn complete_path(&self, digest: &str) -> Result<PathBuf> {
        Ok(self.dir.join(hex_of(digest)?))
    }

    pub fn partial_path(&self, digest: &str) -> Result<PathBuf> {
        Ok(self.dir.join(format!("{}.partial", hex_of(digest)?)))
    }

    pub fn is_complete(&self, digest: &str) -> bool {
        self.complete_path(digest).is_ok_and(|p| p.is_file())
    }

    /// Blocks until this process holds the blob's lock (call from a
    /// blocking thread).
    pub fn lock(&self, digest: &str) -> Result<IngestLock> {
        let p = self.dir.join(format!("{}.lock", hex_of(digest)?));
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(|e| RuntimeError::io(&p, e))?;
        rustix::fs::flock(&f, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| RuntimeError::io(&p, e.into()))?;
        Ok(IngestLock { _file: f })
    }

    /// Opens the partial file for appending after hashing what it holds.
    /// Returns the writer and the offset to resume from.
    pub fn resume(&self, digest: &str, _lock: &IngestLock) -> Result<(BlobWriter, u64)> {
        let path = self.partial_path(digest)?;
        let mut file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| RuntimeError::io(&path, e))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut offset = 0u64;
        loop {
            let n = file
                .read(&mut buf)
                .map_err(|e| RuntimeError::io(&path, e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            offset += n as u64;
        }
        file.seek(SeekFrom::End(0))
            .map_err(|e| RuntimeError::io(&path, e))?;
        Ok((
            BlobWriter {
                digest: digest.to_string(),
                path,
                file: io::BufWriter::with_capacity(1 << 20, file),
                hasher,
                written: offset,
            },
            offset,
        ))
    }

    /// Removes the partial file (its bytes were wrong, or the server sent
    /// the whole blob again).
    pub fn discard_partial(&self, digest: &str, _lock: &IngestLock) -> Result<()> {
        let p = self.partial_path(digest)?;
        match fs::remove_file(&p) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(RuntimeError::io(&p, e)),
            _ => Ok(()),
        }
    }

    /// Stores small verified content (a config) directly as complete.
    pub fn write_verified(
        &self,
        digest: &str,
        bytes: &[u8],
        _lock: &IngestLock,
    ) -> Result<PathBuf> {
        let dest = self.complete_path(digest)?;
        let tmp = self
            .dir
            .join(format!(".{}.{}", hex_of(digest)?, unique_suffix()));
        let res = (|| {
            let mut f = File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            fs::rename(&tmp, &dest)
        })();
        if let Err(e) = res {
            let _ = fs::remove_file(&tmp);
            return Err(RuntimeError::io(&dest, e));
        }
        sync_dir(&self.dir)?;
        Ok(dest)
    }

    /// Every ingest file (partial, complete, lock, temporary), for pruning.
    /// Entries whose blob is being written (lock held) are left alone.
    pub fn prune(&self) -> Result<u64> {
        let mut freed = 0;
        let rd = match fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(RuntimeError::io(&self.dir, e)),
        };
        let mut names: Vec<String> = rd
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .collect();
        names.sort();
        for name in names {
            let hex = name
                .trim_start_matches('.')
                .split('.')
                .next()
                .unwrap_or("")
                .to_string();
            if !is_sha256_hex(&hex) {
                continue;
            }
            let lock_path = self.dir.join(format!("{hex}.lock"));
            let busy = File::open(&lock_path).is_ok_and(|f| {
                rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_err()
            });
            if busy {
                continue;
            }
            let p = self.dir.join(&name);
            if let Ok(m) = fs::metadata(&p) {
                freed += m.len();
            }
            let _ = fs::remove_file(&p);
        }
        Ok(freed)
    }
}

/// Appends a blob's bytes to its partial file while hashing them; turns it
/// into the complete blob only if the whole content hashes to its digest.
pub struct BlobWriter {
    digest: String,
    path: PathBuf,
    file: io::BufWriter<File>,
    hasher: Sha256,
    written: u64,
}

impl BlobWriter {
    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.hasher.update(bytes);
        self.written += bytes.len() as u64;
        self.file
            .write_all(bytes)
            .map_err(|e| RuntimeError::io(&self.path, e))
    }

    pub fn written(&self) -> u64 {
        self.written
    }

    /// Flushes what was written (a resume point survives a crash).
    pub fn flush(&mut self) -> Result<()> {
        self.file
            .flush()
            .map_err(|e| RuntimeError::io(&self.path, e))
    }

    /// Verifies size and digest; on success renames the partial file to
    /// the complete blob (synced first). On mismatch the partial file is
    /// removed (its bytes are wrong) and the error names both digests.
    pub fn finish(self, ingest: &Ingest, expected_size: Option<u64>) -> Result<PathBuf> {
        self.verify(expected_size)?.complete(ingest, true)
    }

    /// Verifies size and digest, leaving the bytes in the partial file
    /// until [`VerifiedBlob::complete`]. On mismatch the partial file is
    /// removed (its bytes are wrong) and the error names both digests.
    pub fn verify(mut self, expected_size: Option<u64>) -> Result<VerifiedBlob> {
        self.flush()?;
        let actual = format!("sha256:{}", hex::encode(self.hasher.clone().finalize()));
        let file = self
            .file
            .into_inner()
            .map_err(|e| RuntimeError::io(&self.path, e.into_error()))?;
        let size_ok = expected_size.is_none_or(|s| s == self.written);
        if actual != self.digest || !size_ok {
            drop(file);
            let _ = fs::remove_file(&self.path);
            let reason = if actual != self.digest {
                format!(
                    "unexpected commit digest {actual}, expected {}: failed precondition",
                    self.digest
                )
            } else {
                format!(
                    "unexpected commit size {}, expected {}: failed precondition",
                    self.written,
                    expected_size.unwrap_or_default()
                )
            };
            return Err(RuntimeError::InvalidImage {
                image: self.digest.clone(),
                reason,
            });
        }
        Ok(VerifiedBlob {
            digest: self.digest,
            path: self.path,
            file,
        })
    }
}

/// A downloaded blob whose bytes hash to its digest, still under its
/// partial name: nothing trusts it until it is complete.
pub struct VerifiedBlob {
    digest: String,
    path: PathBuf,
    file: File,
}

impl VerifiedBlob {
    /// Where its bytes are (to unpack from, or to sync).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames it to the complete blob. `sync`: fsync the bytes before and
    /// the directory after; without it the caller has already synced the
    /// filesystem since the bytes were written (the rename then reaches
    /// the disk with the commit that uses the blob, which syncs first).
    pub fn complete(self, ingest: &Ingest, sync: bool) -> Result<PathBuf> {
        if sync {
            self.file
                .sync_all()
                .map_err(|e| RuntimeError::io(&self.path, e))?;
        }
        let dest = ingest.complete_path(&self.digest)?;
        fs::rename(&self.path, &dest).map_err(|e| RuntimeError::io(&dest, e))?;
        if sync {
            sync_dir(&ingest.dir)?;
        }
        Ok(dest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(b: &[u8]) -> String {
        format!("sha256:{}", hex::encode(Sha256::digest(b)))
    }

    #[test]
    fn resumes_and_verifies() {
        let tmp = tempfile::tempdir().unwrap();
        let ing = Ingest::open(tmp.path()).unwrap();
        let data = b"hello registry blob";
        let d = digest(data);
        let lock = ing.lock(&d).unwrap();
        let (mut w, off) = ing.resume(&d, &lock).unwrap();
        assert_eq!(off, 0);
        w.write(&data[..5]).unwrap();
        w.flush().unwrap();
        drop(w); // a crash after 5 bytes
        let (mut w, off) = ing.resume(&d, &lock).unwrap();
        assert_eq!(off, 5);
        w.write(&data[5..]).unwrap();
        let p = w.finish(&ing, Some(data.len() as u64)).unwrap();
        assert_eq!(fs::read(&p).unwrap(), data);
        assert!(ing.is_complete(&d));
        assert!(!ing.partial_path(&d).unwrap().exists());
    }

    #[test]
    fn wrong_bytes_leave_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let ing = Ingest::open(tmp.path()).unwrap();
        let d = digest(b"right");
        let lock = ing.lock(&d).unwrap();
        let (mut w, _) = ing.resume(&d, &lock).unwrap();
        w.write(b"wrong").unwrap();
        let e = w.finish(&ing, None).unwrap_err().to_string();
        assert!(e.contains("unexpected commit digest"), "{e}");
        assert!(!ing.is_complete(&d));
        assert!(!ing.partial_path(&d).unwrap().exists());
        drop(lock);
        assert_eq!(ing.prune().unwrap(), 0);
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
    }
}
