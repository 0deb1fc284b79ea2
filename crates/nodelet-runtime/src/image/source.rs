//! What `load` reads from: a directory or a (possibly gzipped) tar archive,
//! seen as a map from member path to a file on disk.
//!
//! Archives are copied into a private staging directory under the store
//! (same filesystem), never extracted with their own names, so an archive
//! cannot place files anywhere: members are addressed only through the map.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Component, Path, PathBuf};

use crate::error::{Result, RuntimeError};

/// Largest JSON document (index, manifest, config) we parse.
pub const MAX_METADATA: u64 = 16 << 20;

/// Files of an image source, by normalised member path (`blobs/sha256/ab..`).
pub struct Source {
    files: HashMap<String, PathBuf>,
    /// Symlink members of archives (docker-save links duplicate layers).
    links: HashMap<String, String>,
    staging: Option<PathBuf>,
    origin: PathBuf,
}

impl Drop for Source {
    fn drop(&mut self) {
        if let Some(dir) = &self.staging {
            let _ = fs::remove_dir_all(dir);
        }
    }
}

fn bad(origin: &Path, reason: impl Into<String>) -> RuntimeError {
    RuntimeError::InvalidImage {
        image: origin.display().to_string(),
        reason: reason.into(),
    }
}

/// `./a//b` -> `a/b`; `None` for paths escaping with `..` or empty ones.
pub fn normalize_member(p: &Path) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_str()?),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::Prefix(_) => return None,
        }
    }
    if parts.is_empty() {
        None
    } else {
        Some(parts.join("/"))
    }
}

/// Opens `path` transparently decompressing gzip.
pub fn open_maybe_gzip(path: &Path) -> Result<Box<dyn Read>> {
    let f = File::open(path).map_err(|e| RuntimeError::io(path, e))?;
    let mut br = BufReader::new(f);
    let head = br.fill_buf().map_err(|e| RuntimeError::io(path, e))?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(br)))
    } else {
        Ok(Box::new(br))
    }
}

impl Source {
    /// Opens a directory in place or stages an archive under `staging_root`.
    pub fn open(path: &Path, staging_root: &Path) -> Result<Source> {
        let meta = fs::metadata(path).map_err(|e| RuntimeError::io(path, e))?;
        if meta.is_dir() {
            Self::from_dir(path)
        } else {
            Self::from_archive(path, staging_root)
        }
    }

    fn from_dir(root: &Path) -> Result<Source> {
        let root = fs::canonicalize(root).map_err(|e| RuntimeError::io(root, e))?;
        let mut files = HashMap::new();
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            for entry in fs::read_dir(&dir).map_err(|e| RuntimeError::io(&dir, e))? {
                let entry = entry.map_err(|e| RuntimeError::io(&dir, e))?;
                let p = entry.path();
                // Follow links only to places inside the layout directory.
                let real = fs::canonicalize(&p).map_err(|e| RuntimeError::io(&p, e))?;
                if !real.starts_with(&root) {
                    return Err(bad(&root, format!("{} points outside", p.display())));
                }
                let meta = fs::metadata(&real).map_err(|e| RuntimeError::io(&real, e))?;
                if meta.is_dir() {
                    if entry.file_type().is_ok_and(|t| t.is_dir()) {
                        stack.push(p);
                    }
                } else if meta.is_file()
                    && let Ok(rel) = p.strip_prefix(&root)
                    && let Some(key) = normalize_member(rel)
                {
                    files.insert(key, real);
                }
            }
        }
        Ok(Source {
            files,
            links: HashMap::new(),
            staging: None,
            origin: root,
        })
    }

    fn from_archive(path: &Path, staging_root: &Path) -> Result<Source> {
        let staging = staging_root.join(format!(
            "load-{}-{}",
            std::process::id(),
            crate::tmpname::unique_suffix()
        ));
        fs::create_dir_all(&staging).map_err(|e| RuntimeError::io(&staging, e))?;
        let mut src = Source {
            files: HashMap::new(),
            links: HashMap::new(),
            staging: Some(staging.clone()),
            origin: path.to_path_buf(),
        };
        let mut archive = tar::Archive::new(open_maybe_gzip(path)?);
        let entries = archive.entries().map_err(|e| RuntimeError::io(path, e))?;
        for (n, entry) in entries.enumerate() {
            let mut entry = entry.map_err(|e| bad(path, format!("reading archive: {e}")))?;
            let member = entry
                .path()
                .map_err(|e| bad(path, format!("member name: {e}")))?
                .into_owned();
            let Some(key) = normalize_member(&member) else {
                continue;
            };
            match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let dest = staging.join(n.to_string());
                    let mut f = File::create(&dest).map_err(|e| RuntimeError::io(&dest, e))?;
                    io::copy(&mut entry, &mut f).map_err(|e| RuntimeError::io(&dest, e))?;
                    src.files.insert(key, dest);
                }
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    let Some(target) = entry
                        .link_name()
                        .map_err(|e| bad(path, format!("link name: {e}")))?
                    else {
                        continue;
                    };
                    // Symlink targets are relative to the member's directory,
                    // hard link targets to the archive root.
                    let resolved = if entry.header().entry_type() == tar::EntryType::Symlink {
                        Path::new(&key)
                            .parent()
                            .unwrap_or(Path::new(""))
                            .join(target.as_ref())
                    } else {
                        target.into_owned()
                    };
                    if let Some(t) = normalize_member(&resolved) {
                        src.links.insert(key, t);
                    }
                }
                _ => {}
            }
        }
        Ok(src)
    }

    /// The file for `member`, following archive links (bounded).
    pub fn get(&self, member: &str) -> Option<&Path> {
        let mut key = normalize_member(Path::new(member))?;
        for _ in 0..16 {
            if let Some(p) = self.files.get(&key) {
                return Some(p);
            }
            key = self.links.get(&key)?.clone();
        }
        None
    }

    /// Like [`Source::get`] but an error naming the missing member.
    pub fn require(&self, member: &str) -> Result<&Path> {
        self.get(member)
            .ok_or_else(|| bad(&self.origin, format!("missing {member}")))
    }

    /// A metadata member's bytes, refusing anything over [`MAX_METADATA`].
    pub fn read_small(&self, member: &str) -> Result<Vec<u8>> {
        let p = self.require(member)?;
        let len = fs::metadata(p).map_err(|e| RuntimeError::io(p, e))?.len();
        if len > MAX_METADATA {
            return Err(bad(
                &self.origin,
                format!("{member} is too large ({len} bytes)"),
            ));
        }
        fs::read(p).map_err(|e| RuntimeError::io(p, e))
    }

    pub fn read_json<T: serde::de::DeserializeOwned>(&self, member: &str) -> Result<T> {
        let bytes = self.read_small(member)?;
        serde_json::from_slice(&bytes).map_err(|e| bad(&self.origin, format!("{member}: {e}")))
    }

    pub fn origin(&self) -> &Path {
        &self.origin
    }

    pub fn error(&self, reason: impl Into<String>) -> RuntimeError {
        bad(&self.origin, reason)
    }
}
