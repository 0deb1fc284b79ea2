//! Content-addressed blobs: `blobs/sha256/<hex>`.
//!
//! A blob's name is its sha256, and the only way in is [`BlobStore::write`],
//! which streams to a temporary file while hashing and renames into place
//! only when the hash matches. Nothing ever trusts a digest taken from a file
//! name or a manifest without having hashed the bytes itself.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::reference::is_sha256_hex;
use crate::error::{Result, RuntimeError};

/// A reader that hashes (sha256) and counts what passes through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// Reads the rest of the stream (so trailing bytes are hashed too) and
    /// returns `(sha256:<hex>, total bytes)`.
    pub fn finish(mut self) -> io::Result<(String, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok((
            format!("sha256:{}", hex::encode(self.hasher.finalize())),
            self.count,
        ))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// Copies `reader` into a new file at `tmp` (fsynced), returning its
/// `(sha256:<hex>, size)`. The caller decides whether to keep it.
pub fn write_hashed(tmp: &Path, reader: impl Read) -> Result<(String, u64)> {
    write_hashed_with(tmp, reader, true)
}

fn write_hashed_with(tmp: &Path, reader: impl Read, sync: bool) -> Result<(String, u64)> {
    let mut file = File::create(tmp).map_err(|e| RuntimeError::io(tmp, e))?;
    let mut hr = HashingReader::new(reader);
    io::copy(&mut hr, &mut file).map_err(|e| RuntimeError::io(tmp, e))?;
    file.flush().map_err(|e| RuntimeError::io(tmp, e))?;
    if sync {
        file.sync_all().map_err(|e| RuntimeError::io(tmp, e))?;
    }
    hr.finish().map_err(|e| RuntimeError::io(tmp, e))
}

/// Whether a write makes itself durable, or leaves that to one sync of
/// the whole store by its caller (a registry pull's commit syncs once
/// before its index names anything it wrote).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    Each,
    Batched,
}

/// sha256 of a whole file.
pub fn hash_file(path: &Path) -> Result<(String, u64)> {
    let f = File::open(path).map_err(|e| RuntimeError::io(path, e))?;
    HashingReader::new(f)
        .finish()
        .map_err(|e| RuntimeError::io(path, e))
}

/// The `blobs/` directory of the store.
#[derive(Debug, Clone)]
pub struct BlobStore {
    dir: PathBuf,
    tmp: PathBuf,
}

impl BlobStore {
    /// `dir` is the store's blob root (`<images>/blobs`), `tmp` a directory on
    /// the same filesystem for in-flight writes.
    pub fn open(dir: &Path, tmp: &Path) -> Result<BlobStore> {
        let sha = dir.join("sha256");
        fs::create_dir_all(&sha).map_err(|e| RuntimeError::io(&sha, e))?;
        fs::create_dir_all(tmp).map_err(|e| RuntimeError::io(tmp, e))?;
        Ok(BlobStore {
            dir: dir.to_path_buf(),
            tmp: tmp.to_path_buf(),
        })
    }

    /// Where the blob `digest` (`sha256:<hex>`) lives, if it is well formed.
    pub fn path(&self, digest: &str) -> Result<PathBuf> {
        match digest.strip_prefix("sha256:") {
            Some(hex) if is_sha256_hex(hex) => Ok(self.dir.join("sha256").join(hex)),
            _ => Err(RuntimeError::InvalidImage {
                image: digest.to_string(),
                reason: "not a sha256 digest".into(),
            }),
        }
    }

    pub fn contains(&self, digest: &str) -> bool {
        self.path(digest).is_ok_and(|p| p.is_file())
    }

    /// Streams `reader` into the store, verifying it hashes to `expected`.
    /// On mismatch nothing is stored and an error names both digests.
    pub fn write(&self, expected: &str, reader: impl Read) -> Result<PathBuf> {
        self.write_with(expected, reader, SyncMode::Each)
    }

    /// [`write`](BlobStore::write), durable on return only with
    /// [`SyncMode::Each`].
    pub fn write_with(&self, expected: &str, reader: impl Read, sync: SyncMode) -> Result<PathBuf> {
        let dest = self.path(expected)?;
        let tmp = self.tmp.join(format!(
            "blob-{}-{}",
            std::process::id(),
            crate::tmpname::unique_suffix()
        ));
        let res = write_hashed_with(&tmp, reader, sync == SyncMode::Each);
        let (actual, _) = match res {
            Ok(v) => v,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
        };
        if actual != expected {
            let _ = fs::remove_file(&tmp);
            return Err(digest_mismatch(expected, &actual));
        }
        fs::rename(&tmp, &dest).map_err(|e| {
            let _ = fs::remove_file(&tmp);
            RuntimeError::io(&dest, e)
        })?;
        if sync == SyncMode::Each {
            sync_dir(dest.parent().unwrap_or(&self.dir))?;
        }
        Ok(dest)
    }

    /// Moves `file`, which this process already hashed to `digest` (a
    /// registry download in the ingest area), into the store. Falls back
    /// to a verifying copy when a rename is impossible.
    pub fn adopt(&self, digest: &str, file: &Path, sync: SyncMode) -> Result<PathBuf> {
        let dest = self.path(digest)?;
        match fs::rename(file, &dest) {
            Ok(()) => {
                if sync == SyncMode::Each {
                    sync_dir(dest.parent().unwrap_or(&self.dir))?;
                }
                Ok(dest)
            }
            Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
                let f = File::open(file).map_err(|e| RuntimeError::io(file, e))?;
                let p = self.write_with(digest, f, sync)?;
                let _ = fs::remove_file(file);
                Ok(p)
            }
            Err(e) => Err(RuntimeError::io(&dest, e)),
        }
    }

    /// Digests of every stored blob.
    pub fn list(&self) -> Result<Vec<String>> {
        let sha = self.dir.join("sha256");
        let mut out = Vec::new();
        for entry in fs::read_dir(&sha).map_err(|e| RuntimeError::io(&sha, e))? {
            let entry = entry.map_err(|e| RuntimeError::io(&sha, e))?;
            if let Some(name) = entry.file_name().to_str()
                && is_sha256_hex(name)
            {
                out.push(format!("sha256:{name}"));
            }
        }
        Ok(out)
    }

    pub fn remove(&self, digest: &str) -> Result<()> {
        let p = self.path(digest)?;
        match fs::remove_file(&p) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(RuntimeError::io(&p, e)),
            _ => Ok(()),
        }
    }
}

pub(crate) fn digest_mismatch(expected: &str, actual: &str) -> RuntimeError {
    RuntimeError::InvalidImage {
        image: expected.to_string(),
        reason: format!("digest mismatch: content hashes to {actual}"),
    }
}

/// fsync a directory so a rename in it survives a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| RuntimeError::io(dir, e))
}
