//! Containers outlive the agent, TTY/pipe interactive execs, and pod-to-pod
//! networking through OciRuntime + runc.

mod common;

use std::time::Duration;

use common::*;
use nodelet_runtime::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_survives_agent_and_new_instance_waits() {
    if !require_real("container_survives_agent_and_new_instance_waits") {
        return;
    }
    let h = Harness::new(11, "runc").await;
    let sb =
        h.rt.create_sandbox(&h.sandbox_config("survivor"))
            .await
            .unwrap();
    let c = h.container(&sb, "main", &["sh", "-c", "sleep 2; echo done; exit 42"]);
    let id = {
        // The "first agent": its runtime instance is dropped while the
        // container runs.
        let first = h.reopen().await;
        let id = first.create_container(&sb, &c).await.unwrap();
        first.start_container(&id).await.unwrap();
        id
    };
    let monitor_pid: i32 =
        std::fs::read_to_string(h.cfg.root.join("containers").join(&id).join("monitor.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
    let status = std::fs::read_to_string(format!("/proc/{monitor_pid}/status")).unwrap();
    let ppid = status.lines().find(|l| l.starts_with("PPid:")).unwrap();
    assert_ne!(
        ppid.split_whitespace().nth(1).unwrap(),
        std::process::id().to_string(),
        "monitor must not be our child"
    );
    let second = h.reopen().await;
    let listed = second.list_containers().await.unwrap();
    let rec = listed
        .iter()
        .find(|r| r.id == id)
        .expect("recovered from record.json");
    assert!(
        matches!(rec.state, ContainerState::Running { .. }),
        "{:?}",
        rec.state
    );
    assert_eq!(rec.name, "main");
    // Several concurrent waiters, all event-driven.
    let (a, b) = tokio::join!(second.wait(&id), h.rt.wait(&id));
    assert_eq!(a.unwrap().exit_code, 42);
    assert_eq!(b.unwrap().exit_code, 42);
    assert!(cri_log_text(&second.log_path(&id)).contains("done\n"));
    h.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interactive_exec_tty_and_pipes() {
    if !require_real("interactive_exec_tty_and_pipes") {
        return;
    }
    let h = Harness::new(12, "runc").await;
    let sb =
        h.rt.create_sandbox(&h.sandbox_config("interactive"))
            .await
            .unwrap();
    let c = h.container(&sb, "main", &["sleep", "600"]);
    let id = h.rt.create_container(&sb, &c).await.unwrap();
    h.rt.start_container(&id).await.unwrap();

    // TTY: a real terminal with the requested size, resizable.
    let mut ex =
        h.rt.exec_interactive(
            &id,
            &InteractiveExecRequest {
                command: vec![
                    "sh".into(),
                    "-c".into(),
                    // The size must be there from the first instruction
                    // (runc only copies it after the start with `exec -t`).
                    "stty size; tty; read x; stty size; echo got-$x".into(),
                ],
                tty: true,
                stdin: true,
                initial_size: Some((100, 30)),
            },
        )
        .await
        .unwrap();
    assert!(ex.stderr.is_none());
    let mut stdout = ex.stdout.take().unwrap();
    let mut stdin = ex.stdin.take().unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !String::from_utf8_lossy(&buf).contains("/dev/pts/") {
        let n = match tokio::time::timeout(Duration::from_secs(20), stdout.read(&mut chunk)).await {
            Ok(r) => r.unwrap(),
            Err(_) => panic!("no prompt in 20s; got {:?}", String::from_utf8_lossy(&buf)),
        };
        assert!(n > 0, "EOF early: {:?}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&chunk[..n]);
    }
    ex.resize.as_ref().unwrap().send((120, 40)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stdin.write_all(b"abc\n").await.unwrap();
    stdin.flush().await.unwrap();
    loop {
        match tokio::time::timeout(Duration::from_secs(20), stdout.read(&mut chunk))
            .await
            .unwrap()
        {
            Ok(0) | Err(_) => break, // EIO once the slave side closes
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if String::from_utf8_lossy(&buf).contains("got-abc") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&buf).replace('\r', "");
    assert!(text.contains("30 100\n"), "{text:?}");
    assert!(text.contains("40 120\n"), "{text:?}");
    assert!(text.contains("got-abc"), "{text:?}");
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(20), ex.exit)
            .await
            .unwrap()
            .unwrap(),
        0
    );

    // Pipes: stdin to cat, separate stderr.
    let mut ex =
        h.rt.exec_interactive(
            &id,
            &InteractiveExecRequest {
                command: vec!["sh".into(), "-c".into(), "cat; echo err >&2; exit 5".into()],
                tty: false,
                stdin: true,
                initial_size: None,
            },
        )
        .await
        .unwrap();
    let mut stdin = ex.stdin.take().unwrap();
    stdin.write_all(b"piped\n").await.unwrap();
    drop(stdin);
    let mut out = String::new();
    ex.stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .await
        .unwrap();
    let mut err = String::new();
    ex.stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .await
        .unwrap();
    assert_eq!(out, "piped\n");
    assert_eq!(err, "err\n");
    assert_eq!(ex.exit.await.unwrap(), 5);
    h.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pods_reach_each_other_by_pod_ip() {
    if !require_real("two_pods_reach_each_other_by_pod_ip") {
        return;
    }
    let h = Harness::new(13, "runc").await;
    let sa =
        h.rt.create_sandbox(&h.sandbox_config("server"))
            .await
            .unwrap();
    let sb =
        h.rt.create_sandbox(&h.sandbox_config("client"))
            .await
            .unwrap();
    let ip_a = sa.ips[0];
    assert_ne!(ip_a, sb.ips[0]);
    let server = h.container(
        &sa,
        "srv",
        &[
            "sh",
            "-c",
            "while true; do echo hello-from-server | nc -l -p 8080; done",
        ],
    );
    let sid = h.rt.create_container(&sa, &server).await.unwrap();
    h.rt.start_container(&sid).await.unwrap();
    let client = h.container(&sb, "cli", &["sleep", "600"]);
    let cid = h.rt.create_container(&sb, &client).await.unwrap();
    h.rt.start_container(&cid).await.unwrap();
    let req = |cmd: String| ExecRequest {
        command: vec!["sh".into(), "-c".into(), cmd],
        env: vec![],
        timeout: Some(Duration::from_secs(20)),
    };
    let ping =
        h.rt.exec(&cid, &req(format!("ping -c 1 -W 5 {ip_a}")))
            .await
            .unwrap();
    assert_eq!(
        ping.exit_code,
        0,
        "{}{}",
        String::from_utf8_lossy(&ping.stdout),
        String::from_utf8_lossy(&ping.stderr)
    );
    let mut got = String::new();
    for _ in 0..50 {
        let out =
            h.rt.exec(&cid, &req(format!("nc {ip_a} 8080 </dev/null")))
                .await
                .unwrap();
        got = String::from_utf8_lossy(&out.stdout).to_string();
        if got.contains("hello-from-server") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(got.contains("hello-from-server"), "{got:?}");
    // /etc/hosts carries the pod's own line.
    let hosts =
        h.rt.exec(&cid, &req("cat /etc/hosts".into()))
            .await
            .unwrap();
    assert!(String::from_utf8_lossy(&hosts.stdout).contains(&format!("{}\tclient", sb.ips[0])));
    h.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_monitor_still_gives_an_exit_event() {
    if !require_real("killed_monitor_still_gives_an_exit_event") {
        return;
    }
    let h = Harness::new(14, "runc").await;
    let sb =
        h.rt.create_sandbox(&h.sandbox_config("orphan"))
            .await
            .unwrap();
    let c = h.container(&sb, "main", &["sleep", "600"]);
    let id = h.rt.create_container(&sb, &c).await.unwrap();
    h.rt.start_container(&id).await.unwrap();
    let monitor_pid: i32 =
        std::fs::read_to_string(h.cfg.root.join("containers").join(&id).join("monitor.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(monitor_pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rt2 = h.reopen().await;
    let waiter = tokio::spawn(async move { rt2.wait(&id.clone()).await.map(|s| s.exit_code) });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiter.is_finished(),
        "wait must block while the container runs"
    );
    let id = h.rt.list_containers().await.unwrap()[0].id.clone();
    h.rt.signal(&id, Signal::SIGKILL).await.unwrap();
    let code = tokio::time::timeout(Duration::from_secs(20), waiter)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(code, 255, "exit code unknown without the monitor");
    h.teardown().await;
}
