//! `nodelet run` end to end: invalid input runs nothing; a pod that exits
//! 0 makes `run` exit 0 with its events and logs on stdout; SIGTERM
//! deletes a running pod gracefully (preStop, then the stop signal) and
//! leaves no container, cgroup or namespace pin behind. `serve`: SIGTERM
//! stops the agent but not the containers, which the next `serve` adopts.
//!
//! The real-container tests need root, runc, busybox-static and the CNI
//! plugins; without them they fail saying what is missing, unless
//! NODELET_SKIP_REAL=1. Images come from scripts/build-test-images.sh,
//! cached under the target dir.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use std::time::{Duration, Instant};

use nodelet_testsupport::{Needs, monitor_binary, test_images};

const NODELET: &str = env!("CARGO_BIN_EXE_nodelet");

#[test]
fn invalid_manifest_exits_1_with_field_errors_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("bad.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: bad\nspec:\n  restartPolicy: Sometimes\n  containers:\n  - name: c\n",
    )
    .unwrap();
    let root = dir.path().join("root");
    let run_root = dir.path().join("run");
    let out = Command::new(NODELET)
        .arg("run")
        .arg("-f")
        .arg(&manifest)
        .arg("--root")
        .arg(&root)
        .arg("--run-root")
        .arg(&run_root)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains("spec.containers[0].image: Required value"),
        "{stderr}"
    );
    assert!(stderr.contains("spec.restartPolicy"), "{stderr}");
    assert!(!root.exists(), "state dir created for an invalid input");
    assert!(!run_root.exists(), "run dir created for an invalid input");
}

/// Whether the real-container tests can run; panics naming what is
/// missing unless NODELET_SKIP_REAL=1.
fn require_real(test: &str) -> bool {
    Needs::pods(test).tool("runc", "runc").check()
}

/// Builds nodelet-monitor next to the nodelet binary (nodelet looks for it
/// there) and the test images, once per target dir.
fn prepare() -> PathBuf {
    let monitor = monitor_binary();
    assert_eq!(
        monitor.parent(),
        Path::new(NODELET).parent(),
        "nodelet-monitor must sit next to nodelet"
    );
    test_images()
}

/// A private node: temp roots, its own CNI bridge and subnet.
struct Node {
    dir: tempfile::TempDir,
    bridge: String,
    subnet: String,
}

impl Node {
    fn new(n: u32) -> Node {
        let images = prepare();
        // Unique per test process and test, so parallel runs do not clash.
        let k = (std::process::id() % 50) * 4 + n;
        let node = Node {
            dir: tempfile::tempdir().unwrap(),
            bridge: format!("nlrun{k}"),
            subnet: format!("10.251.{k}.0/24"),
        };
        let out = node
            .cmd()
            .args(["image", "load", "-i"])
            .arg(images.join("busybox.tar"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "image load: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        node
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    fn run_root(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(NODELET);
        c.env("NODELET_ROOT", self.root())
            .env("NODELET_RUN_ROOT", self.run_root())
            .env("NODELET_CNI_SUBNET", &self.subnet)
            .env("NODELET_CNI_BRIDGE", &self.bridge)
            .env_remove("NODELET_RUNTIME");
        c
    }

    fn manifest(&self, yaml: &str) -> PathBuf {
        let p = self.dir.path().join("pod.yaml");
        std::fs::write(&p, yaml).unwrap();
        p
    }

    /// What a finished `run` must leave: no runtime container, no
    /// container dir, no sandbox record, no namespace pin.
    fn assert_clean(&self) {
        let runc = Command::new("runc")
            .arg("--root")
            .arg(self.run_root().join("runc"))
            .args(["list", "-q"])
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&runc.stdout).trim().is_empty(),
            "runc still lists: {}",
            String::from_utf8_lossy(&runc.stdout)
        );
        for d in [
            self.root().join("containers"),
            self.root().join("pods"),
            self.run_root().join("ns"),
        ] {
            let left: Vec<_> = std::fs::read_dir(&d)
                .map(|rd| rd.flatten().map(|e| e.path()).collect())
                .unwrap_or_default();
            assert!(left.is_empty(), "left in {}: {left:?}", d.display());
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // `serve` without --drain leaves its Service rules and the native
        // pod network's masquerade with the containers.
        for table in [
            format!("nodelet-{}", self.bridge),
            format!("nodelet-pods-nodelet-{}", self.bridge),
        ] {
            let _ = Command::new("nft")
                .args(["delete", "table", "ip", &table])
                .stderr(Stdio::null())
                .status();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .stderr(Stdio::null())
            .status();
    }
}

/// `nodelet run` as a child whose stdout lines arrive on a channel (and
/// are kept for the final assertions).
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(node: &Node, manifest: &Path) -> Running {
        let mut child = node
            .cmd()
            .arg("run")
            .arg("-f")
            .arg(manifest)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                eprintln!("run| {l}");
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a stdout line containing `what`.
    fn wait_line(&mut self, what: &str, timeout: Duration) {
        let end = Instant::now() + timeout;
        while !self.seen.iter().any(|l| l.contains(what)) {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => self.seen.push(l),
                Err(_) => panic!(
                    "no line with {what:?} within {timeout:?}; got:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Waits for exit (bounded) and returns the exit code and all output.
    fn finish(mut self, timeout: Duration) -> (Option<i32>, String) {
        let end = Instant::now() + timeout;
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > end {
                let _ = self.child.kill();
                panic!(
                    "nodelet run did not exit within {timeout:?}:\n{}",
                    self.seen.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        self.seen.extend(self.lines.iter());
        (status.code(), self.seen.join("\n"))
    }
}

#[test]
fn pod_that_exits_0_makes_run_exit_0_with_events_and_logs() {
    if !require_real("pod_that_exits_0_makes_run_exit_0_with_events_and_logs") {
        return;
    }
    let node = Node::new(1);
    let manifest = node.manifest(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: echo
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: nodelet.local/busybox:latest
    command: ["/bin/sh", "-c", "echo hello from nodelet run; echo second line"]
"#,
    );
    let (code, out) = Running::start(&node, &manifest).finish(Duration::from_secs(90));
    assert_eq!(code, Some(0), "output:\n{out}");
    assert!(out.contains("pod/echo created"), "{out}");
    assert!(
        out.lines().any(|l| l.contains("Started")
            && l.contains("pod/echo")
            && l.contains("spec.containers{main}")),
        "no Started event with the field path:\n{out}"
    );
    assert!(out.contains("[echo/main] hello from nodelet run"), "{out}");
    assert!(out.contains("[echo/main] second line"), "{out}");
    assert!(out.contains("Terminated: Completed (exit code 0)"), "{out}");
    node.assert_clean();
}

#[test]
fn failing_pod_makes_run_exit_1() {
    if !require_real("failing_pod_makes_run_exit_1") {
        return;
    }
    let node = Node::new(2);
    let manifest = node.manifest(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: fails
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: nodelet.local/busybox:latest
    command: ["/bin/sh", "-c", "echo about to fail; exit 3"]
"#,
    );
    let (code, out) = Running::start(&node, &manifest).finish(Duration::from_secs(90));
    assert_eq!(code, Some(1), "output:\n{out}");
    assert!(out.contains("[fails/main] about to fail"), "{out}");
    assert!(out.contains("Terminated: Error (exit code 3)"), "{out}");
    node.assert_clean();
}

/// GET over the agent's unix socket; the JSON body.
fn api_get(socket: &Path, path: &str) -> serde_json::Value {
    let mut s = std::os::unix::net::UnixStream::connect(socket).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let body = resp.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {resp}"))
}

#[test]
fn sigterm_runs_prestop_deletes_the_pod_and_exits_0() {
    if !require_real("sigterm_runs_prestop_deletes_the_pod_and_exits_0") {
        return;
    }
    let node = Node::new(3);
    // preStop writes a file and a line into the container's log (PID 1's
    // stdout), then takes a moment; the main process only ends on SIGTERM.
    let manifest = node.manifest(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: stopper
spec:
  terminationGracePeriodSeconds: 20
  containers:
  - name: main
    image: nodelet.local/busybox:latest
    command: ["/bin/sh", "-c", "trap 'echo got SIGTERM; cat /tmp/prestop; exit 0' TERM; echo up; while true; do sleep 0.2; done"]
    lifecycle:
      preStop:
        exec:
          command: ["/bin/sh", "-c", "echo prestop-file > /tmp/prestop; echo preStop ran > /proc/1/fd/1; sleep 1"]
"#,
    );
    let mut run = Running::start(&node, &manifest);
    run.wait_line("container main Running", Duration::from_secs(60));
    run.wait_line("[stopper/main] up", Duration::from_secs(10));
    let pod = api_get(
        &node.run_root().join("nodelet.sock"),
        "/api/v1/namespaces/default/pods/stopper",
    );
    let uid = pod["metadata"]["uid"].as_str().unwrap().to_owned();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(run.child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let (code, out) = run.finish(Duration::from_secs(60));
    assert_eq!(code, Some(0), "output:\n{out}");
    let pos = |what: &str| {
        out.find(what)
            .unwrap_or_else(|| panic!("{what:?} missing in:\n{out}"))
    };
    let killing = pos("Stopping container main");
    let prestop = pos("[stopper/main] preStop ran");
    let sigterm = pos("[stopper/main] got SIGTERM");
    // The file the preStop wrote was there when the stop signal came.
    pos("[stopper/main] prestop-file");
    assert!(killing < sigterm && prestop < sigterm, "order:\n{out}");
    assert!(out.contains("Killing"), "{out}");
    assert!(!out.contains("FailedPreStopHook"), "{out}");
    assert!(out.contains("pod/stopper deleted"), "{out}");
    node.assert_clean();
    // No cgroup of the pod in any hierarchy.
    for h in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let cg = h.path().join("nodelet").join(format!("pod{uid}"));
        assert!(!cg.exists(), "cgroup left: {}", cg.display());
    }
}

/// One HTTP/1.0 request over the agent's unix socket: (status, JSON body).
fn api(socket: &Path, method: &str, path: &str, body: Option<&str>) -> (u16, serde_json::Value) {
    let mut s = std::os::unix::net::UnixStream::connect(socket).unwrap();
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let code = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let json = resp.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
    (
        code,
        serde_json::from_str(json).unwrap_or(serde_json::Value::Null),
    )
}

/// Polls `f` every 100 ms until it returns `Some`.
fn eventually<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn start_serve(node: &Node) -> Child {
    let sock = node.run_root().join("nodelet.sock");
    let _ = std::fs::remove_file(&sock);
    let child = node
        .cmd()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .spawn()
        .unwrap();
    eventually("the API socket", Duration::from_secs(60), || {
        std::os::unix::net::UnixStream::connect(&sock).ok()
    });
    child
}

fn stop(mut child: Child) -> Option<i32> {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = eventually("the agent to exit", Duration::from_secs(60), || {
        child.try_wait().unwrap()
    });
    status.code()
}

#[test]
fn serve_stops_without_killing_containers_and_adopts_them_again() {
    if !require_real("serve_stops_without_killing_containers_and_adopts_them_again") {
        return;
    }
    let node = Node::new(4);
    let sock = node.run_root().join("nodelet.sock");
    let serve = start_serve(&node);

    let kc = node.cmd().arg("kubeconfig").output().unwrap();
    let kc = String::from_utf8_lossy(&kc.stdout);
    assert!(kc.contains("server: https://127.0.0.1:"), "{kc}");
    assert!(kc.contains("client-certificate-data"), "{kc}");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(node.root().join("kubeconfig"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);

    let pod = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"survivor"},"spec":{"containers":[{"name":"main","image":"nodelet.local/busybox:latest","command":["/bin/sh","-c","trap 'exit 0' TERM; while true; do sleep 0.2; done"]}]}}"#;
    let (code, body) = api(&sock, "POST", "/api/v1/namespaces/default/pods", Some(pod));
    assert_eq!(code, 201, "{body}");
    let path = "/api/v1/namespaces/default/pods/survivor";
    let running_id = |sock: &Path| {
        let (_, p) = api(sock, "GET", path, None);
        let cs = &p["status"]["containerStatuses"][0];
        cs["state"]["running"].is_object().then(|| {
            (
                cs["containerID"].as_str().unwrap_or("").to_owned(),
                cs["restartCount"].as_i64(),
            )
        })
    };
    let (id, _) = eventually("the container running", Duration::from_secs(60), || {
        running_id(&sock)
    });
    let raw_id = id.trim_start_matches("nodelet://").to_owned();

    assert_eq!(stop(serve), Some(0));
    let state = Command::new("runc")
        .arg("--root")
        .arg(node.run_root().join("runc"))
        .args(["state", &raw_id])
        .output()
        .unwrap();
    let state = String::from_utf8_lossy(&state.stdout);
    assert!(
        state.contains("\"running\""),
        "container did not outlive the agent: {state}"
    );

    let serve = start_serve(&node);
    let (again, restarts) = eventually("the adopted container", Duration::from_secs(60), || {
        running_id(&sock)
    });
    assert_eq!(again, id, "the container was replaced instead of adopted");
    assert_eq!(restarts, Some(0));

    let (code, body) = api(
        &sock,
        "DELETE",
        &format!("{path}?gracePeriodSeconds=5"),
        None,
    );
    assert_eq!(code, 200, "{body}");
    eventually("the pod gone", Duration::from_secs(60), || {
        (api(&sock, "GET", path, None).0 == 404).then_some(())
    });
    assert_eq!(stop(serve), Some(0));
    node.assert_clean();
}

/// A pod that ignores SIGTERM and whose preStop would hang for minutes:
/// only a shorter grace gets it down in time.
const STUBBORN: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: stubborn
spec:
  terminationGracePeriodSeconds: 300
  containers:
  - name: main
    image: nodelet.local/busybox:latest
    command: ["/bin/sh", "-c", "trap '' TERM; echo up; while true; do sleep 0.2; done"]
    lifecycle:
      preStop:
        exec:
          command: ["/bin/sh", "-c", "sleep 280"]
"#;

fn sigterm(child: &Child) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
}

#[test]
fn grace_period_flag_overrides_the_pods_grace() {
    if !require_real("grace_period_flag_overrides_the_pods_grace") {
        return;
    }
    let node = Node::new(5);
    let manifest = node.manifest(STUBBORN);
    let mut run = {
        let mut child = node
            .cmd()
            .args(["run", "--grace-period", "2", "-f"])
            .arg(&manifest)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    };
    run.wait_line("[stubborn/main] up", Duration::from_secs(60));
    sigterm(&run.child);
    // Far below the pod's 300 s: the flag's 2 s (then SIGKILL) applied.
    let (code, out) = run.finish(Duration::from_secs(60));
    assert_eq!(code, Some(0), "output:\n{out}");
    assert!(out.contains("Killing"), "{out}");
    assert!(
        out.contains("exit code 137"),
        "not killed at the grace's end:\n{out}"
    );
    node.assert_clean();
}

#[test]
fn second_sigterm_forces_the_deletion() {
    if !require_real("second_sigterm_forces_the_deletion") {
        return;
    }
    let node = Node::new(6);
    let manifest = node.manifest(STUBBORN);
    let mut run = Running::start(&node, &manifest);
    run.wait_line("[stubborn/main] up", Duration::from_secs(60));
    sigterm(&run.child);
    run.wait_line("Stopping container main", Duration::from_secs(30));
    sigterm(&run.child);
    let (code, out) = run.finish(Duration::from_secs(60));
    assert_eq!(code, Some(0), "output:\n{out}");
    assert!(out.contains("exit code 137"), "not killed:\n{out}");
    node.assert_clean();
}
