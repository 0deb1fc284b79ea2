//! OCI image layout (directory or tar): `oci-layout`, `index.json`,
//! `blobs/sha256/<hex>`.
//!
//! Every blob read here is hashed and compared with the digest that names
//! it before it is parsed; layer blobs are hashed again when committed.

use oci_spec::image::{ImageIndex, ImageManifest, MediaType};

use super::blob::{digest_mismatch, hash_file};
use super::import::{ImportImage, ImportLayer, reference_from_annotation};
use super::reference::validate_digest;
use super::source::Source;
use crate::error::Result;

const REF_NAME: &str = "org.opencontainers.image.ref.name";
const CONTAINERD_NAME: &str = "io.containerd.image.name";

/// Reads a blob's bytes after checking they hash to `digest`.
pub(crate) fn read_verified_blob(src: &Source, digest: &str) -> Result<Vec<u8>> {
    validate_digest(digest).map_err(|e| src.error(e))?;
    let hex = &digest["sha256:".len()..];
    let path = src.require(&format!("blobs/sha256/{hex}"))?;
    let (actual, size) = hash_file(path)?;
    if actual != digest {
        return Err(digest_mismatch(digest, &actual));
    }
    if size > super::source::MAX_METADATA {
        return Err(src.error(format!("{digest}: metadata blob too large ({size} bytes)")));
    }
    std::fs::read(path).map_err(|e| crate::error::RuntimeError::io(path, e))
}

/// OCI image index or docker's manifest list (same JSON shape).
fn is_index(m: &MediaType) -> bool {
    match m {
        MediaType::ImageIndex => true,
        MediaType::Other(s) => s == "application/vnd.docker.distribution.manifest.list.v2+json",
        _ => false,
    }
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
}

pub fn plan(src: &Source) -> Result<Vec<ImportImage>> {
    let index: ImageIndex = src.read_json("index.json")?;
    let mut out = Vec::new();
    for desc in index.manifests() {
        let ann = desc.annotations().as_ref();
        let reference = ann
            .and_then(|a| a.get(CONTAINERD_NAME).or_else(|| a.get(REF_NAME)))
            .and_then(|v| reference_from_annotation(v));
        let digest = desc.digest().to_string();
        let manifest_digest = if is_index(desc.media_type()) {
            pick_platform(src, &digest, 0)?
        } else {
            digest
        };
        out.push(plan_manifest(
            src,
            &manifest_digest,
            reference.into_iter().collect(),
        )?);
    }
    if out.is_empty() {
        return Err(src.error("index.json lists no images"));
    }
    Ok(out)
}

/// In a nested (multi-platform) index, the manifest for this host.
fn pick_platform(src: &Source, digest: &str, depth: u32) -> Result<String> {
    if depth > 4 {
        return Err(src.error("image indexes nested too deeply"));
    }
    let bytes = read_verified_blob(src, digest)?;
    let index =
        ImageIndex::from_reader(&bytes[..]).map_err(|e| src.error(format!("{digest}: {e}")))?;
    let arch = host_arch();
    for d in index.manifests() {
        let fits = d
            .platform()
            .as_ref()
            .is_none_or(|p| p.os().to_string() == "linux" && p.architecture().to_string() == arch);
        let present = src
            .get(&format!("blobs/sha256/{}", d.digest().digest()))
            .is_some();
        if fits && present {
            return if is_index(d.media_type()) {
                pick_platform(src, d.digest().as_ref(), depth + 1)
            } else {
                Ok(d.digest().to_string())
            };
        }
    }
    Err(src.error(format!(
        "{digest}: no manifest for linux/{arch} in this layout"
    )))
}

fn plan_manifest(src: &Source, digest: &str, references: Vec<String>) -> Result<ImportImage> {
    let manifest_bytes = read_verified_blob(src, digest)?;
    let manifest = ImageManifest::from_reader(&manifest_bytes[..])
        .map_err(|e| src.error(format!("manifest {digest}: {e}")))?;
    let config_digest = manifest.config().digest().to_string();
    let config = read_verified_blob(src, &config_digest)?;
    let parsed = super::config::parse_config(&config, &config_digest)?;
    let diff_ids = parsed.rootfs().diff_ids();
    if diff_ids.len() != manifest.layers().len() {
        return Err(src.error(format!(
            "manifest {digest} has {} layers but its config lists {} diff_ids",
            manifest.layers().len(),
            diff_ids.len()
        )));
    }
    let mut layers = Vec::new();
    for (d, diff_id) in manifest.layers().iter().zip(diff_ids) {
        let ld = d.digest().to_string();
        validate_digest(&ld).map_err(|e| src.error(e))?;
        validate_digest(diff_id).map_err(|e| src.error(e))?;
        layers.push(ImportLayer {
            file: src
                .require(&format!("blobs/sha256/{}", d.digest().digest()))?
                .to_path_buf(),
            digest: ld,
            diff_id: diff_id.clone(),
            media_type: d.media_type().to_string(),
            verified: false,
        });
    }
    Ok(ImportImage {
        references,
        manifest: manifest_bytes,
        config,
        layers,
        index: None,
        repo_digests: Vec::new(),
    })
}
