//! The monitor's two outputs to the agent: the one-line sync message on the
//! sync fd and the exit file. JSON is written by hand (a few fixed fields) to
//! keep serde out of a process that runs once per container.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

/// Escapes `s` as the contents of a JSON string literal.
pub fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `{"monitor_pid": N, "pid": P}`
pub fn sync_ok(monitor_pid: i32, pid: i32) -> String {
    format!("{{\"monitor_pid\": {monitor_pid}, \"pid\": {pid}}}\n")
}

/// `{"error": "..."}`
pub fn sync_error(msg: &str) -> String {
    format!("{{\"error\": {}}}\n", json_str(msg))
}

/// How the container's init process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    /// `128 + signal` when killed by a signal, as runtimes report it.
    pub exit_code: i32,
    pub signal: Option<i32>,
    pub oom_killed: bool,
    pub finished_at: String,
}

impl Exit {
    pub fn to_json(&self) -> String {
        let signal = self.signal.map_or("null".to_string(), |s| s.to_string());
        format!(
            "{{\"exit_code\": {}, \"signal\": {}, \"oom_killed\": {}, \"finished_at\": {}}}\n",
            self.exit_code,
            signal,
            self.oom_killed,
            json_str(&self.finished_at)
        )
    }
}

/// Writes `contents` to `path` atomically (tmp file + rename): a reader sees
/// either no file or the whole file, whenever the monitor or the agent dies.
///
/// No fsync, on purpose: it sat between the container's exit and the agent
/// seeing it, at ≈ 1 ms typically but up to seconds on this shared host while
/// other builds flush their writes. What it bought is durability across a
/// power loss or kernel crash, which kills every container anyway; without
/// it, such a crash within the few seconds before writeback can leave no exit
/// file (the next agent reports the exit as unknown, code 255, as for every
/// container that died with the machine) or an empty one (ext4 may commit the
/// rename of a new file before its data), which the agent reads the same way.
/// conmon writes its exit files the same way (GLib skips the fsync for a new
/// file).
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let mut f = File::create(&tmp)?;
    f.write_all(contents)?;
    drop(f);
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shapes() {
        assert_eq!(sync_ok(10, 11), "{\"monitor_pid\": 10, \"pid\": 11}\n");
        assert_eq!(
            sync_error("a \"b\"\n\u{1}"),
            "{\"error\": \"a \\\"b\\\"\\n\\u0001\"}\n"
        );
        let e = Exit {
            exit_code: 137,
            signal: Some(9),
            oom_killed: false,
            finished_at: "t".into(),
        };
        assert_eq!(
            e.to_json(),
            "{\"exit_code\": 137, \"signal\": 9, \"oom_killed\": false, \"finished_at\": \"t\"}\n"
        );
    }

    #[test]
    fn atomic_write_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("exit");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
