//! A real agent process holding an `OciRuntime` (examples/hold_container)
//! is SIGKILLed while it waits on its container; the container then exits
//! (normally, or OOM-killed) with no agent alive. A fresh runtime instance
//! must still read the exit code, the OOM verdict and the finish time.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::*;
use jiff::Timestamp;
use nodelet_runtime::*;

/// The hold_container example next to this test's target dir. `cargo test`
/// builds examples along with the tests, so it is normally there; building
/// it here (for a single `--test` run) takes long because examples resolve
/// features without the dev-dependencies.
fn hold_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let debug = exe.parent().unwrap().parent().unwrap().to_path_buf();
    // `cargo test` leaves it under its hashed name only: take the newest.
    let newest = std::fs::read_dir(debug.join("examples"))
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with("hold_container-") && !name.contains('.')
        })
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .max();
    if let Some((_, path)) = newest {
        return path;
    }
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "-q",
            "-p",
            "nodelet-runtime",
            "--example",
            "hold_container",
        ])
        .env("CARGO_TARGET_DIR", debug.parent().unwrap())
        .status()
        .unwrap();
    assert!(status.success(), "building examples/hold_container failed");
    debug.join("examples/hold_container")
}

/// Starts a hold_container agent for `mode`, returns (its child, container id).
fn spawn_agent(
    h: &Harness,
    bin: &PathBuf,
    sb: &SandboxInfo,
    mode: &str,
) -> (std::process::Child, String) {
    let c = &h.cfg.cni;
    let mut child = Command::new(bin)
        .arg(&h.cfg.root)
        .arg(&h.cfg.run_root)
        .arg(&h.cfg.monitor)
        .arg(&c.conf_dir)
        .arg(&c.cache_dir)
        .arg(&c.subnet)
        .arg(&c.bridge)
        .arg(&c.network_name)
        .arg(&sb.id)
        .arg(mode)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let id = line.trim().to_string();
    assert_eq!(id.len(), 64, "agent printed {line:?}");
    (child, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_code_oom_and_finish_time_survive_agent_sigkill() {
    if !require_real("exit_code_oom_and_finish_time_survive_agent_sigkill") {
        return;
    }
    let bin = hold_binary();
    let h = Harness::new(53, "runc").await;
    let sb =
        h.rt.create_sandbox(&h.sandbox_config("kill9"))
            .await
            .unwrap();
    let (mut a, exit_id) = spawn_agent(&h, &bin, &sb, "exit42");
    let (mut b, oom_id) = spawn_agent(&h, &bin, &sb, "oom");
    for agent in [&mut a, &mut b] {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(agent.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        let st = agent.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(st.signal(), Some(9), "agent was not SIGKILLed: {st:?}");
    }
    let killed_at = Timestamp::now();
    // Both containers still run (they sleep 2 s) with no agent alive.
    let fresh = h.reopen().await;
    for id in [&exit_id, &oom_id] {
        let st = fresh.container_state(id).await.unwrap();
        assert!(matches!(st, ContainerState::Running { .. }), "{id}: {st:?}");
    }
    let st = fresh.wait(&exit_id).await.unwrap();
    assert_eq!(st.exit_code, 42, "{st:?}");
    assert!(!st.oom_killed);
    assert!(st.finished_at > killed_at, "{st:?} vs kill at {killed_at}");
    let started = st
        .started_at
        .expect("start time recorded by the killed agent");
    assert!(started < killed_at && st.finished_at > started);
    assert!(cri_log_text(&fresh.log_path(&exit_id)).contains("done\n"));

    let st = fresh.wait(&oom_id).await.unwrap();
    assert!(st.oom_killed, "{st:?}");
    assert_eq!(st.reason(), "OOMKilled");
    assert!(st.finished_at > killed_at, "{st:?}");

    // The finish time is the monitor's, not the reader's: a later instance
    // reports the very same status.
    let later = h.reopen().await;
    assert_eq!(
        later.wait(&exit_id).await.unwrap(),
        fresh.wait(&exit_id).await.unwrap()
    );
    let listed = later.list_containers().await.unwrap();
    let rec = listed.iter().find(|r| r.id == oom_id).unwrap();
    assert!(
        matches!(&rec.state, ContainerState::Exited(s) if s.oom_killed),
        "{:?}",
        rec.state
    );
    h.teardown().await;
}
