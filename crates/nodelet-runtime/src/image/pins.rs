//! Which images are in use: `pins/<holder>` names the image a container
//! (the holder: its id) was created from, from before its rootfs is
//! mounted until it is removed. This is how the store knows, without
//! asking the agent, what `nodelet image prune` and image garbage
//! collection must keep — as the kubelet's image GC keeps every image a
//! container (running or exited) still refers to.
//!
//! Pins are written under the store's lock together with the lookup that
//! resolved the image, so a prune can never remove an image between a
//! container choosing it and pinning it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{Result, RuntimeError};

#[derive(Debug, Clone)]
pub struct Pins {
    dir: PathBuf,
}

fn valid_holder(holder: &str) -> Result<()> {
    let ok = !holder.is_empty()
        && holder.len() <= 128
        && holder
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && !holder.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(RuntimeError::Other(format!(
            "invalid image pin holder {holder:?}"
        )))
    }
}

impl Pins {
    pub fn open(dir: &Path) -> Result<Pins> {
        fs::create_dir_all(dir).map_err(|e| RuntimeError::io(dir, e))?;
        Ok(Pins {
            dir: dir.to_path_buf(),
        })
    }

    /// Records that `holder` uses image `id`. Callers hold the store lock.
    pub fn pin(&self, holder: &str, id: &str) -> Result<()> {
        valid_holder(holder)?;
        let p = self.dir.join(holder);
        let tmp = self.dir.join(format!(".{holder}.tmp"));
        fs::write(&tmp, id)
            .and_then(|()| fs::rename(&tmp, &p))
            .map_err(|e| {
                let _ = fs::remove_file(&tmp);
                RuntimeError::io(&p, e)
            })
    }

    /// Forgets `holder`'s pin (idempotent).
    pub fn unpin(&self, holder: &str) -> Result<()> {
        valid_holder(holder)?;
        let p = self.dir.join(holder);
        match fs::remove_file(&p) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(RuntimeError::io(&p, e)),
            _ => Ok(()),
        }
    }

    /// holder → image id.
    pub fn all(&self) -> Result<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        let rd = match fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(RuntimeError::io(&self.dir, e)),
        };
        for e in rd.flatten() {
            let Some(name) = e.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            if let Ok(id) = fs::read_to_string(e.path()) {
                out.insert(name, id.trim().to_string());
            }
        }
        Ok(out)
    }

    /// The ids of every pinned image.
    pub fn in_use(&self) -> Result<BTreeSet<String>> {
        Ok(self.all()?.into_values().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_unpin_in_use() {
        let tmp = tempfile::tempdir().unwrap();
        let pins = Pins::open(tmp.path()).unwrap();
        pins.pin("c1", "sha256:a").unwrap();
        pins.pin("c2", "sha256:a").unwrap();
        pins.pin("c3", "sha256:b").unwrap();
        assert_eq!(pins.in_use().unwrap().len(), 2);
        pins.unpin("c3").unwrap();
        pins.unpin("c3").unwrap();
        assert_eq!(
            pins.in_use().unwrap().into_iter().collect::<Vec<_>>(),
            ["sha256:a"]
        );
        assert!(pins.pin("../x", "sha256:a").is_err());
    }
}
