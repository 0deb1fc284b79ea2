//! The monitor's steady state: one poll(2) loop copying the container's output
//! into the log (and to attached clients) and reaping children until the container's init exits, then a
//! short drain of whatever output is still buffered.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::attach::Attach;
use crate::logwriter::{LineSplitter, LogWriter, Stream};
use crate::timefmt::now_rfc3339_nano;

/// After init exits, stop waiting for more output once the streams are idle
/// this long (leftover daemons sharing the host pid namespace may keep them open).
const DRAIN_IDLE: Duration = Duration::from_millis(200);
/// ... or after this long in total.
const DRAIN_MAX: Duration = Duration::from_secs(2);

/// One output stream of the container.
pub struct Source {
    pub file: File,
    pub splitter: LineSplitter,
    pub open: bool,
}

/// How init ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitExit {
    /// As runtimes report it: 128 + signal when killed.
    pub exit_code: i32,
    pub signal: Option<i32>,
    /// Taken when init was reaped, not after the output drain.
    pub finished_at: String,
}

/// Runs until `init` has been reaped and output drained. Log write errors are
/// remembered but do not stop the loop: the exit status matters more.
pub fn supervise(
    sigfd: &SignalFd,
    init: Pid,
    sources: &mut [Source],
    log: &mut LogWriter,
    mut attach: Option<&mut Attach>,
) -> (InitExit, Option<io::Error>) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut log_err = None;
    let mut exit = reap(init);
    let mut drain_started: Option<Instant> = exit.as_ref().map(|_| Instant::now());
    loop {
        if let Some(start) = drain_started
            && (start.elapsed() >= DRAIN_MAX || sources.iter().all(|s| !s.open))
        {
            break;
        }
        let timeout = match drain_started {
            Some(_) => PollTimeout::try_from(DRAIN_IDLE).unwrap_or(PollTimeout::ZERO),
            None => PollTimeout::NONE,
        };
        let mut fds = Vec::with_capacity(1 + sources.len());
        fds.push(PollFd::new(sigfd.as_fd(), PollFlags::POLLIN));
        let open: Vec<usize> = (0..sources.len()).filter(|&i| sources[i].open).collect();
        for &i in &open {
            fds.push(PollFd::new(sources[i].file.as_fd(), PollFlags::POLLIN));
        }
        let attach_at = fds.len();
        if let Some(a) = attach.as_deref() {
            fds.extend(a.poll_fds().into_iter().map(|(fd, ev)| PollFd::new(fd, ev)));
        }
        let n = match poll(&mut fds, timeout) {
            Ok(n) => n,
            Err(Errno::EINTR) => continue,
            Err(_) => 0,
        };
        if n == 0 && drain_started.is_some() {
            break;
        }
        let ready: Vec<bool> = fds.iter().map(|f| f.any().unwrap_or(false)).collect();
        let attach_ev: Vec<PollFlags> = fds[attach_at..]
            .iter()
            .map(|f| f.revents().unwrap_or(PollFlags::empty()))
            .collect();
        drop(fds);
        for (k, &i) in open.iter().enumerate() {
            if !ready[k + 1] {
                continue;
            }
            let src = &mut sources[i];
            match src.file.read(&mut buf) {
                Ok(n) if n > 0 => {
                    if let Some(a) = attach.as_deref_mut() {
                        a.output(stream_id(src.splitter.stream()), &buf[..n]);
                    }
                    note(&mut log_err, src.splitter.feed(&buf[..n], log))
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) => {}
                // EOF, or EIO once a pty's slave side is gone.
                _ => {
                    src.open = false;
                    note(&mut log_err, src.splitter.finish(log));
                }
            }
        }
        if let Some(a) = attach.as_deref_mut() {
            a.handle(&attach_ev);
            for (stream, line) in a.take_log_lines() {
                let stream = if stream == crate::attach::STDERR {
                    Stream::Stderr
                } else {
                    Stream::Stdout
                };
                note(&mut log_err, log.line(stream, &line));
            }
        }
        if ready[0] {
            while let Ok(Some(_)) = sigfd.read_signal() {}
            if exit.is_none() {
                exit = reap(init);
                if exit.is_some() {
                    drain_started = Some(Instant::now());
                }
            } else {
                let _ = reap(init);
            }
        }
    }
    for s in sources.iter_mut().filter(|s| s.open) {
        note(&mut log_err, s.splitter.finish(log));
    }
    // Unreachable without an exit (the loop only breaks while draining).
    let exit = exit.unwrap_or_else(|| InitExit {
        exit_code: 255,
        signal: None,
        finished_at: now_rfc3339_nano(),
    });
    (exit, log_err)
}

fn stream_id(s: Stream) -> u8 {
    match s {
        Stream::Stdout => crate::attach::STDOUT,
        Stream::Stderr => crate::attach::STDERR,
    }
}

fn note(slot: &mut Option<io::Error>, r: io::Result<()>) {
    if let Err(e) = r
        && slot.is_none()
    {
        *slot = Some(e);
    }
}

/// Reaps every exited child (the runtime's leftovers and orphans reparented to
/// us as subreaper) and reports init's status if it was among them.
fn reap(init: Pid) -> Option<InitExit> {
    let mut found = None;
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == init => {
                found = Some(InitExit {
                    exit_code: code,
                    signal: None,
                    finished_at: now_rfc3339_nano(),
                })
            }
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == init => {
                found = Some(InitExit {
                    exit_code: 128 + sig as i32,
                    signal: Some(sig as i32),
                    finished_at: now_rfc3339_nano(),
                })
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return found,
            Ok(_) => {}
        }
    }
}
