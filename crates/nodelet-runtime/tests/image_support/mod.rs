//! Builders for test images: layer tars (including hostile ones, written
//! with raw header names so `..` and friends survive), OCI layouts (dir and
//! tar) and `docker save` archives. Generated in code so no binary fixtures
//! are committed.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Whether the image tests can run; panics unless root or
/// NODELET_SKIP_REAL=1.
pub fn require_root(test: &str) -> bool {
    nodelet_testsupport::Needs::root(
        test,
        "mknod of whiteouts, trusted.* xattrs, chown, overlay mounts",
    )
    .check()
}

pub fn sha256(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

/// One tar entry of a test layer.
#[derive(Clone)]
pub enum E {
    File(&'static str, Vec<u8>),
    /// path, data, mode, uid, gid
    FileMeta(&'static str, Vec<u8>, u32, u64, u64),
    Dir(&'static str),
    Symlink(&'static str, &'static str),
    Hardlink(&'static str, &'static str),
    Char(&'static str),
    Block(&'static str),
    Fifo(&'static str),
    /// A path and data known at run time.
    Owned(String, Vec<u8>, u32),
    OwnedSymlink(String, String),
}

fn raw_header(kind: tar::EntryType, path: &str, size: u64, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    let name = &mut h.as_gnu_mut().unwrap().name;
    assert!(path.len() < name.len(), "test path too long");
    name[..path.len()].copy_from_slice(path.as_bytes());
    h
}

fn set_link(h: &mut tar::Header, target: &str) {
    let l = &mut h.as_gnu_mut().unwrap().linkname;
    assert!(target.len() < l.len());
    l[..target.len()].copy_from_slice(target.as_bytes());
}

/// An uncompressed layer tar with exactly these entries, in order.
pub fn layer(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let (mut h, data): (tar::Header, Vec<u8>) = match e {
            E::File(p, d) => (
                raw_header(tar::EntryType::Regular, p, d.len() as u64, 0o644),
                d.clone(),
            ),
            E::FileMeta(p, d, mode, uid, gid) => {
                let mut h = raw_header(tar::EntryType::Regular, p, d.len() as u64, *mode);
                h.set_uid(*uid);
                h.set_gid(*gid);
                (h, d.clone())
            }
            E::Owned(p, d, mode) => (
                raw_header(tar::EntryType::Regular, p, d.len() as u64, *mode),
                d.clone(),
            ),
            E::Dir(p) => (raw_header(tar::EntryType::Directory, p, 0, 0o755), vec![]),
            E::Symlink(p, t) => {
                let mut h = raw_header(tar::EntryType::Symlink, p, 0, 0o777);
                set_link(&mut h, t);
                (h, vec![])
            }
            E::OwnedSymlink(p, t) => {
                let mut h = raw_header(tar::EntryType::Symlink, p, 0, 0o777);
                set_link(&mut h, t);
                (h, vec![])
            }
            E::Hardlink(p, t) => {
                let mut h = raw_header(tar::EntryType::Link, p, 0, 0o644);
                set_link(&mut h, t);
                (h, vec![])
            }
            E::Char(p) => (raw_header(tar::EntryType::Char, p, 0, 0o666), vec![]),
            E::Block(p) => (raw_header(tar::EntryType::Block, p, 0, 0o666), vec![]),
            E::Fifo(p) => (raw_header(tar::EntryType::Fifo, p, 0, 0o644), vec![]),
        };
        h.set_cksum();
        b.append(&h, &data[..]).unwrap();
    }
    b.into_inner().unwrap()
}

pub fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// A minimal image config for these layers (uncompressed tars).
pub fn config(layers: &[Vec<u8>], cmd: &[&str]) -> Vec<u8> {
    let diff_ids: Vec<String> = layers.iter().map(|l| sha256(l)).collect();
    serde_json::to_vec(&serde_json::json!({
        "created": "2024-01-02T03:04:05Z",
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Env": ["PATH=/bin", "FOO=bar"],
            "Cmd": cmd,
            "WorkingDir": "/srv",
            "User": "1000:1000",
            "StopSignal": "SIGQUIT",
            "ExposedPorts": {"80/tcp": {}, "53/udp": {}},
            "Labels": {"who": "test"}
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap()
}

/// The digests of what an image builder wrote.
pub struct Built {
    pub id: String,
    pub manifest_digest: String,
    pub layer_digests: Vec<String>,
}

fn write_blob(dir: &Path, bytes: &[u8]) -> String {
    let d = sha256(bytes);
    let p = dir.join("blobs/sha256").join(&d[7..]);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
    d
}

/// Writes an OCI image layout to `dir` (one image, ref.name annotation),
/// gzip-compressing layers when `gz`.
pub fn oci_layout(dir: &Path, ref_name: &str, layers: &[Vec<u8>], gz: bool, cmd: &[&str]) -> Built {
    oci_layout_with_config(dir, ref_name, layers, gz, &config(layers, cmd))
}

pub fn oci_layout_with_config(
    dir: &Path,
    ref_name: &str,
    layers: &[Vec<u8>],
    gz: bool,
    cfg: &[u8],
) -> Built {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let id = write_blob(dir, cfg);
    let mut descs = Vec::new();
    let mut layer_digests = Vec::new();
    for l in layers {
        let bytes = if gz { gzip(l) } else { l.clone() };
        let d = write_blob(dir, &bytes);
        layer_digests.push(d.clone());
        descs.push(serde_json::json!({
            "mediaType": if gz { "application/vnd.oci.image.layer.v1.tar+gzip" } else { "application/vnd.oci.image.layer.v1.tar" },
            "digest": d, "size": bytes.len(),
        }));
    }
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": id, "size": cfg.len()},
        "layers": descs,
    }))
    .unwrap();
    let manifest_digest = write_blob(dir, &manifest);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest, "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": ref_name},
        }],
    });
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    Built {
        id,
        manifest_digest,
        layer_digests,
    }
}

/// Tars up a directory (e.g. an OCI layout) into `out`.
pub fn tar_dir(dir: &Path, out: &Path) {
    let f = std::fs::File::create(out).unwrap();
    let mut b = tar::Builder::new(f);
    b.append_dir_all(".", dir).unwrap();
    b.finish().unwrap();
}

/// A `docker save` archive (docker < 25 shape: `<n>/layer.tar`,
/// `<id>.json`, manifest.json); the last layer is stored as a symlink to
/// the first when `dup_last` (docker links duplicate layers that way).
pub fn docker_save(out: &Path, tags: &[&str], layers: &[Vec<u8>], cmd: &[&str], gz: bool) -> Built {
    let cfg = config(layers, cmd);
    let id = sha256(&cfg);
    let mut b = tar::Builder::new(Vec::new());
    let add = |b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, path, data).unwrap();
    };
    let cfg_name = format!("{}.json", &id[7..]);
    add(&mut b, &cfg_name, &cfg);
    let mut layer_names = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let name = format!("{i:064}/layer.tar");
        add(&mut b, &name, l);
        layer_names.push(name);
    }
    let manifest =
        serde_json::json!([{"Config": cfg_name, "RepoTags": tags, "Layers": layer_names}]);
    add(
        &mut b,
        "manifest.json",
        &serde_json::to_vec(&manifest).unwrap(),
    );
    let bytes = b.into_inner().unwrap();
    std::fs::write(out, if gz { gzip(&bytes) } else { bytes }).unwrap();
    Built {
        id,
        manifest_digest: String::new(),
        layer_digests: layers.iter().map(|l| sha256(l)).collect(),
    }
}

/// Names of entries in a directory, sorted (for "store unchanged" checks).
pub fn listing(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                stack.push(p.clone());
            }
            out.push(p.strip_prefix(dir).unwrap().to_path_buf());
        }
    }
    out.sort();
    out
}
