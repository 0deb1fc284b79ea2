//! The monitor against a real runc with a busybox bundle: sync message, CRI
//! logs, exit files, signals, rotation, partial lines, tty and surviving its
//! parent. Requires root and runc (see `common::require_real`).

mod common;

use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use common::*;

#[test]
fn logs_streams_and_exit_code() {
    if !require_real() {
        return;
    }
    let f = Fixture::new(
        "exit3",
        &["sh", "-c", "echo out1; echo err1 >&2; echo out2; exit 3"],
        false,
    );
    let sync = f.start_monitor(&[]);
    let mpid = sync["monitor_pid"].as_i64().expect("monitor_pid");
    assert!(sync["pid"].as_i64().expect("pid") > 1);
    assert!(mpid > 1);
    f.start();
    let exit = f.wait_exit();
    assert_eq!(exit["exit_code"], 3);
    assert!(exit["signal"].is_null());
    assert_eq!(exit["oom_killed"], false);
    let ts = regex::Regex::new(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$").unwrap();
    assert!(ts.is_match(exit["finished_at"].as_str().unwrap()), "{exit}");
    let recs = parse_log(&f.log());
    let of = |s: &str| -> Vec<String> {
        recs.iter()
            .filter(|r| r.stream == s && !r.partial)
            .map(|r| r.text.clone())
            .collect()
    };
    assert_eq!(of("stdout"), vec!["out1", "out2"]);
    assert_eq!(of("stderr"), vec!["err1"]);
    assert!(recs.iter().all(|r| !r.partial));
}

#[test]
fn killed_container_reports_signal() {
    if !require_real() {
        return;
    }
    let f = Fixture::new("kill9", &["sleep", "100"], false);
    let sync = f.start_monitor(&[]);
    f.start();
    // The monitor must outlive these: only its exit file proves it stayed.
    let monitor = nix::unistd::Pid::from_raw(sync["monitor_pid"].as_i64().unwrap() as i32);
    for sig in [
        nix::sys::signal::Signal::SIGTERM,
        nix::sys::signal::Signal::SIGINT,
        nix::sys::signal::Signal::SIGHUP,
    ] {
        nix::sys::signal::kill(monitor, sig).unwrap();
    }
    let out = f.runc(&["kill", &f.id, "KILL"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let exit = f.wait_exit();
    assert_eq!(exit["exit_code"], 137);
    assert_eq!(exit["signal"], 9);
}

#[test]
fn create_failure_is_reported_in_sync() {
    if !require_real() {
        return;
    }
    let f = Fixture::new("fail", &["true"], false);
    std::fs::remove_file(f.bundle().join("config.json")).unwrap();
    let sync = f.start_monitor(&[]);
    let err = sync["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error in {sync}"));
    assert!(err.contains("config.json"), "{err}");
    assert!(!f.exit_file().exists());
}

#[test]
fn survives_parent_sigkill() {
    if !require_real() {
        return;
    }
    let f = Fixture::new("orphan", &["sh", "-c", "echo done"], false);
    // The parent shell starts the monitor with the sync pipe on fd 3, then
    // lingers until it is SIGKILLed, like an agent crashing.
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let wfd = w.as_raw_fd();
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("\"$0\" \"$@\"; exec sleep 1000")
        .arg(MONITOR)
        .args(f.monitor_args(&[]))
        .stdin(Stdio::null());
    // SAFETY: only async-signal-safe dup2 between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if nix::libc::dup2(wfd, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut parent = cmd.spawn().unwrap();
    drop(cmd);
    drop(w);
    let sync = read_sync(r);
    let mpid = sync["monitor_pid"].as_i64().unwrap();
    parent.kill().unwrap();
    parent.wait().unwrap();
    assert!(pid_alive(mpid), "monitor died with its parent");
    f.start();
    let exit = f.wait_exit();
    assert_eq!(exit["exit_code"], 0);
    let recs = parse_log(&f.log());
    assert_eq!(
        recs.iter().map(|r| r.text.as_str()).collect::<Vec<_>>(),
        vec!["done"]
    );
}

#[test]
fn rotation_keeps_every_line_in_order() {
    if !require_real() {
        return;
    }
    let f = Fixture::new("rotate", &["seq", "1", "300"], false);
    f.start_monitor(&["--log-max-size", "1000", "--log-max-files", "100"]);
    f.start();
    assert_eq!(f.wait_exit()["exit_code"], 0);
    let rotated = |n: u32| {
        let mut p = f.log().into_os_string();
        p.push(format!(".{n}"));
        std::path::PathBuf::from(p)
    };
    assert!(rotated(1).exists(), "no rotated file");
    let mut files: Vec<_> = (1..100).map(rotated).filter(|p| p.exists()).collect();
    files.reverse();
    files.push(f.log());
    let mut lines = Vec::new();
    for p in &files {
        assert!(
            std::fs::metadata(p).unwrap().len() <= 1000,
            "{} too big",
            p.display()
        );
        lines.extend(parse_log(p).into_iter().map(|r| r.text));
    }
    let want: Vec<String> = (1..=300).map(|i| i.to_string()).collect();
    assert_eq!(lines, want);
}

#[test]
fn long_unterminated_output_gives_partial_records() {
    if !require_real() {
        return;
    }
    // 2^15 'a' followed by "bc", no newline: two full 16 KiB P records and a P tail.
    let script = "s=a; i=0; while [ $i -lt 15 ]; do s=$s$s; i=$((i+1)); done; printf %s \"${s}bc\"";
    let f = Fixture::new("partial", &["sh", "-c", script], false);
    f.start_monitor(&[]);
    f.start();
    assert_eq!(f.wait_exit()["exit_code"], 0);
    let recs = parse_log(&f.log());
    assert!(
        recs.iter().all(|r| r.partial && r.stream == "stdout"),
        "{recs:?}"
    );
    let lens: Vec<usize> = recs.iter().map(|r| r.text.len()).collect();
    assert_eq!(lens, vec![16384, 16384, 2]);
    assert_eq!(recs[2].text, "bc");
}

#[test]
fn tty_output_is_logged_as_stdout() {
    if !require_real() {
        return;
    }
    let f = Fixture::new(
        "tty",
        &["sh", "-c", "echo hi-tty; echo second >&2; exit 5"],
        true,
    );
    let sync = f.start_monitor(&["--tty"]);
    assert!(sync["pid"].as_i64().is_some(), "{sync}");
    f.start();
    assert_eq!(f.wait_exit()["exit_code"], 5);
    let recs = parse_log(&f.log());
    let texts: Vec<&str> = recs.iter().map(|r| r.text.as_str()).collect();
    assert_eq!(texts, vec!["hi-tty", "second"]);
    assert!(recs.iter().all(|r| r.stream == "stdout" && !r.partial));
}

#[test]
fn oom_kill_is_detected() {
    if !require_real() {
        return;
    }
    // The shell doubles a string until the 32 MiB memory limit kills it.
    let f = Fixture::new(
        "oom",
        &["sh", "-c", "s=a; while true; do s=$s$s; done"],
        false,
    );
    f.edit_config(|c| {
        c["linux"]["resources"]["memory"] =
            serde_json::json!({"limit": 33554432_i64, "swap": 33554432_i64});
    });
    f.start_monitor(&[]);
    f.start();
    let exit = f.wait_exit();
    assert_eq!(exit["signal"], 9, "{exit}");
    assert_eq!(exit["oom_killed"], true, "{exit}");
}

/// The agent's way: the sync pipe as stdout (`--sync-fd 1`, spawned without a
/// pre_exec hook) and a process group of its own. The monitor must end up in a
/// process group of its own but in our session (see `detach::daemonize`), keep
/// nothing of the pipe on its stdout, and work as with fd 3.
#[test]
fn sync_on_stdout_detaches_into_own_group() {
    if !require_real() {
        return;
    }
    let f = Fixture::new("stdout-sync", &["sh", "-c", "echo hi; exit 5"], false);
    let mut args = f.monitor_args(&[]);
    let i = args.iter().position(|a| a == "--sync-fd").unwrap();
    args[i + 1] = "1".into();
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let status = Command::new(MONITOR)
        .args(&args)
        .stdout(Stdio::from(w))
        .process_group(0)
        .status()
        .unwrap();
    assert!(status.success(), "monitor's first process failed: {status}");
    let sync = read_sync(r);
    let mpid = sync["monitor_pid"].as_i64().expect("monitor_pid") as i32;
    let pid = nix::unistd::Pid::from_raw(mpid);
    assert_eq!(
        nix::unistd::getpgid(Some(pid)).unwrap(),
        pid,
        "not a group leader"
    );
    assert_eq!(
        nix::unistd::getsid(Some(pid)).unwrap(),
        nix::unistd::getsid(None).unwrap(),
        "left our session (a new scheduling autogroup)"
    );
    let out = std::fs::read_link(format!("/proc/{mpid}/fd/1")).unwrap();
    assert_eq!(out, std::path::Path::new("/dev/null"));
    f.start();
    let exit = f.wait_exit();
    assert_eq!(exit["exit_code"], 5);
    let recs = parse_log(&f.log());
    assert!(recs.iter().any(|r| r.text == "hi"), "{recs:?}");
}

#[test]
fn start_flag_runs_the_container_without_runc_start() {
    if !require_real() {
        return;
    }
    let f = Fixture::new(
        "runstart",
        &["sh", "-c", "echo out1; echo err1 >&2; exit 4"],
        false,
    );
    let sync = f.start_monitor(&["--start"]);
    assert!(sync["pid"].as_i64().expect("pid") > 1, "{sync}");
    // No `runc start`: the entrypoint already ran.
    let exit = f.wait_exit();
    assert_eq!(exit["exit_code"], 4);
    let recs = parse_log(&f.log());
    let of = |s: &str| -> Vec<String> {
        recs.iter()
            .filter(|r| r.stream == s)
            .map(|r| r.text.clone())
            .collect()
    };
    assert_eq!(of("stdout"), vec!["out1"]);
    assert_eq!(of("stderr"), vec!["err1"]);
}

#[test]
fn start_flag_with_tty() {
    if !require_real() {
        return;
    }
    let f = Fixture::new("runstart-tty", &["sh", "-c", "echo hi-tty; exit 6"], true);
    let sync = f.start_monitor(&["--tty", "--start"]);
    assert!(sync["pid"].as_i64().is_some(), "{sync}");
    assert_eq!(f.wait_exit()["exit_code"], 6);
    let texts: Vec<String> = parse_log(&f.log()).into_iter().map(|r| r.text).collect();
    assert_eq!(texts, vec!["hi-tty"]);
}

#[test]
fn start_flag_reports_exec_failure_in_sync() {
    if !require_real() {
        return;
    }
    let f = Fixture::new("runstart-bad", &["no-such-command"], false);
    let sync = f.start_monitor(&["--start"]);
    let err = sync["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error in {sync}"));
    assert!(err.contains("no-such-command"), "{err}");
    assert!(!f.exit_file().exists());
    // `run` removes what it created when the process cannot start.
    let out = f.runc(&["state", &f.id]);
    assert!(!out.status.success(), "container still exists");
}
