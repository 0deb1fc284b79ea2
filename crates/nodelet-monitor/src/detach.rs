//! Turning the freshly spawned monitor into a process that outlives the agent:
//! fd hygiene, fork + own process group, subreaper, and signal routing.

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::{ForkResult, Pid, fork, setpgid};

/// Takes ownership of the inherited sync fd, marking it close-on-exec so
/// neither the runtime nor the container keeps the agent's pipe open. The sync
/// pipe may arrive as stdout (`--sync-fd 1`, which lets the agent spawn us
/// without a `pre_exec` hook): it is then moved to a new descriptor, and fd 1
/// is pointed at /dev/null later by [`null_stdio`].
pub fn take_sync_fd(fd: RawFd) -> Result<File, String> {
    if fd == 0 || fd == 2 || fd < 0 {
        return Err(format!(
            "--sync-fd {fd}: must be stdout (1) or a descriptor above 2"
        ));
    }
    // SAFETY: F_GETFD only inspects the descriptor table; an invalid fd fails.
    let valid = unsafe { nix::libc::fcntl(fd, nix::libc::F_GETFD) } >= 0;
    if !valid {
        return Err(format!("--sync-fd {fd}: not an open file descriptor"));
    }
    if fd == 1 {
        // SAFETY: fd 1 is open (checked above); borrowed only for the dup.
        let stdout = unsafe { std::os::fd::BorrowedFd::borrow_raw(1) };
        let owned = stdout
            .try_clone_to_owned()
            .map_err(|e| format!("sync fd: {e}"))?;
        return Ok(File::from(owned));
    }
    // SAFETY: the fd is open (checked above) and, per the CLI contract, handed to
    // us for exclusive use; nothing else in this process owns it.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    fcntl(&owned, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).map_err(|e| format!("sync fd: {e}"))?;
    Ok(File::from(owned))
}

/// Closes every inherited descriptor above stderr except `keep`, so stray
/// agent fds (sockets, pipes) are not pinned for the container's lifetime.
pub fn close_other_fds(keep: RawFd) {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<RawFd> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&fd| fd > 2 && fd != keep)
        .collect();
    for fd in fds {
        // SAFETY: closing a descriptor we do not otherwise use; the read_dir
        // handle's own fd is already closed, so at worst close() fails (EBADF).
        unsafe { nix::libc::close(fd) };
    }
}

/// One fork, then a process group of its own in the child: the process that
/// returns is not the agent's child (the agent's exit or death does not concern
/// it) and not in the agent's process group, so a SIGKILL of that group or a
/// Ctrl-C in the agent's terminal does not touch it, whoever spawned us.
///
/// Deliberately no `setsid`: with the kernel's session autogroups (enabled by
/// default, as on this host) a new session is a new CPU scheduling group, and
/// `runc create`, started by the monitor, then queued behind busy groups: on
/// this loaded 2-core host its exec came ≈ 4 ms (median, up to 80 ms) after
/// the spawn, against 0.4 ms from the agent's session. Staying in the agent's
/// session keeps runc where a plain `runc run` would be. The session's terminal
/// cannot affect the monitor: its group is never the foreground one, it never
/// touches the terminal (stdio are /dev/null), and it blocks SIGHUP anyway; the
/// container gets a session of its own from the runtime.
pub fn daemonize() -> Result<(), String> {
    // SAFETY: called before any thread is spawned, so the child is a complete
    // copy of this single-threaded process.
    match unsafe { fork() }.map_err(|e| format!("fork: {e}"))? {
        // The agent reads the sync pipe to EOF, which the child holds open,
        // so leaving at once loses nothing; skip destructors.
        ForkResult::Parent { .. } => std::process::exit(0),
        ForkResult::Child => {}
    }
    setpgid(Pid::from_raw(0), Pid::from_raw(0)).map_err(|e| format!("setpgid: {e}"))?;
    let _ = std::env::set_current_dir("/");
    Ok(())
}

/// Points stdin/stdout/stderr at /dev/null: the agent's pipes may vanish at any
/// time and a write to a dead pipe must not take the monitor down.
pub fn null_stdio() -> Result<(), String> {
    let null = File::options()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(|e| format!("/dev/null: {e}"))?;
    nix::unistd::dup2_stdin(&null).map_err(|e| format!("dup2: {e}"))?;
    nix::unistd::dup2_stdout(&null).map_err(|e| format!("dup2: {e}"))?;
    nix::unistd::dup2_stderr(&null).map_err(|e| format!("dup2: {e}"))?;
    Ok(())
}

/// Routes SIGCHLD and the termination signals to a signalfd. Blocking (not
/// ignoring) SIGTERM/SIGINT/SIGHUP/SIGQUIT keeps the monitor alive as long as its
/// container, while children still start with default dispositions: std's
/// process spawning resets the signal mask, whereas SIG_IGN would be inherited by
/// the runtime and the container across exec.
pub fn signal_fd() -> Result<SignalFd, String> {
    let mut set = SigSet::empty();
    for s in [
        Signal::SIGCHLD,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGQUIT,
    ] {
        set.add(s);
    }
    pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None)
        .map_err(|e| format!("sigprocmask: {e}"))?;
    SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(|e| format!("signalfd: {e}"))
}

/// Makes a descriptor non-blocking so draining never stalls the poll loop.
pub fn set_nonblocking(f: &impl AsRawFd) -> Result<(), String> {
    // SAFETY: the fd is borrowed from a live owner for the duration of the call.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(f.as_raw_fd()) };
    let flags = fcntl(fd, FcntlArg::F_GETFL).map_err(|e| format!("fcntl: {e}"))?;
    let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
    fcntl(fd, FcntlArg::F_SETFL(flags)).map_err(|e| format!("fcntl: {e}"))?;
    Ok(())
}
