//! testbin's subcommands as a container would run them: exit codes, files,
//! signals, output. Signals are sent only after the process said it is ready.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const TESTBIN: &str = env!("CARGO_BIN_EXE_testbin");

fn run(args: &[&str]) -> std::process::Output {
    Command::new(TESTBIN).args(args).output().unwrap()
}

#[test]
fn exit_codes_and_usage_errors() {
    assert_eq!(run(&["exit", "3"]).status.code(), Some(3));
    assert_eq!(run(&["exit", "0"]).status.code(), Some(0));
    assert_eq!(run(&["exit", "x"]).status.code(), Some(2));
    assert_eq!(run(&["bogus"]).status.code(), Some(2));
    assert_eq!(run(&[]).status.code(), Some(2));
}

#[test]
fn write_file_and_output_commands() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("sub/f.txt");
    assert!(
        run(&["write-file", p.to_str().unwrap(), "hello"])
            .status
            .success()
    );
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "hello");

    let out = run(&["stdout-lines", "3"]);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "line 1\nline 2\nline 3\n"
    );

    let out = Command::new(TESTBIN)
        .arg("print-env")
        .env_clear()
        .env("B", "2")
        .env("A", "1")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "A=1\nB=2\n");

    let out = run(&["hostname"]);
    let want = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), want);
}

#[test]
fn sigterm_writes_file_and_exits_with_code() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("term");
    let mut child = Command::new(TESTBIN)
        .args([
            "sigterm",
            "--delay",
            "0.1",
            "--exit",
            "7",
            "--file",
            f.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "waiting for SIGTERM");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(7));
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "got SIGTERM");
    assert_eq!(lines.next().unwrap().unwrap(), "got SIGTERM");
}

#[test]
fn serve_answers_until_sigterm() {
    let mut child = Command::new(TESTBIN)
        .args(["serve", "--http-port", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let port: u16 = first.rsplit(':').next().unwrap().parse().unwrap();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    use std::io::{Read, Write};
    write!(s, "GET /status/418 HTTP/1.1\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 418 "), "{out}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
}
