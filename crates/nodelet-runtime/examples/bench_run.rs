//! Benchmark of nodelet's runtime layer against the bare OCI runtime:
//! (a) create+start+wait of a `true` container through `OciRuntime` (the
//! engine's one `create_and_start_container` call: `runc run --detach` in
//! the monitor) vs `runc run` of the very same bundle, with the separate
//! `create_container` + `start_container` path for reference; (b) exec `true` through
//! `OciRuntime::exec` vs `runc exec`. Run by `bench/runtime.sh`.
//!
//! Usage: bench_run [N] (default 30 iterations per measurement).
//!
//! Measured figures and how they moved: bench/runtime.sh's header and
//! docs/architecture.md ("Measured"). On a shared host, trust the paired
//! per-iteration ratios and the medians over several runs, not one mean.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Harness;
use nodelet_runtime::*;

fn mean(v: &[Duration]) -> f64 {
    v.iter().map(|d| d.as_secs_f64()).sum::<f64>() / v.len() as f64 * 1000.0
}

/// Median in ms: robust against the spikes a shared host adds.
fn median(v: &[Duration]) -> f64 {
    median_of(v.iter().map(|d| d.as_secs_f64() * 1000.0).collect())
}

fn median_of(mut s: Vec<f64>) -> f64 {
    s.sort_by(|a, b| a.total_cmp(b));
    match s.len() {
        0 => 0.0,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// Median of the per-iteration ratios a[i]/b[i]: each pair ran back to back,
/// so load swings of the shared host (other builds) mostly cancel out.
fn paired_ratio(a: &[Duration], b: &[Duration]) -> f64 {
    median_of(
        a.iter()
            .zip(b)
            .map(|(x, y)| x.as_secs_f64() / y.as_secs_f64())
            .collect(),
    )
}

fn runc(root: &Path) -> Command {
    let mut c = Command::new("runc");
    c.arg("--root").arg(root);
    c.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    c
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let h = Harness::new(41, "runc").await;
    let sb =
        h.rt.create_sandbox(&h.sandbox_config("bench"))
            .await
            .unwrap();
    let c = h.container(&sb, "t", &["true"]);

    // The same bundle run directly: a created-but-never-started container
    // provides a mounted rootfs and config.json joining the same pod.
    let keep = h.rt.create_container(&sb, &c).await.unwrap();
    let cdir = h.cfg.root.join("containers").join(&keep);
    let bundle = h.dir.path().join("direct-bundle");
    std::fs::create_dir_all(&bundle).unwrap();
    let mut spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cdir.join("bundle/config.json")).unwrap()).unwrap();
    let direct_root = h.dir.path().join("direct-runc");

    // (a) nodelet: create (overlay rootfs + bundle + monitor + runc create)
    // + start + wait, removal timed separately; interleaved with `runc run`
    // so both see the same background load (this host is shared).
    let mut ours = Vec::new();
    let mut removes = Vec::new();
    let (mut creates, mut starts, mut waits) = (Vec::new(), Vec::new(), Vec::new());
    let mut direct = Vec::new();
    let mut split = Vec::new();
    let (mut split_creates, mut split_starts) = (Vec::new(), Vec::new());
    let (mut combined, mut combined_starts, mut combined_removes) =
        (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n + 2 {
        // What the engine does: one call, then wait.
        let t = Instant::now();
        let (id, _) = h.rt.create_and_start_container(&sb, &c).await.unwrap();
        combined_starts.push(t.elapsed());
        let st = h.rt.wait(&id).await.unwrap();
        combined.push(t.elapsed());
        assert_eq!(st.exit_code, 0);
        let t = Instant::now();
        h.rt.remove_container(&id).await.unwrap();
        combined_removes.push(t.elapsed());

        // The split path (create, then a `runc start` process).
        let t = Instant::now();
        let id = h.rt.create_container(&sb, &c).await.unwrap();
        creates.push(t.elapsed());
        let t1 = Instant::now();
        h.rt.start_container(&id).await.unwrap();
        starts.push(t1.elapsed());
        let t2 = Instant::now();
        let st = h.rt.wait(&id).await.unwrap();
        waits.push(t2.elapsed());
        ours.push(t.elapsed());
        assert_eq!(st.exit_code, 0);
        let t = Instant::now();
        h.rt.remove_container(&id).await.unwrap();
        removes.push(t.elapsed());

        spec["linux"]["cgroupsPath"] = serde_json::json!(format!(
            "/nodelet/{}/direct-{i}",
            sb.cgroup_parent.trim_start_matches("nodelet/")
        ));
        std::fs::write(
            bundle.join("config.json"),
            serde_json::to_vec(&spec).unwrap(),
        )
        .unwrap();
        let t = Instant::now();
        let st = runc(&direct_root)
            .arg("run")
            .arg("--bundle")
            .arg(&bundle)
            .arg(format!("direct-{i}"))
            .status()
            .unwrap();
        direct.push(t.elapsed());
        assert!(st.success());

        // The floor of create+start semantics: bare `runc create` + `runc
        // start` of the same bundle, no monitor, no waiting for the exit.
        spec["linux"]["cgroupsPath"] = serde_json::json!(format!(
            "/nodelet/{}/split-{i}",
            sb.cgroup_parent.trim_start_matches("nodelet/")
        ));
        std::fs::write(
            bundle.join("config.json"),
            serde_json::to_vec(&spec).unwrap(),
        )
        .unwrap();
        let name = format!("split-{i}");
        let t = Instant::now();
        let created = runc(&direct_root)
            .arg("create")
            .arg("--bundle")
            .arg(&bundle)
            .arg(&name)
            .status()
            .unwrap();
        split_creates.push(t.elapsed());
        let t1 = Instant::now();
        let started = runc(&direct_root).args(["start", &name]).status().unwrap();
        split_starts.push(t1.elapsed());
        split.push(t.elapsed());
        assert!(created.success() && started.success());
        let _ = runc(&direct_root)
            .args(["delete", "--force", &name])
            .status();
    }
    for v in [
        &mut combined,
        &mut combined_starts,
        &mut combined_removes,
        &mut ours,
        &mut removes,
        &mut creates,
        &mut starts,
        &mut waits,
        &mut direct,
        &mut split,
        &mut split_creates,
        &mut split_starts,
    ] {
        v.drain(..2); // warm-up
    }
    h.rt.remove_container(&keep).await.unwrap();

    // (b) exec `true` in a running container.
    let s = h.container(&sb, "s", &["sleep", "600"]);
    let sid = h.rt.create_container(&sb, &s).await.unwrap();
    h.rt.start_container(&sid).await.unwrap();
    let req = ExecRequest {
        command: vec!["true".into()],
        env: vec![],
        timeout: Some(Duration::from_secs(30)),
    };
    let mut exec_ours = Vec::new();
    let mut exec_direct = Vec::new();
    for _ in 0..n + 2 {
        let t = Instant::now();
        let out = h.rt.exec(&sid, &req).await.unwrap();
        exec_ours.push(t.elapsed());
        assert_eq!(out.exit_code, 0);
        let t = Instant::now();
        let st = runc(&h.cfg.run_root.join("runc"))
            .args(["exec", &sid, "true"])
            .status()
            .unwrap();
        exec_direct.push(t.elapsed());
        assert!(st.success());
    }
    exec_ours.drain(..2);
    exec_direct.drain(..2);

    // Where create's time goes, outside the runtime binary.
    let (mut resolves, mut mounts) = (Vec::new(), Vec::new());
    for i in 0..n {
        let t = Instant::now();
        let img = h.rt.images().resolve(common::IMAGE).unwrap().unwrap();
        resolves.push(t.elapsed());
        let d = h.dir.path().join(format!("mnt-{i}"));
        std::fs::create_dir_all(&d).unwrap();
        let t = Instant::now();
        nodelet_runtime::rootfs::mount_rootfs(&img.layers, &d).unwrap();
        mounts.push(t.elapsed());
        nodelet_runtime::rootfs::unmount_rootfs(&d).unwrap();
    }

    let (o, r, d) = (mean(&combined), mean(&combined_removes), mean(&direct));
    let (eo, ed) = (mean(&exec_ours), mean(&exec_direct));
    println!("iterations per measurement: {n}");
    println!(
        "(a) nodelet create+start+wait          {o:8.1} ms   (create_and_start_container: runc run --detach)"
    );
    println!(
        "      = create_and_start {:.1} + wait {:.1} ms",
        mean(&combined_starts),
        o - mean(&combined_starts)
    );
    println!(
        "    split path create+start+wait       {:8.1} ms   (create_container + start_container)",
        mean(&ours)
    );
    println!(
        "      = create {:.1} (rootfs, bundle, monitor, runc create) + start {:.1} (runc start) + wait {:.1} ms",
        mean(&creates),
        mean(&starts),
        mean(&waits)
    );
    println!(
        "        of which image resolve {:.1} ms, overlay mount {:.1} ms",
        mean(&resolves),
        mean(&mounts)
    );
    println!("    nodelet remove                     {r:8.1} ms");
    println!(
        "    runc run (same bundle)             {d:8.1} ms   ratio {:.2}x",
        o / d
    );
    println!(
        "    nodelet incl. remove vs runc run   {:8.1} ms   ratio {:.2}x",
        o + r,
        (o + r) / d
    );
    println!("(b) nodelet exec true                  {eo:8.1} ms");
    println!(
        "    runc exec true                     {ed:8.1} ms   ratio {:.2}x",
        eo / ed
    );
    println!(
        "medians: create+start+wait {:.1} vs runc run {:.1} ms ratio {:.2}x (split path {:.1} ms, {:.2}x); exec {:.1} vs runc exec {:.1} ms ratio {:.2}x",
        median(&combined),
        median(&direct),
        median(&combined) / median(&direct),
        median(&ours),
        median(&ours) / median(&direct),
        median(&exec_ours),
        median(&exec_direct),
        median(&exec_ours) / median(&exec_direct)
    );
    println!(
        "    bare runc create + runc start (same bundle, no monitor, exit not awaited): mean {:.1} ms ({:.2}x runc run), median {:.1} ms ({:.2}x)",
        mean(&split),
        mean(&split) / d,
        median(&split),
        median(&split) / median(&direct)
    );
    println!(
        "median phases: create_and_start {:.1} (bare runc create + start {:.1}); split create {:.1} + start {:.1} + wait {:.1} ms; bare runc create {:.1}, runc start {:.1} ms",
        median(&combined_starts),
        median(&split),
        median(&creates),
        median(&starts),
        median(&waits),
        median(&split_creates),
        median(&split_starts)
    );
    println!(
        "paired ratios (median of per-iteration ratios): create+start+wait / runc run {:.2}x (split path {:.2}x), create / runc create {:.2}x, start / runc start {:.2}x",
        paired_ratio(&combined, &direct),
        paired_ratio(&ours, &direct),
        paired_ratio(&creates, &split_creates),
        paired_ratio(&starts, &split_starts)
    );
    let crun = common::runtime_problems("crun");
    if crun.is_empty() {
        println!("crun: usable here; run with crun via bench/runtime.sh's hyperfine section");
    } else {
        for p in crun {
            println!("crun: not measured, host problem: {p}");
        }
    }
    h.rt.signal(&sid, Signal::SIGKILL).await.unwrap();
    h.rt.wait(&sid).await.unwrap();
    h.teardown().await;
}
