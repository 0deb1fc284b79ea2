//! `docker save` archives: `manifest.json` = `[{Config, RepoTags, Layers}]`
//! with `<id>.json` + `<id>/layer.tar` (docker < 25) or `blobs/sha256/<hex>`
//! paths (docker >= 25).
//!
//! docker-save has no manifest blob, so we make an OCI manifest for each
//! image; the image id stays the config digest, as docker reports it.

use std::io::Read;

use serde::Deserialize;

use super::blob::hash_file;
use super::import::{ImportImage, ImportLayer, sha256_bytes};
use super::reference::normalize_reference;
use super::source::Source;
use crate::error::{Result, RuntimeError};

pub const MEDIA_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const MEDIA_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const MEDIA_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

fn is_gzip(path: &std::path::Path) -> Result<bool> {
    let mut head = [0u8; 2];
    let mut f = std::fs::File::open(path).map_err(|e| RuntimeError::io(path, e))?;
    let n = f.read(&mut head).map_err(|e| RuntimeError::io(path, e))?;
    Ok(n == 2 && head == [0x1f, 0x8b])
}

pub fn plan(src: &Source) -> Result<Vec<ImportImage>> {
    let entries: Vec<Entry> = src.read_json("manifest.json")?;
    if entries.is_empty() {
        return Err(src.error("manifest.json lists no images"));
    }
    let mut out = Vec::new();
    for e in entries {
        let config = src.read_small(&e.config)?;
        let config_digest = sha256_bytes(&config);
        let parsed = super::config::parse_config(&config, &config_digest)?;
        let diff_ids = parsed.rootfs().diff_ids();
        if diff_ids.len() != e.layers.len() {
            return Err(src.error(format!(
                "{}: {} layers but config lists {} diff_ids",
                e.config,
                e.layers.len(),
                diff_ids.len()
            )));
        }
        let mut layers = Vec::new();
        let mut descs = Vec::new();
        for (member, diff_id) in e.layers.iter().zip(diff_ids) {
            super::reference::validate_digest(diff_id).map_err(|err| src.error(err))?;
            let file = src.require(member)?.to_path_buf();
            let size = std::fs::metadata(&file)
                .map_err(|err| RuntimeError::io(&file, err))?
                .len();
            // Uncompressed layer tars are named by their diff_id (checked
            // when the blob is written); compressed ones must be hashed.
            let (digest, media_type) = if is_gzip(&file)? {
                (hash_file(&file)?.0, MEDIA_LAYER_GZIP)
            } else {
                (diff_id.clone(), MEDIA_LAYER)
            };
            descs.push(serde_json::json!({
                "mediaType": media_type, "digest": digest, "size": size,
            }));
            layers.push(ImportLayer {
                digest,
                file,
                diff_id: diff_id.clone(),
                media_type: media_type.to_string(),
                verified: false,
            });
        }
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_MANIFEST,
            "config": {"mediaType": MEDIA_CONFIG, "digest": config_digest, "size": config.len()},
            "layers": descs,
        });
        let manifest = serde_json::to_vec(&manifest)
            .map_err(|err| RuntimeError::Other(format!("encoding manifest: {err}")))?;
        let mut references = Vec::new();
        for tag in e.repo_tags.unwrap_or_default() {
            references.push(normalize_reference(&tag)?);
        }
        out.push(ImportImage {
            references,
            manifest,
            config,
            layers,
            index: None,
            repo_digests: Vec::new(),
        });
    }
    Ok(out)
}
