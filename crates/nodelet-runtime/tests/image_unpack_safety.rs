//! Hostile layer tars must not write outside their layer directory.
//! Decisions tested here: `..` anywhere is an error; a leading `/` is
//! stripped (the entry lands inside the layer); symlinked parents are an
//! error; hard links must point at an entry of the same layer; char/block
//! devices are an error; fifos, setuid bits and owners are kept; size and
//! entry-count bombs stop at the configured limits.

mod image_support;

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use image_support::*;
use nodelet_runtime::image::{ImageStore, UnpackLimits, unpack_layer};

fn unpack(entries: &[E], limits: UnpackLimits) -> (tempfile::TempDir, Result<(), String>) {
    let t = tempfile::tempdir().unwrap();
    let dest = t.path().join("layer");
    std::fs::create_dir(&dest).unwrap();
    let tar = layer(entries);
    let res = unpack_layer(&tar[..], &dest, "test-layer", &limits)
        .map(|_| ())
        .map_err(|e| e.to_string());
    (t, res)
}

fn assert_rejected(entries: &[E], why: &str) -> tempfile::TempDir {
    let (t, res) = unpack(entries, UnpackLimits::default());
    let err = res.expect_err(&format!("{why}: hostile layer accepted"));
    assert!(err.contains("test-layer"), "{err}");
    t
}

/// Nothing but `layer/` exists next to the layer dir: nothing escaped.
fn assert_nothing_outside(t: &Path) {
    let names: Vec<_> = std::fs::read_dir(t)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names,
        vec![std::ffi::OsString::from("layer")],
        "something escaped the layer"
    );
}

#[test]
fn dotdot_entries_are_rejected() {
    if !require_root("dotdot_entries_are_rejected") {
        return;
    }
    for path in ["../evil", "a/../../evil", "./../evil", "a/b/../../../evil"] {
        let t = assert_rejected(&[E::Owned(path.to_string(), b"x".to_vec(), 0o644)], path);
        assert_nothing_outside(t.path());
    }
}

#[test]
fn absolute_entries_stay_inside() {
    if !require_root("absolute_entries_stay_inside") {
        return;
    }
    let (t, res) = unpack(
        &[E::File("/abs/evil", b"x".to_vec())],
        UnpackLimits::default(),
    );
    res.unwrap();
    assert_eq!(
        std::fs::read(t.path().join("layer/abs/evil")).unwrap(),
        b"x"
    );
    assert!(!Path::new("/abs/evil").exists());
    assert_nothing_outside(t.path());
}

#[test]
fn symlinked_parents_are_never_followed() {
    if !require_root("symlinked_parents_are_never_followed") {
        return;
    }
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().to_str().unwrap().to_string();
    let t = assert_rejected(
        &[
            E::OwnedSymlink("a".into(), target.clone()),
            E::File("a/evil", b"x".to_vec()),
        ],
        "absolute symlink parent",
    );
    assert!(!outside.path().join("evil").exists());
    assert_nothing_outside(t.path());
    let t = assert_rejected(
        &[E::Symlink("up", ".."), E::File("up/evil", b"x".to_vec())],
        "relative symlink parent",
    );
    assert_nothing_outside(t.path());
    // Deeper: symlink in the middle of the path.
    let t = assert_rejected(
        &[
            E::Dir("d/"),
            E::OwnedSymlink("d/l".into(), target),
            E::File("d/l/x/evil", b"x".to_vec()),
        ],
        "symlink in the middle",
    );
    assert!(std::fs::read_dir(outside.path()).unwrap().next().is_none());
    assert_nothing_outside(t.path());
}

#[test]
fn a_file_replaces_a_symlink_instead_of_writing_through_it() {
    if !require_root("a_file_replaces_a_symlink_instead_of_writing_through_it") {
        return;
    }
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim");
    std::fs::write(&victim, b"original").unwrap();
    let (t, res) = unpack(
        &[
            E::OwnedSymlink("x".into(), victim.to_str().unwrap().into()),
            E::File("x", b"overwritten".to_vec()),
            E::OwnedSymlink("d".into(), outside.path().to_str().unwrap().into()),
            E::Dir("d/"),
        ],
        UnpackLimits::default(),
    );
    res.unwrap();
    assert_eq!(std::fs::read(&victim).unwrap(), b"original");
    assert_eq!(
        std::fs::read(t.path().join("layer/x")).unwrap(),
        b"overwritten"
    );
    assert!(
        std::fs::symlink_metadata(t.path().join("layer/d"))
            .unwrap()
            .is_dir()
    );
}

#[test]
fn hard_links_must_stay_inside_the_layer() {
    if !require_root("hard_links_must_stay_inside_the_layer") {
        return;
    }
    let t = assert_rejected(
        &[E::Hardlink("passwd", "/etc/passwd")],
        "link to /etc/passwd",
    );
    assert_nothing_outside(t.path());
    assert_rejected(&[E::Hardlink("x", "../x")], "link to ../x");
    // Through a symlinked directory.
    assert_rejected(
        &[E::Symlink("etc", "/etc"), E::Hardlink("p", "etc/passwd")],
        "link through symlink",
    );
    // A link to an entry of the layer is fine and is a real hard link.
    let (t, res) = unpack(
        &[
            E::File("/etc/passwd", b"root:x:0:0\n".to_vec()),
            E::Hardlink("p", "/etc/passwd"),
        ],
        UnpackLimits::default(),
    );
    res.unwrap();
    let a = std::fs::metadata(t.path().join("layer/etc/passwd")).unwrap();
    let b = std::fs::metadata(t.path().join("layer/p")).unwrap();
    assert_eq!(a.ino(), b.ino());
    assert_ne!(a.ino(), std::fs::metadata("/etc/passwd").unwrap().ino());
}

#[test]
fn device_nodes_are_refused_fifos_allowed() {
    if !require_root("device_nodes_are_refused_fifos_allowed") {
        return;
    }
    assert_rejected(&[E::Char("dev/null")], "char device");
    assert_rejected(&[E::Block("dev/sda")], "block device");
    let (t, res) = unpack(&[E::Fifo("run/pipe")], UnpackLimits::default());
    res.unwrap();
    let m = std::fs::symlink_metadata(t.path().join("layer/run/pipe")).unwrap();
    assert!(m.file_type().is_fifo());
}

#[test]
fn modes_owners_and_setuid_are_kept() {
    if !require_root("modes_owners_and_setuid_are_kept") {
        return;
    }
    let (t, res) = unpack(
        &[E::FileMeta("bin/su", b"#!".to_vec(), 0o4755, 1234, 5678)],
        UnpackLimits::default(),
    );
    res.unwrap();
    let m = std::fs::metadata(t.path().join("layer/bin/su")).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o4755);
    assert_eq!((m.uid(), m.gid()), (1234, 5678));
    assert_eq!(m.mtime(), 1_700_000_000);
}

#[test]
fn size_and_entry_bombs_stop_at_the_limits() {
    if !require_root("size_and_entry_bombs_stop_at_the_limits") {
        return;
    }
    let limits = UnpackLimits {
        max_bytes: 1 << 20,
        max_entries: 1000,
    };
    let (_t, res) = unpack(&[E::File("big", vec![0u8; (1 << 20) + 1])], limits);
    assert!(res.unwrap_err().contains("limit"));
    let (_t, res) = unpack(
        &[
            E::File("a", vec![0u8; 600 << 10]),
            E::File("b", vec![0u8; 600 << 10]),
        ],
        limits,
    );
    assert!(res.unwrap_err().contains("limit"));
    let many: Vec<E> = (0..1001)
        .map(|i| E::Owned(format!("f{i}"), vec![], 0o644))
        .collect();
    let (_t, res) = unpack(&many, limits);
    assert!(res.unwrap_err().contains("entries"));
    let (_t, res) = unpack(&many[..1000], limits);
    res.unwrap();
}

#[test]
fn whiteouts_become_overlay_whiteouts() {
    if !require_root("whiteouts_become_overlay_whiteouts") {
        return;
    }
    let (t, res) = unpack(
        &[
            E::Dir("etc/"),
            E::File("etc/.wh.hello", vec![]),
            E::Dir("opt/"),
            E::File("opt/.wh..wh..opq", vec![]),
            E::File("opt/new", b"n".to_vec()),
        ],
        UnpackLimits::default(),
    );
    res.unwrap();
    let wh = std::fs::symlink_metadata(t.path().join("layer/etc/hello")).unwrap();
    assert!(wh.file_type().is_char_device());
    assert_eq!(wh.rdev(), 0);
    assert!(!t.path().join("layer/etc/.wh.hello").exists());
    let mut buf = [0u8; 8];
    let n = rustix::fs::getxattr(
        t.path().join("layer/opt"),
        "trusted.overlay.opaque",
        &mut buf[..],
    )
    .unwrap();
    assert_eq!(&buf[..n], b"y");
    assert!(t.path().join("layer/opt/new").exists());
    // A whiteout name cannot climb out either.
    assert_rejected(&[E::File("../.wh.x", vec![])], "whiteout with ..");
}

#[test]
fn hostile_layer_through_the_store_leaves_it_unchanged() {
    if !require_root("hostile_layer_through_the_store_leaves_it_unchanged") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let sdir = t.path().join("images");
    let store = ImageStore::open(&sdir).unwrap();
    let before = listing(&sdir);
    let layers = vec![
        layer(&[E::File("ok", b"ok".to_vec())]),
        layer(&[E::Symlink("a", "/tmp"), E::File("a/evil", b"x".to_vec())]),
    ];
    oci_layout(&t.path().join("src"), "evil:1", &layers, true, &["x"]);
    let err = store.load(&t.path().join("src")).unwrap_err().to_string();
    assert!(err.contains("symlink"), "{err}");
    assert_eq!(listing(&sdir), before);
    assert!(store.list().unwrap().is_empty());
    assert!(!Path::new("/tmp/evil").exists());
}

fn pax_entry(b: &mut tar::Builder<Vec<u8>>, pax: &[(&str, &[u8])], name: &str, data: &[u8]) {
    b.append_pax_extensions(pax.iter().copied()).unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_path(name).unwrap();
    h.set_cksum();
    b.append(&h, data).unwrap();
}

#[test]
fn pax_paths_and_xattrs_are_checked_too() {
    if !require_root("pax_paths_and_xattrs_are_checked_too") {
        return;
    }
    // A PAX `path` record overrides the benign header name.
    let mut b = tar::Builder::new(Vec::new());
    pax_entry(&mut b, &[("path", b"../evil")], "benign", b"x");
    let t = tempfile::tempdir().unwrap();
    let dest = t.path().join("layer");
    std::fs::create_dir(&dest).unwrap();
    let tar = b.into_inner().unwrap();
    let err = unpack_layer(&tar[..], &dest, "test-layer", &UnpackLimits::default()).unwrap_err();
    assert!(err.to_string().contains(".."), "{err}");
    assert_nothing_outside(t.path());

    // Overlay's own xattrs cannot be smuggled in; others and PAX owners
    // are kept. A long
    // (GNU long name) path works.
    let long = format!("{}/file", "d".repeat(150));
    let mut b = tar::Builder::new(Vec::new());
    pax_entry(
        &mut b,
        &[
            ("SCHILY.xattr.trusted.overlay.redirect", b"/etc"),
            ("SCHILY.xattr.user.note", b"kept"),
            ("uid", b"3000000"),
            ("gid", b"3000001"),
        ],
        "f",
        b"x",
    );
    let mut h = tar::Header::new_gnu();
    h.set_size(1);
    h.set_mode(0o644);
    b.append_data(&mut h, &long, &b"y"[..]).unwrap();
    let t = tempfile::tempdir().unwrap();
    let dest = t.path().join("layer");
    std::fs::create_dir(&dest).unwrap();
    let tar = b.into_inner().unwrap();
    unpack_layer(&tar[..], &dest, "test-layer", &UnpackLimits::default()).unwrap();
    let mut buf = [0u8; 16];
    let n = rustix::fs::getxattr(dest.join("f"), "user.note", &mut buf[..]).unwrap();
    assert_eq!(&buf[..n], b"kept");
    let m = std::fs::metadata(dest.join("f")).unwrap();
    assert_eq!(
        (m.uid(), m.gid()),
        (3_000_000, 3_000_001),
        "PAX owners ignored"
    );
    assert!(
        rustix::fs::getxattr(dest.join("f"), "trusted.overlay.redirect", &mut buf[..]).is_err()
    );
    assert_eq!(std::fs::read(dest.join(&long)).unwrap(), b"y");
}
