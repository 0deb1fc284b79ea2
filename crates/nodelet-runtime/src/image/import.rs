//! The format-independent plan of a `load`: which images, with which
//! verified manifest/config bytes and layer files, under which references.
//!
//! The format readers ([`super::layout`], [`super::docker_archive`]) and
//! registry pulls ([`super::registry`]) only build this plan; the store
//! then commits it in one place, so every source gets the same
//! verification and the same all-or-nothing behaviour.

use std::path::PathBuf;

use super::source::Source;
use crate::error::Result;

/// One layer to import.
#[derive(Debug, Clone)]
pub struct ImportLayer {
    /// Digest of the blob as stored (compressed if the source was).
    pub digest: String,
    /// The blob's bytes in the source (not yet verified against `digest`).
    pub file: PathBuf,
    /// `rootfs.diff_ids[i]` from the config: sha256 of the uncompressed tar.
    pub diff_id: String,
    pub media_type: String,
    /// `file` was already hashed to `digest` by us (a registry pull's
    /// ingest): the store moves it into place instead of copying it.
    pub verified: bool,
}

/// One image to import.
#[derive(Debug, Clone)]
pub struct ImportImage {
    /// Normalised references to point at this image.
    pub references: Vec<String>,
    /// OCI manifest bytes (read from the source, or made for docker-save).
    pub manifest: Vec<u8>,
    /// Config bytes; their sha256 is the image id.
    pub config: Vec<u8>,
    pub layers: Vec<ImportLayer>,
    /// The image index (manifest list) the manifest was chosen from, when
    /// pulled from a registry by a multi-platform reference.
    pub index: Option<Vec<u8>>,
    /// `name@sha256:...` this image is known by in its registry.
    pub repo_digests: Vec<String>,
}

/// Reads the plan from a source in any supported format.
pub fn plan(src: &Source) -> Result<Vec<ImportImage>> {
    if src.get("manifest.json").is_some() {
        super::docker_archive::plan(src)
    } else if src.get("index.json").is_some() {
        super::layout::plan(src)
    } else {
        Err(src.error(
            "neither an OCI image layout (index.json) nor a docker-save archive (manifest.json)",
        ))
    }
}

/// sha256 of bytes, as `sha256:<hex>`.
pub fn sha256_bytes(b: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(b)))
}

/// Reference names from an OCI `org.opencontainers.image.ref.name` (or
/// containerd's `io.containerd.image.name`) annotation. A value with `/` or
/// `:` is a full reference; a bare word is taken as a repository name
/// (`busybox` -> `docker.io/library/busybox:latest`), not a tag, because
/// without a name a tag alone cannot be looked up.
pub fn reference_from_annotation(v: &str) -> Option<String> {
    super::reference::normalize_reference(v).ok()
}
