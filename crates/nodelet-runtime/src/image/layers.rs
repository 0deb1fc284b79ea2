//! Unpacked layers: `layers/<diff_id hex>/diff` (the overlay lowerdir) and
//! `layers/<diff_id hex>/done`, written last. A directory without `done` is
//! the remains of a crash mid-unpack and is redone from the blob.
//!
//! A layer is written through a [`LayerWriter`], which holds the layer's
//! lock from the moment its directory is emptied until `done` exists, so a
//! registry pull can unpack a layer while its blob is still downloading
//! (the writer reads the bytes as they arrive) and mark it complete only
//! once the blob has been verified too.

use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::blob::{HashingReader, sync_dir};
use super::reference::is_sha256_hex;
use super::unpack::{UnpackLimits, unpack_layer};
use crate::error::{Result, RuntimeError};
use crate::tmpname::unique_suffix;

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
        if self.is_complete(diff_id) {
            return Ok(false);
        }
        let Some(mut w) = self.begin(diff_id, true)? else {
            return Ok(false);
        };
        let f = fs::File::open(blob).map_err(|e| RuntimeError::io(blob, e))?;
        w.unpack(BufReader::with_capacity(COPY_BUFFER, f))?;
        w.finish(Durability::Sync)?;
        Ok(true)
    }

    /// Starts writing layer `diff_id`: takes its lock (waiting for it when
    /// `wait`, else `None` if another unpack holds it) and empties its
    /// directory. `None` as well when it is already complete. Nothing is
    /// complete until [`LayerWriter::finish`]; a writer dropped before that
    /// removes what it wrote.
    pub fn begin(&self, diff_id: &str, wait: bool) -> Result<Option<LayerWriter>> {
        let hex = hex_of(diff_id)?.to_string();
        let Some(lock) = self.lock(&hex, wait)? else {
            return Ok(None);
        };
        if self.is_complete(diff_id) {
            return Ok(None);
        }
        let top = self.dir.join(&hex);
        remove_tree(&top)?;
        let diff = top.join("diff");
        fs::create_dir_all(&diff).map_err(|e| RuntimeError::io(&diff, e))?;
        Ok(Some(LayerWriter {
            store: self.clone(),
            diff_id: diff_id.to_string(),
            hex,
            top,
            diff,
            stats: None,
            _lock: lock,
        }))
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

/// Buffer size for reading blobs and copying file contents out of a tar.
pub(crate) const COPY_BUFFER: usize = 1 << 20;

/// How [`LayerWriter::finish`] makes the layer durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// One `syncfs` of the store's filesystem before `done` is written, and
    /// `done` itself synced: the layer is complete on disk on return.
    Sync,
    /// The caller already synced the filesystem after the layer's files
    /// were written (a pull syncs blob and layer at once) and syncs again
    /// before anything that names the layer is committed: `done` is only
    /// written.
    Synced,
}

/// A layer being unpacked: holds its lock; removes its directory unless
/// [`finish`](LayerWriter::finish)ed.
pub struct LayerWriter {
    store: LayerStore,
    diff_id: String,
    hex: String,
    top: PathBuf,
    diff: PathBuf,
    stats: Option<super::unpack::UnpackStats>,
    _lock: fs::File,
}

/// Where one layer's unpack spent its time (reported in the `unpack` span).
#[derive(Debug, Default, Clone, Copy)]
pub struct UnpackTimes {
    /// Waiting for compressed bytes (the download, when streaming).
    pub input: Duration,
    /// Decompressing (gzip/zstd), excluding `input`.
    pub decompress: Duration,
    /// Hashing the uncompressed stream (diff_id), excluding the above.
    pub hash: Duration,
    /// Everything else: parsing the tar and writing files.
    pub write: Duration,
}

/// Adds the time spent in `read` to a counter.
struct Timed<'a, R> {
    inner: R,
    spent: &'a std::cell::Cell<Duration>,
}

impl<R: Read> Read for Timed<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let t = Instant::now();
        let n = self.inner.read(buf);
        self.spent.set(self.spent.get() + t.elapsed());
        n
    }
}

impl<R: BufRead> BufRead for Timed<'_, R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let t = Instant::now();
        let spent = self.spent;
        let r = self.inner.fill_buf();
        spent.set(spent.get() + t.elapsed());
        r
    }

    fn consume(&mut self, n: usize) {
        self.inner.consume(n)
    }
}

/// The first bytes of `r` (up to 4, fewer only at its end), for telling
/// the compression; they are consumed, the caller chains them back.
fn sniff(r: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(4);
    while head.len() < 4 {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        let n = buf.len().min(4 - head.len());
        head.extend_from_slice(&buf[..n]);
        r.consume(n);
    }
    Ok(head)
}

impl LayerWriter {
    pub fn diff_id(&self) -> &str {
        &self.diff_id
    }

    /// Unpacks the layer blob read from `blob` (gzip, zstd or plain tar,
    /// told by its magic bytes) and verifies the uncompressed stream
    /// hashes to the diff_id. Reads `blob` to its end.
    pub fn unpack(&mut self, blob: impl BufRead) -> Result<UnpackTimes> {
        let start = Instant::now();
        let input = std::cell::Cell::new(Duration::ZERO);
        let inflated = std::cell::Cell::new(Duration::ZERO);
        let hashed = std::cell::Cell::new(Duration::ZERO);
        let diff_id = self.diff_id.clone();
        let bad = |reason: String| RuntimeError::InvalidImage {
            image: diff_id.clone(),
            reason,
        };
        let mut timed = Timed {
            inner: blob,
            spent: &input,
        };
        let head = sniff(&mut timed).map_err(|e| bad(format!("reading layer: {e}")))?;
        let br = io::Cursor::new(head.clone()).chain(timed);
        let reader: Box<dyn Read + '_> = if head.starts_with(&[0x1f, 0x8b]) {
            Box::new(flate2::bufread::MultiGzDecoder::new(br))
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Box::new(
                zstd::stream::read::Decoder::with_buffer(br)
                    .map_err(|e| bad(format!("zstd layer: {e}")))?,
            )
        } else {
            Box::new(br)
        };
        let reader = Timed {
            inner: reader,
            spent: &inflated,
        };
        let mut hr = Timed {
            inner: HashingReader::new(reader),
            spent: &hashed,
        };
        let stats = unpack_layer(&mut hr, &self.diff, &self.diff_id, &self.store.limits)?;
        let (actual, _) = hr
            .inner
            .finish()
            .map_err(|e| bad(format!("reading layer: {e}")))?;
        if actual != self.diff_id {
            return Err(super::blob::digest_mismatch(&self.diff_id, &actual));
        }
        self.stats = Some(stats);
        let (input, inflated, hashed) = (input.get(), inflated.get(), hashed.get());
        Ok(UnpackTimes {
            input,
            decompress: inflated.saturating_sub(input),
            hash: hashed.saturating_sub(inflated),
            write: start.elapsed().saturating_sub(hashed),
        })
    }

    /// Marks the unpacked layer complete (`done`, written last and renamed
    /// into place). Fails if [`unpack`](LayerWriter::unpack) did not succeed.
    pub fn finish(mut self, durability: Durability) -> Result<()> {
        let Some(stats) = self.stats.take() else {
            return Err(RuntimeError::Other(format!(
                "layer {}: finished before it was unpacked",
                self.diff_id
            )));
        };
        let top = self.top.clone();
        let res = (|| {
            if durability == Durability::Sync {
                // One syncfs instead of an fsync per file before `done`.
                let fd = fs::File::open(&self.diff)?;
                rustix::fs::syncfs(&fd)?;
            }
            let marker = serde_json::json!({
                "diff_id": self.diff_id, "entries": stats.entries, "bytes": stats.bytes,
                "setuid": stats.setuid,
            });
            let tmp = top.join(format!(".done.{}", unique_suffix()));
            fs::write(&tmp, marker.to_string())?;
            if durability == Durability::Sync {
                fs::File::open(&tmp)?.sync_all()?;
            }
            fs::rename(&tmp, top.join("done"))
        })();
        if let Err(e) = res {
            return Err(RuntimeError::io(&top, e));
        }
        // Complete: nothing for Drop to undo.
        self.top = PathBuf::new();
        if durability == Durability::Sync {
            sync_dir(&top)?;
        }
        Ok(())
    }
}

impl Drop for LayerWriter {
    fn drop(&mut self) {
        if self.top.as_os_str().is_empty() {
            return;
        }
        // Nothing of an unfinished layer stays, its lock file neither
        // (removed while held, as `remove_if_idle` does).
        let _ = remove_tree(&self.top);
        let _ = fs::remove_file(self.store.dir.join(format!("{}.lock", self.hex)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn gz_layer(name: &str, data: &[u8]) -> (Vec<u8>, String) {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, data).unwrap();
        let raw = b.into_inner().unwrap();
        let diff_id = crate::image::import::sha256_bytes(&raw);
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&raw).unwrap();
        (e.finish().unwrap(), diff_id)
    }

    /// Hands out its bytes in pieces of `step` (a download's chunks).
    struct Chunked<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Chunked<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.data.len().min(self.step).min(buf.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    impl BufRead for Chunked<'_> {
        fn fill_buf(&mut self) -> io::Result<&[u8]> {
            Ok(&self.data[..self.data.len().min(self.step)])
        }
        fn consume(&mut self, n: usize) {
            self.data = &self.data[n..];
        }
    }

    #[test]
    fn a_layer_streamed_in_small_pieces_is_complete_only_when_finished() {
        let tmp = tempfile::tempdir().unwrap();
        let store = LayerStore::open(tmp.path(), UnpackLimits::default()).unwrap();
        let (gz, diff_id) = gz_layer("f", &[7u8; 100_000]);
        let mut w = store.begin(&diff_id, false).unwrap().unwrap();
        // Another unpack of the same layer does not wait for this one.
        assert!(store.begin(&diff_id, false).unwrap().is_none());
        w.unpack(Chunked { data: &gz, step: 1 }).unwrap();
        assert!(!store.is_complete(&diff_id), "not before finish");
        w.finish(Durability::Synced).unwrap();
        assert!(store.is_complete(&diff_id));
        let f = store.diff_path(&diff_id).unwrap().join("f");
        assert_eq!(fs::read(f).unwrap(), vec![7u8; 100_000]);
        assert!(store.begin(&diff_id, true).unwrap().is_none(), "complete");
    }

    #[test]
    fn an_unfinished_or_wrong_layer_leaves_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let store = LayerStore::open(tmp.path(), UnpackLimits::default()).unwrap();
        let (gz, diff_id) = gz_layer("f", b"hello");
        let mut w = store.begin(&diff_id, false).unwrap().unwrap();
        w.unpack(Chunked {
            data: &gz,
            step: 4096,
        })
        .unwrap();
        drop(w); // the blob did not verify
        assert!(store.list().unwrap().is_empty());
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);

        let (other, _) = gz_layer("g", b"other");
        let mut w = store.begin(&diff_id, false).unwrap().unwrap();
        let e = w
            .unpack(Chunked {
                data: &other,
                step: 4096,
            })
            .unwrap_err()
            .to_string();
        assert!(e.contains("digest mismatch"), "{e}");
        assert!(w.finish(Durability::Sync).is_err());
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
    }
}
