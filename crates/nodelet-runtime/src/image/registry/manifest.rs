//! Reading what a registry returns for a reference: an image manifest
//! (OCI or Docker v2 schema 2) or an index / manifest list, from which the
//! manifest for linux and this machine's architecture is chosen (as
//! containerd's default platform matcher does).

use oci_spec::image::{ImageIndex, ImageManifest};
use serde::Deserialize;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// What the `Accept` header of manifest requests lists.
pub const ACCEPTED: &[&str] = &[OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST];

/// Layer media types nodelet can unpack (compression is also sniffed).
const LAYER_TYPES: &[&str] = &[
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.diff.tar.zstd",
];

const CONFIG_TYPES: &[&str] = &[
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
];

/// A parsed manifest-ish document.
pub enum Document {
    Manifest(Box<ImageManifest>),
    Index(Box<ImageIndex>),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    schema_version: Option<i64>,
    media_type: Option<String>,
    manifests: Option<serde_json::Value>,
    layers: Option<serde_json::Value>,
}

/// Parses `bytes`, told apart by their `mediaType` (or their shape when a
/// registry omits it).
pub fn parse(bytes: &[u8]) -> Result<Document, String> {
    let probe: Probe =
        serde_json::from_slice(bytes).map_err(|e| format!("malformed manifest: {e}"))?;
    let media = probe.media_type.as_deref().unwrap_or("");
    if media == DOCKER_SCHEMA1 || probe.schema_version == Some(1) {
        return Err(
            "Docker Image Format v1 (schema 1) manifests are not supported: push the image again with a current tool".into(),
        );
    }
    let is_index = media == OCI_INDEX
        || media == DOCKER_LIST
        || (media.is_empty() && probe.manifests.is_some() && probe.layers.is_none());
    if is_index {
        ImageIndex::from_reader(bytes)
            .map(|i| Document::Index(Box::new(i)))
            .map_err(|e| format!("malformed image index: {e}"))
    } else if media.is_empty() || media == OCI_MANIFEST || media == DOCKER_MANIFEST {
        ImageManifest::from_reader(bytes)
            .map(|m| Document::Manifest(Box::new(m)))
            .map_err(|e| format!("malformed image manifest: {e}"))
    } else {
        Err(format!("unsupported manifest media type {media:?}"))
    }
}

/// This machine's architecture in OCI terms.
pub fn host_arch() -> &'static str {
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

/// The manifest of `index` for linux/`arch`: the first exact match, and
/// for arm64 a `v8` variant or none. Attestation manifests
/// (`unknown/unknown`) never match.
pub fn pick_platform(index: &ImageIndex, arch: &str) -> Result<(String, u64), String> {
    let mut available = Vec::new();
    for d in index.manifests() {
        let Some(p) = d.platform() else { continue };
        let os = p.os().to_string();
        let a = p.architecture().to_string();
        let variant = p.variant().clone().unwrap_or_default();
        available.push(if variant.is_empty() {
            format!("{os}/{a}")
        } else {
            format!("{os}/{a}/{variant}")
        });
        let variant_ok = arch != "arm64" || variant.is_empty() || variant == "v8";
        if os == "linux" && a == arch && variant_ok {
            return Ok((d.digest().to_string(), d.size()));
        }
    }
    // An index without platforms (a single image wrapped in an index).
    if let Some(d) = index
        .manifests()
        .iter()
        .find(|d| d.platform().is_none() && d.media_type().to_string() != OCI_INDEX)
    {
        return Ok((d.digest().to_string(), d.size()));
    }
    available.sort();
    available.dedup();
    Err(format!(
        "no match for platform in manifest: not found (linux/{arch}; the index has {})",
        if available.is_empty() {
            "no platforms".to_string()
        } else {
            available.join(", ")
        }
    ))
}

/// Checks the manifest names a usable config and layers.
pub fn check_manifest(m: &ImageManifest) -> Result<(), String> {
    let cfg = m.config().media_type().to_string();
    if !CONFIG_TYPES.contains(&cfg.as_str()) {
        return Err(format!("not a container image: config media type {cfg:?}"));
    }
    for l in m.layers() {
        let t = l.media_type().to_string();
        if t.contains("foreign") || t.contains("nondistributable") {
            return Err(format!("foreign layers are not supported ({t})"));
        }
        if !LAYER_TYPES.contains(&t.as_str()) {
            return Err(format!("unsupported layer media type {t:?}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
      {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","size":10,"platform":{"os":"linux","architecture":"arm","variant":"v7"}},
      {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","size":11,"platform":{"os":"linux","architecture":"amd64"}},
      {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc","size":12,"platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
      {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd","size":13,"platform":{"os":"unknown","architecture":"unknown"}}]}"#;

    #[test]
    fn picks_linux_and_this_arch() {
        let Document::Index(idx) = parse(INDEX.as_bytes()).unwrap() else {
            panic!("not an index")
        };
        assert_eq!(
            pick_platform(&idx, "amd64").unwrap().0,
            format!("sha256:{}", "b".repeat(64))
        );
        assert_eq!(
            pick_platform(&idx, "arm64").unwrap(),
            (format!("sha256:{}", "c".repeat(64)), 12)
        );
        let e = pick_platform(&idx, "s390x").unwrap_err();
        assert!(
            e.contains("linux/s390x") && e.contains("linux/amd64, linux/arm/v7"),
            "{e}"
        );
    }

    #[test]
    fn docker_list_schema1_and_unknown_types() {
        let list = INDEX.replace(OCI_INDEX, DOCKER_LIST);
        assert!(matches!(parse(list.as_bytes()), Ok(Document::Index(_))));
        let s1 = r#"{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]}"#;
        assert!(parse(s1.as_bytes()).err().unwrap().contains("schema 1"));
        let art = r#"{"schemaVersion":2,"mediaType":"application/vnd.cncf.helm.chart.content.v1.tar+gzip"}"#;
        assert!(parse(art.as_bytes()).err().unwrap().contains("unsupported"));
        let m = r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
          "config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","size":1},
          "layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","size":2}]}"#;
        let Ok(Document::Manifest(m)) = parse(m.as_bytes()) else {
            panic!("docker v2 manifest")
        };
        assert!(check_manifest(&m).is_ok());
    }
}
