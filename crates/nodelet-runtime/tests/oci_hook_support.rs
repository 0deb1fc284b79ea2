//! What lifecycle hooks need from the OCI runtime beyond a plain exec:
//! a timed-out exec takes every process it started with it, output streams
//! to a sink while the command runs, and lines appended through the
//! monitor land in the container's CRI log in order with its own output.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use nodelet_runtime::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_out_exec_kills_its_whole_process_tree() {
    if !require_real("timed_out_exec_kills_its_whole_process_tree") {
        return;
    }
    let h = Harness::new(90, "runc").await;
    let sb =
        h.rt.create_sandbox(&h.sandbox_config("tree"))
            .await
            .unwrap();
    let c = h.container(&sb, "main", &["sleep", "600"]);
    let id = h.rt.create_container(&sb, &c).await.unwrap();
    h.rt.start_container(&id).await.unwrap();
    let seen = Arc::new(Mutex::new(Vec::<u8>::new()));
    let sink_seen = seen.clone();
    let sink: OutputSink =
        Arc::new(move |_, b: &[u8]| sink_seen.lock().unwrap().extend_from_slice(b));
    let req = ExecRequest {
        command: vec![
            "sh".into(),
            "-c".into(),
            "echo started; sleep 3601 & sleep 3602 & wait".into(),
        ],
        env: vec![],
        timeout: Some(Duration::from_secs(2)),
    };
    let t = std::time::Instant::now();
    let r = h.rt.exec_streaming(&id, &req, sink).await;
    assert!(
        matches!(r, Err(RuntimeError::ExecTimeout(_))),
        "expected a timeout, got {r:?}"
    );
    let took = t.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(10),
        "{took:?}"
    );
    // Output streamed before the timeout is not lost.
    assert_eq!(String::from_utf8_lossy(&seen.lock().unwrap()), "started\n");
    // Neither sleep survives in the container.
    let ps = ExecRequest {
        command: vec!["ps".into(), "-o".into(), "args".into()],
        env: vec![],
        timeout: Some(Duration::from_secs(10)),
    };
    let mut left = String::new();
    for _ in 0..50 {
        let out = h.rt.exec(&id, &ps).await.unwrap();
        left = String::from_utf8_lossy(&out.stdout).into_owned();
        if !left.contains("sleep 360") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !left.contains("sleep 360"),
        "hook processes left behind:\n{left}"
    );
    h.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appended_lines_land_in_the_cri_log_in_order() {
    if !require_real("appended_lines_land_in_the_cri_log_in_order") {
        return;
    }
    let h = Harness::new(91, "runc").await;
    let sb =
        h.rt.create_sandbox(&h.sandbox_config("applog"))
            .await
            .unwrap();
    // The app prints a line, waits for a marker file, prints another.
    let c = h.container(
        &sb,
        "main",
        &[
            "sh",
            "-c",
            "echo app-first; while [ ! -f /tmp/go ]; do sleep 0.05; done; echo app-last; sleep 600",
        ],
    );
    let id = h.rt.create_container(&sb, &c).await.unwrap();
    h.rt.start_container(&id).await.unwrap();
    let log = h.rt.log_path(&id);
    for _ in 0..100 {
        if cri_log_text(&log).contains("app-first") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    h.rt.append_log(
        &id,
        LogStream::Stdout,
        b"[hook postStart] one\n[hook postStart] two\n",
    )
    .await
    .unwrap();
    h.rt.append_log(&id, LogStream::Stderr, b"[hook postStart] err")
        .await
        .unwrap();
    // Let the monitor write them before the app's next line.
    for _ in 0..100 {
        if cri_log_text(&log).contains("err") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let touch = ExecRequest {
        command: vec!["touch".into(), "/tmp/go".into()],
        env: vec![],
        timeout: Some(Duration::from_secs(10)),
    };
    h.rt.exec(&id, &touch).await.unwrap();
    let mut text = String::new();
    for _ in 0..100 {
        text = cri_log_text(&log);
        if text.contains("app-last") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        vec![
            "app-first",
            "[hook postStart] one",
            "[hook postStart] two",
            "[hook postStart] err",
            "app-last"
        ]
    );
    let raw = std::fs::read_to_string(&log).unwrap();
    assert!(raw.contains(" stderr F [hook postStart] err\n"), "{raw}");
    h.teardown().await;
}
