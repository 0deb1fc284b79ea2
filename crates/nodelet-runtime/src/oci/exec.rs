//! Running extra processes in a running container through `<runtime>
//! exec`: they join the container's namespaces and cgroup (so their memory
//! is charged to it). Captured execs (hooks, probes) honour a timeout by
//! killing the exec'd process found via `--pid-file`; interactive execs get
//! pipes, or a TTY whose master arrives over the console socket
//! (SCM_RIGHTS).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;

use crate::error::{Result, RuntimeError};
use crate::oci::runc::OciCli;
use crate::types::{ExecOutput, ExecRequest, InteractiveExec, InteractiveExecRequest};

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

/// Runs `req` in container `id`, capturing output; `scratch` is a
/// directory for the pid file.
pub async fn exec_captured(
    cli: &OciCli,
    id: &str,
    req: &ExecRequest,
    scratch: &Path,
) -> Result<ExecOutput> {
    if req.command.is_empty() {
        return Err(RuntimeError::Other("exec: empty command".into()));
    }
    let pid_file = TempPath(scratch.join(format!("exec-{}.pid", super::random_hex(8))));
    let mut child = cli
        .exec_command(id, &req.command, &req.env, Some(&pid_file.0), None)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| RuntimeError::io(&cli.binary, e))?;
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let read_out = async {
        let mut b = Vec::new();
        if let Some(o) = out.as_mut() {
            let _ = o.read_to_end(&mut b).await;
        }
        b
    };
    let read_err = async {
        let mut b = Vec::new();
        if let Some(e) = err.as_mut() {
            let _ = e.read_to_end(&mut b).await;
        }
        b
    };
    let run = async {
        let (o, e, s) = tokio::join!(read_out, read_err, child.wait());
        (o, e, s)
    };
    let (stdout, stderr, status) = match req.timeout {
        None => run.await,
        Some(t) => match tokio::time::timeout(t, run).await {
            Ok(r) => r,
            Err(_) => {
                kill_from_pid_file(&pid_file.0);
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
    if let Some(pid) = pid.and_then(rustix::process::Pid::from_raw) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
    }
}

/// Starts an interactive exec with pipes or a TTY.
pub async fn exec_interactive(
    cli: &OciCli,
    id: &str,
    req: &InteractiveExecRequest,
    scratch: &Path,
) -> Result<InteractiveExec> {
    if req.command.is_empty() {
        return Err(RuntimeError::Other("exec: empty command".into()));
    }
    if req.tty {
        return exec_tty(cli, id, req, scratch).await;
    }
    let mut child = cli
        .exec_command(id, &req.command, &[], None, None)
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

async fn exec_tty(
    cli: &OciCli,
    id: &str,
    req: &InteractiveExecRequest,
    scratch: &Path,
) -> Result<InteractiveExec> {
    let sock = TempPath(scratch.join(format!("console-{}.sock", super::random_hex(8))));
    let listener =
        tokio::net::UnixListener::bind(&sock.0).map_err(|e| RuntimeError::io(&sock.0, e))?;
    let mut child = cli
        .exec_command(id, &req.command, &[], None, Some(&sock.0))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| RuntimeError::io(&cli.binary, e))?;
    let conn = tokio::select! {
        c = listener.accept() => c.map_err(|e| RuntimeError::io(&sock.0, e))?.0,
        s = child.wait() => {
            let mut err = Vec::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_end(&mut err).await;
            }
            let code = s.map(exit_code).unwrap_or(-1);
            return Err(RuntimeError::OciRuntime {
                runtime: cli.name(),
                op: "exec".into(),
                stderr: format!("exited {code} before sending the console: {}", super::runc::clean_stderr(&err)),
            });
        }
    };
    drop(sock);
    let std_conn = conn
        .into_std()
        .map_err(|e| RuntimeError::io("console socket", e))?;
    std_conn
        .set_nonblocking(false)
        .map_err(|e| RuntimeError::io("console socket", e))?;
    let master = tokio::task::spawn_blocking(move || recv_fd(std_conn.as_raw_fd()))
        .await
        .map_err(|e| RuntimeError::Other(format!("console receive task: {e}")))?
        .map_err(|e| RuntimeError::io("console socket (SCM_RIGHTS)", e))?;
    if let Some((cols, rows)) = req.initial_size {
        let _ = set_winsize(master.as_raw_fd(), cols, rows);
    }
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
        let _ = tx.send(code);
    });
    Ok(InteractiveExec {
        stdin: req
            .stdin
            .then(|| Box::new(writer) as Box<dyn tokio::io::AsyncWrite + Send + Unpin>),
        stdout: Some(Box::new(reader)),
        stderr: None,
        resize: Some(rtx),
        exit: rx,
    })
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

/// Receives one file descriptor sent with SCM_RIGHTS on a unix socket.
pub fn recv_fd(sock: RawFd) -> std::io::Result<OwnedFd> {
    let mut data = [0u8; 4096];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // Room for one fd's control message, 8-byte aligned.
    let mut cmsg_buf = [0u64; 8];
    // SAFETY: zeroed msghdr is a valid empty header; every pointer set
    // below refers to a live local buffer for the duration of recvmsg.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cmsg_buf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cmsg_buf) as _;
    // SAFETY: msg describes valid buffers (see above).
    let n = unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: msg was filled in by recvmsg; the CMSG macros walk the
    // control buffer within msg_controllen.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let fd: RawFd = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                return Ok(OwnedFd::from_raw_fd(fd));
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        "no file descriptor in the console socket message",
    ))
}
