//! A container's status as `runc state` would report it, read from runc's
//! own `state.json` without spawning runc.
//!
//! After an agent restart every container's state is asked for at once;
//! one `runc state` process per container (a Go binary, tens of ms of CPU
//! each) made re-adopting 500 pods take over a minute on two cores. runc
//! decides the status from three facts, all readable here: the init's pid
//! and its start time recorded in `<root>/<id>/state.json` (a pid whose
//! `/proc/<pid>/stat` start time differs, or a zombie, is a process that
//! is not the container's init: stopped), and the `exec.fifo` that exists
//! from `create` until `start` (created). Anything unexpected (no state
//! file, another runtime's layout) returns `None` and the caller asks the
//! runtime binary.

use std::path::Path;

use super::direct_kill::parse_stat;

/// What runc's state files say about a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Created, its entrypoint not started yet.
    Created { pid: i32 },
    /// Its init runs (paused counts as running, as for `runc state`).
    Running { pid: i32 },
    /// Its init is gone, or the pid now names another process.
    Stopped,
}

/// The init's pid and start time (clock ticks after boot, as in
/// `/proc/<pid>/stat`) from runc's `state.json` in `state_dir`: the pair
/// that tells the container's init from a process that reused its pid.
pub fn init_of(state_dir: &Path) -> Option<(i32, u64)> {
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state_dir.join("state.json")).ok()?).ok()?;
    let pid = i32::try_from(state.get("init_process_pid")?.as_i64()?).ok()?;
    let start = match state.get("init_process_start")? {
        serde_json::Value::Number(n) => n.as_u64()?,
        // runc before 1.0 wrote it as a string.
        serde_json::Value::String(s) => s.parse().ok()?,
        _ => return None,
    };
    Some((pid, start))
}

/// The status of the container whose runc state dir is `state_dir`
/// (`<runc root>/<id>`). `None`: could not decide, ask the runtime.
pub fn status(state_dir: &Path) -> Option<Status> {
    let (pid, want_start) = init_of(state_dir)?;
    if pid <= 0 {
        return None;
    }
    let stat = match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Some(Status::Stopped),
        Err(_) => return None,
    };
    let (state_char, start) = parse_stat(&stat)?;
    if start != want_start || state_char == 'Z' || state_char == 'X' {
        return Some(Status::Stopped);
    }
    // runc removes the fifo when `start` opens it.
    match std::fs::symlink_metadata(state_dir.join("exec.fifo")) {
        Ok(_) => Some(Status::Created { pid }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(Status::Running { pid }),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own_start() -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", std::process::id())).unwrap();
        parse_stat(&stat).unwrap().1
    }

    fn write_state(dir: &Path, pid: i64, start: serde_json::Value) {
        std::fs::write(
            dir.join("state.json"),
            serde_json::json!({"id": "x", "init_process_pid": pid, "init_process_start": start})
                .to_string(),
        )
        .unwrap();
    }

    #[test]
    fn running_created_and_stopped_as_runc_decides() {
        let me = std::process::id();
        let pid = i32::try_from(me).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let start = own_start();
        write_state(dir.path(), i64::from(me), start.into());
        assert_eq!(status(dir.path()), Some(Status::Running { pid }));
        // runc < 1.0 kept the start time as a string.
        write_state(dir.path(), i64::from(me), start.to_string().into());
        assert_eq!(status(dir.path()), Some(Status::Running { pid }));
        // Between create and start the exec fifo exists.
        std::fs::write(dir.path().join("exec.fifo"), b"").unwrap();
        assert_eq!(status(dir.path()), Some(Status::Created { pid }));
        std::fs::remove_file(dir.path().join("exec.fifo")).unwrap();
        // The same pid with another start time is another process: the
        // container's init is gone.
        write_state(dir.path(), i64::from(me), (start + 1).into());
        assert_eq!(status(dir.path()), Some(Status::Stopped));
    }

    #[test]
    fn a_gone_pid_is_stopped_and_unknown_layouts_are_undecided() {
        let dir = tempfile::tempdir().unwrap();
        // The largest pid the kernel can hand out is below this.
        write_state(dir.path(), 4_194_305, 1.into());
        assert_eq!(status(dir.path()), Some(Status::Stopped));
        // No state file (crun, youki): the runtime decides.
        assert_eq!(status(&dir.path().join("missing")), None);
        std::fs::write(dir.path().join("state.json"), br#"{"status":"running"}"#).unwrap();
        assert_eq!(status(dir.path()), None);
        std::fs::write(dir.path().join("state.json"), b"not json").unwrap();
        assert_eq!(status(dir.path()), None);
    }
}
