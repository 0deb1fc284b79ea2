//! Termination messages (`terminationMessagePath`,
//! `terminationMessagePolicy`) as the kubelet handles them: a file the
//! agent creates (mode 0666, so any user in the container can write it)
//! and bind-mounts at the path; when the container exits, its last 4 KiB
//! become `state.terminated.message`. With `FallbackToLogsOnError`, a
//! container that failed and wrote nothing gets the tail of its log
//! instead (at most 80 lines and 2 KiB).

use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::{Result, RuntimeError};
use crate::types::{MountSpec, TerminationMessage};

/// `MaxContainerTerminationMessageLength`.
pub const MAX_MESSAGE: u64 = 4 * 1024;
/// `MaxContainerTerminationMessageLogLines` / `…LogLength`.
pub const MAX_LOG_LINES: usize = 80;
pub const MAX_LOG_BYTES: usize = 2 * 1024;

const FILE: &str = "termination-log";

pub fn host_file(container_dir: &Path) -> PathBuf {
    container_dir.join(FILE)
}

/// Creates the (empty) host file and returns its mount.
pub fn prepare(container_dir: &Path, t: &TerminationMessage) -> Result<MountSpec> {
    let f = host_file(container_dir);
    std::fs::write(&f, b"").map_err(|e| RuntimeError::io(&f, e))?;
    // Not narrowed by the umask: the container's user is arbitrary.
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o666))
        .map_err(|e| RuntimeError::io(&f, e))?;
    Ok(MountSpec {
        host_path: f,
        container_path: t.path.clone(),
        read_only: false,
        propagation: Default::default(),
        options: Vec::new(),
    })
}

/// The message of a container that exited with `exit_code`: the file's
/// last 4 KiB, else (failed, `FallbackToLogsOnError`) its log's tail.
pub fn read(
    container_dir: &Path,
    log: &Path,
    fallback_to_logs: bool,
    exit_code: i32,
) -> Option<String> {
    let f = host_file(container_dir);
    let written = match tail_bytes(&f, MAX_MESSAGE) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            return Some(format!(
                "Error on reading termination log {}: {e}",
                f.display()
            ));
        }
    };
    if !written.is_empty() {
        return Some(written);
    }
    if fallback_to_logs && exit_code != 0 {
        return log_tail(log).filter(|s| !s.is_empty());
    }
    None
}

fn tail_bytes(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    if len > max {
        f.seek(SeekFrom::Start(len - max))?;
    }
    let mut out = Vec::new();
    f.take(max).read_to_end(&mut out)?;
    Ok(out)
}

/// The last lines of a CRI log (`<time> <stream> <P|F> <content>`), their
/// content only: at most [`MAX_LOG_LINES`] lines and [`MAX_LOG_BYTES`].
fn log_tail(log: &Path) -> Option<String> {
    // Enough of the file for 80 lines of up to 2 KiB of content together.
    let raw = tail_bytes(log, 64 * 1024).ok()?;
    let text = String::from_utf8_lossy(&raw);
    let mut lines: Vec<String> = Vec::new();
    let mut partial = String::new();
    for l in text.lines() {
        let mut parts = l.splitn(4, ' ');
        let (Some(_), Some(_), Some(tag), content) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        partial.push_str(content.unwrap_or(""));
        if tag != "P" {
            lines.push(std::mem::take(&mut partial) + "\n");
        }
    }
    // Output that ended without a newline (`echo -n DONE; exit 1`).
    if !partial.is_empty() {
        lines.push(partial);
    }
    let start = lines.len().saturating_sub(MAX_LOG_LINES);
    let joined: String = lines[start..].concat();
    // Keep the end: the last 2 KiB, cut on a character boundary.
    let mut cut = joined.len().saturating_sub(MAX_LOG_BYTES);
    while !joined.is_char_boundary(cut) {
        cut += 1;
    }
    Some(joined[cut..].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(fallback: bool) -> TerminationMessage {
        TerminationMessage {
            path: "/dev/termination-log".into(),
            fallback_to_logs: fallback,
        }
    }

    #[test]
    fn the_file_written_by_the_container_is_the_message() {
        let d = tempfile::tempdir().unwrap();
        let m = prepare(d.path(), &t(false)).unwrap();
        assert_eq!(m.container_path, "/dev/termination-log");
        let mode = std::fs::metadata(&m.host_path)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o666);
        let log = d.path().join("0.log");
        assert_eq!(read(d.path(), &log, false, 0), None, "nothing written");
        std::fs::write(&m.host_path, "DONE").unwrap();
        assert_eq!(read(d.path(), &log, false, 0).as_deref(), Some("DONE"));
        std::fs::write(&m.host_path, "x".repeat(5000) + "END").unwrap();
        let long = read(d.path(), &log, false, 1).unwrap();
        assert_eq!(long.len(), 4096);
        assert!(long.ends_with("END"));
    }

    #[test]
    fn a_failed_container_falls_back_to_its_log_tail() {
        let d = tempfile::tempdir().unwrap();
        prepare(d.path(), &t(true)).unwrap();
        let log = d.path().join("0.log");
        let mut s = String::new();
        for i in 0..100 {
            s += &format!("2026-12-03T10:00:00.000000000Z stdout F line {i}\n");
        }
        s += "2026-12-03T10:00:00.000000000Z stderr P par\n2026-12-03T10:00:00.000000000Z stderr F tial\n";
        std::fs::write(&log, s).unwrap();
        assert_eq!(
            read(d.path(), &log, true, 0),
            None,
            "succeeded: no fallback"
        );
        assert_eq!(
            read(d.path(), &log, false, 1),
            None,
            "policy File: no fallback"
        );
        let m = read(d.path(), &log, true, 1).unwrap();
        assert!(m.ends_with("line 99\npartial\n"), "{m}");
        assert_eq!(m.lines().count(), 80);
        assert!(m.starts_with("line 21\n"), "{m}");
        std::fs::write(&log, "2026-12-03T10:00:00.000000000Z stdout P DONE\n").unwrap();
        assert_eq!(
            read(d.path(), &log, true, 1).as_deref(),
            Some("DONE"),
            "no trailing newline"
        );
    }
}
