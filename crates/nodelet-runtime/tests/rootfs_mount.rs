//! Overlay rootfs over store layers: merged view honours whiteouts and
//! opaque directories, writes go to the container's upper dir, a busybox
//! from the image runs in it, many layers work past the mount(2) page
//! limit, and unmount leaves nothing mounted (checked in mountinfo).

mod image_support;

use std::path::Path;
use std::process::Command;

use image_support::*;
use nodelet_runtime::image::ImageStore;
use nodelet_runtime::rootfs::{is_mounted, mount_rootfs, unmount_rootfs};

/// Mount points in our namespace under `dir`.
fn mounts_under(dir: &Path) -> Vec<String> {
    let dir = std::fs::canonicalize(dir).unwrap_or(dir.to_path_buf());
    let prefix = dir.to_str().unwrap().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|mp| mp.starts_with(&prefix))
        .collect()
}

fn busybox_layer() -> Vec<u8> {
    let bb = std::fs::read("/bin/busybox").unwrap_or_else(|e| {
        panic!("/bin/busybox (Debian package busybox-static) is needed for rootfs tests: {e}")
    });
    layer(&[
        E::Dir("bin/"),
        E::Owned("bin/busybox".into(), bb, 0o755),
        E::Symlink("bin/sh", "busybox"),
        E::Symlink("bin/cat", "busybox"),
        E::Dir("etc/"),
        E::File("etc/hello", b"hello\n".to_vec()),
        E::File("etc/keep", b"keep\n".to_vec()),
        E::Dir("opt/"),
        E::File("opt/lower-only", b"l".to_vec()),
        E::Dir("tmp/"),
    ])
}

#[test]
fn overlay_rootfs_merges_layers_and_unmounts_cleanly() {
    if !require_root("overlay_rootfs_merges_layers_and_unmounts_cleanly") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let store = ImageStore::open(&t.path().join("images")).unwrap();
    let layers = vec![
        busybox_layer(),
        layer(&[
            E::File("etc/.wh.hello", vec![]),
            E::File("opt/.wh..wh..opq", vec![]),
            E::File("opt/upper", b"u".to_vec()),
        ]),
    ];
    oci_layout(
        &t.path().join("src"),
        "nodelet.local/busybox",
        &layers,
        true,
        &["sh"],
    );
    store.load(&t.path().join("src")).unwrap();
    let img = store.resolve("nodelet.local/busybox").unwrap().unwrap();

    let cdir = t.path().join("containers/c1");
    let rootfs = mount_rootfs(&img.layers, &cdir).unwrap();
    assert!(is_mounted(&rootfs).unwrap());
    assert_eq!(mounts_under(&cdir).len(), 1);
    assert!(rootfs.join("bin/busybox").is_file());
    assert!(
        !rootfs.join("etc/hello").exists(),
        "whiteout did not hide the lower file"
    );
    assert!(rootfs.join("etc/keep").exists());
    let opt: Vec<_> = std::fs::read_dir(rootfs.join("opt"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        opt,
        vec![std::ffi::OsString::from("upper")],
        "opaque dir shows lower content"
    );

    // Mounting again is a no-op returning the same path.
    assert_eq!(mount_rootfs(&img.layers, &cdir).unwrap(), rootfs);
    assert_eq!(mounts_under(&cdir).len(), 1);

    // The image's own busybox runs in it; writes land in upper/ only.
    let out = Command::new("chroot")
        .arg(&rootfs)
        .args([
            "/bin/sh",
            "-c",
            "echo hi > /tmp/written && cat /tmp/written && rm /etc/keep",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"hi\n");
    assert!(cdir.join("upper/tmp/written").exists());
    assert!(!img.layers[1].join("tmp/written").exists());
    assert!(
        img.layers[0].join("etc/keep").exists(),
        "a lower layer was modified"
    );

    unmount_rootfs(&cdir).unwrap();
    assert!(mounts_under(&cdir).is_empty(), "mount left behind");
    assert!(!rootfs.join("bin/busybox").exists());
    unmount_rootfs(&cdir).unwrap();
    unmount_rootfs(&t.path().join("containers/never-created")).unwrap();
}

#[test]
fn many_layers_exceed_the_mount_option_page() {
    if !require_root("many_layers_exceed_the_mount_option_page") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let store = ImageStore::open(&t.path().join("images")).unwrap();
    let n = 45;
    let mut layers: Vec<Vec<u8>> = (0..n - 1)
        .map(|i| {
            layer(&[E::Owned(
                format!("f{i}"),
                format!("{i}").into_bytes(),
                0o644,
            )])
        })
        .collect();
    layers.push(layer(&[E::File(".wh.f0", vec![])]));
    oci_layout(&t.path().join("src"), "many:1", &layers, false, &["x"]);
    store.load(&t.path().join("src")).unwrap();
    let img = store.resolve("many:1").unwrap().unwrap();
    let total: usize = img.layers.iter().map(|l| l.as_os_str().len() + 1).sum();
    assert!(
        total > 4096,
        "test needs a lowerdir longer than a page, got {total}"
    );

    let cdir = t.path().join("c");
    let rootfs = mount_rootfs(&img.layers, &cdir).unwrap();
    assert!(!rootfs.join("f0").exists());
    for i in 1..n - 1 {
        assert_eq!(
            std::fs::read_to_string(rootfs.join(format!("f{i}"))).unwrap(),
            i.to_string()
        );
    }
    unmount_rootfs(&cdir).unwrap();
    assert!(mounts_under(&cdir).is_empty(), "mount left behind");
}

#[test]
fn busy_rootfs_is_detached() {
    if !require_root("busy_rootfs_is_detached") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let store = ImageStore::open(&t.path().join("images")).unwrap();
    oci_layout(
        &t.path().join("src"),
        "one:1",
        &[layer(&[E::File("f", b"f".to_vec())])],
        false,
        &["x"],
    );
    store.load(&t.path().join("src")).unwrap();
    let img = store.resolve("one:1").unwrap().unwrap();
    let cdir = t.path().join("c");
    let rootfs = mount_rootfs(&img.layers, &cdir).unwrap();
    // An open directory keeps the mount busy; cwd of a child would too.
    let held = std::fs::File::open(rootfs.join("f")).unwrap();
    unmount_rootfs(&cdir).unwrap();
    assert!(mounts_under(&cdir).is_empty(), "busy mount not detached");
    drop(held);
}
