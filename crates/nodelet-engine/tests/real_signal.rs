//! Stop signals on real containers: `lifecycle.stopSignal`, else the
//! image's STOPSIGNAL, else SIGTERM. The container is a busybox shell as
//! PID 1 that traps one signal and exits 0 on it; any other signal is
//! ignored (PID 1 has no default action), so a wrong signal shows as a
//! SIGKILL (137) at the end of the grace instead of a quick exit 0.
//! Subnets 10.253.11-13.

mod real_support;

use real_support::*;
use serde_json::json;

const GRACE: i64 = 10;

fn trapper(sig: &str) -> Vec<String> {
    vec![
        "sh".into(),
        "-c".into(),
        format!("trap 'echo got {sig} > /tmp/x; exit 0' {sig}; while true; do sleep 0.1; done"),
    ]
}

async fn deleted_by(r: &Real, name: &str, sig: &str) {
    r.running(name, 60).await;
    let before = r.exec(name, "c", &["cat", "/tmp/x"]).await;
    assert_ne!(before.exit_code, 0, "trap fired before deletion");
    let took = secs(r.delete_timed(name, None, 30).await);
    let term = r.last_terminated(name, "c").expect("Terminated published");
    assert_eq!(
        term.exit_code, 0,
        "container did not get {sig} (took {took:.2}s): {term:?}"
    );
    assert!(
        took < (GRACE as f64) - 3.0,
        "deletion took {took:.2}s: the {sig} trap should end it at once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_stop_signal_is_sent() {
    let Some(r) = Real::new("lifecycle_stop_signal_is_sent", 11).await else {
        return;
    };
    let cmd = trapper("USR1");
    r.apply(pod(
        "pod-with-stop-signal",
        vec![json!({"name": "c", "image": BUSYBOX, "command": cmd,
            "lifecycle": {"stopSignal": "SIGUSR1"}})],
        json!({"terminationGracePeriodSeconds": GRACE, "os": {"name": "linux"}}),
    ));
    deleted_by(&r, "pod-with-stop-signal", "USR1").await;
    r.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_stop_signal_is_the_default() {
    let Some(r) = Real::new("image_stop_signal_is_the_default", 12).await else {
        return;
    };
    r.derive_image("busybox.tar", "nodelet.local/busybox-usr1:latest", |c| {
        c["config"]["StopSignal"] = json!("SIGUSR1");
    });
    r.apply(pod(
        "pod-with-image-stop-signal",
        vec![
            json!({"name": "c", "image": "nodelet.local/busybox-usr1:latest",
            "imagePullPolicy": "Never", "command": trapper("USR1")}),
        ],
        json!({"terminationGracePeriodSeconds": GRACE}),
    ));
    deleted_by(&r, "pod-with-image-stop-signal", "USR1").await;
    r.finish().await;
}

/// Upstream's `stopSignal: SIGTERM` case, here also overriding an image
/// whose STOPSIGNAL is SIGUSR1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_stop_signal_sigterm_overrides_the_image() {
    let Some(r) = Real::new("lifecycle_stop_signal_sigterm_overrides_the_image", 13).await else {
        return;
    };
    r.derive_image("busybox.tar", "nodelet.local/busybox-usr1:latest", |c| {
        c["config"]["StopSignal"] = json!("SIGUSR1");
    });
    r.apply(pod(
        "pod-with-sigterm",
        vec![
            json!({"name": "c", "image": "nodelet.local/busybox-usr1:latest",
            "imagePullPolicy": "Never", "command": trapper("TERM"),
            "lifecycle": {"stopSignal": "SIGTERM"}}),
        ],
        json!({"terminationGracePeriodSeconds": GRACE, "os": {"name": "linux"}}),
    ));
    deleted_by(&r, "pod-with-sigterm", "TERM").await;
    r.finish().await;
}
