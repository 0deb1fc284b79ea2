//! Shared fixtures for the real-container tests: a busybox bundle made with
//! `runc spec`, and a monitor launched the way the agent launches it (a pipe
//! as fd 3 for the sync message).

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub const MONITOR: &str = env!("CARGO_BIN_EXE_nodelet-monitor");

/// Applets linked into the test rootfs.
const APPLETS: &[&str] = &["sh", "echo", "sleep", "printf", "seq", "head", "cat"];

/// The skip/fail rule: returns false (skip) only with NODELET_SKIP_REAL=1;
/// otherwise panics naming what is missing.
pub fn require_real() -> bool {
    if std::env::var("NODELET_SKIP_REAL").as_deref() == Ok("1") {
        eprintln!("skipped: NODELET_SKIP_REAL=1 (real runc containers)");
        return false;
    }
    let mut missing = Vec::new();
    if !nix::unistd::geteuid().is_root() {
        missing.push("root privileges");
    }
    if Command::new("runc")
        .arg("--version")
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        missing.push("runc in PATH");
    }
    if !Path::new("/bin/busybox").exists() {
        missing.push("/bin/busybox (Debian busybox-static)");
    }
    if !missing.is_empty() {
        panic!(
            "real-container test cannot run, missing: {} (set NODELET_SKIP_REAL=1 to skip)",
            missing.join(", ")
        );
    }
    true
}

/// A test container: temp dirs, its bundle, and runc cleanup on drop.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub id: String,
}

impl Fixture {
    /// Builds a bundle running `args` (with `terminal` as given).
    pub fn new(name: &str, args: &[&str], terminal: bool) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("bundle");
        let bin = bundle.join("rootfs/bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::copy("/bin/busybox", bin.join("busybox")).unwrap();
        for a in APPLETS {
            std::os::unix::fs::symlink("busybox", bin.join(a)).unwrap();
        }
        let st = Command::new("runc")
            .arg("spec")
            .current_dir(&bundle)
            .status()
            .unwrap();
        assert!(st.success(), "runc spec failed");
        let cfg_path = bundle.join("config.json");
        let mut cfg: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&cfg_path).unwrap()).unwrap();
        cfg["process"]["terminal"] = terminal.into();
        cfg["process"]["args"] = args
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .into();
        std::fs::write(&cfg_path, serde_json::to_string_pretty(&cfg).unwrap()).unwrap();
        let id = format!("nmt-{}-{name}", std::process::id());
        Fixture { dir, id }
    }

    /// Edits the bundle's config.json.
    pub fn edit_config(&self, edit: impl FnOnce(&mut serde_json::Value)) {
        let p = self.bundle().join("config.json");
        let mut cfg: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        edit(&mut cfg);
        std::fs::write(&p, serde_json::to_string_pretty(&cfg).unwrap()).unwrap();
    }

    pub fn bundle(&self) -> PathBuf {
        self.dir.path().join("bundle")
    }
    pub fn runc_root(&self) -> PathBuf {
        self.dir.path().join("runc")
    }
    pub fn log(&self) -> PathBuf {
        self.dir.path().join("logs/0.log")
    }
    pub fn exit_file(&self) -> PathBuf {
        self.dir.path().join("exit.json")
    }

    /// The monitor's arguments, plus `extra`.
    pub fn monitor_args(&self, extra: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = vec![
            "--id".into(),
            self.id.clone(),
            "--bundle".into(),
            self.bundle().display().to_string(),
            "--runtime".into(),
            "runc".into(),
            "--runtime-root".into(),
            self.runc_root().display().to_string(),
            "--log-path".into(),
            self.log().display().to_string(),
            "--exit-file".into(),
            self.exit_file().display().to_string(),
            "--sync-fd".into(),
            "3".into(),
        ];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    }

    /// Runs the monitor with a pipe on fd 3 and returns the parsed sync line.
    pub fn start_monitor(&self, extra: &[&str]) -> serde_json::Value {
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        let mut cmd = Command::new(MONITOR);
        cmd.args(self.monitor_args(extra));
        let wfd = w.as_raw_fd();
        // SAFETY: only async-signal-safe dup2 between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if nix::libc::dup2(wfd, 3) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let status = cmd.status().unwrap();
        assert!(status.success(), "monitor's first process failed: {status}");
        drop(w);
        read_sync(r)
    }

    pub fn runc(&self, args: &[&str]) -> std::process::Output {
        Command::new("runc")
            .arg("--root")
            .arg(self.runc_root())
            .args(args)
            .output()
            .unwrap()
    }

    pub fn start(&self) {
        let out = self.runc(&["start", &self.id]);
        assert!(
            out.status.success(),
            "runc start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Waits (bounded) for the exit file and parses it.
    pub fn wait_exit(&self) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(s) = std::fs::read_to_string(self.exit_file()) {
                return serde_json::from_str(&s).unwrap();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("no exit file after 30s");
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = self.runc(&["delete", "--force", &self.id]);
    }
}

/// Reads the single sync line; the monitor closes the pipe after it.
pub fn read_sync(r: OwnedFd) -> serde_json::Value {
    let mut line = String::new();
    BufReader::new(std::fs::File::from(r))
        .read_line(&mut line)
        .unwrap();
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad sync line {line:?}: {e}"))
}

/// One parsed CRI log record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub stream: String,
    pub partial: bool,
    pub text: String,
}

/// Parses a CRI log file, asserting every line has the exact format.
pub fn parse_log(path: &Path) -> Vec<Record> {
    let re = regex::Regex::new(
        r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z (stdout|stderr) (F|P) (.*)$",
    )
    .unwrap();
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "log does not end with newline"
    );
    text.lines()
        .map(|l| {
            let c = re
                .captures(l)
                .unwrap_or_else(|| panic!("not a CRI log line: {l:?}"));
            Record {
                stream: c[1].to_string(),
                partial: &c[2] == "P",
                text: c[3].to_string(),
            }
        })
        .collect()
}

pub fn pid_alive(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}
