//! `Runtime::attach` through OciRuntime + runc + nodelet-monitor: stdin
//! through a pipe (stdinOnce gives the process EOF), detach and re-attach,
//! a TTY whose resize `stty size` sees, and refusals.

mod common;

use std::time::Duration;

use common::*;
use nodelet_runtime::*;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// Reads until `want` appears (bounded), returning everything read.
async fn read_until(r: &mut (dyn AsyncRead + Send + Unpin), want: &str) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !String::from_utf8_lossy(&buf).contains(want) {
        let n = tokio::time::timeout(Duration::from_secs(20), r.read(&mut chunk))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "no {want:?} in 20s; got {:?}",
                    String::from_utf8_lossy(&buf)
                )
            })
            .unwrap();
        assert!(
            n > 0,
            "EOF before {want:?}: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// Presses Enter until `want` appears (bounded). A resize and stdin travel
/// on separate streams (as in CRI), so a line may reach the shell before
/// the new size does: under load, `stty size` then still reads 0 rows.
async fn enter_until(
    w: &mut (dyn tokio::io::AsyncWrite + Send + Unpin),
    r: &mut (dyn AsyncRead + Send + Unpin),
    want: &str,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !String::from_utf8_lossy(&buf).contains(want) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {want:?} in 20s; got {:?}",
            String::from_utf8_lossy(&buf)
        );
        w.write_all(b"\n").await.unwrap();
        if let Ok(n) = tokio::time::timeout(Duration::from_millis(500), r.read(&mut chunk)).await {
            let n = n.unwrap();
            assert!(
                n > 0,
                "EOF before {want:?}: {:?}",
                String::from_utf8_lossy(&buf)
            );
            buf.extend_from_slice(&chunk[..n]);
        }
    }
}

const ALL: AttachRequest = AttachRequest {
    stdin: true,
    stdout: true,
    stderr: true,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_stdin_once_pipe_and_reattach() {
    if !require_real("attach_stdin_once_pipe_and_reattach") {
        return;
    }
    let h = Harness::new(71, "runc").await;
    let sb =
        h.rt.create_sandbox(&h.sandbox_config("attach"))
            .await
            .unwrap();

    // stdinOnce: the attached client's EOF is the process's EOF.
    let mut c = h.container(
        &sb,
        "once",
        &[
            "sh",
            "-c",
            "read line; echo got:$line; cat; echo eof >&2; exit 3",
        ],
    );
    c.stdin = true;
    c.stdin_once = true;
    let id = h.rt.create_container(&sb, &c).await.unwrap();
    h.rt.start_container(&id).await.unwrap();
    let mut a = h.rt.attach(&id, &ALL).await.unwrap();
    let mut stdin = a.stdin.take().unwrap();
    stdin.write_all(b"hi\nmore\n").await.unwrap();
    stdin.shutdown().await.unwrap();
    let (mut out, mut err) = (String::new(), String::new());
    let (mut so, mut se) = (a.stdout.take().unwrap(), a.stderr.take().unwrap());
    let (o, e) = tokio::join!(so.read_to_string(&mut out), se.read_to_string(&mut err));
    o.unwrap();
    e.unwrap();
    assert_eq!(out, "got:hi\nmore\n");
    assert_eq!(err, "eof\n");
    assert_eq!(a.exit.await.unwrap(), 3);
    assert_eq!(h.rt.wait(&id).await.unwrap().exit_code, 3);
    let e =
        h.rt.attach(&id, &ALL)
            .await
            .err()
            .expect("attach to an exited container");
    assert!(e.to_string().contains("not running"), "{e}");

    // Without stdinOnce, stdin outlives a detach: a second client goes on.
    let mut c = h.container(
        &sb,
        "reattach",
        &["sh", "-c", "while read l; do echo x$l; done"],
    );
    c.stdin = true;
    let id = h.rt.create_container(&sb, &c).await.unwrap();
    h.rt.start_container(&id).await.unwrap();
    for word in ["a", "b"] {
        let mut a = h.rt.attach(&id, &ALL).await.unwrap();
        let mut stdin = a.stdin.take().unwrap();
        stdin
            .write_all(format!("{word}\n").as_bytes())
            .await
            .unwrap();
        let got = read_until(a.stdout.as_mut().unwrap().as_mut(), &format!("x{word}\n")).await;
        assert_eq!(got, format!("x{word}\n"));
        // Detach: drop everything (closing stdin does not end the process).
    }
    // Output-only attach works too, and still needs no stdin.
    let out_only = AttachRequest {
        stdin: false,
        stdout: true,
        stderr: true,
    };
    let a = h.rt.attach(&id, &out_only).await.unwrap();
    assert!(a.stdin.is_none());
    drop(a);
    assert!(matches!(
        h.rt.container_state(&id).await.unwrap(),
        ContainerState::Running { .. }
    ));
    h.rt.signal(&id, Signal::SIGKILL).await.unwrap();
    assert_eq!(h.rt.wait(&id).await.unwrap().exit_code, 137);

    // stdin: false in the spec: stdin is refused, output is not.
    let c = h.container(&sb, "nostdin", &["sleep", "600"]);
    let id = h.rt.create_container(&sb, &c).await.unwrap();
    h.rt.start_container(&id).await.unwrap();
    let e =
        h.rt.attach(&id, &ALL)
            .await
            .err()
            .expect("stdin without stdin: true");
    assert!(e.to_string().contains("stdin: true"), "{e}");
    assert!(h.rt.attach(&id, &out_only).await.is_ok());
    h.rt.signal(&id, Signal::SIGKILL).await.unwrap();
    h.rt.wait(&id).await.unwrap();
    h.teardown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_tty_resize_seen_by_stty() {
    if !require_real("attach_tty_resize_seen_by_stty") {
        return;
    }
    let h = Harness::new(72, "runc").await;
    let sb =
        h.rt.create_sandbox(&h.sandbox_config("attachtty"))
            .await
            .unwrap();
    let mut c = h.container(
        &sb,
        "tty",
        &[
            "sh",
            "-c",
            "while read x; do [ \"$x\" = q ] && exit 7; stty size; done",
        ],
    );
    c.stdin = true;
    c.tty = true;
    let id = h.rt.create_container(&sb, &c).await.unwrap();
    h.rt.start_container(&id).await.unwrap();
    let mut a = h.rt.attach(&id, &ALL).await.unwrap();
    assert!(a.stderr.is_none(), "a TTY has one output stream");
    let resize = a.resize.clone().expect("resize on a TTY");
    let mut stdin = a.stdin.take().unwrap();
    let mut stdout = a.stdout.take().unwrap();
    resize.send((100, 30)).await.unwrap();
    enter_until(stdin.as_mut(), stdout.as_mut(), "30 100").await;
    resize.send((120, 40)).await.unwrap();
    enter_until(stdin.as_mut(), stdout.as_mut(), "40 120").await;
    stdin.write_all(b"q\n").await.unwrap();
    assert_eq!(a.exit.await.unwrap(), 7);
    h.teardown().await;
}
