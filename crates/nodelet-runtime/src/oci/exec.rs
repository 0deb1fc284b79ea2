//! Running extra processes in a running container through `<runtime>
//! exec`: they join the container's namespaces and cgroup (so their memory
//! is charged to it). Captured execs (hooks, probes) honour a timeout by
//! killing the exec'd process found via `--pid-file`; interactive execs get
//! pipes, or a TTY (see [`exec_tty`] for why not a console socket).

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;

use crate::error::{Result, RuntimeError};
use crate::oci::runc::OciCli;
use crate::types::{
    ExecOutput, ExecRequest, InteractiveExec, InteractiveExecRequest, LogStream, OutputSink,
};

/// Exit code the way shells and runtimes report it (128+signal).
pub fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(-1)
}

/// Removes a file when dropped (pid files, console sockets).
struct TempPath(PathBuf);
impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Reads a pipe to its end, handing each chunk to `sink` as it arrives.
async fn drain<R: tokio::io::AsyncRead + Unpin>(
    r: Option<&mut R>,
    stream: LogStream,
    sink: Option<&OutputSink>,
) -> Vec<u8> {
    let mut all = Vec::new();
    let Some(r) = r else { return all };
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => return all,
            Ok(n) => {
                if let Some(s) = sink {
                    s(stream, &buf[..n]);
                }
                all.extend_from_slice(&buf[..n]);
            }
        }
    }
}

/// Runs `req` in container `id`, capturing output (and streaming it to
/// `sink` when given); `scratch` is a directory for the pid file. On
/// timeout the exec'd process and every process it started are killed.
pub async fn exec_captured(
    cli: &OciCli,
    id: &str,
    req: &ExecRequest,
    scratch: &Path,
    sink: Option<OutputSink>,
) -> Result<ExecOutput> {
    if req.command.is_empty() {
        return Err(RuntimeError::Other("exec: empty command".into()));
    }
    // The pid file is only needed to kill the process on timeout.
    let pid_file = req
        .timeout
        .map(|_| TempPath(scratch.join(format!("exec-{}.pid", super::random_hex(8)))));
    let mut child = cli
        .exec_command(
            id,
            &req.command,
            &req.env,
            pid_file.as_ref().map(|p| p.0.as_path()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| RuntimeError::io(&cli.binary, e))?;
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let read_out = drain(out.as_mut(), LogStream::Stdout, sink.as_ref());
    let read_err = drain(err.as_mut(), LogStream::Stderr, sink.as_ref());
    let run = async {
        let (o, e, s) = tokio::join!(read_out, read_err, child.wait());
        (o, e, s)
    };
    let (stdout, stderr, status) = match req.timeout {
        None => run.await,
        Some(t) => match tokio::time::timeout(t, run).await {
            Ok(r) => r,
            Err(_) => {
                if let Some(p) = &pid_file {
                    kill_from_pid_file(&p.0);
                }
                // runc exec returns once its process is gone.
                let _ = child.kill().await;
                return Err(RuntimeError::ExecTimeout(t));
            }
        },
    };
    let status = status.map_err(|e| RuntimeError::io(&cli.binary, e))?;
    let code = exit_code(status);
    // runc's own failures (no such container, binary not found in the
    // container) come back as code 255 with its logrus message.
    if code == 255 && stderr.windows(10).any(|w| w == b"level=erro") {
        return Err(RuntimeError::OciRuntime {
            runtime: cli.name(),
            op: "exec".into(),
            stderr: super::runc::clean_stderr(&stderr),
        });
    }
    Ok(ExecOutput {
        exit_code: code,
        stdout,
        stderr,
    })
}

fn kill_from_pid_file(p: &Path) {
    let pid = std::fs::read_to_string(p)
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok());
    if let Some(pid) = pid.filter(|&p| p > 0) {
        super::killtree::kill_tree(pid);
    }
}

/// Starts an interactive exec with pipes or a TTY.
pub async fn exec_interactive(
    cli: &OciCli,
    id: &str,
    req: &InteractiveExecRequest,
    container_dir: &Path,
) -> Result<InteractiveExec> {
    if req.command.is_empty() {
        return Err(RuntimeError::Other("exec: empty command".into()));
    }
    if req.tty {
        return exec_tty(cli, id, req, container_dir).await;
    }
    let mut child = cli
        .exec_command(id, &req.command, &[], None)
        .stdin(if req.stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| RuntimeError::io(&cli.binary, e))?;
    let stdin = child
        .stdin
        .take()
        .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncWrite + Send + Unpin>);
    let stdout = child
        .stdout
        .take()
        .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>);
    let stderr = child
        .stderr
        .take()
        .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>);
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let code = child.wait().await.map(exit_code).unwrap_or(-1);
        let _ = tx.send(code);
    });
    Ok(InteractiveExec {
        stdin,
        stdout,
        stderr,
        resize: None,
        exit: rx,
    })
}

/// TTY exec. runc only hands the pty master to a console socket when it
/// detaches, and a detached exec's exit code is lost; so, like a terminal
/// emulator, we give a non-detached `runc exec -t` a pty of our own as its
/// controlling terminal: runc puts it in raw mode, proxies it to the
/// container's pty and forwards our TIOCSWINSZ (SIGWINCH) to it. The
/// initial size also goes in the process file, so the container's pty
/// has it before the process starts (see [`super::tty_process`]).
async fn exec_tty(
    cli: &OciCli,
    id: &str,
    req: &InteractiveExecRequest,
    container_dir: &Path,
) -> Result<InteractiveExec> {
    let (cols, rows) = req.initial_size.unwrap_or((80, 24));
    let ws = nix::pty::Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = nix::pty::openpty(&ws, None).map_err(|e| RuntimeError::io("openpty", e.into()))?;
    let process = TempPath(super::tty_process::write_tty_process(
        container_dir,
        &req.command,
        cols,
        rows,
    )?);
    let mut cmd = cli.exec_process_command(id, &process.0);
    let dup = |fd: &OwnedFd| fd.try_clone().map_err(|e| RuntimeError::io("pty slave", e));
    cmd.stdin(Stdio::from(dup(&pty.slave)?))
        .stdout(Stdio::from(dup(&pty.slave)?))
        .stderr(Stdio::from(dup(&pty.slave)?));
    // SAFETY: setsid and ioctl are async-signal-safe; fd 0 is the pty
    // slave (set up by the Command before pre_exec runs).
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| RuntimeError::io(&cli.binary, e))?;
    drop(cmd);
    // Only runc may hold the slave, so its exit shows as EOF (EIO) here.
    drop(pty.slave);
    let master = pty.master;
    set_nonblocking(&master).map_err(|e| RuntimeError::io("pty master", e))?;
    let write_half = master
        .try_clone()
        .map_err(|e| RuntimeError::io("pty master", e))?;
    let resize_fd = master
        .try_clone()
        .map_err(|e| RuntimeError::io("pty master", e))?;
    let reader = pipe::Receiver::from_owned_fd_unchecked(master)
        .map_err(|e| RuntimeError::io("pty master", e))?;
    let writer = pipe::Sender::from_owned_fd_unchecked(write_half)
        .map_err(|e| RuntimeError::io("pty master", e))?;
    let (rtx, mut rrx) = tokio::sync::mpsc::channel::<(u16, u16)>(8);
    tokio::spawn(async move {
        while let Some((c, r)) = rrx.recv().await {
            let _ = set_winsize(resize_fd.as_raw_fd(), c, r);
        }
    });
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let code = child.wait().await.map(exit_code).unwrap_or(-1);
        // runc has read the process file long before it exits.
        drop(process);
        let _ = tx.send(code);
    });
    Ok(InteractiveExec {
        stdin: req
            .stdin
            .then(|| Box::new(writer) as Box<dyn tokio::io::AsyncWrite + Send + Unpin>),
        stdout: Some(Box::new(PtyReader(reader))),
        stderr: None,
        resize: Some(rtx),
        exit: rx,
    })
}

/// A pty master reader that reports the slave's hang-up (EIO) as EOF.
struct PtyReader(pipe::Receiver);

impl tokio::io::AsyncRead for PtyReader {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match std::pin::Pin::new(&mut self.0).poll_read(cx, buf) {
            std::task::Poll::Ready(Err(e)) if e.raw_os_error() == Some(libc::EIO) => {
                std::task::Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

fn set_nonblocking(fd: &OwnedFd) -> std::io::Result<()> {
    use rustix::fs::{OFlags, fcntl_getfl, fcntl_setfl};
    let flags = fcntl_getfl(fd)?;
    fcntl_setfl(fd, flags | OFlags::NONBLOCK)?;
    Ok(())
}

/// Sets the terminal size on a pty master (TIOCSWINSZ).
pub fn set_winsize(fd: RawFd, cols: u16, rows: u16) -> std::io::Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize struct we own for the call.
    let r = unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
