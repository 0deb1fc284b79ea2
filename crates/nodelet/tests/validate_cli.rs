//! `nodelet validate` end to end on the spec layer's corpus: every valid
//! manifest prints what would run; every invalid one exits 1 and reports
//! *all* of its expected errors (the `# expect:` / `# expect-load:` header
//! lines of each corpus file).

use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn corpus(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../nodelet-spec/tests/corpus")
        .join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus files in {}", dir.display());
    files
}

fn expectations(file: &Path) -> Vec<String> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .filter_map(|l| {
            l.strip_prefix("# expect: ")
                .or_else(|| l.strip_prefix("# expect-load: "))
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn every_invalid_manifest_reports_all_its_errors_and_exits_1() {
    for file in corpus("invalid") {
        let expected = expectations(&file);
        assert!(
            !expected.is_empty(),
            "{} has no expectations",
            file.display()
        );
        let out = Command::cargo_bin("nodelet")
            .unwrap()
            .args(["validate", "-f"])
            .arg(&file)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", file.display());
        let stderr = String::from_utf8_lossy(&out.stderr);
        for e in &expected {
            assert!(
                stderr.contains(e.as_str()),
                "{}: missing error {e:?} in:\n{stderr}",
                file.display()
            );
        }
        assert!(out.stdout.is_empty(), "nothing is printed as runnable");
    }
}

#[test]
fn valid_manifests_print_what_would_run() {
    for file in corpus("valid") {
        let out = Command::cargo_bin("nodelet")
            .unwrap()
            .args(["validate", "-f"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn the_seed_pod_shows_its_hooks_and_defaults() {
    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/lifecycle-events.yaml");
    let out = Command::cargo_bin("nodelet")
        .unwrap()
        .args(["validate", "-f"])
        .arg(&example)
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Pod default/lifecycle-demo"), "{stdout}");
    assert!(stdout.contains("hostname: lifecycle-demo"), "{stdout}");
    assert!(
        stdout.contains(
            "postStart: exec [/bin/sh -c echo Hello from the postStart handler > /usr/share/message]"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "preStop: exec [/bin/sh -c nginx -s quit; while killall -0 nginx; do sleep 1; done]"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("terminationGracePeriodSeconds: 30"),
        "{stdout}"
    );
    // `image: nginx` (tag latest): the kubelet's default policy is Always.
    assert!(stdout.contains("nginx"), "{stdout}");
}

#[test]
fn environment_is_computed_from_services_in_the_same_input() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("m.yaml");
    std::fs::write(
        &f,
        r#"apiVersion: v1
kind: Service
metadata: {name: kubernetes, namespace: default}
spec: {clusterIP: 10.0.0.1, ports: [{name: https, port: 443}]}
---
apiVersion: v1
kind: Service
metadata: {name: fooservice}
spec: {clusterIP: 10.0.0.11, ports: [{port: 8765, targetPort: 8080}]}
---
apiVersion: v1
kind: Pod
metadata: {name: p, labels: {app: x}}
spec:
  containers:
  - name: c
    image: busybox:1.36
    env:
    - {name: POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: GREETING, value: "hi $(POD) $$(POD) $(MISSING)"}
    command: [echo, $(GREETING)]
"#,
    )
    .unwrap();
    let out = Command::cargo_bin("nodelet")
        .unwrap()
        .args(["validate", "-f"])
        .arg(&f)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "POD=p",
        "GREETING=hi p $(POD) $(MISSING)",
        "FOOSERVICE_SERVICE_HOST=10.0.0.11",
        "FOOSERVICE_PORT_8765_TCP=tcp://10.0.0.11:8765",
        "KUBERNETES_SERVICE_PORT_HTTPS=443",
        r#"command: ["echo", "hi p $(POD) $(MISSING)"]"#,
    ] {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
}

#[test]
fn a_file_that_does_not_exist_is_named() {
    let out = Command::cargo_bin("nodelet")
        .unwrap()
        .args(["validate", "-f", "/nonexistent/pod.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/pod.yaml"));
}
