//! `create_and_start_container` on the real runtime (one `runc run
//! --detach` in the monitor): the container ends up as after create +
//! start (state, started_at kept across an agent restart, logs, exit), and
//! an entrypoint that cannot run fails the call with nothing left behind.

mod common;

use common::*;
use nodelet_runtime::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn combined_create_and_start_is_like_create_then_start() {
    if !require_real("combined_create_and_start_is_like_create_then_start") {
        return;
    }
    let h = Harness::new(81, "runc").await;
    let sb =
        h.rt.create_sandbox(&h.sandbox_config("runstart"))
            .await
            .unwrap();
    let c = h.container(&sb, "main", &["sh", "-c", "echo hello; exec sleep 600"]);
    let (id, started) = h.rt.create_and_start_container(&sb, &c).await.unwrap();
    assert!(started.pid > 1);
    for rt in [&h.rt, &h.reopen().await] {
        match rt.container_state(&id).await.unwrap() {
            ContainerState::Running { pid, started_at } => {
                assert_eq!((pid, started_at), (started.pid, started.started_at));
            }
            other => panic!("not running: {other:?}"),
        }
    }
    let listed = h.rt.list_containers().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(matches!(listed[0].state, ContainerState::Running { .. }));
    // Started is not printed: the shell may not have run its echo yet (a
    // SIGKILL right away lost it once in CI). Wait for the line first.
    for _ in 0..200 {
        if cri_log_text(&h.rt.log_path(&id)).contains("hello") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    h.rt.signal(&id, Signal::SIGKILL).await.unwrap();
    let st = h.rt.wait(&id).await.unwrap();
    assert_eq!((st.exit_code, st.signal), (137, Some(Signal::SIGKILL)));
    assert_eq!(cri_log_text(&h.rt.log_path(&id)).trim(), "hello");

    // A second one that exits on its own, with a TTY.
    let mut t = h.container(&sb, "tty", &["sh", "-c", "echo on-tty; exit 3"]);
    t.tty = true;
    let (tid, _) = h.rt.create_and_start_container(&sb, &t).await.unwrap();
    assert_eq!(h.rt.wait(&tid).await.unwrap().exit_code, 3);
    assert_eq!(cri_log_text(&h.rt.log_path(&tid)).trim(), "on-tty");
    h.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entrypoint_that_cannot_run_leaves_nothing() {
    if !require_real("entrypoint_that_cannot_run_leaves_nothing") {
        return;
    }
    let h = Harness::new(82, "runc").await;
    let sb =
        h.rt.create_sandbox(&h.sandbox_config("runstart-bad"))
            .await
            .unwrap();
    let c = h.container(&sb, "bad", &["no-such-command"]);
    let err = match h.rt.create_and_start_container(&sb, &c).await {
        Err(CreateStartError::Create(e)) => e.to_string(),
        Err(CreateStartError::Start { id, error }) => {
            panic!(
                "runc reports this before the container exists, got a start error for {id}: {error}"
            )
        }
        Ok((id, _)) => panic!("{id} started"),
    };
    assert!(
        err.contains("no-such-command") && err.contains("not found"),
        "{err}"
    );
    assert!(h.rt.list_containers().await.unwrap().is_empty());
    let left: Vec<_> = std::fs::read_dir(h.cfg.root.join("containers"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left behind: {left:?}");
    let runc_list = std::process::Command::new("runc")
        .arg("--root")
        .arg(h.cfg.run_root.join("runc"))
        .args(["list", "-q"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&runc_list.stdout).trim(), "");
    h.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn combined_path_keeps_stdin_for_attach() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if !require_real("combined_path_keeps_stdin_for_attach") {
        return;
    }
    let h = Harness::new(83, "runc").await;
    let sb =
        h.rt.create_sandbox(&h.sandbox_config("runstart-attach"))
            .await
            .unwrap();
    let mut c = h.container(
        &sb,
        "once",
        &["sh", "-c", "read line; echo got:$line; exit 2"],
    );
    c.stdin = true;
    c.stdin_once = true;
    let (id, _) = h.rt.create_and_start_container(&sb, &c).await.unwrap();
    let req = AttachRequest {
        stdin: true,
        stdout: true,
        stderr: true,
    };
    let mut a = h.rt.attach(&id, &req).await.unwrap();
    let mut stdin = a.stdin.take().unwrap();
    stdin.write_all(b"hi\n").await.unwrap();
    stdin.shutdown().await.unwrap();
    let mut out = String::new();
    let mut so = a.stdout.take().unwrap();
    tokio::time::timeout(
        std::time::Duration::from_secs(20),
        so.read_to_string(&mut out),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(out, "got:hi\n");
    assert_eq!(h.rt.wait(&id).await.unwrap().exit_code, 2);
    h.teardown().await;
}
