//! Signalling a container's init process without spawning the OCI runtime.
//!
//! `runc kill <id> <sig>` for the init process reads runc's `state.json`,
//! checks that the pid still is the init it started (same start time in
//! `/proc/<pid>/stat`, not a zombie) and calls kill(2). Spawning runc costs
//! tens of ms of CPU per call (a Go binary); 200 pods stopped at once spent
//! seconds there. This does the same check and sends the signal through a
//! pidfd, which pins the process so the check and the signal cannot be
//! split by a pid reuse. Anything unexpected (no state file, an unknown
//! format) returns `None` and the caller falls back to `runc kill`.

use std::path::Path;

use rustix::process::{PidfdFlags, Signal as RSignal, pidfd_open, pidfd_send_signal};

/// What a direct signal attempt found.
#[derive(Debug, PartialEq, Eq)]
pub enum Direct {
    /// The signal was delivered to the container's init.
    Sent,
    /// The init is gone (exited, reaped, or its pid now names another
    /// process): like runc's "container not running", not an error.
    NotRunning,
}

/// Signals the init of the container whose runc state dir is `state_dir`
/// (`<runc root>/<id>`). `None`: could not decide, use the OCI runtime.
pub fn signal_init(state_dir: &Path, signal: i32) -> Option<Direct> {
    let sig = RSignal::from_named_raw(signal)?;
    let (pid, want_start) = super::direct_state::init_of(state_dir)?;
    let pid = rustix::process::Pid::from_raw(pid)?;
    let fd = match pidfd_open(pid, PidfdFlags::empty()) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::SRCH) => return Some(Direct::NotRunning),
        Err(_) => return None,
    };
    // Checked after opening the pidfd: if the pid was reused in between,
    // the stat below is the new process's and does not match.
    let stat = match std::fs::read_to_string(format!("/proc/{}/stat", pid.as_raw_nonzero())) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Some(Direct::NotRunning),
        Err(_) => return None,
    };
    let (state_char, start) = parse_stat(&stat)?;
    if start != want_start || state_char == 'Z' || state_char == 'X' {
        return Some(Direct::NotRunning);
    }
    match pidfd_send_signal(&fd, sig) {
        Ok(()) => Some(Direct::Sent),
        Err(rustix::io::Errno::SRCH) => Some(Direct::NotRunning),
        Err(_) => None,
    }
}

/// The state (field 3) and start time (field 22) of a `/proc/<pid>/stat`
/// line. The command name (field 2) may contain spaces and parentheses:
/// fields are counted after its last `)`.
pub(crate) fn parse_stat(stat: &str) -> Option<(char, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // After the state (3rd field) come fields 4..; start time is the 22nd.
    let start = fields.nth(22 - 4)?.parse().ok()?;
    Some((state, start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_a_tricky_command_name() {
        let line = "42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 216006 1000 10";
        assert_eq!(parse_stat(line), Some(('S', 216006)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn own_process_start_time_matches_and_mismatch_is_not_running() {
        let me = std::process::id();
        let stat = std::fs::read_to_string(format!("/proc/{me}/stat")).unwrap();
        let (state, start) = parse_stat(&stat).unwrap();
        assert!("RS".contains(state), "{state}");
        let dir = tempfile::tempdir().unwrap();
        // A stale record (start time of an earlier process with this pid):
        // never signalled. Signal 0 would be harmless anyway.
        std::fs::write(
            dir.path().join("state.json"),
            format!(
                r#"{{"init_process_pid": {me}, "init_process_start": {}}}"#,
                start + 1
            ),
        )
        .unwrap();
        assert_eq!(
            signal_init(dir.path(), 0),
            None,
            "signal 0 is not a named signal"
        );
        assert_eq!(
            signal_init(dir.path(), libc_sigcont()),
            Some(Direct::NotRunning)
        );
        // The matching record: delivered (SIGCONT to a running process is a no-op).
        std::fs::write(
            dir.path().join("state.json"),
            format!(r#"{{"init_process_pid": {me}, "init_process_start": {start}}}"#),
        )
        .unwrap();
        assert_eq!(signal_init(dir.path(), libc_sigcont()), Some(Direct::Sent));
        // No state file: undecided, the caller uses runc.
        assert_eq!(
            signal_init(&dir.path().join("missing"), libc_sigcont()),
            None
        );
    }

    fn libc_sigcont() -> i32 {
        RSignal::CONT.as_raw()
    }
}
