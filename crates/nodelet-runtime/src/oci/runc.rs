//! The OCI runtime command-line interface (runc, crun, youki share it):
//! start, state, kill, delete, exec, and spawning the per-container
//! `nodelet-monitor` that runs `create` (or `run --detach`). Every failure carries the runtime's
//! own stderr in [`RuntimeError::OciRuntime`].

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde::Deserialize;
use tokio::io::AsyncReadExt;
use tokio::process::Command;

use super::sealed_exe::SealedExe;
use crate::error::{Result, RuntimeError};

/// How long `create` (monitor start + `<runtime> create`) may take.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// One OCI runtime binary with its state directory.
#[derive(Debug, Clone)]
pub struct OciCli {
    pub binary: PathBuf,
    /// `--root`: `<run_root>/runc`.
    pub root: PathBuf,
    /// What is executed for `binary`: for runc a sealed copy of it (see
    /// [`super::sealed_exe`]).
    pub exe: SealedExe,
}

/// What `<runtime> state` reports.
#[derive(Debug, Clone, Deserialize)]
pub struct OciState {
    pub status: String,
    #[serde(default)]
    pub pid: i64,
}

/// The monitor's one-line handshake on the sync fd.
#[derive(Debug, Clone, Deserialize)]
pub struct MonitorHello {
    pub monitor_pid: Option<i32>,
    pub pid: Option<i32>,
    pub error: Option<String>,
}

/// Arguments for spawning a container's monitor.
pub struct MonitorArgs<'a> {
    pub monitor: &'a Path,
    pub id: &'a str,
    pub bundle: &'a Path,
    pub log_path: &'a Path,
    pub log_max_size: u64,
    pub log_max_files: u32,
    pub exit_file: &'a Path,
    pub tty: bool,
    /// Where the monitor serves attach clients (see `oci::attach`).
    pub attach_socket: &'a Path,
    /// The container's `stdin` / `stdinOnce`.
    pub stdin: bool,
    pub stdin_once: bool,
    pub cgroup_path: &'a str,
    /// Where the monitor's own diagnostics go.
    pub monitor_log: &'a Path,
    /// Start it too (`run --detach`; see the monitor's `--start`).
    pub start: bool,
}

impl OciCli {
    pub fn name(&self) -> String {
        self.binary
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.binary.display().to_string())
    }

    /// A command with `--root` set.
    pub fn command(&self) -> Command {
        let mut c = Command::new(self.exe.path());
        // runc's messages and `ps` name it as the user knows it, not by
        // the copy's `/proc/<pid>/fd/<n>`.
        c.arg0(&self.binary);
        c.arg("--root").arg(&self.root);
        c.stdin(Stdio::null());
        c.kill_on_drop(true);
        c
    }

    /// [`Self::command`] in a process group of its own: a Ctrl-C in the
    /// terminal running the agent reaches only the agent, which decides
    /// what happens to its containers; it must not kill a `runc start` or
    /// `delete` half-way.
    fn own_group(&self) -> Command {
        let mut c = self.command();
        c.process_group(0);
        c
    }

    fn error(&self, op: &str, stderr: &[u8]) -> RuntimeError {
        RuntimeError::OciRuntime {
            runtime: self.name(),
            op: op.to_string(),
            stderr: clean_stderr(stderr),
        }
    }

    async fn run(&self, op: &str, args: &[&str]) -> Result<Vec<u8>> {
        let out = self
            .own_group()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .await
            .map_err(|e| RuntimeError::io(&self.binary, e))?;
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(self.error(op, &out.stderr))
        }
    }

    /// `update --resources <file>`: new cgroup limits for a running
    /// container (the file holds an OCI `LinuxResources` object).
    pub async fn update(&self, id: &str, resources_file: &Path) -> Result<()> {
        let file = resources_file.to_string_lossy();
        self.run("update", &["update", "--resources", &file, id])
            .await
            .map(drop)
    }

    pub async fn start(&self, id: &str) -> Result<()> {
        self.run("start", &["start", id]).await.map(drop)
    }

    /// `None` when the runtime does not know the container.
    pub async fn state(&self, id: &str) -> Result<Option<OciState>> {
        match self.run("state", &["state", id]).await {
            Ok(out) => serde_json::from_slice(&out).map(Some).map_err(|e| {
                RuntimeError::Other(format!("{} state {id}: bad JSON: {e}", self.name()))
            }),
            Err(RuntimeError::OciRuntime { stderr, .. }) if is_not_found(&stderr) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Signals the init process; a container that already stopped is not
    /// an error (the signal raced with its exit).
    pub async fn kill(&self, id: &str, signal: i32) -> Result<()> {
        let sig = signal.to_string();
        match self.run("kill", &["kill", id, &sig]).await {
            Err(RuntimeError::OciRuntime { stderr, .. })
                if stderr.contains("not running")
                    || stderr.contains("process already finished") =>
            {
                Ok(())
            }
            r => r.map(drop),
        }
    }

    /// `delete --force`; idempotent.
    pub async fn delete_force(&self, id: &str) -> Result<()> {
        match self.run("delete", &["delete", "--force", id]).await {
            Err(RuntimeError::OciRuntime { stderr, .. }) if is_not_found(&stderr) => Ok(()),
            r => r.map(drop),
        }
    }

    /// An `exec` command line (not spawned): `exec [--env K=V]...
    /// [--pid-file F] ID ARGS...`, in a process group of its own (a TTY
    /// exec, [`Self::exec_process_command`], gets a session instead).
    pub fn exec_command(
        &self,
        id: &str,
        args: &[String],
        env: &[(String, String)],
        pid_file: Option<&Path>,
    ) -> Command {
        let mut c = self.command();
        c.arg("exec");
        c.process_group(0);
        for (k, v) in env {
            c.arg("--env").arg(format!("{k}={v}"));
        }
        if let Some(p) = pid_file {
            c.arg("--pid-file").arg(p);
        }
        c.arg(id).args(args);
        c
    }

    /// A TTY `exec` command line (not spawned) whose process, terminal size
    /// included, is described by a file: `exec --process FILE ID`. No
    /// process group: the caller makes it a session leader (setsid in
    /// `pre_exec`, which a group leader could not do).
    pub fn exec_process_command(&self, id: &str, process: &Path) -> Command {
        let mut c = self.command();
        c.arg("exec").arg("--process").arg(process).arg(id);
        c
    }

    /// Spawns the monitor (which runs `create`) and waits for its
    /// handshake. Returns (monitor pid, container init pid).
    ///
    /// The sync pipe is the monitor's stdout (`--sync-fd 1`; it moves it
    /// off fd 1 itself) rather than an fd 3 placed by a `pre_exec` hook: no
    /// hook lets std spawn with vfork semantics (posix_spawn) instead of
    /// fork()ing the whole multi-threaded agent, and the process group is
    /// set by posix_spawn too, so Ctrl-C in the agent's terminal never
    /// reaches a monitor that has not yet detached into its own session.
    pub async fn create_via_monitor(&self, a: &MonitorArgs<'_>) -> Result<(i32, i32)> {
        let (read_end, write_end) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .map_err(|e| RuntimeError::io("pipe", e.into()))?;
        use std::os::unix::fs::OpenOptionsExt as _;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(a.monitor_log)
            .map_err(|e| RuntimeError::io(a.monitor_log, e))?;
        let mut cmd = Command::new(a.monitor);
        cmd.arg("--id")
            .arg(a.id)
            .arg("--bundle")
            .arg(a.bundle)
            .arg("--runtime")
            .arg(self.exe.path())
            .arg("--runtime-root")
            .arg(&self.root)
            .arg("--log-path")
            .arg(a.log_path)
            .arg("--log-max-size")
            .arg(a.log_max_size.to_string())
            .arg("--log-max-files")
            .arg(a.log_max_files.to_string())
            .arg("--exit-file")
            .arg(a.exit_file)
            .arg("--sync-fd")
            .arg("1")
            .arg("--cgroup-path")
            .arg(a.cgroup_path);
        if a.tty {
            cmd.arg("--tty");
        }
        if a.start {
            cmd.arg("--start");
        }
        cmd.arg("--attach-socket").arg(a.attach_socket);
        // stdinOnce means nothing without stdin (as in the pod spec).
        match (a.stdin, a.stdin_once) {
            (true, true) => cmd.arg("--stdin-once"),
            (true, false) => cmd.arg("--stdin"),
            _ => &mut cmd,
        };
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(write_end))
            .stderr(log)
            .process_group(0);
        let spawned = cmd.spawn();
        // `cmd` holds our copy of the write end: it must go, or EOF never
        // comes.
        drop(cmd);
        let mut child = spawned.map_err(|e| RuntimeError::io(a.monitor, e))?;
        let mut hello = Vec::new();
        // Read through the reactor (epoll), not tokio::fs's blocking pool:
        // one thread hand-off less between the monitor's write and us.
        let mut f = tokio::net::unix::pipe::Receiver::from_owned_fd(read_end)
            .map_err(|e| RuntimeError::io("monitor sync pipe", e))?;
        let read = match tokio::time::timeout(HANDSHAKE_TIMEOUT, f.read_to_end(&mut hello)).await {
            Ok(r) => r,
            Err(_) => {
                return Err(RuntimeError::Other(format!(
                    "nodelet-monitor for {} sent no handshake within {HANDSHAKE_TIMEOUT:?}",
                    a.id
                )));
            }
        };
        // The monitor's first process exits right after its fork.
        let _ = child.wait().await;
        read.map_err(|e| RuntimeError::io("monitor sync pipe", e))?;
        let line = String::from_utf8_lossy(&hello);
        let line = line.lines().next().unwrap_or("").trim();
        if line.is_empty() {
            let diag = std::fs::read_to_string(a.monitor_log).unwrap_or_default();
            return Err(RuntimeError::Other(format!(
                "nodelet-monitor for {} exited without a handshake: {}",
                a.id,
                diag.trim()
            )));
        }
        let h: MonitorHello = serde_json::from_str(line)
            .map_err(|e| RuntimeError::Other(format!("nodelet-monitor handshake {line:?}: {e}")))?;
        if let Some(err) = h.error {
            let op = if a.start { "run" } else { "create" };
            return Err(self.error(op, err.as_bytes()));
        }
        match (h.monitor_pid, h.pid) {
            (Some(m), Some(p)) => Ok((m, p)),
            _ => Err(RuntimeError::Other(format!(
                "nodelet-monitor handshake without pids: {line}"
            ))),
        }
    }
}

fn is_not_found(stderr: &str) -> bool {
    stderr.contains("does not exist") || stderr.contains("not exist") || stderr.contains("No such")
}

/// runc logs `time=".." level=error msg="..."`; keep the message only.
pub fn clean_stderr(stderr: &[u8]) -> String {
    let s = String::from_utf8_lossy(stderr);
    let msgs: Vec<String> = s
        .lines()
        .filter_map(|l| {
            let i = l.find("msg=\"")?;
            let rest = &l[i + 5..];
            let end = rest.rfind('"')?;
            Some(rest[..end].replace("\\\"", "\""))
        })
        .collect();
    if msgs.is_empty() {
        s.trim().to_string()
    } else {
        msgs.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stderr_cleanup() {
        let s = b"time=\"2026-01-01T00:00:00Z\" level=error msg=\"container \\\"x\\\" does not exist\"\n";
        assert_eq!(clean_stderr(s), "container \"x\" does not exist");
        assert_eq!(clean_stderr(b"  plain error\n"), "plain error");
    }
}
