//! The image store: load, commit pulls, list, inspect, remove, resolve.
//!
//! Layout under the store directory:
//! `blobs/sha256/<hex>` (verified), `layers/<diff hex>/{diff,done}`,
//! `images.json` (index, atomic), `ingest/` (registry downloads, see
//! [`super::ingest`]), `pins/` (images in use, see [`super::pins`]),
//! `tmp/` (staging), `lock` (flock).
//! Every mutation holds an exclusive flock on `lock`, so `nodelet image`
//! commands and the daemon can share a store. A failed load removes the
//! blobs and layers it added and never touches the index, so the store is
//! as before; an image becomes visible only when the index names it.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::image::ImageConfiguration;
use serde::Serialize;

use super::blob::{BlobStore, SyncMode};
use super::config::{ImageConfig, parse_config};
use super::import::{self, ImportImage, sha256_bytes};
use super::ingest::Ingest;
use super::layers::LayerStore;
use super::pins::Pins;
use super::reference::{is_sha256_hex, parse_reference};
use super::source::Source;
use super::state::{ImageRecord, LayerRecord, State};
use super::unpack::UnpackLimits;
use crate::error::{Result, RuntimeError};

/// One line of `nodelet image ls`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageSummary {
    pub references: Vec<String>,
    /// `name@sha256:...` (see [`ImageRecord::all_repo_digests`]).
    pub repo_digests: Vec<String>,
    /// `sha256:<config digest>`.
    pub id: String,
    /// Bytes of the layer blobs as stored.
    pub size: u64,
    pub created: Option<String>,
}

/// What a container needs from an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedImage {
    /// The normalised reference that was asked for.
    pub reference: String,
    pub id: String,
    /// `name@digest` for the reference asked for (what `imageID` shows),
    /// when the image has one.
    pub repo_digest: Option<String>,
    pub size: u64,
    pub config: ImageConfig,
    /// Unpacked layer directories, bottom first.
    pub layers: Vec<PathBuf>,
}

/// One layer in [`ImageDetails`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LayerDetails {
    pub digest: String,
    pub diff_id: String,
    pub size: u64,
    pub media_type: String,
    pub path: PathBuf,
    /// Files of this layer with the setuid or setgid bit (kept, as
    /// containerd keeps them; listed so they can be audited).
    pub setuid_files: Vec<String>,
}

/// `nodelet image inspect` output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageDetails {
    pub id: String,
    pub references: Vec<String>,
    /// `name@<manifest digest>` for each referenced repository.
    pub repo_digests: Vec<String>,
    pub manifest_digest: String,
    pub size: u64,
    pub created: Option<String>,
    pub loaded_at: String,
    pub architecture: String,
    pub os: String,
    pub config: ImageConfig,
    pub labels: std::collections::BTreeMap<String, String>,
    pub layers: Vec<LayerDetails>,
}

/// A content-addressed image store on disk. `Send + Sync`; share in an Arc.
#[derive(Debug)]
pub struct ImageStore {
    dir: PathBuf,
    blobs: BlobStore,
    layers: LayerStore,
    ingest: Ingest,
    pins: Pins,
}

/// Holds the store's flock until dropped.
pub(crate) struct Lock(#[allow(dead_code)] fs::File);

impl ImageStore {
    /// Opens (creating) the store at `dir`, with default unpack limits.
    pub fn open(dir: &Path) -> Result<ImageStore> {
        Self::open_with_limits(dir, UnpackLimits::default())
    }

    /// Like [`ImageStore::open`] with explicit bounds for layer unpacking.
    pub fn open_with_limits(dir: &Path, limits: UnpackLimits) -> Result<ImageStore> {
        fs::create_dir_all(dir).map_err(|e| RuntimeError::io(dir, e))?;
        let store = ImageStore {
            dir: dir.to_path_buf(),
            blobs: BlobStore::open(&dir.join("blobs"), &dir.join("tmp"))?,
            layers: LayerStore::open(&dir.join("layers"), limits)?,
            ingest: Ingest::open(&dir.join("ingest"))?,
            pins: Pins::open(&dir.join("pins"))?,
        };
        // Staging left by a crashed load is garbage; nobody else uses tmp/
        // without the lock.
        let _lock = store.lock()?;
        if let Ok(rd) = fs::read_dir(store.tmp()) {
            for e in rd.flatten() {
                let p = e.path();
                let _ = fs::remove_dir_all(&p).or_else(|_| fs::remove_file(&p));
            }
        }
        Ok(store)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    pub fn layers(&self) -> &LayerStore {
        &self.layers
    }

    pub fn ingest(&self) -> &Ingest {
        &self.ingest
    }

    pub fn pins(&self) -> &Pins {
        &self.pins
    }

    fn tmp(&self) -> PathBuf {
        self.dir.join("tmp")
    }

    fn index_path(&self) -> PathBuf {
        self.dir.join("images.json")
    }

    pub(crate) fn lock(&self) -> Result<Lock> {
        let p = self.dir.join("lock");
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(|e| RuntimeError::io(&p, e))?;
        rustix::fs::flock(&f, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| RuntimeError::io(&p, e.into()))?;
        Ok(Lock(f))
    }

    pub(crate) fn state(&self) -> Result<State> {
        State::read(&self.index_path())
    }

    pub(crate) fn write_state(&self, state: &State, _lock: &Lock) -> Result<()> {
        state.write(&self.index_path())
    }

    /// Imports every image of an OCI layout directory, an OCI layout tar,
    /// or a `docker save` tar (optionally gzipped). All or nothing.
    pub fn load(&self, path: &Path) -> Result<Vec<ImageSummary>> {
        let lock = self.lock()?;
        let src = Source::open(path, &self.tmp())?;
        let plans = import::plan(&src)?;
        self.commit(&plans, &lock, SyncMode::Each)
    }

    /// Commits a registry pull's plan (its blobs already verified in the
    /// ingest area): the image becomes visible under its reference. Its
    /// blobs are moved and written without a sync each; one `syncfs`
    /// before the index is written makes all of them (and the pull's
    /// `done` markers) durable first.
    pub fn commit_pull(&self, plan: &ImportImage) -> Result<ImageSummary> {
        let lock = self.lock()?;
        let mut out = self.commit(std::slice::from_ref(plan), &lock, SyncMode::Batched)?;
        out.pop()
            .ok_or_else(|| RuntimeError::Other("pull committed no image".into()))
    }

    /// Imports plans all or nothing, under the store lock.
    fn commit(
        &self,
        plans: &[ImportImage],
        _lock: &Lock,
        sync: SyncMode,
    ) -> Result<Vec<ImageSummary>> {
        let mut added_blobs = Vec::new();
        let mut added_layers = Vec::new();
        let mut state = self.state()?;
        let res = (|| {
            let mut out = Vec::new();
            for plan in plans {
                let rec = self.import_one(plan, sync, &mut added_blobs, &mut added_layers)?;
                out.push(rec);
            }
            if sync == SyncMode::Batched {
                let _span = tracing::debug_span!("sync").entered();
                let d = fs::File::open(&self.dir).map_err(|e| RuntimeError::io(&self.dir, e))?;
                rustix::fs::syncfs(&d).map_err(|e| RuntimeError::io(&self.dir, e.into()))?;
            }
            Ok::<_, RuntimeError>(out)
        })();
        let records = match res {
            Ok(r) => r,
            Err(e) => {
                for d in &added_layers {
                    let _ = self.layers.remove(d);
                }
                for b in &added_blobs {
                    let _ = self.blobs.remove(b);
                }
                return Err(e);
            }
        };
        let mut ids = Vec::new();
        for rec in records {
            // A reference names one image: loading moves it here.
            for other in state.images.values_mut() {
                other.references.retain(|r| !rec.references.contains(r));
            }
            let entry = state.images.entry(rec.id.clone()).or_insert(rec.clone());
            let refs: BTreeSet<String> = entry
                .references
                .iter()
                .chain(&rec.references)
                .cloned()
                .collect();
            let repo_digests: BTreeSet<String> = entry
                .repo_digests
                .iter()
                .chain(&rec.repo_digests)
                .cloned()
                .collect();
            let index_digest = rec.index_digest.clone().or(entry.index_digest.clone());
            *entry = ImageRecord {
                references: refs.into_iter().collect(),
                repo_digests: repo_digests.into_iter().collect(),
                index_digest,
                ..rec.clone()
            };
            ids.push(rec.id);
        }
        state.write(&self.index_path())?;
        Ok(ids
            .iter()
            .filter_map(|id| state.images.get(id))
            .map(summary)
            .collect())
    }

    fn import_one(
        &self,
        plan: &ImportImage,
        sync: SyncMode,
        added_blobs: &mut Vec<String>,
        added_layers: &mut Vec<String>,
    ) -> Result<ImageRecord> {
        let id = sha256_bytes(&plan.config);
        let manifest_digest = sha256_bytes(&plan.manifest);
        let index_digest = plan.index.as_deref().map(sha256_bytes);
        let cfg = parse_config(&plan.config, &id)?;
        let mut small = vec![(&id, &plan.config), (&manifest_digest, &plan.manifest)];
        if let (Some(d), Some(bytes)) = (&index_digest, &plan.index) {
            small.push((d, bytes));
        }
        for (digest, bytes) in small {
            if !self.blobs.contains(digest) {
                self.blobs.write_with(digest, &bytes[..], sync)?;
                added_blobs.push(digest.clone());
            }
        }
        let mut layers = Vec::new();
        for l in &plan.layers {
            if !self.blobs.contains(&l.digest) {
                if l.verified {
                    self.blobs.adopt(&l.digest, &l.file, sync)?;
                } else {
                    let f = fs::File::open(&l.file).map_err(|e| RuntimeError::io(&l.file, e))?;
                    self.blobs.write_with(&l.digest, f, sync)?;
                }
                added_blobs.push(l.digest.clone());
            }
            let blob = self.blobs.path(&l.digest)?;
            if self.layers.ensure(&l.diff_id, &blob)? {
                added_layers.push(l.diff_id.clone());
            }
            let size = fs::metadata(&blob)
                .map_err(|e| RuntimeError::io(&blob, e))?
                .len();
            layers.push(LayerRecord {
                digest: l.digest.clone(),
                diff_id: l.diff_id.clone(),
                size,
                media_type: l.media_type.clone(),
            });
        }
        let mut references = plan.references.clone();
        references.sort();
        references.dedup();
        Ok(ImageRecord {
            size: layers.iter().map(|l| l.size).sum(),
            id,
            manifest_digest,
            references,
            layers,
            created: cfg.created().clone(),
            loaded_at: jiff::Timestamp::now().to_string(),
            index_digest,
            repo_digests: plan.repo_digests.clone(),
        })
    }

    pub fn list(&self) -> Result<Vec<ImageSummary>> {
        let mut v: Vec<_> = self.state()?.images.values().map(summary).collect();
        v.sort_by(|a, b| (&a.references, &a.id).cmp(&(&b.references, &b.id)));
        Ok(v)
    }

    pub fn inspect(&self, reference: &str) -> Result<ImageDetails> {
        let state = self.state()?;
        let (rec, _) = find(&state, reference)?;
        let cfg = self.config_of(rec)?;
        let repo_digests = rec.all_repo_digests();
        let layers = rec
            .layers
            .iter()
            .map(|l| {
                Ok(LayerDetails {
                    digest: l.digest.clone(),
                    diff_id: l.diff_id.clone(),
                    size: l.size,
                    media_type: l.media_type.clone(),
                    path: self.layers.diff_path(&l.diff_id)?,
                    setuid_files: self.layers.setuid_files(&l.diff_id),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(ImageDetails {
            id: rec.id.clone(),
            references: rec.references.clone(),
            repo_digests,
            manifest_digest: rec.manifest_digest.clone(),
            size: rec.size,
            created: rec.created.clone(),
            loaded_at: rec.loaded_at.clone(),
            architecture: cfg.architecture().to_string(),
            os: cfg.os().to_string(),
            config: ImageConfig::from(&cfg),
            labels: cfg
                .config()
                .as_ref()
                .and_then(|c| c.labels().clone())
                .unwrap_or_default()
                .into_iter()
                .collect(),
            layers,
        })
    }

    /// Removes a reference; the image goes when its last reference does
    /// (or at once when named by id), unless a container uses it (an
    /// error naming them). Unreferenced blobs and layers are then deleted.
    pub fn remove(&self, reference: &str) -> Result<()> {
        let _lock = self.lock()?;
        let mut state = self.state()?;
        let (rec, by_ref) = find(&state, reference)?;
        let id = rec.id.clone();
        let img = state
            .images
            .get_mut(&id)
            .ok_or_else(|| RuntimeError::ImageNotFound(reference.to_string()))?;
        match by_ref {
            Some(r) if img.references.len() > 1 => img.references.retain(|x| *x != r),
            _ => {
                let users: Vec<String> = self
                    .pins
                    .all()?
                    .into_iter()
                    .filter(|(_, pinned)| *pinned == id)
                    .map(|(holder, _)| holder)
                    .collect();
                if !users.is_empty() {
                    return Err(RuntimeError::Other(format!(
                        "image {reference:?} is in use by container(s) {}; remove them first",
                        users.join(", ")
                    )));
                }
                state.images.remove(&id);
            }
        }
        state.write(&self.index_path())?;
        self.gc(&state)
    }

    /// Deletes blobs and layer directories no image refers to (a layer an
    /// unpack is writing right now is left for the next time).
    pub(crate) fn gc(&self, state: &State) -> Result<()> {
        let mut blobs = BTreeSet::new();
        let mut diffs = BTreeSet::new();
        for img in state.images.values() {
            blobs.insert(img.id.clone());
            blobs.insert(img.manifest_digest.clone());
            if let Some(d) = &img.index_digest {
                blobs.insert(d.clone());
            }
            for l in &img.layers {
                blobs.insert(l.digest.clone());
                diffs.insert(l.diff_id.clone());
            }
        }
        for b in self.blobs.list()? {
            if !blobs.contains(&b) {
                self.blobs.remove(&b)?;
            }
        }
        for d in self.layers.list()? {
            if !diffs.contains(&d) {
                self.layers.remove_if_idle(&d)?;
            }
        }
        Ok(())
    }

    /// The image for `reference` with its layers unpacked (redone from the
    /// blobs if a layer directory is missing or incomplete), or `None`.
    pub fn resolve(&self, reference: &str) -> Result<Option<ResolvedImage>> {
        let state = self.state()?;
        self.resolve_in(&state, reference, None)
    }

    /// [`Self::resolve`], and records that `holder` (a container id) uses
    /// the image, in one step under the store lock: nothing can remove the
    /// image in between. See [`super::pins`].
    pub fn resolve_and_pin(&self, reference: &str, holder: &str) -> Result<Option<ResolvedImage>> {
        let lock = self.lock()?;
        let state = self.state()?;
        let resolved = self.resolve_in(&state, reference, Some(&lock))?;
        if let Some(r) = &resolved {
            self.pins.pin(holder, &r.id)?;
        }
        Ok(resolved)
    }

    /// `held`: the caller already holds the store lock.
    fn resolve_in(
        &self,
        state: &State,
        reference: &str,
        held: Option<&Lock>,
    ) -> Result<Option<ResolvedImage>> {
        let (rec, by_ref) = match find(state, reference) {
            Ok(found) => found,
            Err(RuntimeError::ImageNotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        if rec
            .layers
            .iter()
            .any(|l| !self.layers.is_complete(&l.diff_id))
        {
            let _lock = match held {
                Some(_) => None,
                None => Some(self.lock()?),
            };
            for l in &rec.layers {
                self.layers
                    .ensure(&l.diff_id, &self.blobs.path(&l.digest)?)?;
            }
        }
        let cfg = self.config_of(rec)?;
        let layers = rec
            .layers
            .iter()
            .map(|l| self.layers.diff_path(&l.diff_id))
            .collect::<Result<Vec<_>>>()?;
        let normalized = if looks_like_id(reference) {
            reference.to_string()
        } else {
            super::reference::normalize_reference(reference)?
        };
        let repo_digest = match parse_reference(reference) {
            Ok(r) if by_ref.is_some() => Some(format!("{}@{}", r.name(), rec.target_digest())),
            Ok(r) if r.digest.is_some() => Some(format!(
                "{}@{}",
                r.name(),
                r.digest.clone().unwrap_or_default()
            )),
            _ => rec.all_repo_digests().into_iter().next(),
        };
        Ok(Some(ResolvedImage {
            reference: normalized,
            id: rec.id.clone(),
            repo_digest,
            size: rec.size,
            config: ImageConfig::from(&cfg),
            layers,
        }))
    }

    fn config_of(&self, rec: &ImageRecord) -> Result<ImageConfiguration> {
        let p = self.blobs.path(&rec.id)?;
        let bytes = fs::read(&p).map_err(|e| RuntimeError::io(&p, e))?;
        parse_config(&bytes, &rec.id)
    }
}

pub(crate) fn summary(r: &ImageRecord) -> ImageSummary {
    ImageSummary {
        references: r.references.clone(),
        repo_digests: r.all_repo_digests(),
        id: r.id.clone(),
        size: r.size,
        created: r.created.clone(),
    }
}

fn looks_like_id(s: &str) -> bool {
    let hex = s.strip_prefix("sha256:").unwrap_or(s);
    (12..=64).contains(&hex.len()) && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Finds an image by reference (tag or digest), id (`sha256:<hex>`) or id
/// prefix (>= 12 hex). Returns the record and, when found by a tag
/// reference, that normalised reference.
pub(crate) fn find<'a>(
    state: &'a State,
    reference: &str,
) -> Result<(&'a ImageRecord, Option<String>)> {
    let not_found = || RuntimeError::ImageNotFound(reference.to_string());
    match parse_reference(reference) {
        // Neither a reference nor an id: say so (InvalidImageName) rather
        // than "not found".
        Err(e) if !looks_like_id(reference) => return Err(e),
        Err(_) => {}
        Ok(r) => {
            let norm = r.to_string();
            if let Some(d) = &r.digest {
                return state
                    .images
                    .values()
                    .find(|i| i.has_digest(d))
                    .map(|i| (i, None))
                    .ok_or_else(not_found);
            }
            if let Some(i) = state.images.values().find(|i| i.references.contains(&norm)) {
                return Ok((i, Some(norm)));
            }
        }
    }
    if looks_like_id(reference) {
        let hex = reference.strip_prefix("sha256:").unwrap_or(reference);
        if is_sha256_hex(hex) {
            let d = format!("sha256:{hex}");
            if let Some(i) = state.images.values().find(|i| i.has_digest(&d)) {
                return Ok((i, None));
            }
        }
        let matches: Vec<_> = state
            .images
            .values()
            .filter(|i| i.id["sha256:".len()..].starts_with(hex))
            .collect();
        if matches.len() == 1 {
            return Ok((matches[0], None));
        }
        if matches.len() > 1 {
            return Err(RuntimeError::InvalidImage {
                image: reference.to_string(),
                reason: "ambiguous image id prefix".into(),
            });
        }
    }
    Err(not_found())
}
