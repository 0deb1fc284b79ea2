//! Loading images into the store: OCI layout dir and tar, docker-save,
//! shared layers unpacked once, verification failures leave the store as it
//! was, remove/list/inspect/resolve.

mod image_support;

use std::path::Path;

use image_support::*;
use nodelet_runtime::image::{ImageStore, normalize_reference};

fn base_layers() -> Vec<Vec<u8>> {
    vec![
        layer(&[
            E::Dir("etc/"),
            E::File("etc/hello", b"hello\n".to_vec()),
            E::Dir("srv/"),
        ]),
        layer(&[E::File("etc/top", b"top\n".to_vec())]),
    ]
}

#[test]
fn loads_oci_layout_dir_and_resolves() {
    if !require_root("loads_oci_layout_dir_and_resolves") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let built = oci_layout(
        &t.path().join("src"),
        "nodelet.local/demo:v1",
        &base_layers(),
        false,
        &["sh"],
    );
    let store = ImageStore::open(&t.path().join("images")).unwrap();
    let loaded = store.load(&t.path().join("src")).unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].id, built.id);
    assert_eq!(
        loaded[0].references,
        vec!["nodelet.local/demo:v1".to_string()]
    );
    assert_eq!(loaded[0].created.as_deref(), Some("2024-01-02T03:04:05Z"));

    let r = store
        .resolve("nodelet.local/demo:v1")
        .unwrap()
        .expect("present");
    assert_eq!(r.id, built.id);
    assert_eq!(r.reference, "nodelet.local/demo:v1");
    assert_eq!(r.layers.len(), 2);
    assert_eq!(
        std::fs::read(r.layers[0].join("etc/hello")).unwrap(),
        b"hello\n"
    );
    assert_eq!(
        std::fs::read(r.layers[1].join("etc/top")).unwrap(),
        b"top\n"
    );
    assert_eq!(r.config.cmd, Some(vec!["sh".to_string()]));
    assert_eq!(r.config.env, vec!["PATH=/bin", "FOO=bar"]);
    assert_eq!(r.config.working_dir.as_deref(), Some("/srv"));
    assert_eq!(r.config.user.as_deref(), Some("1000:1000"));
    assert_eq!(r.config.stop_signal.as_deref(), Some("SIGQUIT"));
    assert_eq!(r.config.exposed_ports, vec!["53/udp", "80/tcp"]);
    assert!(store.resolve("nodelet.local/demo:v2").unwrap().is_none());
    assert!(matches!(
        store.resolve("Not A Reference"),
        Err(nodelet_runtime::RuntimeError::InvalidImage { .. })
    ));
    // By id and id prefix too.
    assert_eq!(store.resolve(&built.id).unwrap().unwrap().id, built.id);
    assert_eq!(
        store.resolve(&built.id[7..19]).unwrap().unwrap().id,
        built.id
    );

    let d = store.inspect("nodelet.local/demo:v1").unwrap();
    assert_eq!(d.manifest_digest, built.manifest_digest);
    assert_eq!(
        d.repo_digests,
        vec![format!("nodelet.local/demo@{}", built.manifest_digest)]
    );
    assert_eq!(d.layers.len(), 2);
    assert_eq!(d.layers[0].digest, built.layer_digests[0]);
    assert_eq!(d.labels.get("who").map(String::as_str), Some("test"));
    assert_eq!(d.os, "linux");
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["id"], built.id);
    // Digest references pin the manifest.
    let pinned = format!("nodelet.local/demo@{}", built.manifest_digest);
    assert_eq!(store.resolve(&pinned).unwrap().unwrap().id, built.id);
}

#[test]
fn loads_oci_layout_tar_with_gzip_layers() {
    if !require_root("loads_oci_layout_tar_with_gzip_layers") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let built = oci_layout(
        &t.path().join("src"),
        "busybox:1.36",
        &base_layers(),
        true,
        &["sh"],
    );
    let archive = t.path().join("img.tar");
    tar_dir(&t.path().join("src"), &archive);
    let store = ImageStore::open(&t.path().join("images")).unwrap();
    let loaded = store.load(&archive).unwrap();
    assert_eq!(
        loaded[0].references,
        vec!["docker.io/library/busybox:1.36".to_string()]
    );
    let r = store.resolve("busybox:1.36").unwrap().unwrap();
    assert_eq!(r.id, built.id);
    assert_eq!(
        std::fs::read(r.layers[1].join("etc/top")).unwrap(),
        b"top\n"
    );
    // The staging copy of the archive is gone.
    assert!(listing(&t.path().join("images/tmp")).is_empty());
}

#[test]
fn loads_docker_save_archive_plain_and_gzipped() {
    if !require_root("loads_docker_save_archive_plain_and_gzipped") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let store = ImageStore::open(&t.path().join("images")).unwrap();
    let archive = t.path().join("save.tar");
    let built = docker_save(
        &archive,
        &["busybox:latest", "nodelet.local/busybox:latest"],
        &base_layers(),
        &["sh"],
        false,
    );
    let loaded = store.load(&archive).unwrap();
    assert_eq!(loaded[0].id, built.id);
    assert_eq!(
        loaded[0].references,
        vec![
            "docker.io/library/busybox:latest".to_string(),
            "nodelet.local/busybox:latest".to_string()
        ]
    );
    for name in [
        "busybox",
        "nodelet.local/busybox",
        "docker.io/library/busybox:latest",
    ] {
        let r = store.resolve(name).unwrap().unwrap();
        assert_eq!(r.id, built.id, "{name}");
        assert_eq!(r.reference, normalize_reference(name).unwrap());
    }
    // Gzipped docker-save of a different image with the same first layer.
    let layers2 = vec![
        base_layers()[0].clone(),
        layer(&[E::File("etc/other", b"o".to_vec())]),
    ];
    let archive2 = t.path().join("save2.tar.gz");
    let built2 = docker_save(&archive2, &["other:1"], &layers2, &["true"], true);
    store.load(&archive2).unwrap();
    assert_eq!(store.resolve("other:1").unwrap().unwrap().id, built2.id);
    assert_eq!(store.list().unwrap().len(), 2);
}

#[test]
fn shared_layers_are_unpacked_once() {
    if !require_root("shared_layers_are_unpacked_once") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let store = ImageStore::open(&t.path().join("images")).unwrap();
    let base = base_layers();
    oci_layout(&t.path().join("a"), "a:1", &base, false, &["a"]);
    store.load(&t.path().join("a")).unwrap();
    let first = store.resolve("a:1").unwrap().unwrap();
    // A sentinel survives only if the shared layer is not unpacked again.
    std::fs::write(first.layers[0].join("sentinel"), b"x").unwrap();
    let layers_b = vec![base[0].clone(), layer(&[E::File("b", b"b".to_vec())])];
    oci_layout(&t.path().join("b"), "b:1", &layers_b, true, &["b"]);
    store.load(&t.path().join("b")).unwrap();
    let second = store.resolve("b:1").unwrap().unwrap();
    assert_eq!(second.layers[0], first.layers[0]);
    assert!(
        first.layers[0].join("sentinel").exists(),
        "shared layer was unpacked again"
    );
    // Loading the same image twice changes nothing either.
    store.load(&t.path().join("a")).unwrap();
    assert!(first.layers[0].join("sentinel").exists());
}

fn snapshot(store_dir: &Path) -> (Vec<std::path::PathBuf>, Vec<u8>) {
    (
        listing(store_dir),
        std::fs::read(store_dir.join("images.json")).unwrap_or_default(),
    )
}

#[test]
fn digest_mismatch_is_rejected_and_store_unchanged() {
    if !require_root("digest_mismatch_is_rejected_and_store_unchanged") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let sdir = t.path().join("images");
    let store = ImageStore::open(&sdir).unwrap();
    oci_layout(&t.path().join("ok"), "ok:1", &base_layers(), false, &["ok"]);
    store.load(&t.path().join("ok")).unwrap();
    let before = snapshot(&sdir);

    // 1. A layer blob whose bytes do not match its name (second layer, so
    //    the first new layer gets unpacked before the failure).
    let layers = vec![
        layer(&[E::File("new1", b"1".to_vec())]),
        layer(&[E::File("new2", b"2".to_vec())]),
    ];
    let bad = t.path().join("bad");
    let built = oci_layout(&bad, "bad:1", &layers, false, &["x"]);
    let victim = bad.join("blobs/sha256").join(&built.layer_digests[1][7..]);
    std::fs::write(&victim, layer(&[E::File("evil", b"e".to_vec())])).unwrap();
    let err = store.load(&bad).unwrap_err().to_string();
    assert!(err.contains("digest mismatch"), "{err}");
    assert_eq!(
        snapshot(&sdir),
        before,
        "store changed after a rejected load"
    );
    assert!(store.resolve("bad:1").unwrap().is_none());

    // 2. A config whose diff_ids do not match the layer content.
    let bad2 = t.path().join("bad2");
    let mut cfg: serde_json::Value = serde_json::from_slice(&config(&layers, &["x"])).unwrap();
    cfg["rootfs"]["diff_ids"][1] = serde_json::json!(sha256(b"something else"));
    oci_layout_with_config(
        &bad2,
        "bad:2",
        &layers,
        true,
        &serde_json::to_vec(&cfg).unwrap(),
    );
    let err = store.load(&bad2).unwrap_err().to_string();
    assert!(err.contains("digest mismatch"), "{err}");
    assert_eq!(
        snapshot(&sdir),
        before,
        "store changed after a rejected load"
    );

    // 3. A docker-save archive whose layer.tar is not what the config says.
    let bad3 = t.path().join("bad3.tar");
    let mut cfg_layers = layers.clone();
    cfg_layers[0] = layer(&[E::File("other", b"o".to_vec())]);
    let built3 = docker_save(&bad3, &["bad:3"], &cfg_layers, &["x"], false);
    // Rebuild the archive with the original layers but the config above.
    let _ = built3;
    let mut b = tar::Builder::new(Vec::new());
    let cfg3 = config(&cfg_layers, &["x"]);
    let mut add = |path: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, path, data).unwrap();
    };
    add("c.json", &cfg3);
    add("l0/layer.tar", &layers[0]);
    add("l1/layer.tar", &layers[1]);
    add(
        "manifest.json",
        br#"[{"Config":"c.json","RepoTags":["bad:3"],"Layers":["l0/layer.tar","l1/layer.tar"]}]"#,
    );
    std::fs::write(&bad3, b.into_inner().unwrap()).unwrap();
    let err = store.load(&bad3).unwrap_err().to_string();
    assert!(err.contains("digest mismatch"), "{err}");
    assert_eq!(
        snapshot(&sdir),
        before,
        "store changed after a rejected load"
    );
}

#[test]
fn remove_untags_then_deletes_and_collects_garbage() {
    if !require_root("remove_untags_then_deletes_and_collects_garbage") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let sdir = t.path().join("images");
    let store = ImageStore::open(&sdir).unwrap();
    let archive = t.path().join("save.tar");
    let built = docker_save(&archive, &["x:1", "x:2"], &base_layers(), &["sh"], false);
    store.load(&archive).unwrap();
    let other = vec![base_layers()[0].clone()];
    oci_layout(&t.path().join("o"), "o:1", &other, false, &["o"]);
    store.load(&t.path().join("o")).unwrap();
    assert_eq!(store.list().unwrap().len(), 2);

    store.remove("x:1").unwrap();
    assert!(store.resolve("x:1").unwrap().is_none());
    let r = store.resolve("x:2").unwrap().unwrap();
    assert_eq!(r.id, built.id);
    let top_layer = r.layers[1].clone();
    store.remove("x:2").unwrap();
    assert!(store.resolve(&built.id).unwrap().is_none());
    assert_eq!(store.list().unwrap().len(), 1);
    // Its own layer is gone, the shared one stays for o:1.
    assert!(!top_layer.exists());
    let o = store.resolve("o:1").unwrap().unwrap();
    assert!(o.layers[0].join("etc/hello").exists());
    assert!(!sdir.join("blobs/sha256").join(&built.id[7..]).exists());
    assert!(matches!(
        store.remove("x:1"),
        Err(nodelet_runtime::RuntimeError::ImageNotFound(_))
    ));
    // Remove by id takes the whole image.
    store.remove(&o.id).unwrap();
    assert!(store.list().unwrap().is_empty());
    assert!(listing(&sdir.join("layers")).is_empty());
    assert!(listing(&sdir.join("blobs/sha256")).is_empty());
}

#[test]
fn interrupted_unpack_is_redone() {
    if !require_root("interrupted_unpack_is_redone") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let sdir = t.path().join("images");
    let store = ImageStore::open(&sdir).unwrap();
    oci_layout(&t.path().join("a"), "a:1", &base_layers(), false, &["a"]);
    store.load(&t.path().join("a")).unwrap();
    let r = store.resolve("a:1").unwrap().unwrap();
    // Simulate a crash mid-unpack: marker missing, content partial.
    let top = r.layers[0].parent().unwrap().to_path_buf();
    std::fs::remove_file(top.join("done")).unwrap();
    std::fs::remove_file(r.layers[0].join("etc/hello")).unwrap();
    std::fs::write(r.layers[0].join("junk"), b"j").unwrap();
    let again = store.resolve("a:1").unwrap().unwrap();
    assert!(again.layers[0].join("etc/hello").exists());
    assert!(!again.layers[0].join("junk").exists());
    assert!(top.join("done").exists());
}

#[test]
fn loading_moves_a_tag_and_rejects_garbage_input() {
    if !require_root("loading_moves_a_tag_and_rejects_garbage_input") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let store = ImageStore::open(&t.path().join("images")).unwrap();
    let a = oci_layout(
        &t.path().join("a"),
        "app:latest",
        &base_layers(),
        false,
        &["v1"],
    );
    store.load(&t.path().join("a")).unwrap();
    let b = oci_layout(
        &t.path().join("b"),
        "app:latest",
        &base_layers(),
        false,
        &["v2"],
    );
    store.load(&t.path().join("b")).unwrap();
    assert_eq!(store.resolve("app").unwrap().unwrap().id, b.id);
    // The old image stays, untagged, reachable by id.
    let old = store.inspect(&a.id).unwrap();
    assert!(old.references.is_empty());

    let junk = t.path().join("junk.tar");
    std::fs::write(&junk, b"definitely not a tar archive, just some bytes").unwrap();
    assert!(store.load(&junk).is_err());
    let empty = t.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert!(store.load(&empty).is_err());
}

/// docker >= 25 saves `blobs/sha256/<hex>` paths in manifest.json next to an
/// OCI index.json; manifest.json (with RepoTags) wins.
#[test]
fn loads_new_docker_save_layout() {
    if !require_root("loads_new_docker_save_layout") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    let layers = base_layers();
    let built = oci_layout(&src, "ignored-tag", &layers, false, &["sh"]);
    let manifest = serde_json::json!([{
        "Config": format!("blobs/sha256/{}", &built.id[7..]),
        "RepoTags": ["nodelet.local/new:1"],
        "Layers": built.layer_digests.iter().map(|d| format!("blobs/sha256/{}", &d[7..])).collect::<Vec<_>>(),
    }]);
    std::fs::write(
        src.join("manifest.json"),
        serde_json::to_vec(&manifest).unwrap(),
    )
    .unwrap();
    let archive = t.path().join("new.tar");
    tar_dir(&src, &archive);
    let store = ImageStore::open(&t.path().join("images")).unwrap();
    let loaded = store.load(&archive).unwrap();
    assert_eq!(
        loaded[0].references,
        vec!["nodelet.local/new:1".to_string()]
    );
    assert_eq!(loaded[0].id, built.id);
    let r = store.resolve("nodelet.local/new:1").unwrap().unwrap();
    assert!(r.layers[0].join("etc/hello").exists());
}

/// Two stores on one directory (as CLI and daemon would be) loading at the
/// same time: the flock serialises them and the index keeps both.
#[test]
fn concurrent_loads_do_not_lose_images() {
    if !require_root("concurrent_loads_do_not_lose_images") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let sdir = t.path().join("images");
    let n = 6;
    for i in 0..n {
        let layers = vec![
            base_layers()[0].clone(),
            layer(&[E::Owned(format!("img{i}"), vec![b'x'; 4096], 0o644)]),
        ];
        oci_layout(
            &t.path().join(format!("src{i}")),
            &format!("c:{i}"),
            &layers,
            true,
            &["x"],
        );
    }
    std::thread::scope(|s| {
        for i in 0..n {
            let (sdir, src) = (sdir.clone(), t.path().join(format!("src{i}")));
            s.spawn(move || ImageStore::open(&sdir).unwrap().load(&src).unwrap());
        }
    });
    let store = ImageStore::open(&sdir).unwrap();
    assert_eq!(store.list().unwrap().len(), n);
    for i in 0..n {
        let r = store.resolve(&format!("c:{i}")).unwrap().unwrap();
        assert!(r.layers[1].join(format!("img{i}")).exists());
    }
}

/// A multi-platform layout (index -> nested index -> per-platform
/// manifests, like `skopeo copy --all`): the host's platform is chosen.
#[test]
fn picks_the_host_platform_from_a_nested_index() {
    if !require_root("picks_the_host_platform_from_a_nested_index") {
        return;
    }
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    let built = oci_layout(&src, "unused", &base_layers(), true, &["sh"]);
    let msize = std::fs::metadata(src.join("blobs/sha256").join(&built.manifest_digest[7..]))
        .unwrap()
        .len();
    let nested = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json",
             "digest": sha256(b"other platform, blob absent"), "size": 1,
             "platform": {"os": "linux", "architecture": "s390x"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json",
             "digest": built.manifest_digest, "size": msize,
             "platform": {"os": "linux", "architecture": arch}},
        ],
    }))
    .unwrap();
    let nd = sha256(&nested);
    std::fs::write(src.join("blobs/sha256").join(&nd[7..]), &nested).unwrap();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": nd, "size": nested.len(),
            "annotations": {"org.opencontainers.image.ref.name": "nodelet.local/multi:1"},
        }],
    });
    std::fs::write(src.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    let store = ImageStore::open(&t.path().join("images")).unwrap();
    let loaded = store.load(&src).unwrap();
    assert_eq!(loaded[0].id, built.id);
    assert_eq!(
        loaded[0].references,
        vec!["nodelet.local/multi:1".to_string()]
    );
}
