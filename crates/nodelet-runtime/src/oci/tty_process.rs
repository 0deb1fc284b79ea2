//! The process description of a TTY exec, for `<runtime> exec --process`.
//!
//! With `exec --tty ARGS` runc copies our terminal's size to the
//! container's pty only after the process has started, so a quick
//! `stty size` (or a shell's first prompt) can see 0×0 — and busybox's
//! stty then prints nothing at all. A process file can carry
//! `consoleSize`, which runc applies to the pty before it starts the
//! process. The rest of the file is what runc itself would build for a
//! plain `exec`: the container's own `process` from its bundle, with our
//! command and a terminal.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::error::{Result, RuntimeError};

/// Builds the process JSON from the bundle's `config.json` text.
pub fn tty_process(config_json: &[u8], command: &[String], cols: u16, rows: u16) -> Result<Value> {
    let spec: Value = serde_json::from_slice(config_json)
        .map_err(|e| RuntimeError::Other(format!("reading the bundle's config.json: {e}")))?;
    let Some(Value::Object(process)) = spec.get("process") else {
        return Err(RuntimeError::Other(
            "the bundle's config.json has no process".into(),
        ));
    };
    let mut process = process.clone();
    process.insert("args".into(), json!(command));
    process.insert("terminal".into(), Value::Bool(true));
    process.insert(
        "consoleSize".into(),
        json!({ "height": rows, "width": cols }),
    );
    Ok(Value::Object(process))
}

/// Writes the process file of one exec into the container's directory,
/// mode 0600 (it holds the container's environment, Secrets included).
/// The caller removes it once the runtime has exited.
pub fn write_tty_process(
    container_dir: &Path,
    command: &[String],
    cols: u16,
    rows: u16,
) -> Result<PathBuf> {
    let config = container_dir.join("bundle").join("config.json");
    let text = std::fs::read(&config).map_err(|e| RuntimeError::io(&config, e))?;
    let process = tty_process(&text, command, cols, rows)?;
    let path = container_dir.join(format!("exec-{}.json", super::random_hex(8)));
    let body = serde_json::to_vec(&process)
        .map_err(|e| RuntimeError::Other(format!("serializing the exec process: {e}")))?;
    super::record::write_private(&path, &body)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_containers_process_and_sets_command_terminal_and_size() {
        let config = br#"{"ociVersion":"1.0.2","process":{"terminal":false,
            "user":{"uid":1000,"gid":1000},"args":["sleep","600"],
            "env":["PATH=/bin","SECRET=x"],"cwd":"/work",
            "capabilities":{"bounding":["CAP_CHOWN"]},"noNewPrivileges":true},
            "root":{"path":"rootfs"}}"#;
        let p = tty_process(config, &["sh".into(), "-i".into()], 120, 40).unwrap();
        assert_eq!(p["args"], json!(["sh", "-i"]));
        assert_eq!(p["terminal"], json!(true));
        assert_eq!(p["consoleSize"], json!({"height": 40, "width": 120}));
        assert_eq!(p["user"], json!({"uid": 1000, "gid": 1000}));
        assert_eq!(p["env"], json!(["PATH=/bin", "SECRET=x"]));
        assert_eq!(p["cwd"], json!("/work"));
        assert_eq!(p["noNewPrivileges"], json!(true));
        assert_eq!(p["capabilities"]["bounding"], json!(["CAP_CHOWN"]));
        assert!(p.get("root").is_none(), "only the process goes in");
    }

    #[test]
    fn a_config_without_a_process_is_an_error_naming_it() {
        let e = tty_process(br#"{"ociVersion":"1.0.2"}"#, &["sh".into()], 80, 24).unwrap_err();
        assert!(e.to_string().contains("no process"), "{e}");
        let e = tty_process(b"{", &["sh".into()], 80, 24).unwrap_err();
        assert!(e.to_string().contains("config.json"), "{e}");
    }
}
