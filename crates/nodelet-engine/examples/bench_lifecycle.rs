//! Benchmark of the lifecycle engine on real containers, run by
//! `bench/lifecycle.sh` (root, runc, CNI plugins, podman). Prints figures,
//! asserts nothing but that things worked:
//!
//! 1. manifest → every container Running (postStart `exec true`), 1 and
//!    50 pods, through the engine; vs `runc run -d` + `runc exec true` of
//!    the same bundles; vs `podman kube play` of the same manifest;
//! 2. container exit → Terminated in the published status (monitor's
//!    finishedAt to the subscriber seeing it; kubelet's PLEG relist is 1 s);
//! 3. delete of a SIGTERM-handling pod → gone, vs `podman kube down`;
//! 4. N pods with `preStop sleep 3` deleted at once (one concurrent client
//!    per pod) → all gone (target ≤ 4 s), for 50 and 200 pods; per pod when
//!    the Killing event, the Terminated status and the removal came, when
//!    the background teardown had released every container, sandbox and
//!    record (checked against the runtime), and the store's writes vs
//!    durable commits.
//!
//! Usage: bench_lifecycle [MAX_PODS] [--mass-only] (default 200; the flag
//! runs only part 4, e.g. to compare a store on tmpfs with `TMPDIR=/dev/shm`).
//! `bench_lifecycle --up50 [ROUNDS]` prints only the engine's "50 pods with
//! postStart → all Running" (ROUNDS rounds, default 3), the reference
//! figure of `bench/user.sh`.

#[path = "../tests/real_support/mod.rs"]
mod real_support;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use nodelet_engine::EngineEvent;
use nodelet_runtime::{ContainerConfig, Resources, Runtime, SandboxConfig, SecurityConfig};
use nodelet_spec::Object;
use real_support::*;
use serde_json::{Value, json};
use tokio::time::Instant;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// `n` pods named `<prefix>-<i>`: one testbin container that exits on
/// SIGTERM, with the given lifecycle, as a multi-document YAML (JSON
/// documents are YAML) that nodelet and podman both read.
fn manifest(prefix: &str, n: usize, lifecycle: Value) -> (String, Vec<String>) {
    let mut docs = Vec::new();
    let mut names = Vec::new();
    for i in 0..n {
        let name = format!("{prefix}-{i}");
        let mut c = json!({"name": "c", "image": TESTBIN, "imagePullPolicy": "IfNotPresent",
            "command": ["/testbin", "pause"]});
        if !lifecycle.is_null() {
            c["lifecycle"] = lifecycle.clone();
        }
        docs.push(
            json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": NS},
                "spec": {"terminationGracePeriodSeconds": 10, "containers": [c]}})
            .to_string(),
        );
        names.push(name);
    }
    (docs.join("\n---\n") + "\n", names)
}

fn is_running(p: &Pod) -> bool {
    let st = p.status.as_ref();
    st.and_then(|s| s.phase.as_deref()) == Some("Running")
        && st
            .and_then(|s| s.container_statuses.as_ref())
            .is_some_and(|cs| !cs.is_empty() && cs.iter().all(|c| c.ready))
}

/// Loads, defaults, validates and applies a manifest (nodelet's front-door
/// pipeline), then waits until every pod in `names` is Running and ready.
async fn engine_up(r: &Real, yaml: &str, names: &[String]) -> Duration {
    let mut rx = r.engine.subscribe();
    let t = Instant::now();
    let objects: Vec<Object> = nodelet_spec::load::load_bytes("bench.yaml", yaml.as_bytes())
        .unwrap()
        .into_iter()
        .map(|m| match m.object {
            Object::Pod(mut p) => {
                nodelet_spec::defaults::default_pod(&mut p);
                Object::Pod(p)
            }
            o => o,
        })
        .collect();
    for o in &objects {
        let errs = nodelet_spec::validate::validate_object(o);
        assert!(errs.is_empty(), "{errs}");
    }
    r.engine.apply(objects).unwrap();
    let want: HashSet<&str> = names.iter().map(String::as_str).collect();
    let mut done = HashSet::new();
    let deadline = t + Duration::from_secs(600);
    while done.len() < want.len() {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Err(_) => panic!(
                "only {}/{} pods Running after 600 s",
                done.len(),
                want.len()
            ),
            Ok(Ok(EngineEvent::PodUpdated(p))) => {
                let name = p.metadata.name.clone().unwrap_or_default();
                if want.contains(name.as_str()) && is_running(&p) {
                    done.insert(name);
                }
            }
            Ok(Ok(_)) => {}
            Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {
                for p in r.engine.list_pods() {
                    let name = p.metadata.name.clone().unwrap_or_default();
                    if want.contains(name.as_str()) && is_running(&p) {
                        done.insert(name);
                    }
                }
            }
            Ok(Err(e)) => panic!("{e}"),
        }
    }
    t.elapsed()
}

/// Deletes `names` at once (grace from the spec) and waits until all are
/// gone.
async fn engine_down(r: &Real, names: &[String], grace: Option<i64>) -> Duration {
    let t = Instant::now();
    for n in names {
        r.engine.delete_pod(NS, n, grace).unwrap();
    }
    for n in names {
        tokio::time::timeout(Duration::from_secs(120), r.engine.wait_pod_gone(NS, n))
            .await
            .unwrap_or_else(|_| panic!("{n} not gone after 120 s"));
    }
    t.elapsed()
}

/// When (after `t0`) the last of `names` was first published with its
/// container Terminated: the end of preStop + stop signal, before removal.
fn last_exit(r: &Real, names: &[String], t0: Instant) -> Duration {
    let want: HashSet<&str> = names.iter().map(String::as_str).collect();
    let mut first_exit = std::collections::HashMap::new();
    for s in r.seen().into_iter().filter(|s| s.at >= t0) {
        if let EngineEvent::PodUpdated(p) = s.what {
            let name = p.metadata.name.clone().unwrap_or_default();
            let terminated = p
                .status
                .and_then(|st| st.container_statuses)
                .is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c.state.as_ref().is_some_and(|st| st.terminated.is_some()))
                });
            if terminated && want.contains(name.as_str()) {
                first_exit.entry(name).or_insert(s.at - t0);
            }
        }
    }
    first_exit.values().max().copied().unwrap_or_default()
}

fn runc(root: &Path) -> tokio::process::Command {
    let mut c = tokio::process::Command::new("runc");
    c.arg("--root").arg(root);
    c.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    c
}

/// `runc run -d` + `runc exec true` (the postStart) of `n` containers at
/// once, from bundles prepared as the engine's are: the config.json the
/// runtime wrote for a created container of the same pod spec (same
/// rootfs, pod namespaces), one bundle and cgroup per copy.
async fn runc_up_down(r: &Real, n: usize, tag: &str) -> (Duration, Duration) {
    let sb =
        r.rt.create_sandbox(&SandboxConfig {
            pod_uid: format!("bench-runc-{tag}-{}", std::process::id()),
            pod_name: format!("bench-runc-{tag}"),
            pod_namespace: NS.to_string(),
            hostname: "bench-runc".to_string(),
            host_network: false,
            host_pid: false,
            host_ipc: false,
            port_mappings: vec![],
            dns: None,
            labels: Default::default(),
            user_namespace: false,
            share_process_namespace: false,
        })
        .await
        .unwrap();
    let cc = ContainerConfig {
        pod_uid: sb.pod_uid.clone(),
        name: "c".to_string(),
        attempt: 0,
        image: TESTBIN.to_string(),
        command: Some(vec!["/testbin".into(), "pause".into()]),
        args: None,
        env: vec![],
        working_dir: None,
        security: SecurityConfig::default(),
        resources: Resources::default(),
        mounts: vec![],
        stdin: false,
        stdin_once: false,
        tty: false,
        labels: Default::default(),
        termination_message: None,
        pid_namespace_of: None,
    };
    let keep = r.rt.create_container(&sb, &cc).await.unwrap();
    let cdir = r.oci_config().root.join("containers").join(&keep);
    let spec: Value =
        serde_json::from_slice(&std::fs::read(cdir.join("bundle/config.json")).unwrap()).unwrap();
    let root = r.dir().join(format!("direct-runc-{tag}"));
    let mut bundles: Vec<(String, PathBuf)> = Vec::new();
    for i in 0..n {
        let b = r.dir().join(format!("direct-{tag}-{i}"));
        std::fs::create_dir_all(&b).unwrap();
        let mut s = spec.clone();
        s["linux"]["cgroupsPath"] = json!(format!(
            "/nodelet/{}/direct-{tag}-{i}",
            sb.cgroup_parent.trim_start_matches("nodelet/")
        ));
        std::fs::write(b.join("config.json"), serde_json::to_vec(&s).unwrap()).unwrap();
        bundles.push((format!("direct-{tag}-{i}-{}", std::process::id()), b));
    }
    let t = Instant::now();
    let runs = bundles.iter().map(|(id, b)| {
        let root = root.clone();
        async move {
            let st = runc(&root)
                .args(["run", "-d", "--bundle"])
                .arg(b)
                .arg(id)
                .status()
                .await
                .unwrap();
            assert!(st.success(), "runc run -d {id}");
            let st = runc(&root)
                .args(["exec", id, "true"])
                .status()
                .await
                .unwrap();
            assert!(st.success(), "runc exec {id} true");
        }
    });
    futures::future::join_all(runs).await;
    let up = t.elapsed();
    let t = Instant::now();
    let downs = bundles.iter().map(|(id, _)| {
        let root = root.clone();
        async move {
            let _ = runc(&root).args(["kill", id, "TERM"]).status().await;
            // `delete` without --force fails while it runs: poll like a
            // supervisor would.
            loop {
                let out = runc(&root)
                    .args(["state", id])
                    .stdout(Stdio::piped())
                    .output()
                    .await
                    .unwrap();
                if String::from_utf8_lossy(&out.stdout).contains("\"stopped\"") {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let st = runc(&root).args(["delete", id]).status().await.unwrap();
            assert!(st.success());
        }
    });
    futures::future::join_all(downs).await;
    let down = t.elapsed();
    r.rt.remove_container(&keep).await.unwrap();
    r.rt.remove_sandbox(&sb.id).await.unwrap();
    (up, down)
}

fn podman() -> std::process::Command {
    let mut c = std::process::Command::new("podman");
    c.stdin(Stdio::null()).stdout(Stdio::null());
    c
}

/// `podman kube play` of the manifest (returns once containers started),
/// then `podman kube down`. `None` when podman fails here.
fn podman_play_down(dir: &Path, yaml: &str, tag: &str) -> Option<(Duration, Duration)> {
    let f = dir.join(format!("podman-{tag}.yaml"));
    std::fs::write(&f, yaml).unwrap();
    let _ = podman()
        .args(["kube", "down"])
        .arg(&f)
        .stderr(Stdio::null())
        .status();
    let t = std::time::Instant::now();
    let st = podman().args(["kube", "play"]).arg(&f).status().ok()?;
    let up = t.elapsed();
    if !st.success() {
        eprintln!("podman kube play failed ({st}); podman figures skipped");
        let _ = podman().args(["kube", "down"]).arg(&f).status();
        return None;
    }
    let t = std::time::Instant::now();
    let st = podman().args(["kube", "down"]).arg(&f).status().ok()?;
    let down = t.elapsed();
    st.success().then_some((up, down))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let max: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let mass_only = std::env::args().any(|a| a == "--mass-only");
    let r = Real::new("bench_lifecycle", 40).await.unwrap();
    if std::env::args().nth(1).as_deref() == Some("--up50") {
        let rounds = std::env::args()
            .nth(2)
            .and_then(|s| s.parse().ok())
            .unwrap_or(3);
        up50(&r, rounds).await;
        r.finish().await;
        return;
    }
    println!(
        "== nodelet lifecycle benchmark (real runc + CNI; state and rootfs under {}) ==",
        std::env::temp_dir().display()
    );
    if !mass_only {
        figures(&r).await;
    }
    mass_delete(&r, max).await;
    r.finish().await;
}

/// `--up50`: after a one-pod warm-up, `rounds` times 50 pods with
/// postStart `exec true` → all Running, each round starting once the
/// previous one's teardown released everything; one line of milliseconds.
async fn up50(r: &Real, rounds: usize) {
    let hook = json!({"postStart": {"exec": {"command": ["true"]}}});
    let mut v = Vec::new();
    for k in 0..=rounds {
        let n = if k == 0 { 1 } else { 50 };
        let (yaml, names) = manifest(&format!("up50-{k}"), n, hook.clone());
        let up = ms(engine_up(r, &yaml, &names).await);
        engine_down(r, &names, None).await;
        tokio::time::timeout(Duration::from_secs(300), r.engine.resources_released())
            .await
            .expect("resources not released 300 s after deletion");
        if k > 0 {
            v.push(format!("{up:.1}"));
        }
    }
    println!("engine_up50_ms {}", v.join(" "));
}

/// Parts 1 to 3.
async fn figures(r: &Real) {
    let hook = json!({"postStart": {"exec": {"command": ["true"]}}});

    // 1. manifest → Running.
    let mut one = Vec::new();
    for k in 0..3 {
        let (yaml, names) = manifest(&format!("up1-{k}"), 1, hook.clone());
        one.push(ms(engine_up(r, &yaml, &names).await));
        engine_down(r, &names, None).await;
    }
    let one_med = median(&mut one.clone());
    let (yaml50, names50) = manifest("up50", 50, hook.clone());
    let fifty = ms(engine_up(r, &yaml50, &names50).await);
    let fifty_down = ms(engine_down(r, &names50, None).await);
    let mut runc1 = Vec::new();
    for k in 0..3 {
        runc1.push(ms(runc_up_down(r, 1, &format!("one{k}")).await.0));
    }
    let runc1_med = median(&mut runc1.clone());
    let (runc50, runc50_down) = runc_up_down(r, 50, "fifty").await;
    let (runc50, runc50_down) = (ms(runc50), ms(runc50_down));
    println!("-- manifest → all containers Running (postStart exec true) --");
    println!("nodelet engine, 1 pod     {one_med:8.1} ms (median of {one:.1?})");
    println!(
        "runc run -d + exec, 1     {runc1_med:8.1} ms (median of {runc1:.1?})   nodelet/runc {:.2}x",
        one_med / runc1_med
    );
    println!(
        "nodelet engine, 50 pods   {fifty:8.1} ms   ({:.1} ms/pod)",
        fifty / 50.0
    );
    println!(
        "runc run -d + exec, 50    {runc50:8.1} ms   nodelet/runc {:.2}x",
        fifty / runc50
    );
    println!("   (runc: no sandbox/netns/CNI, no rootfs mount, no monitor, no status: the floor)");
    let (yaml_p1, _) = manifest("podman1", 1, hook.clone());
    let (yaml_p50, _) = manifest("podman50", 50, hook.clone());
    let p1 = podman_play_down(r.dir(), &yaml_p1, "one");
    let p50 = podman_play_down(r.dir(), &yaml_p50, "fifty");
    if let (Some((u1, d1)), Some((u50, d50))) = (p1, p50) {
        let (u1, d1, u50, d50) = (ms(u1), ms(d1), ms(u50), ms(d50));
        println!(
            "podman kube play, 1 pod   {u1:8.1} ms   nodelet/podman {:.2}x",
            one_med / u1
        );
        println!(
            "podman kube play, 50 pods {u50:8.1} ms   nodelet/podman {:.2}x",
            fifty / u50
        );
        println!("   (podman 4.3 ignores lifecycle hooks: no postStart ran, checked by hand)");
        println!(
            "delete 50: nodelet {fifty_down:.1} ms, runc kill+delete {runc50_down:.1} ms, podman kube down {d50:.1} ms"
        );
        println!("podman kube down, 1 pod   {d1:8.1} ms");
    } else {
        println!("podman: not measured (kube play failed, see stderr)");
    }

    // 2. container exit → Terminated in status.
    let k = 10;
    let mut names = Vec::new();
    for i in 0..k {
        let name = format!("exit-{i}");
        r.apply(pod(
            &name,
            vec![ctr(
                "c",
                BUSYBOX,
                &[
                    "sh",
                    "-c",
                    &format!("sleep {:.1}; exit 3", 1.0 + 0.3 * i as f64),
                ],
                json!({}),
            )],
            json!({"restartPolicy": "Never"}),
        ));
        names.push(name);
    }
    for n in &names {
        r.phase_is(n, "Failed", 60).await;
    }
    let mut lat = Vec::new();
    let mut whole_seconds = true;
    for n in &names {
        let (at, st) = r
            .seen()
            .into_iter()
            .find_map(|s| match s.what {
                EngineEvent::PodUpdated(p) if p.metadata.name.as_deref() == Some(n) => {
                    let t = p
                        .status?
                        .container_statuses?
                        .into_iter()
                        .next()?
                        .state?
                        .terminated?;
                    Some((s.wall, t))
                }
                _ => None,
            })
            .unwrap();
        let fin = st.finished_at.unwrap().0;
        whole_seconds &= fin.subsec_nanosecond() == 0;
        lat.push(at.duration_since(fin).as_secs_f64() * 1000.0);
    }
    engine_down(r, &names, None).await;
    let lat_max = lat.iter().cloned().fold(f64::MIN, f64::max);
    println!("-- container exit → Terminated in published status ({k} containers) --");
    println!(
        "median {:.1} ms, max {lat_max:.1} ms (target < 20 ms; kubelet PLEG relist 1 s → {:.0}x faster at the median)",
        median(&mut lat.clone()),
        1000.0 / median(&mut lat.clone()).max(0.001)
    );
    if whole_seconds {
        println!("   WARNING: finishedAt had no sub-second part: latencies are not meaningful");
    }

    // 3. delete of a SIGTERM-handling pod → gone.
    let (mut del, mut exits) = (Vec::new(), Vec::new());
    for k in 0..5 {
        let (yaml, names) = manifest(&format!("del-{k}"), 1, Value::Null);
        engine_up(r, &yaml, &names).await;
        let t0 = Instant::now();
        del.push(ms(engine_down(r, &names, None).await));
        exits.push(ms(last_exit(r, &names, t0)));
    }
    let del_med = median(&mut del.clone());
    println!("-- delete of a SIGTERM-handling pod → gone --");
    println!("nodelet engine            {del_med:8.1} ms (median of {del:.1?})");
    println!(
        "   of which delete → Terminated published {:.1} ms (median of {exits:.1?}), the rest is removal",
        median(&mut exits.clone())
    );
    let (yaml, _) = manifest("podman-del", 1, Value::Null);
    let mut pdel = Vec::new();
    for k in 0..3 {
        if let Some((_, d)) = podman_play_down(r.dir(), &yaml, &format!("del{k}")) {
            pdel.push(ms(d));
        }
    }
    if !pdel.is_empty() {
        let pm = median(&mut pdel.clone());
        println!(
            "podman kube down          {pm:8.1} ms (median of {pdel:.1?})   nodelet/podman {:.2}x",
            del_med / pm
        );
    }
}

/// Part 4: mass deletion with preStop sleep 3.
async fn mass_delete(r: &Real, max: usize) {
    println!("-- N pods with preStop sleep 3 deleted at once (target ≤ 4 s) --");
    let sleep = json!({"preStop": {"sleep": {"seconds": 3}}});
    let mut sizes = vec![50];
    if max > 50 {
        sizes.push(max);
    } else {
        sizes = vec![max];
    }
    for n in sizes {
        let (yaml, names) = manifest(&format!("mass{n}"), n, sleep.clone());
        let up = engine_up(r, &yaml, &names).await;
        let w0 = r.engine.store().writer_stats();
        let cpu0 = cpu_seconds();
        let t0 = Instant::now();
        let wall0 = jiff::Timestamp::now();
        // One client per pod, as `kubectl delete` runs in parallel would:
        // each delete returns once its deletionTimestamp is durable, and
        // the store folds concurrent ones into shared commits.
        let acked = std::thread::scope(|s| {
            let acks: Vec<_> = names
                .iter()
                .map(|name| {
                    s.spawn(move || {
                        r.engine.delete_pod(NS, name, None).unwrap();
                        t0.elapsed()
                    })
                })
                .collect();
            acks.into_iter()
                .map(|a| a.join().unwrap())
                .max()
                .unwrap_or_default()
        });
        for name in &names {
            tokio::time::timeout(Duration::from_secs(120), r.engine.wait_pod_gone(NS, name))
                .await
                .unwrap_or_else(|_| panic!("{name} not gone after 120 s"));
        }
        let down = t0.elapsed();
        let w1 = r.engine.store().writer_stats();
        let cpu = cpu_seconds() - cpu0;
        tokio::time::timeout(Duration::from_secs(300), r.engine.resources_released())
            .await
            .expect("resources not released 300 s after deletion");
        let released = t0.elapsed();
        let leftover = r.rt.list_containers().await.unwrap();
        assert!(leftover.is_empty(), "containers left: {}", leftover.len());
        let sandboxes = r.rt.list_sandboxes().await.unwrap();
        assert!(sandboxes.is_empty(), "sandboxes left: {}", sandboxes.len());
        println!(
            "{n:4} pods: all Running in {:.2} s ({:.1} ms/pod); deleted → all gone in {:.2} s {}",
            up.as_secs_f64(),
            ms(up) / n as f64,
            down.as_secs_f64(),
            if down.as_secs_f64() <= 4.0 {
                "(≤ 4 s: OK)"
            } else {
                "(> 4 s: MISSED)"
            }
        );
        let p = phases(r, &names, t0, wall0);
        let q = |v: &[f64]| -> String {
            if v.is_empty() {
                return "-".into();
            }
            let mut v = v.to_vec();
            v.sort_by(|a, b| a.total_cmp(b));
            format!(
                "median {:.2} s, max {:.2} s",
                v[v.len() / 2],
                v[v.len() - 1]
            )
        };
        println!("      deletes acknowledged by {:.2} s", acked.as_secs_f64());
        println!("      Killing event (preStop starts):  {}", q(&p.killing));
        println!("      container finishedAt (reaped):   {}", q(&p.finished));
        println!("      container Terminated published:  {}", q(&p.exited));
        println!("      pod gone (PodDeleted):           {}", q(&p.gone));
        println!(
            "      every container, sandbox and record released (background teardown) at {:.2} s",
            released.as_secs_f64()
        );
        println!(
            "      store until all gone: {} writes in {} durable commits, writer busy {:.2} s",
            w1.writes - w0.writes,
            w1.commits - w0.commits,
            (w1.busy - w0.busy).as_secs_f64()
        );
        println!(
            "      agent (this process) CPU until all gone: {cpu:.2} s user+sys on {} cores",
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        );
    }
}

/// User + system CPU time of this process so far (`/proc/self/stat`,
/// clock ticks of 10 ms).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of the line; `rest` starts at field 3.
    let ticks = |i: usize| {
        f.get(i - 3)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(14) + ticks(15)) / 100.0
}

/// Per pod, seconds after `t0` of: the Killing event, the first status with
/// the container Terminated, the PodDeleted broadcast.
struct Phases {
    killing: Vec<f64>,
    finished: Vec<f64>,
    exited: Vec<f64>,
    gone: Vec<f64>,
}

fn phases(r: &Real, names: &[String], t0: Instant, wall0: jiff::Timestamp) -> Phases {
    use std::collections::HashMap;
    let want: HashSet<&str> = names.iter().map(String::as_str).collect();
    let (mut killing, mut exited, mut gone) = (HashMap::new(), HashMap::new(), HashMap::new());
    let mut finished = HashMap::new();
    for s in r.seen().into_iter().filter(|s| s.at >= t0) {
        let at = (s.at - t0).as_secs_f64();
        match s.what {
            EngineEvent::Event(e) if e.reason.as_deref() == Some("Killing") => {
                let name = e.involved_object.name.clone().unwrap_or_default();
                if want.contains(name.as_str()) {
                    killing.entry(name).or_insert(at);
                }
            }
            EngineEvent::PodUpdated(p) => {
                let name = p.metadata.name.clone().unwrap_or_default();
                let fin = p
                    .status
                    .and_then(|st| st.container_statuses)
                    .and_then(|cs| {
                        cs.into_iter()
                            .find_map(|c| c.state?.terminated)
                            .map(|t| t.finished_at.map(|f| f.0))
                    });
                if let Some(fin) = fin
                    && want.contains(name.as_str())
                {
                    if let Some(f) = fin {
                        finished
                            .entry(name.clone())
                            .or_insert(f.duration_since(wall0).as_secs_f64());
                    }
                    exited.entry(name).or_insert(at);
                }
            }
            EngineEvent::PodDeleted { name, .. } if want.contains(name.as_str()) => {
                gone.entry(name).or_insert(at);
            }
            _ => {}
        }
    }
    Phases {
        killing: killing.into_values().collect(),
        finished: finished.into_values().collect(),
        exited: exited.into_values().collect(),
        gone: gone.into_values().collect(),
    }
}
