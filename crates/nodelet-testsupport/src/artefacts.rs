//! Artefacts built on demand, once per cargo target dir: test binaries of
//! several crates run at the same time, so each build happens under an
//! exclusive file lock and later callers reuse the result.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root (this crate is `crates/nodelet-testsupport`).
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The cargo target dir the running test binary was built in
/// (`<target>/<profile>/deps/<test>`).
pub fn target_dir() -> PathBuf {
    profile_dir()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("target"))
}

/// `<target>/<profile>`: where cargo puts the workspace's binaries.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    exe.ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("target/debug"))
}

/// Exclusive lock on `path` for the life of the returned value.
fn lock(path: &Path) -> nix::fcntl::Flock<std::fs::File> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("opening lock file {}: {e}", path.display()));
    nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive)
        .unwrap_or_else(|(_, e)| panic!("locking {}: {e}", path.display()))
}

/// The directory holding `busybox.tar` and `testbin.tar`:
/// `$NODELET_TEST_IMAGES`, else `<target>/test-images`, built by
/// `scripts/build-test-images.sh` when missing.
pub fn test_images() -> PathBuf {
    if let Ok(d) = std::env::var("NODELET_TEST_IMAGES") {
        return PathBuf::from(d);
    }
    let target = target_dir();
    let dir = target.join("test-images");
    let _l = lock(&target.join("test-images.lock"));
    // Rebuilt when what makes them changed (the script, testbin's
    // sources): a cached testbin without a newer command fails tests for
    // the wrong reason.
    let stamp = dir.join(".inputs");
    let inputs = test_image_inputs();
    let current = std::fs::read_to_string(&stamp).is_ok_and(|s| s == inputs);
    if !(current && dir.join("busybox.tar").is_file() && dir.join("testbin.tar").is_file()) {
        let script = repo().join("scripts/build-test-images.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg(&dir)
            .env("CARGO_TARGET_DIR", &target)
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
        assert!(
            out.status.success(),
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(&stamp, &inputs)
            .unwrap_or_else(|e| panic!("writing {}: {e}", stamp.display()));
    }
    dir
}

/// A fingerprint (FNV-1a, hex) of the files the test images are built
/// from: scripts/build-test-images.sh and crates/nodelet-testbin.
fn test_image_inputs() -> String {
    let root = repo();
    let mut files = vec![root.join("scripts/build-test-images.sh")];
    let mut stack = vec![root.join("crates/nodelet-testbin")];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for f in files {
        let bytes = std::fs::read(&f).unwrap_or_default();
        for b in f.to_string_lossy().as_bytes().iter().chain(&bytes) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// The nodelet-monitor binary of the running test's profile
/// (`$NODELET_MONITOR` if set), built on demand; it is placed beside the
/// nodelet binary, where the agent looks for it.
pub fn monitor_binary() -> PathBuf {
    if let Ok(p) = std::env::var("NODELET_MONITOR") {
        return PathBuf::from(p);
    }
    let target = target_dir();
    let profile = profile_dir();
    let _l = lock(&target.join("nodelet-monitor.lock"));
    let mut build = Command::new(env!("CARGO"));
    build
        .args(["build", "-q", "-p", "nodelet-monitor"])
        .current_dir(repo())
        .env("CARGO_TARGET_DIR", &target);
    if profile.file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    let status = build
        .status()
        .unwrap_or_else(|e| panic!("running cargo build -p nodelet-monitor: {e}"));
    assert!(status.success(), "building nodelet-monitor failed");
    let bin = profile.join("nodelet-monitor");
    assert!(bin.is_file(), "{} missing after build", bin.display());
    bin
}
