//! Archives made by real tools load: podman's docker-archive, oci-archive
//! and oci-dir (via a private podman storage, so the host's is untouched),
//! and an umoci-built OCI layout. Then the loaded busybox runs in a rootfs.

mod image_support;

use std::path::Path;
use std::process::Command;

use image_support::require_root;
use nodelet_runtime::image::ImageStore;
use nodelet_runtime::rootfs::{mount_rootfs, unmount_rootfs};

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (is it installed?)"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn podman(t: &Path) -> Command {
    let mut c = Command::new("podman");
    c.arg("--root")
        .arg(t.join("storage"))
        .arg("--runroot")
        .arg(t.join("run"))
        .arg("--storage-driver")
        .arg("vfs");
    c
}

fn busybox_rootfs_tar(t: &Path) -> std::path::PathBuf {
    let root = t.join("rootfs");
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::copy("/bin/busybox", root.join("bin/busybox"))
        .expect("/bin/busybox from busybox-static is needed");
    std::os::unix::fs::symlink("busybox", root.join("bin/sh")).unwrap();
    let out = t.join("rootfs.tar");
    run(Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&out)
        .arg("."));
    out
}

fn check_runs(store: &ImageStore, reference: &str, t: &Path) {
    let img = store
        .resolve(reference)
        .unwrap()
        .unwrap_or_else(|| panic!("{reference} not loaded"));
    let cdir = t.join("c").join(img.id.replace(':', "-"));
    let rootfs = mount_rootfs(&img.layers, &cdir).unwrap();
    let out = Command::new("chroot")
        .arg(&rootfs)
        .args(["/bin/sh", "-c", "echo ok"])
        .output()
        .unwrap();
    unmount_rootfs(&cdir).unwrap();
    assert_eq!(
        out.stdout,
        b"ok\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn podman_archives_load() {
    if !require_root("podman_archives_load") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let t = t.path();
    let rootfs = busybox_rootfs_tar(t);
    run(podman(t)
        .arg("import")
        .arg(&rootfs)
        .arg("nodelet.local/interop:v1"));
    let store = ImageStore::open(&t.join("images")).unwrap();
    for (format, file) in [
        ("docker-archive", "docker.tar"),
        ("oci-archive", "oci.tar"),
        ("oci-dir", "ocidir"),
    ] {
        let out = t.join(file);
        run(podman(t)
            .args(["save", "--format", format, "-o"])
            .arg(&out)
            .arg("nodelet.local/interop:v1"));
        let loaded = store.load(&out).unwrap_or_else(|e| panic!("{format}: {e}"));
        assert_eq!(
            loaded[0].references,
            vec!["nodelet.local/interop:v1".to_string()],
            "{format}"
        );
        check_runs(&store, "nodelet.local/interop:v1", t);
    }
    // All three formats describe the same image (same config digest).
    assert_eq!(store.list().unwrap().len(), 1);
}

/// skopeo re-encodes (gzip layers, its own manifest): another producer.
/// (umoci 0.4.7 here writes layer tars without final padding, which GNU tar
/// also rejects, so it is not used.)
#[test]
fn skopeo_oci_layout_loads() {
    if !require_root("skopeo_oci_layout_loads") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let t = t.path();
    let rootfs = busybox_rootfs_tar(t);
    run(podman(t)
        .arg("import")
        .arg(&rootfs)
        .arg("nodelet.local/interop:v1"));
    let archive = t.join("docker.tar");
    run(podman(t)
        .args(["save", "-o"])
        .arg(&archive)
        .arg("nodelet.local/interop:v1"));
    let layout = t.join("layout");
    run(Command::new("skopeo")
        .args(["copy", "--dest-compress"])
        .arg(format!("docker-archive:{}", archive.display()))
        .arg(format!("oci:{}:nodelet.local/sko:v2", layout.display())));
    let store = ImageStore::open(&t.join("images")).unwrap();
    store.load(&layout).unwrap();
    let d = store.inspect("nodelet.local/sko:v2").unwrap();
    assert!(d.layers[0].media_type.contains("gzip"), "{:?}", d.layers[0]);
    check_runs(&store, "nodelet.local/sko:v2", t);
}
