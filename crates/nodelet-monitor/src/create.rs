//! Running `<runtime> create` (or, with --start, `<runtime> run --detach`) with the container's stdio wired to descriptors
//! the monitor owns: two pipes, or (with --tty) the pty master that the runtime
//! sends over a console socket. Stdin is /dev/null, or with `--stdin` a pipe
//! whose write end the attach server (attach.rs) keeps.

use std::fs::File;
use std::io::{IoSliceMut, Read};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
use nix::unistd::pipe2;

use crate::args::Args;
use crate::detach::set_nonblocking;

/// Where the container's output arrives.
pub enum Output {
    Pipes { stdout: File, stderr: File },
    Tty { master: File },
}

/// A created container (started too with `--start`).
pub struct Created {
    /// The container's init process, reparented to us (we are a subreaper).
    pub pid: i32,
    pub output: Output,
}

/// Side files next to the exit file, named after it so several containers may
/// share a directory.
fn side_file(exit_file: &Path, suffix: &str) -> PathBuf {
    let mut s = exit_file.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Runs `<runtime> --root R --log L --log-format json create --bundle B
/// [--console-socket S] --pid-file F ID`, or `run --detach` in place of
/// `create` with `--start` (same flags: the init then runs the entrypoint
/// at once; it is reparented to us either way). On failure returns the runtime's
/// error output, for the agent. `stdin` becomes the container's stdin
/// without a TTY (runc hands its own stdio to the container).
pub fn create(args: &Args, stdin: Stdio) -> Result<Created, String> {
    let pid_file = side_file(&args.exit_file, ".init-pid");
    let runtime_log = side_file(&args.exit_file, ".runtime-log");
    let _ = std::fs::remove_file(&pid_file);
    let _ = std::fs::remove_file(&runtime_log);

    // The runtime's own stderr: in pipe mode it is also the container's stderr
    // (runc hands its stdio to the container), in tty mode a private pipe.
    let (err_r, err_w) = pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
    let mut err_r = File::from(err_r);
    let op = if args.start { "run" } else { "create" };
    let mut cmd = Command::new(&args.runtime);
    cmd.arg("--root")
        .arg(&args.runtime_root)
        .arg("--log")
        .arg(&runtime_log)
        .arg("--log-format")
        .arg("json")
        .arg(op)
        .args(args.start.then_some("--detach"))
        .arg("--bundle")
        .arg(&args.bundle)
        .stdin(stdin)
        .stderr(Stdio::from(err_w));

    let mut out_r = None;
    let mut console = None;
    if args.tty {
        let path =
            std::env::temp_dir().join(format!("nodelet-monitor-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).map_err(|e| format!("console socket: {e}"))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("console socket: {e}"))?;
        cmd.arg("--console-socket").arg(&path).stdout(Stdio::null());
        console = Some((listener, path));
    } else {
        let (r, w) = pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
        cmd.stdout(Stdio::from(w));
        out_r = Some(File::from(r));
    }
    cmd.arg("--pid-file").arg(&pid_file).arg(&args.id);

    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", args.runtime.display()))?;
    // `cmd` holds the parent's copies of the write ends; drop them so the read
    // ends see EOF once the container's side closes.
    drop(cmd);

    let mut master = None;
    let wait_err = |e: std::io::Error| format!("waiting for {}: {e}", args.runtime.display());
    let status = match &console {
        None => child.wait().map_err(wait_err)?,
        // runc sends the pty master while `create` runs: take it as soon as it
        // arrives (waking on the listener), then just wait for runc.
        Some((listener, _)) => loop {
            if master.is_none() {
                master = accept_master(listener)?;
            }
            if master.is_some() {
                break child.wait().map_err(wait_err)?;
            }
            if let Some(st) = child.try_wait().map_err(wait_err)? {
                break st;
            }
            let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
            let _ = poll(&mut fds, PollTimeout::from(20u8));
        },
    };
    if let Some((listener, path)) = &console {
        if master.is_none() {
            master = accept_master(listener)?;
        }
        let _ = std::fs::remove_file(path);
    }

    if !status.success() {
        let _ = set_nonblocking(&err_r);
        let mut msg = Vec::new();
        let mut buf = [0u8; 4096];
        while msg.len() < 64 * 1024 {
            match err_r.read(&mut buf) {
                Ok(n) if n > 0 => msg.extend_from_slice(&buf[..n]),
                _ => break,
            }
        }
        let mut text = String::from_utf8_lossy(&msg).trim().to_string();
        if text.is_empty() {
            text = std::fs::read_to_string(&runtime_log)
                .unwrap_or_default()
                .trim()
                .to_string();
        }
        if text.is_empty() {
            text = format!("{} {op} failed: {status}", args.runtime.display());
        }
        let _ = std::fs::remove_file(&runtime_log);
        return Err(text);
    }
    let _ = std::fs::remove_file(&runtime_log);

    let pid = std::fs::read_to_string(&pid_file)
        .map_err(|e| format!("reading pid file {}: {e}", pid_file.display()))?
        .trim()
        .parse::<i32>()
        .map_err(|e| format!("bad pid file {}: {e}", pid_file.display()))?;
    let _ = std::fs::remove_file(&pid_file);

    let output = match (out_r, master) {
        (Some(stdout), _) => Output::Pipes {
            stdout,
            stderr: err_r,
        },
        (None, Some(master)) => Output::Tty { master },
        (None, None) => {
            return Err("runtime did not send a console (pty) to the console socket".into());
        }
    };
    Ok(Created { pid, output })
}

/// Accepts one connection on the console socket and receives the pty master
/// (SCM_RIGHTS), as runc's `--console-socket` protocol sends it.
fn accept_master(listener: &UnixListener) -> Result<Option<File>, String> {
    let stream = match listener.accept() {
        Ok((s, _)) => s,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(None),
        Err(e) => return Err(format!("console socket accept: {e}")),
    };
    stream
        .set_nonblocking(false)
        .map_err(|e| format!("console socket: {e}"))?;
    let mut name = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut name)];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(|e| format!("console socket recvmsg: {e}"))?;
    for c in msg
        .cmsgs()
        .map_err(|e| format!("console socket cmsg: {e}"))?
    {
        if let ControlMessageOwned::ScmRights(fds) = c {
            let mut owned = fds.into_iter().map(|fd| {
                // SAFETY: SCM_RIGHTS just installed these fds in our table; we are their only owner.
                unsafe { OwnedFd::from_raw_fd(fd) }
            });
            if let Some(fd) = owned.next() {
                return Ok(Some(File::from(fd)));
            }
        }
    }
    Err("console socket: no file descriptor received".into())
}
