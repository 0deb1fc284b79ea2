//! `--runtime` through the CLI: a runtime the host cannot use fails before
//! any pod runs, with a message saying why and what to do (crun on this
//! machine's hybrid cgroups; a runtime binary that does not exist names the
//! Debian packages).

use std::path::Path;

use assert_cmd::Command;
use nodelet_testsupport::which;

const POD: &str = "apiVersion: v1
kind: Pod
metadata:
  name: rt-select
spec:
  containers:
  - name: main
    image: nodelet.local/busybox
    command: [\"true\"]
";

/// `nodelet run --runtime RT pod.yaml` with private roots; its stderr.
fn run_with(runtime: &str, dir: &Path) -> String {
    let pod = dir.join("pod.yaml");
    std::fs::write(&pod, POD).unwrap();
    let a = Command::cargo_bin("nodelet")
        .unwrap()
        .arg("run")
        .arg("--root")
        .arg(dir.join("root"))
        .arg("--run-root")
        .arg(dir.join("run"))
        .arg("--runtime")
        .arg(runtime)
        .arg("-f")
        .arg(&pod)
        .env_remove("NODELET_RUNTIME")
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .failure();
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

#[test]
fn missing_runtime_names_the_debian_package() {
    let dir = tempfile::tempdir().unwrap();
    let err = run_with("nodelet-no-such-runtime", dir.path());
    assert!(
        err.contains("\"nodelet-no-such-runtime\" not found"),
        "{err}"
    );
    assert!(err.contains("Debian packages `runc` or `crun`"), "{err}");
    let err = run_with("/nonexistent/crun", dir.path());
    assert!(err.contains("apt-get install crun"), "{err}");
}

#[test]
fn crun_on_hybrid_cgroups_is_explained() {
    let hybrid = Path::new("/sys/fs/cgroup/unified/cgroup.controllers");
    let on_v2 = std::fs::read_to_string(hybrid).unwrap_or_default();
    if on_v2.trim().is_empty() || which("crun").is_none() {
        // Not this machine's layout (or no crun): nothing to explain, and
        // crun may well run; the runtime crate's tests cover that case.
        eprintln!(
            "crun_on_hybrid_cgroups_is_explained: host is not hybrid with cgroup2 controllers, or crun missing; nothing to check"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let err = run_with("crun", dir.path());
    assert!(
        err.contains("cgroups in hybrid mode not supported"),
        "{err}"
    );
    assert!(err.contains("--runtime runc"), "{err}");
}
