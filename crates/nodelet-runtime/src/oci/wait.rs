//! Event-driven waiting for a container's exit: a pidfd on its monitor
//! (which outlives the container by exactly the time it takes to write the
//! exit file) becomes readable when the monitor exits; then the exit file
//! says how the container ended. No polling, any number of concurrent
//! waiters, and it works for monitors started by a previous agent process.

use std::os::fd::OwnedFd;
use std::path::Path;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use crate::error::{Result, RuntimeError};

/// The monitor's exit file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitFile {
    pub exit_code: i32,
    #[serde(default)]
    pub signal: Option<i32>,
    pub finished_at: Timestamp,
    #[serde(default)]
    pub started_at: Option<Timestamp>,
    /// The monitor's own OOM verdict (read before the cgroup can go).
    #[serde(default)]
    pub oom_killed: bool,
}

/// Reads the exit file; `None` while the container has not exited.
///
/// The monitor renames a complete file into place without fsync (see
/// nodelet-monitor's `report::write_atomic`), so an empty or cut file can
/// only be what a machine crash left: the container died with the machine
/// and its exit code is unknown (255, as containerd reports it), dated by
/// the file.
pub fn read_exit_file(path: &Path) -> Result<Option<ExitFile>> {
    match std::fs::read(path) {
        Ok(b) => match serde_json::from_slice(&b) {
            Ok(e) => Ok(Some(e)),
            Err(err) => {
                tracing::warn!(path = %path.display(), error = %err,
                    "exit file cut short (machine crash?): exit code unknown");
                let finished_at = std::fs::metadata(path)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| Timestamp::try_from(t).ok())
                    .unwrap_or_else(Timestamp::now);
                Ok(Some(ExitFile {
                    exit_code: 255,
                    signal: None,
                    finished_at,
                    started_at: None,
                    oom_killed: false,
                }))
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(RuntimeError::io(path, e)),
    }
}

/// Whether `pid` is the monitor of container `id` (guards against pid
/// reuse after an agent restart).
pub fn is_our_monitor(pid: i32, id: &str) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| {
            let s = String::from_utf8_lossy(&c);
            s.contains("nodelet-monitor") && s.contains(id)
        })
        .unwrap_or(false)
}

/// The running monitor of container `id`, looked up by command line (for
/// when its pid was never recorded).
pub fn find_monitor(id: &str) -> Option<i32> {
    std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .find(|&pid| is_our_monitor(pid, id))
}

/// Opens a pidfd on the monitor, if it still runs and is ours.
pub fn open_monitor(pid: i32, id: &str) -> Option<OwnedFd> {
    let p = rustix::process::Pid::from_raw(pid)?;
    let fd = rustix::process::pidfd_open(p, rustix::process::PidfdFlags::NONBLOCK).ok()?;
    // Checked after opening: the pidfd pins the identity we verify.
    is_our_monitor(pid, id).then_some(fd)
}

/// Resolves when the process behind `pidfd` has exited.
pub async fn pidfd_exited(pidfd: OwnedFd) -> Result<()> {
    // SAFETY: the AsyncFd owns the OwnedFd, so the descriptor stays open
    // and refers to the same pidfd for the AsyncFd's whole lifetime.
    let afd = unsafe { AsyncFd::register_with_interest(pidfd, Interest::READABLE) }
        .map_err(|e| RuntimeError::io("pidfd", e.into()))?;
    let guard = afd
        .readable()
        .await
        .map_err(|e| RuntimeError::io("pidfd", e))?;
    drop(guard);
    Ok(())
}

/// Waits for container `id` given its monitor pid and exit file path.
/// `None`: the monitor is gone without writing the exit file (it was
/// killed), so how the container ended is unknown here.
pub async fn wait_exit(
    id: &str,
    monitor_pid: Option<i32>,
    exit_file: &Path,
) -> Result<Option<ExitFile>> {
    if let Some(e) = read_exit_file(exit_file)? {
        return Ok(Some(e));
    }
    if let Some(fd) = monitor_pid.and_then(|p| open_monitor(p, id)) {
        pidfd_exited(fd).await?;
    }
    read_exit_file(exit_file)
}

/// Waits for an arbitrary process (not our child) to exit; returns at
/// once if it is already gone.
pub async fn pid_exited(pid: i32) -> Result<()> {
    let Some(p) = rustix::process::Pid::from_raw(pid) else {
        return Ok(());
    };
    match rustix::process::pidfd_open(p, rustix::process::PidfdFlags::NONBLOCK) {
        Ok(fd) => pidfd_exited(fd).await,
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pidfd_fires_on_exit_of_a_non_child_too() {
        let mut child = tokio::process::Command::new("sleep")
            .arg("0.2")
            .spawn()
            .unwrap();
        let pid = child.id().unwrap() as i32;
        let fd = rustix::process::pidfd_open(
            rustix::process::Pid::from_raw(pid).unwrap(),
            rustix::process::PidfdFlags::NONBLOCK,
        )
        .unwrap();
        let (a, b) = tokio::join!(pidfd_exited(fd), child.wait());
        a.unwrap();
        assert!(b.unwrap().success());
    }

    #[test]
    fn exit_file_roundtrip() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("exit");
        assert!(read_exit_file(&p).unwrap().is_none());
        std::fs::write(
            &p,
            r#"{"exit_code":137,"signal":9,"finished_at":"2026-01-01T00:00:00.5Z"}"#,
        )
        .unwrap();
        let e = read_exit_file(&p).unwrap().unwrap();
        assert_eq!((e.exit_code, e.signal), (137, Some(9)));
        // What a power loss may leave of a file renamed without fsync.
        std::fs::write(&p, "").unwrap();
        let e = read_exit_file(&p).unwrap().unwrap();
        assert_eq!((e.exit_code, e.signal, e.oom_killed), (255, None, false));
        std::fs::write(&p, r#"{"exit_code":1"#).unwrap();
        assert_eq!(read_exit_file(&p).unwrap().unwrap().exit_code, 255);
        assert!(!is_our_monitor(std::process::id() as i32, "nope-id"));
    }
}
