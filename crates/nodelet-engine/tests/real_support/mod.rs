//! Harness of the real-container engine tests (`tests/real_*.rs`): an
//! [`Engine`] over a real [`OciRuntime`] (runc, nodelet-monitor, CNI bridge)
//! and a [`Store`], all under a private temp root, with the project's test
//! images (`scripts/build-test-images.sh`, built once per target dir).
//!
//! Host requirements follow the project rule: missing root/runc/CNI makes
//! a test fail naming what is missing, unless `NODELET_SKIP_REAL=1`.
//!
//! Every engine event and pod update is recorded with the instant it was
//! seen, so tests assert orderings and bounds from what the engine
//! published rather than from sleeps.
#![allow(dead_code)]

use std::future::Future;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{ContainerStatus, Event, Pod};
use nodelet_engine::clock::SystemClock;
use nodelet_engine::{Engine, EngineConfig, EngineEvent, EventFilter};
use nodelet_runtime::oci::{OciConfig, OciRuntime, host_check};
use nodelet_runtime::sandbox::CniOptions;
use nodelet_runtime::{ExecOutput, ExecRequest, Runtime};
use nodelet_spec::Object;
use nodelet_store::Store;
use nodelet_testsupport::{Needs, monitor_binary, test_images};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

pub const BUSYBOX: &str = "nodelet.local/busybox:latest";
pub const TESTBIN: &str = "nodelet.local/testbin:latest";
pub const NS: &str = "default";

/// Whether real-container tests can run; panics naming what is missing
/// unless NODELET_SKIP_REAL=1.
pub fn require_real(test: &str) -> bool {
    let runc = match host_check(Path::new("runc")) {
        Ok(problems) => problems
            .into_iter()
            .filter(|p| p.is_fatal())
            .map(|p| p.message)
            .collect(),
        Err(e) => vec![format!("runc host check: {e}")],
    };
    Needs::pods(test).problems(runc).check()
}

/// Something the engine published, with when the test saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub at: Instant,
    pub wall: jiff::Timestamp,
    pub what: EngineEvent,
}

/// One test's engine on real containers.
pub struct Real {
    pub engine: Engine,
    pub rt: Arc<OciRuntime>,
    pub t0: Instant,
    seen: Arc<Mutex<Vec<Seen>>>,
    lagged: Arc<Mutex<u64>>,
    cfg: OciConfig,
    bridge: String,
    dir: tempfile::TempDir,
}

impl Real {
    /// `n` (unique among all real tests) picks bridge `nle<n>` and subnet
    /// `10.253.<n>.0/24`. `None` when skipped.
    pub async fn new(test: &str, n: u8) -> Option<Real> {
        if !require_real(test) {
            return None;
        }
        let images = test_images();
        let dir = tempfile::tempdir().unwrap();
        let bridge = format!("nle{n}");
        // A bridge left by a crashed earlier run would carry a stale address.
        let _ = Command::new("ip")
            .args(["link", "del", &bridge])
            .stderr(std::process::Stdio::null())
            .status();
        let cfg = OciConfig {
            root: dir.path().join("root"),
            run_root: dir.path().join("run"),
            runtime: PathBuf::from("runc"),
            monitor: monitor_binary(),
            cni: CniOptions {
                conf_dir: dir.path().join("cni-conf"),
                bin_dirs: vec![PathBuf::from("/usr/lib/cni")],
                subnet: format!("10.253.{n}.0/24"),
                bridge: bridge.clone(),
                network_name: format!("nle-{n}"),
                cache_dir: dir.path().join("cni-cache"),
                ..CniOptions::default()
            },
            log_max_size: 10 << 20,
            log_max_files: 5,
            registry_config_dir: dir.path().join("certs.d"),
            max_concurrent_downloads:
                nodelet_runtime::image::registry::DEFAULT_CONCURRENT_DOWNLOADS,
        };
        let rt = Arc::new(OciRuntime::new(cfg.clone()).await.unwrap());
        for tar in ["busybox.tar", "testbin.tar"] {
            rt.images().load(&images.join(tar)).unwrap();
        }
        let store = Arc::new(Store::open(&dir.path().join("state.redb")).unwrap());
        let mut config = EngineConfig::new("e2e-node");
        config.host_ips = vec!["127.0.0.1".to_string()];
        let engine = Engine::new(rt.clone(), store, Arc::new(SystemClock), config)
            .await
            .unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut rx = engine.subscribe();
        let sink = seen.clone();
        let lagged = Arc::new(Mutex::new(0u64));
        let lag = lagged.clone();
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(what) => sink.lock().unwrap().push(Seen {
                        at: Instant::now(),
                        wall: jiff::Timestamp::now(),
                        what,
                    }),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        // Reported by `seen()`: an incomplete record must
                        // not pass for a complete one.
                        *lag.lock().unwrap() += n;
                    }
                    Err(_) => break,
                }
            }
        });
        Some(Real {
            engine,
            rt,
            t0: Instant::now(),
            seen,
            lagged,
            cfg,
            bridge,
            dir,
        })
    }

    /// The runtime's roots and CNI settings.
    pub fn oci_config(&self) -> &OciConfig {
        &self.cfg
    }

    /// This harness's private temp dir (removed on drop).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Defaults, validates and applies a pod.
    pub fn apply(&self, v: Value) {
        let mut p: Pod = serde_json::from_value(v).unwrap();
        nodelet_spec::defaults::default_pod(&mut p);
        let obj = Object::Pod(Box::new(p));
        let errs = nodelet_spec::validate::validate_object(&obj);
        assert!(errs.is_empty(), "invalid test pod: {errs}");
        self.engine.apply(vec![obj]).unwrap();
    }

    pub fn get(&self, name: &str) -> Option<Pod> {
        self.engine.get_pod(NS, name)
    }

    /// Polls the pod every 50 ms until `f` holds; panics after `secs`
    /// with the pod and its events.
    pub async fn wait_pod(
        &self,
        name: &str,
        secs: u64,
        what: &str,
        f: impl Fn(&Pod) -> bool,
    ) -> Pod {
        let end = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(p) = self.get(name)
                && f(&p)
            {
                return p;
            }
            if Instant::now() >= end {
                panic!(
                    "pod {name}: not {what} within {secs}s\npod: {}\nevents: {:#?}",
                    serde_json::to_string_pretty(&self.get(name)).unwrap(),
                    self.event_triples(name)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the pod is Running with every container ready.
    pub async fn running(&self, name: &str, secs: u64) -> Pod {
        self.wait_pod(name, secs, "Running and ready", |p| {
            let st = p.status.as_ref();
            st.and_then(|s| s.phase.as_deref()) == Some("Running")
                && st
                    .and_then(|s| s.container_statuses.as_ref())
                    .is_some_and(|cs| !cs.is_empty() && cs.iter().all(|c| c.ready))
        })
        .await
    }

    pub async fn phase_is(&self, name: &str, phase: &str, secs: u64) -> Pod {
        self.wait_pod(name, secs, phase, |p| {
            p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some(phase)
        })
        .await
    }

    pub fn pod_ip(&self, name: &str) -> String {
        self.get(name)
            .and_then(|p| p.status)
            .and_then(|s| s.pod_ip)
            .unwrap_or_else(|| panic!("pod {name} has no IP"))
    }

    /// Deletes a pod and waits until it is gone; returns how long that
    /// took. Panics after `limit` seconds.
    pub async fn delete_timed(&self, name: &str, grace: Option<i64>, limit: u64) -> Duration {
        let start = Instant::now();
        self.engine.delete_pod(NS, name, grace).unwrap();
        let gone = tokio::time::timeout(
            Duration::from_secs(limit),
            self.engine.wait_pod_gone(NS, name),
        )
        .await;
        if gone.is_err() {
            panic!(
                "pod {name} not gone {limit}s after deletion\npod: {}\nevents: {:#?}",
                serde_json::to_string_pretty(&self.get(name)).unwrap(),
                self.event_triples(name)
            );
        }
        start.elapsed()
    }

    /// Stored events about a pod, oldest first.
    pub fn events(&self, pod: &str) -> Vec<Event> {
        self.engine
            .list_events(&EventFilter {
                namespace: Some(NS.to_string()),
                pod: Some(pod.to_string()),
            })
            .unwrap()
    }

    /// (type, reason, message, field path) of a pod's stored events.
    pub fn event_triples(&self, pod: &str) -> Vec<(String, String, String, String)> {
        self.events(pod)
            .into_iter()
            .map(|e| {
                (
                    e.type_.unwrap_or_default(),
                    e.reason.unwrap_or_default(),
                    e.message.unwrap_or_default(),
                    e.involved_object.field_path.unwrap_or_default(),
                )
            })
            .collect()
    }

    /// The first stored event of `pod` with `reason` whose message
    /// contains `msg`.
    pub fn event(&self, pod: &str, reason: &str, msg: &str) -> Option<Event> {
        self.events(pod).into_iter().find(|e| {
            e.reason.as_deref() == Some(reason)
                && e.message.as_deref().unwrap_or_default().contains(msg)
        })
    }

    pub fn seen(&self) -> Vec<Seen> {
        let lagged = *self.lagged.lock().unwrap();
        assert_eq!(
            lagged, 0,
            "the test's subscriber missed {lagged} engine events"
        );
        self.seen.lock().unwrap().clone()
    }

    /// When the engine first published an event of `pod` with `reason`
    /// (about `container` when given).
    pub fn event_seen(&self, pod: &str, reason: &str, container: Option<&str>) -> Option<Instant> {
        let path = container.map(|c| format!("spec.containers{{{c}}}"));
        self.seen().into_iter().find_map(|s| match &s.what {
            EngineEvent::Event(e)
                if e.involved_object.name.as_deref() == Some(pod)
                    && e.reason.as_deref() == Some(reason)
                    && (path.is_none() || e.involved_object.field_path == path) =>
            {
                Some(s.at)
            }
            _ => None,
        })
    }

    /// Every status of container `c` of `pod` the engine published, with
    /// when it was seen (init containers included).
    pub fn statuses_seen(&self, pod: &str, c: &str) -> Vec<(Instant, ContainerStatus)> {
        self.seen()
            .into_iter()
            .filter_map(|s| match s.what {
                EngineEvent::PodUpdated(p) if p.metadata.name.as_deref() == Some(pod) => {
                    let st = p.status?;
                    let found = st
                        .container_statuses
                        .into_iter()
                        .flatten()
                        .chain(st.init_container_statuses.into_iter().flatten())
                        .find(|cs| cs.name == c)?;
                    Some((s.at, found))
                }
                _ => None,
            })
            .collect()
    }

    /// The last published Terminated state of a container (survives the
    /// pod's removal).
    pub fn last_terminated(
        &self,
        pod: &str,
        c: &str,
    ) -> Option<k8s_openapi::api::core::v1::ContainerStateTerminated> {
        self.statuses_seen(pod, c)
            .into_iter()
            .rev()
            .find_map(|(_, s)| s.state.and_then(|st| st.terminated))
    }

    /// `startedAt` of the last published Running state of a container.
    pub fn last_running_started_at(&self, pod: &str, c: &str) -> Option<jiff::Timestamp> {
        self.statuses_seen(pod, c)
            .into_iter()
            .rev()
            .find_map(|(_, s)| s.state?.running?.started_at.map(|t| t.0))
    }

    /// Runs a command in a pod's container through the runtime.
    pub async fn exec(&self, pod: &str, c: &str, cmd: &[&str]) -> ExecOutput {
        let id = self
            .engine
            .container_id(NS, pod, c)
            .unwrap_or_else(|| panic!("no container {c} in pod {pod}"));
        self.rt
            .exec(
                &id,
                &ExecRequest {
                    command: cmd.iter().map(|s| s.to_string()).collect(),
                    env: vec![],
                    timeout: Some(Duration::from_secs(30)),
                },
            )
            .await
            .unwrap()
    }

    /// Starts the hook handler pod (`testbin serve`, HTTP 8080 and HTTPS
    /// 8443) and returns its IP once it answers.
    pub async fn handler_pod(&self, name: &str) -> String {
        self.apply(json!({
            "metadata": {"name": name},
            "spec": {"terminationGracePeriodSeconds": 5, "containers": [{
                "name": "handler", "image": TESTBIN,
                "args": ["serve", "--http-port", "8080", "--https-port", "8443"],
                "ports": [{"containerPort": 8080, "name": "http"}, {"containerPort": 8443, "name": "https"}]
            }]}
        }));
        self.running(name, 60).await;
        let ip = self.pod_ip(name);
        let end = Instant::now() + Duration::from_secs(20);
        while http_get(&ip, 8080, "/healthz").await.is_err() {
            assert!(
                Instant::now() < end,
                "handler {name} at {ip} never answered /healthz"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        ip
    }

    /// What the handler at `ip` recorded: `(msg, time)` per request.
    pub async fn recorded(&self, ip: &str) -> Vec<(String, jiff::Timestamp)> {
        let body = http_get(ip, 8080, "/recorded").await.unwrap();
        let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["msg"].as_str().unwrap_or_default().to_string(),
                    e["time"].as_str().unwrap().parse().unwrap(),
                )
            })
            .collect()
    }

    /// Polls the handler until it recorded `msg`; returns when it did.
    pub async fn wait_recorded(&self, ip: &str, msg: &str, secs: u64) -> jiff::Timestamp {
        let end = Instant::now() + Duration::from_secs(secs);
        loop {
            let rec = self.recorded(ip).await;
            if let Some((_, t)) = rec.iter().find(|(m, _)| m == msg) {
                return *t;
            }
            assert!(
                Instant::now() < end,
                "handler never recorded {msg:?} within {secs}s; recorded {rec:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Loads a copy of image `from` (a test image tarball name) as `to`,
    /// with its config changed by `patch` (e.g. a STOPSIGNAL).
    pub fn derive_image(&self, from: &str, to: &str, patch: impl Fn(&mut Value)) {
        let layout = self
            .dir
            .path()
            .join(format!("derived-{}", sha(to.as_bytes())));
        tar::Archive::new(std::fs::File::open(test_images().join(from)).unwrap())
            .unpack(&layout)
            .unwrap();
        let blob = |d: &str| {
            layout
                .join("blobs/sha256")
                .join(d.trim_start_matches("sha256:"))
        };
        let read = |d: &str| -> Value {
            serde_json::from_slice(&std::fs::read(blob(d)).unwrap()).unwrap()
        };
        let put = |v: &Value| -> (String, usize) {
            let b = serde_json::to_vec(v).unwrap();
            let d = sha(&b);
            std::fs::write(layout.join("blobs/sha256").join(&d), &b).unwrap();
            (format!("sha256:{d}"), b.len())
        };
        let mut index: Value =
            serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
        let mut manifest = read(index["manifests"][0]["digest"].as_str().unwrap());
        let mut config = read(manifest["config"]["digest"].as_str().unwrap());
        patch(&mut config);
        let (cd, cs) = put(&config);
        manifest["config"]["digest"] = json!(cd);
        manifest["config"]["size"] = json!(cs);
        let (md, ms) = put(&manifest);
        index["manifests"][0]["digest"] = json!(md);
        index["manifests"][0]["size"] = json!(ms);
        index["manifests"][0]["annotations"] =
            json!({"io.containerd.image.name": to, "org.opencontainers.image.ref.name": to});
        std::fs::write(
            layout.join("index.json"),
            serde_json::to_vec(&index).unwrap(),
        )
        .unwrap();
        self.rt.images().load(&layout).unwrap();
    }

    /// Deletes every pod left, waits for them, then checks that no
    /// container or sandbox is left behind.
    pub async fn finish(self) {
        let names: Vec<String> = self
            .engine
            .list_pods()
            .into_iter()
            .filter_map(|p| p.metadata.name)
            .collect();
        for name in &names {
            let _ = self.engine.delete_pod(NS, name, Some(1));
        }
        for name in &names {
            let gone =
                tokio::time::timeout(Duration::from_secs(60), self.engine.wait_pod_gone(NS, name))
                    .await;
            assert!(gone.is_ok(), "pod {name} not gone 60s after deletion");
        }
        // Containers and sandboxes are released in the background.
        let released =
            tokio::time::timeout(Duration::from_secs(60), self.engine.resources_released()).await;
        assert!(
            released.is_ok(),
            "resources not released 60s after deletion"
        );
        let containers = self.rt.list_containers().await.unwrap();
        let sandboxes = self.rt.list_sandboxes().await.unwrap();
        assert!(containers.is_empty(), "containers left: {containers:?}");
        assert!(sandboxes.is_empty(), "sandboxes left: {sandboxes:?}");
        self.engine.shutdown().await;
    }
}

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

impl Drop for Real {
    /// Best-effort cleanup, also for a test that panicked: kill and delete
    /// containers, unmount rootfs and namespace pins, remove the pods'
    /// cgroups and the bridge.
    fn drop(&mut self) {
        // The pod workers are still running (a panicking test unwinds
        // inside the runtime) and would restart what is killed below:
        // cancel them first. `shutdown` cancels on its first poll; its
        // wait for the tasks is not needed here (they stop at once).
        {
            let fut = self.engine.shutdown();
            let mut fut = std::pin::pin!(fut);
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            let _ = fut.as_mut().poll(&mut cx);
        }
        // A worker may be inside a create/start that it completes: two
        // passes, apart.
        let runc_root = self.cfg.run_root.join("runc");
        for pass in 0..2 {
            if pass > 0 {
                std::thread::sleep(Duration::from_millis(500));
            }
            let Ok(rd) = std::fs::read_dir(self.cfg.root.join("containers")) else {
                break;
            };
            for c in rd.flatten() {
                let _ = Command::new("runc")
                    .arg("--root")
                    .arg(&runc_root)
                    .args(["delete", "--force"])
                    .arg(c.file_name())
                    .stderr(std::process::Stdio::null())
                    .status();
                let _ =
                    nix::mount::umount2(&c.path().join("rootfs"), nix::mount::MntFlags::MNT_DETACH);
            }
        }
        // Every mount left under the temp dir (rootfs, namespace pins, the
        // pods' /dev/shm), deepest first.
        let ours = self.dir.path().to_string_lossy().to_string();
        let mut mounts: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| m.starts_with(&ours))
            .map(str::to_string)
            .collect();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
        // Pod cgroups, from the sandbox records the runtime keeps.
        if let Ok(rd) = std::fs::read_dir(self.cfg.root.join("pods")) {
            for f in rd.flatten() {
                let Ok(v) = std::fs::read(f.path()) else {
                    continue;
                };
                let Ok(v) = serde_json::from_slice::<Value>(&v) else {
                    continue;
                };
                let Some(parent) = v["info"]["cgroup_parent"].as_str() else {
                    continue;
                };
                if let Ok(hs) = std::fs::read_dir("/sys/fs/cgroup") {
                    for h in hs.flatten() {
                        let pod = h.path().join(parent);
                        if let Ok(cs) = std::fs::read_dir(&pod) {
                            for c in cs.flatten() {
                                let _ = std::fs::remove_dir(c.path());
                            }
                        }
                        let _ = std::fs::remove_dir(&pod);
                    }
                }
            }
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .stderr(std::process::Stdio::null())
            .status();
        // The native pod network's masquerade table of this network.
        let table = format!("nodelet-pods-{}", self.cfg.cni.network_name);
        let _ = Command::new("nft")
            .args(["delete", "table", "ip", &table])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// A plain HTTP/1.1 GET from the test process; the body.
pub async fn http_get(ip: &str, port: u16, path: &str) -> std::io::Result<String> {
    let ip = ip.to_string();
    let path = path.to_string();
    tokio::task::spawn_blocking(move || {
        let addr = std::net::SocketAddr::new(ip.parse().map_err(std::io::Error::other)?, port);
        let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {ip}\r\nConnection: close\r\n\r\n"
        )?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        if !out.starts_with("HTTP/1.1 200") {
            return Err(std::io::Error::other(format!("answer: {out}")));
        }
        Ok(out
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default())
    })
    .await
    .unwrap()
}

/// A pod JSON: `containers` plus extra spec fields merged in.
pub fn pod(name: &str, containers: Vec<Value>, spec: Value) -> Value {
    let mut s = json!({"containers": containers});
    if let (Some(s), Some(e)) = (s.as_object_mut(), spec.as_object()) {
        for (k, v) in e {
            s.insert(k.clone(), v.clone());
        }
    }
    json!({"metadata": {"name": name, "namespace": NS}, "spec": s})
}

/// A container JSON with `command` and extra fields merged in.
pub fn ctr(name: &str, image: &str, command: &[&str], extra: Value) -> Value {
    let mut c = json!({"name": name, "image": image, "imagePullPolicy": "IfNotPresent"});
    if !command.is_empty() {
        c["command"] = json!(command);
    }
    if let (Some(c), Some(e)) = (c.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            c.insert(k.clone(), v.clone());
        }
    }
    c
}

/// A testbin container that idles until SIGTERM (exits 0 at once), with
/// busybox for exec hooks.
pub fn idle(name: &str, extra: Value) -> Value {
    ctr(name, TESTBIN, &["/testbin", "pause"], extra)
}

pub fn exec_hook(cmd: &[&str]) -> Value {
    json!({"exec": {"command": cmd}})
}

pub fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}
