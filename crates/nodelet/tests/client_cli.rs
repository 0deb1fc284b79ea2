//! The client commands as a user runs them: exit codes and messages when
//! the agent is absent or answers an error, against an in-test server on a
//! unix socket.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixListener;

use assert_cmd::Command;
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;

fn nodelet() -> Command {
    Command::cargo_bin("nodelet").unwrap()
}

#[test]
fn absent_agent_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("nodelet.sock");
    nodelet()
        .args(["get", "pods", "--socket"])
        .arg(&sock)
        .assert()
        .code(1)
        .stderr(contains(format!(
            "error: cannot reach the nodelet agent at {}: is \"nodelet serve\" or \"nodelet run\" running?",
            sock.display()
        )));
    // --run-root locates the socket too.
    nodelet()
        .args(["describe", "pod", "x", "--run-root"])
        .arg(dir.path())
        .env_remove("NODELET_SOCKET")
        .assert()
        .code(1)
        .stderr(contains("cannot reach the nodelet agent at"));
}

/// Answers every request on one connection with `status` and `body`;
/// returns the request lines seen.
fn serve(
    listener: UnixListener,
    status: &'static str,
    body: &'static str,
) -> std::thread::JoinHandle<Vec<String>> {
    std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut seen = Vec::new();
        let mut line = String::new();
        let mut len = 0usize;
        loop {
            line.clear();
            if r.read_line(&mut line).unwrap() == 0 {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
            if line == "\r\n" {
                let mut b = vec![0u8; len];
                r.read_exact(&mut b).unwrap();
                break;
            }
            seen.push(line.trim_end().to_string());
        }
        let mut w = s;
        write!(
            w,
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        seen
    })
}

#[test]
fn server_errors_read_like_kubectl() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("nodelet.sock");
    let server = serve(
        UnixListener::bind(&sock).unwrap(),
        "404 Not Found",
        r#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"pods \"web\" not found","reason":"NotFound","details":{"name":"web","kind":"pods"},"code":404}"#,
    );
    nodelet()
        .args([
            "logs", "web", "-c", "main", "-n", "team", "--tail", "5", "--socket",
        ])
        .arg(&sock)
        .assert()
        .code(1)
        .stderr("Error from server (NotFound): pods \"web\" not found\n");
    let seen = server.join().unwrap();
    assert_eq!(
        seen[0],
        "GET /api/v1/namespaces/team/pods/web/log?container=main&tailLines=5 HTTP/1.1"
    );
}

/// A 100 MB manifest is refused naming the limit, before anything is sent:
/// the agent's socket has no listener, yet the error is the size, not
/// "cannot reach" (the client stops at loading).
#[test]
fn apply_of_a_100_mb_manifest_is_refused_naming_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.yaml");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(100 * 1024 * 1024).unwrap();
    drop(f);
    nodelet()
        .args(["apply", "-f"])
        .arg(&big)
        .arg("--socket")
        .arg(dir.path().join("nodelet.sock"))
        .assert()
        .code(1)
        .stderr(contains(format!(
            "more than the limit of {} bytes",
            nodelet_spec::load::MAX_MANIFEST_BYTES
        )))
        .stderr(contains("cannot reach").not());
}
