//! The pod-level process namespace of `shareProcessNamespace: true`, held by
//! a pause process (the agent's side; the process itself is a mode of
//! `nodelet-monitor`, see its `pause.rs`).
//!
//! Net/ipc/uts namespaces are pinned by bind mounts with no process (see
//! [`super::namespaces`]), but a PID namespace dies with its PID 1: the
//! kernel kills everything in it and nothing can enter it again. So such a
//! sandbox has one process, PID 1 of the namespace every container of the
//! pod joins, which reaps the pod's orphans. It is `nodelet-monitor`
//! re-executed as `/pause` rather than a runc container running a pause
//! image: no image to ship or pull, no rootfs, no runc state or monitor per
//! pod, and it already is the binary made to outlive the agent. It confines
//! itself (an empty read-only root, uid 65535, no capabilities), so it
//! offers a container allowed to ptrace it no more than the kubelet's pause
//! container does.
//!
//! Start: the agent spawns the starter with the pod's pinned namespaces;
//! it reports the pause's pid and the pause reports `ready`; the agent
//! moves the pause into the pod's cgroup (`<pod>/pause`), bind-mounts its
//! `/proc/<pid>/ns/pid` at `<pins>/pid`, and only then sends the byte
//! that lets the pause on: if the agent dies before, the pause sees EOF
//! and exits, so no pause is ever left that no pin points to. The pin file
//! is what containers join (not `/proc/<pid>/ns/pid`, which a reused pid
//! could make someone else's), and it needs no pid on record.
//!
//! Re-adoption after an agent restart needs nothing: the pause is not the
//! agent's child and the pin lives in the pin space (see
//! [`super::pin_space`]), which outlives the agent. Removal
//! finds the pause as the process whose PID namespace is the pinned one
//! and whose pid in it is 1, SIGKILLs it (the kernel then kills whatever
//! is left in the namespace), waits for it on a pidfd, then removes its
//! cgroup; the pin goes with the others.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout};

use super::namespaces;
use super::pin_space::PinSpace;
use crate::error::{Result, RuntimeError};
use crate::oci::cgroups::CgroupFs;
use crate::types::SandboxNamespaces;

/// Name of the pin file in the sandbox's pin directory.
pub const PIN: &str = "pid";

/// How long the pause may take to start, and to die when killed.
const DEADLINE: Duration = Duration::from_secs(10);

/// The pause's cgroup: a leaf under the pod's (cgroup v2 allows processes
/// only in leaves once the pod's cgroup hands controllers down).
pub fn cgroup_of(pod_cgroup: &str) -> String {
    format!("{}/pause", pod_cgroup.trim_end_matches('/'))
}

/// Starts the pause of sandbox `id`, whose other namespaces are `ns`, in
/// cgroup `cgroup`, and pins its process namespace in `space`; returns the
/// pin's path. Blocking.
pub fn start(
    binary: &Path,
    ns: &SandboxNamespaces,
    space: &PinSpace,
    id: &str,
    cgroups: &CgroupFs,
    cgroup: &str,
) -> Result<PathBuf> {
    let mut cmd = Command::new(binary);
    cmd.arg("pause");
    for (flag, path) in [
        ("--userns", &ns.user),
        ("--ipcns", &ns.ipc),
        ("--utsns", &ns.uts),
        ("--netns", &ns.net),
    ] {
        if let Some(p) = path {
            cmd.arg(flag).arg(p);
        }
    }
    // Its own process group: a Ctrl-C in the agent's terminal must not
    // reach it (the pause is in this group too).
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0);
    let mut child = cmd.spawn().map_err(|e| RuntimeError::io(binary, e))?;
    // Taken before `wait`, which would close it (and the pause would leave).
    let go = child
        .stdin
        .take()
        .ok_or_else(|| RuntimeError::Other("no pipe to the pause process".into()))?;
    let report = read_report(&mut child);
    // The starter exits right after its report (or failed before it).
    let _ = child.wait();
    let pid = report?;
    // From here on, a failure drops the pipe to the pause's stdin, and the
    // pause, seeing EOF instead of the go-ahead, exits; the SIGKILL only
    // makes it sooner.
    let pidfd = rustix::process::pidfd_open(
        rustix::process::Pid::from_raw(pid)
            .ok_or_else(|| RuntimeError::Other(format!("pause reported pid {pid}")))?,
        rustix::process::PidfdFlags::empty(),
    )
    .map_err(|e| RuntimeError::Other(format!("pidfd of the pause process {pid}: {e}")))?;
    match pin_and_release(go, pid, &pidfd, space, id, cgroups, cgroup) {
        Ok(pin) => Ok(pin),
        Err(e) => {
            let _ = rustix::process::pidfd_send_signal(&pidfd, rustix::process::Signal::KILL);
            Err(e)
        }
    }
}

fn pin_and_release(
    mut go: std::process::ChildStdin,
    pid: i32,
    pidfd: &OwnedFd,
    space: &PinSpace,
    id: &str,
    cgroups: &CgroupFs,
    cgroup: &str,
) -> Result<PathBuf> {
    let ns_path = PathBuf::from(format!("/proc/{pid}/ns/pid"));
    let ns = File::open(&ns_path).map_err(|e| RuntimeError::io(&ns_path, e))?;
    // Still alive after the open: `ns` is the pause's namespace, not that
    // of some process that got its pid.
    if exited(pidfd, Duration::ZERO) {
        return Err(RuntimeError::Other(
            "the pause process died while starting".into(),
        ));
    }
    let same = |a: &Path, b: &Path| match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    };
    if same(&ns_path, Path::new("/proc/self/ns/pid")) {
        return Err(RuntimeError::Other(
            "the pause process is in the agent's process namespace".into(),
        ));
    }
    cgroups
        .add_process(cgroup, pid)
        .map_err(|e| RuntimeError::Other(format!("moving the pause into cgroup {cgroup}: {e}")))?;
    // `/proc/self` inside the space is still this process: `ns` is open.
    let source = PathBuf::from(format!("/proc/self/fd/{}", ns.as_raw_fd()));
    let pin = space.bind(id, PIN, &source)?;
    go.write_all(b"1")
        .map_err(|e| RuntimeError::Other(format!("releasing the pause process: {e}")))?;
    Ok(pin)
}

/// Reads the starter's and the pause's lines to EOF (both close stdout when
/// done) and returns the pause's pid once it reported `ready`.
fn read_report(child: &mut Child) -> Result<i32> {
    let out = child
        .stdout
        .take()
        .ok_or_else(|| RuntimeError::Other("no pipe from the pause process".into()))?;
    let text = read_to_eof(out, Instant::now() + DEADLINE)?;
    parse_report(&text)
}

fn read_to_eof(mut out: std::process::ChildStdout, deadline: Instant) -> Result<String> {
    let mut buf = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(RuntimeError::Other(format!(
                "the pause process did not start within {DEADLINE:?} (said {:?})",
                String::from_utf8_lossy(&buf)
            )));
        }
        let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(out.as_fd(), PollFlags::POLLIN)];
        match nix::poll::poll(&mut fds, PollTimeout::from(ms)) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => {}
            Err(e) => return Err(RuntimeError::Other(format!("poll: {e}"))),
        }
        let mut chunk = [0u8; 512];
        match out.read(&mut chunk) {
            Ok(0) => return Ok(String::from_utf8_lossy(&buf).into_owned()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(RuntimeError::Other(format!("pause process pipe: {e}"))),
        }
        if buf.len() > 64 * 1024 {
            return Err(RuntimeError::Other(
                "the pause process wrote too much".into(),
            ));
        }
    }
}

/// `pid <n>` (starter) and `ready` (pause), in either order, or an
/// `error <text>` line from either.
fn parse_report(text: &str) -> Result<i32> {
    let mut pid = None;
    let mut ready = false;
    for line in text.lines() {
        if let Some(e) = line.strip_prefix("error ") {
            return Err(RuntimeError::Other(format!(
                "starting the pod's pause process: {e}"
            )));
        }
        if let Some(p) = line.strip_prefix("pid ") {
            pid = p.trim().parse::<i32>().ok().filter(|p| *p > 0);
        }
        ready |= line == "ready";
    }
    match (pid, ready) {
        (Some(p), true) => Ok(p),
        _ => Err(RuntimeError::Other(format!(
            "starting the pod's pause process: unexpected report {text:?}"
        ))),
    }
}

/// Whether the process behind `pidfd` exited within `wait`.
fn exited(pidfd: &OwnedFd, wait: Duration) -> bool {
    let ms = u16::try_from(wait.as_millis()).unwrap_or(u16::MAX);
    let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
    matches!(nix::poll::poll(&mut fds, PollTimeout::from(ms)), Ok(n) if n > 0)
}

/// The host pid of the pause holding the namespace pinned at `pin`: the
/// process in that namespace whose pid there is 1. `None` when the pin is
/// not a live pin or the namespace has no init any more.
pub fn find(pin: &Path) -> Option<i32> {
    if !namespaces::is_pinned(pin) {
        return None;
    }
    let target = std::fs::metadata(pin).ok()?;
    let rd = std::fs::read_dir("/proc").ok()?;
    rd.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .find(|pid| {
            let in_ns = std::fs::metadata(format!("/proc/{pid}/ns/pid"))
                .is_ok_and(|m| m.dev() == target.dev() && m.ino() == target.ino());
            in_ns && pid_inside(*pid) == Some(1)
        })
}

/// The last (innermost) `NSpid` of a process.
fn pid_inside(pid: i32) -> Option<i32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))?
        .split_whitespace()
        .last()?
        .parse()
        .ok()
}

/// Kills the pause of the namespace pinned at `pin` (if any is alive) and
/// waits for it, then removes its cgroup. Idempotent. Blocking.
pub fn stop(pin: &Path, cgroups: &CgroupFs, cgroup: &str) -> Result<()> {
    if let Some(pid) = find(pin) {
        // Opened after `find`: if the pause died in between, the pid may
        // be another process's; check it is still the one before the kill.
        if let Some(raw) = rustix::process::Pid::from_raw(pid)
            && let Ok(fd) = rustix::process::pidfd_open(raw, rustix::process::PidfdFlags::empty())
            && find(pin) == Some(pid)
        {
            rustix::process::pidfd_send_signal(&fd, rustix::process::Signal::KILL).map_err(
                |e| RuntimeError::Other(format!("killing the pause process {pid}: {e}")),
            )?;
            if !exited(&fd, DEADLINE) {
                return Err(RuntimeError::Other(format!(
                    "the pause process {pid} did not exit within {DEADLINE:?} of SIGKILL"
                )));
            }
            tracing::debug!(pid, pin = %pin.display(), "pause process killed");
        }
    }
    // The kernel may need a moment after the exit to let the cgroup go.
    let started = Instant::now();
    loop {
        match cgroups.remove(cgroup) {
            Ok(()) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && started.elapsed() < DEADLINE => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => {
                return Err(RuntimeError::Other(format!(
                    "removing the pause's cgroup {cgroup}: {e}"
                )));
            }
        }
    }
}

/// Whether the pause holding the namespace pinned at `pin` is alive (a
/// container can join the namespace only then).
pub fn is_running(pin: &Path) -> bool {
    find(pin).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_lines_in_any_order() {
        assert_eq!(parse_report("pid 42\nready\n").unwrap(), 42);
        assert_eq!(parse_report("ready\npid 7\n").unwrap(), 7);
        let e = parse_report("pid 42\nerror pivot_root: EPERM\n").unwrap_err();
        assert!(e.to_string().contains("pivot_root: EPERM"), "{e}");
        assert!(parse_report("pid 42\n").is_err(), "never ready");
        assert!(parse_report("ready\n").is_err(), "no pid");
        assert!(parse_report("pid -1\nready\n").is_err());
    }

    #[test]
    fn nothing_found_without_a_pin() {
        let dir = tempfile::tempdir().unwrap();
        let pin = dir.path().join(PIN);
        assert_eq!(find(&pin), None);
        std::fs::write(&pin, b"").unwrap();
        assert_eq!(find(&pin), None, "a plain file is no pin");
        assert!(!is_running(&pin));
    }

    #[test]
    fn pause_cgroup_is_a_leaf_of_the_pods() {
        assert_eq!(cgroup_of("nodelet/podabc"), "nodelet/podabc/pause");
        assert_eq!(cgroup_of("/nodelet/podabc/"), "/nodelet/podabc/pause");
    }
}
