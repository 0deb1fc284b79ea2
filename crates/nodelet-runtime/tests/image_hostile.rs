//! Hostile images through the whole store (`ImageStore::load`, as
//! `nodelet image load` and a pull's commit use it), beyond the single-layer
//! cases of image_unpack_safety.rs: a symlink swapped in between layers,
//! whiteouts aimed outside, setuid files (kept and reported by `inspect`),
//! decompression bombs and oversized metadata. Every image is built here in
//! code; each test asserts that nothing appeared outside the store and
//! that the error names what was refused.

mod image_support;

use std::os::unix::fs::FileTypeExt;

use image_support::*;
use nodelet_runtime::image::{ImageStore, UnpackLimits};

/// A store, a directory that must stay empty next to it, and the store's
/// listing before the load.
struct Scene {
    t: tempfile::TempDir,
    store: ImageStore,
}

impl Scene {
    fn new(limits: UnpackLimits) -> Scene {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("outside")).unwrap();
        let store = ImageStore::open_with_limits(&t.path().join("images"), limits).unwrap();
        Scene { t, store }
    }

    fn outside(&self) -> std::path::PathBuf {
        self.t.path().join("outside")
    }

    fn load(&self, name: &str, layers: &[Vec<u8>], gz: bool) -> Result<(), String> {
        let src = self.t.path().join(format!("src-{name}"));
        oci_layout(&src, name, layers, gz, &["sh"]);
        let res = self.store.load(&src).map(|_| ()).map_err(|e| e.to_string());
        std::fs::remove_dir_all(&src).unwrap();
        res
    }

    /// Nothing but the store and the (empty) outside directory.
    fn assert_contained(&self) {
        let mut names: Vec<_> = std::fs::read_dir(self.t.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["images", "outside"], "something escaped the store");
        assert_eq!(listing(&self.outside()), Vec::<std::path::PathBuf>::new());
    }
}

#[test]
fn a_symlink_swapped_in_between_layers_is_never_written_through() {
    if !require_root("a_symlink_swapped_in_between_layers_is_never_written_through") {
        return;
    }
    let s = Scene::new(UnpackLimits::default());
    let outside = s.outside().to_str().unwrap().to_string();
    // Layer 1 has a directory `a`; layer 2 replaces it with a symlink out
    // of the rootfs; layer 3 writes below `a`. Each layer is unpacked into
    // its own directory, so layer 3's `a/evil` lands in layer 3's `a/`, a
    // real directory, which the overlay shows above layer 2's symlink.
    let layers = vec![
        layer(&[E::Dir("a/"), E::File("a/keep", b"1".to_vec())]),
        layer(&[E::OwnedSymlink("a".into(), outside.clone())]),
        layer(&[E::File("a/evil", b"x".to_vec())]),
    ];
    s.load("swap:1", &layers, false).unwrap();
    s.assert_contained();
    let d = s.store.inspect("swap:1").unwrap();
    let top = &d.layers[2].path;
    assert!(std::fs::symlink_metadata(top.join("a")).unwrap().is_dir());
    assert_eq!(std::fs::read(top.join("a/evil")).unwrap(), b"x");
    let mid = &d.layers[1].path;
    assert_eq!(
        std::fs::read_link(mid.join("a")).unwrap().to_str(),
        Some(&outside[..])
    );
    // Within one layer the same trick is an error naming the entry.
    let err = s
        .load(
            "swap:2",
            &[layer(&[
                E::OwnedSymlink("b".into(), outside),
                E::File("b/evil", b"x".to_vec()),
            ])],
            false,
        )
        .unwrap_err();
    assert!(
        err.contains("\"b/evil\"") && err.contains("symlink"),
        "{err}"
    );
    s.assert_contained();
}

#[test]
fn whiteouts_cannot_reach_outside() {
    if !require_root("whiteouts_cannot_reach_outside") {
        return;
    }
    let s = Scene::new(UnpackLimits::default());
    let victim = s.outside().join("victim");
    std::fs::write(&victim, b"keep").unwrap();
    let outside = s.outside().to_str().unwrap().to_string();
    for (name, entries, why) in [
        ("wh:1", vec![E::File("../.wh.victim", vec![])], "'..'"),
        (
            "wh:2",
            vec![
                E::OwnedSymlink("l".into(), outside.clone()),
                E::File("l/.wh.victim", vec![]),
            ],
            "symlink",
        ),
        (
            "wh:3",
            vec![E::File("etc/.wh..", vec![])],
            "invalid whiteout",
        ),
    ] {
        let err = s.load(name, &[layer(&entries)], false).unwrap_err();
        assert!(err.contains(why), "{name}: {err}");
    }
    assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
    std::fs::remove_file(&victim).unwrap();
    // An absolute whiteout path is the layer's own root, as docker reads it.
    s.load("wh:4", &[layer(&[E::File("/.wh.etc", vec![])])], false)
        .unwrap();
    let d = s.store.inspect("wh:4").unwrap();
    let wh = std::fs::symlink_metadata(d.layers[0].path.join("etc")).unwrap();
    assert!(wh.file_type().is_char_device());
    s.assert_contained();
}

#[test]
fn setuid_files_are_kept_and_reported_by_inspect() {
    if !require_root("setuid_files_are_kept_and_reported_by_inspect") {
        return;
    }
    let s = Scene::new(UnpackLimits::default());
    let layers = vec![
        layer(&[
            E::FileMeta("bin/su", b"#!".to_vec(), 0o4755, 0, 0),
            E::FileMeta("usr/bin/wall", b"#!".to_vec(), 0o2755, 0, 5),
            E::FileMeta("bin/ls", b"#!".to_vec(), 0o755, 0, 0),
        ]),
        layer(&[E::File("etc/motd", b"hi".to_vec())]),
    ];
    s.load("suid:1", &layers, true).unwrap();
    let d = s.store.inspect("suid:1").unwrap();
    assert_eq!(d.layers[0].setuid_files, ["bin/su", "usr/bin/wall"]);
    assert!(d.layers[1].setuid_files.is_empty());
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["layers"][0]["setuid_files"][0], "bin/su");
    s.assert_contained();
}

#[test]
fn decompression_bombs_stop_at_the_limit_with_a_clear_error() {
    if !require_root("decompression_bombs_stop_at_the_limit_with_a_clear_error") {
        return;
    }
    let limits = UnpackLimits {
        max_bytes: 1 << 20,
        max_entries: 100,
    };
    let s = Scene::new(limits);
    let before = listing(&s.t.path().join("images"));
    // 32 MiB of zeros: ~32 KiB gzipped, 32 times the limit unpacked.
    let bomb = layer(&[E::File("zeros", vec![0u8; 32 << 20])]);
    let err = s
        .load("bomb:gz", std::slice::from_ref(&bomb), true)
        .unwrap_err();
    assert!(
        err.contains("\"zeros\"") && err.contains("1048576 byte limit"),
        "{err}"
    );
    // Entry bombs: many empty files.
    let many: Vec<E> = (0..101)
        .map(|i| E::Owned(format!("f{i}"), vec![], 0o644))
        .collect();
    let err = s.load("bomb:n", &[layer(&many)], true).unwrap_err();
    assert!(err.contains("more than 100 entries"), "{err}");
    assert_eq!(listing(&s.t.path().join("images")), before);
    assert!(s.store.list().unwrap().is_empty());
    s.assert_contained();
}

#[test]
fn oversized_index_manifest_and_config_are_refused_by_name() {
    if !require_root("oversized_index_manifest_and_config_are_refused_by_name") {
        return;
    }
    let s = Scene::new(UnpackLimits::default());
    let before = listing(&s.t.path().join("images"));
    let l = vec![layer(&[E::File("x", b"x".to_vec())])];
    // index.json of 17 MiB (valid JSON: padded with spaces).
    let src = s.t.path().join("src-big-index");
    oci_layout(&src, "big:1", &l, false, &["sh"]);
    let mut idx = std::fs::read(src.join("index.json")).unwrap();
    idx.resize(17 << 20, b' ');
    std::fs::write(src.join("index.json"), idx).unwrap();
    let err = s.store.load(&src).unwrap_err().to_string();
    assert!(err.contains("index.json is too large"), "{err}");
    std::fs::remove_dir_all(&src).unwrap();
    // A config of 17 MiB (as its descriptor says).
    let src = s.t.path().join("src-big-config");
    let mut cfg = config(&l, &["sh"]);
    cfg.resize(17 << 20, b' ');
    oci_layout_with_config(&src, "big:2", &l, false, &cfg);
    let err = s.store.load(&src).unwrap_err().to_string();
    assert!(err.contains("too large"), "{err}");
    std::fs::remove_dir_all(&src).unwrap();
    assert_eq!(listing(&s.t.path().join("images")), before);
    s.assert_contained();
}
