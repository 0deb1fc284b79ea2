//! The monitor's attach socket against a real runc container: stdin through
//! a pipe with stdinOnce, and a TTY whose resize the process sees. Requires
//! root and runc (see `common::require_real`).

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use common::*;

const HELLO: u8 = 6;
const STDIN: u8 = 0;
const STDIN_EOF: u8 = 3;
const RESIZE: u8 = 4;
const STDOUT: u8 = 1;
const EXIT: u8 = 5;

fn send(s: &mut UnixStream, kind: u8, payload: &[u8]) {
    let mut f = vec![kind];
    f.extend((payload.len() as u32).to_be_bytes());
    f.extend(payload);
    s.write_all(&f).unwrap();
}

fn read_frame(s: &mut UnixStream) -> (u8, Vec<u8>) {
    let mut h = [0u8; 5];
    s.read_exact(&mut h).unwrap();
    let mut p = vec![0u8; u32::from_be_bytes([h[1], h[2], h[3], h[4]]) as usize];
    s.read_exact(&mut p).unwrap();
    (h[0], p)
}

/// Collects STDOUT until EXIT; returns (stdout, exit code).
fn until_exit(s: &mut UnixStream) -> (String, i32) {
    let mut out = Vec::new();
    loop {
        let (k, p) = read_frame(s);
        match k {
            STDOUT => out.extend(p),
            EXIT => {
                let code = i32::from_be_bytes(p.try_into().unwrap());
                return (String::from_utf8_lossy(&out).into_owned(), code);
            }
            _ => {}
        }
    }
}

fn connect(f: &Fixture) -> UnixStream {
    let s = UnixStream::connect(f.dir.path().join("attach")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s
}

#[test]
fn stdin_pipe_with_stdin_once() {
    if !require_real() {
        return;
    }
    let f = Fixture::new(
        "attach-stdin",
        &["sh", "-c", "read line; echo got:$line; cat; echo eof"],
        false,
    );
    let sock = f.dir.path().join("attach").display().to_string();
    let sync = f.start_monitor(&["--attach-socket", &sock, "--stdin-once"]);
    assert!(sync["pid"].as_i64().is_some(), "{sync}");
    let mut c = connect(&f);
    assert_eq!(read_frame(&mut c), (HELLO, vec![1]));
    f.start();
    send(&mut c, STDIN, b"hi\nmore\n");
    // stdinOnce: our EOF is the container's EOF, so `cat` ends.
    send(&mut c, STDIN_EOF, b"");
    let (out, code) = until_exit(&mut c);
    assert_eq!(out, "got:hi\nmore\neof\n");
    assert_eq!(code, 0);
    assert_eq!(f.wait_exit()["exit_code"], 0);
    // The log has the same output: logging and attach both saw it.
    let texts: Vec<String> = parse_log(&f.log()).into_iter().map(|r| r.text).collect();
    assert_eq!(texts, vec!["got:hi", "more", "eof"]);
    assert!(!f.dir.path().join("attach").exists(), "socket left behind");
}

#[test]
fn tty_resize_is_seen_by_the_process() {
    if !require_real() {
        return;
    }
    let f = Fixture::new("attach-tty", &["sh", "-c", "read x; stty size"], true);
    std::os::unix::fs::symlink("busybox", f.bundle().join("rootfs/bin/stty")).unwrap();
    let sock = f.dir.path().join("attach").display().to_string();
    f.start_monitor(&["--tty", "--attach-socket", &sock, "--stdin"]);
    let mut c = connect(&f);
    assert_eq!(read_frame(&mut c), (HELLO, vec![3]));
    f.start();
    let mut size = Vec::new();
    size.extend(100u16.to_be_bytes());
    size.extend(30u16.to_be_bytes());
    send(&mut c, RESIZE, &size);
    send(&mut c, STDIN, b"\n");
    let (out, code) = until_exit(&mut c);
    assert!(out.contains("30 100"), "{out:?}");
    assert_eq!(code, 0);
}

#[test]
fn without_stdin_the_container_reads_eof() {
    if !require_real() {
        return;
    }
    let f = Fixture::new(
        "attach-nostdin",
        &["sh", "-c", "cat; echo done; exit 4"],
        false,
    );
    let sock = f.dir.path().join("attach").display().to_string();
    f.start_monitor(&["--attach-socket", &sock]);
    let mut c = connect(&f);
    assert_eq!(read_frame(&mut c), (HELLO, vec![0]));
    f.start();
    let (out, code) = until_exit(&mut c);
    assert_eq!((out.as_str(), code), ("done\n", 4));
}
