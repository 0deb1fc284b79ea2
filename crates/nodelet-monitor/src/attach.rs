//! The attach socket: how `kubectl attach` reaches a running container's main
//! process (CRI-O does the same through conmon's attach socket). The monitor
//! already owns the container's stdio, so it is the only place that can hand
//! it out again after `<runtime> create` has returned.
//!
//! The monitor listens on a unix stream socket (`--attach-socket`, created
//! before the sync message so an attach right after start finds it). Every
//! connection is one attached client. It receives the container's live
//! stdout/stderr from the moment it connects (earlier output is in the log),
//! may write to the container's stdin (kept open by the monitor when the
//! container has `stdin: true`: a pipe's write end, or the pty master with a
//! TTY) and may resize the TTY.
//!
//! # Protocol
//!
//! Both directions carry frames `[kind: u8][len: u32 big-endian][len bytes]`.
//!
//! monitor → client:
//! - `6` HELLO, always first: one byte of flags, bit 0 = the container's stdin
//!   can be written, bit 1 = the container has a TTY.
//! - `1` STDOUT, `2` STDERR: output bytes (a TTY's output is all STDOUT).
//! - `5` EXIT: the container's init ended; payload the exit code as i32
//!   big-endian (128+signal when killed). The monitor closes the connection
//!   right after it.
//!
//! client → monitor:
//! - `0` STDIN: bytes for the container's stdin. An empty STDIN frame just
//!   declares "this client attached with stdin" (see stdinOnce below).
//! - `3` STDIN_EOF: the client's stdin ended.
//! - `4` RESIZE: 4 bytes, columns then rows, each u16 big-endian (TTY only).
//! - `7` LOG: one byte of stream (`1` stdout, `2` stderr), then text for the
//!   container's CRI log, one record per line. The agent writes lifecycle
//!   hook output this way (`hooks.nodelet.dev/output: logs`): the monitor
//!   is the only writer of the log file, so records stay whole and in order
//!   with the container's own lines. At most [`MAX_LOG_LINES`] lines per
//!   frame, each cut to the log's line limit as partial records are.
//!
//! Unknown kinds are ignored; a frame longer than [`MAX_IN_FRAME`] ends the
//! connection. `stdinOnce: true` (kubelet semantics): when the first client
//! that used stdin sends STDIN_EOF or disconnects, the container's stdin is
//! closed (the pipe's write end: the process reads EOF) and later clients get
//! none. With a TTY there is nothing to half-close, so it only stops being
//! writable.
//!
//! # Never stalling the container
//!
//! Everything is non-blocking and runs in the monitor's one poll loop. Output
//! is queued per client; a client that falls more than [`CLIENT_BACKLOG`]
//! behind is disconnected (the log still has everything), so a slow reader
//! never holds back the container or the CRI log. Stdin bytes wait in a
//! bounded queue; while it is full the monitor stops reading from clients,
//! which pushes back on them, not on the container.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::detach::set_nonblocking;

pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const STDIN_EOF: u8 = 3;
pub const RESIZE: u8 = 4;
pub const EXIT: u8 = 5;
pub const HELLO: u8 = 6;
pub const LOG: u8 = 7;

/// Lines one LOG frame may carry (hook output is bounded by the agent too).
pub const MAX_LOG_LINES: usize = 1024;

pub const HELLO_STDIN: u8 = 1;
pub const HELLO_TTY: u8 = 2;

const HEADER: usize = 5;
/// Largest frame a client may send (kubectl sends at most 32 KiB of stdin).
pub const MAX_IN_FRAME: usize = 1024 * 1024;
/// Output a client may have queued before it is dropped as too slow.
pub const CLIENT_BACKLOG: usize = 4 * 1024 * 1024;
/// Stdin bytes queued for the container before clients stop being read.
const STDIN_BACKLOG: usize = 1024 * 1024;
/// Attached clients at once; more are refused (closed at once).
const MAX_CLIENTS: usize = 64;
/// How long the goodbye (EXIT frame and queued output) may take at the end.
const FINISH_MAX: Duration = Duration::from_millis(500);

/// Appends one frame to `out`.
pub fn push_frame(out: &mut VecDeque<u8>, kind: u8, payload: &[u8]) {
    out.push_back(kind);
    out.extend((payload.len() as u32).to_be_bytes());
    out.extend(payload);
}

/// One attached client.
struct Client {
    stream: UnixStream,
    inbuf: Vec<u8>,
    out: VecDeque<u8>,
    /// It sent STDIN or STDIN_EOF: its leaving ends a stdinOnce stdin.
    used_stdin: bool,
    dead: bool,
}

impl Client {
    /// Writes as much queued output as the socket takes now.
    fn flush(&mut self) {
        while !self.out.is_empty() && !self.dead {
            let (a, _) = self.out.as_slices();
            match (&self.stream).write(a) {
                Ok(0) => self.dead = true,
                Ok(n) => {
                    self.out.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => self.dead = true,
            }
        }
    }
}

/// The container's stdin as the monitor holds it.
pub struct Stdin {
    /// Pipe write end or a dup of the pty master; non-blocking.
    pub file: File,
    /// Close it when the first stdin client leaves.
    pub once: bool,
}

/// The attach server of one container.
pub struct Attach {
    listener: UnixListener,
    path: PathBuf,
    clients: Vec<Client>,
    stdin: Option<File>,
    stdin_once: bool,
    /// Bytes for the container's stdin not yet written.
    pending: VecDeque<u8>,
    /// stdinOnce fired: close stdin once `pending` is written.
    closing: bool,
    /// A dup of the pty master, for TIOCSWINSZ.
    tty: Option<File>,
    /// LOG frames' lines waiting for the log writer: (stream id, text).
    log_lines: Vec<(u8, Vec<u8>)>,
}

/// Binds a unix socket at `path` whatever its length: sun_path holds 108
/// bytes and container dirs can be longer, so (like conmon) bind through the
/// directory's /proc/self/fd entry.
pub fn bind_long(path: &Path) -> io::Result<UnixListener> {
    let _ = std::fs::remove_file(path);
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "socket path has no name"))?;
    let dirf = File::open(dir)?;
    let short = Path::new("/proc/self/fd")
        .join(dirf.as_raw_fd().to_string())
        .join(name);
    UnixListener::bind(short)
}

impl Attach {
    /// Serves `path`. `stdin`: the container's stdin when it has one;
    /// `tty`: the pty master (a dup) when it has a terminal.
    pub fn open(path: &Path, stdin: Option<Stdin>, tty: Option<File>) -> Result<Attach, String> {
        let listener =
            bind_long(path).map_err(|e| format!("attach socket {}: {e}", path.display()))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("attach socket: {e}"))?;
        let stdin_once = stdin.as_ref().is_some_and(|s| s.once);
        let stdin = stdin.map(|s| s.file);
        if let Some(f) = &stdin {
            set_nonblocking(f)?;
        }
        Ok(Attach {
            listener,
            path: path.to_path_buf(),
            clients: Vec::new(),
            stdin,
            stdin_once,
            pending: VecDeque::new(),
            closing: false,
            tty,
            log_lines: Vec::new(),
        })
    }

    /// Lines clients asked to be logged since the last call, in arrival
    /// order (the supervise loop writes them).
    pub fn take_log_lines(&mut self) -> Vec<(u8, Vec<u8>)> {
        std::mem::take(&mut self.log_lines)
    }

    /// What to poll, in a fixed layout that [`Attach::handle`] relies on:
    /// the listener, the stdin (if still open), then every client.
    pub fn poll_fds(&self) -> Vec<(BorrowedFd<'_>, PollFlags)> {
        let mut v = Vec::with_capacity(2 + self.clients.len());
        v.push((self.listener.as_fd(), PollFlags::POLLIN));
        if let Some(f) = &self.stdin {
            let ev = if self.pending.is_empty() {
                PollFlags::empty()
            } else {
                PollFlags::POLLOUT
            };
            v.push((f.as_fd(), ev));
        }
        let room = self.pending.len() < STDIN_BACKLOG;
        for c in &self.clients {
            let mut ev = PollFlags::empty();
            if room {
                ev |= PollFlags::POLLIN;
            }
            if !c.out.is_empty() {
                ev |= PollFlags::POLLOUT;
            }
            v.push((c.stream.as_fd(), ev));
        }
        v
    }

    /// Acts on poll results, given in the layout of the last
    /// [`Attach::poll_fds`] (nothing may have been added or removed since;
    /// [`Attach::output`] only marks clients).
    pub fn handle(&mut self, revents: &[PollFlags]) {
        let mut it = revents.iter().copied();
        let listener_ev = it.next().unwrap_or(PollFlags::empty());
        if self.stdin.is_some() {
            let ev = it.next().unwrap_or(PollFlags::empty());
            if ev.intersects(PollFlags::POLLERR | PollFlags::POLLHUP) {
                // The container closed its stdin (or exited): nothing to feed.
                self.stdin = None;
                self.pending.clear();
            } else if ev.contains(PollFlags::POLLOUT) {
                self.write_stdin();
            }
        }
        for i in 0..self.clients.len() {
            let ev = it.next().unwrap_or(PollFlags::empty());
            if ev.contains(PollFlags::POLLOUT) {
                self.clients[i].flush();
            }
            if ev.contains(PollFlags::POLLIN) {
                self.read_client(i);
            } else if ev.intersects(PollFlags::POLLHUP | PollFlags::POLLERR) {
                self.clients[i].dead = true;
            }
        }
        self.reap_clients();
        if listener_ev.contains(PollFlags::POLLIN) {
            self.accept();
        }
        self.write_stdin();
    }

    /// Fans container output out to every client (never blocks).
    pub fn output(&mut self, stream: u8, data: &[u8]) {
        for c in self.clients.iter_mut().filter(|c| !c.dead) {
            if c.out.len() + HEADER + data.len() > CLIENT_BACKLOG {
                c.dead = true;
                continue;
            }
            push_frame(&mut c.out, stream, data);
            c.flush();
        }
    }

    /// The container exited: tell every client its code, give them a
    /// moment to take queued output, then close and remove the socket.
    pub fn finish(mut self, exit_code: i32) {
        let _ = std::fs::remove_file(&self.path);
        for c in self.clients.iter_mut().filter(|c| !c.dead) {
            push_frame(&mut c.out, EXIT, &exit_code.to_be_bytes());
            c.flush();
        }
        let deadline = Instant::now() + FINISH_MAX;
        loop {
            self.clients.retain(|c| !c.dead && !c.out.is_empty());
            let left = deadline.saturating_duration_since(Instant::now());
            if self.clients.is_empty() || left.is_zero() {
                break;
            }
            let mut fds: Vec<PollFd> = self
                .clients
                .iter()
                .map(|c| PollFd::new(c.stream.as_fd(), PollFlags::POLLOUT))
                .collect();
            let t = PollTimeout::try_from(left).unwrap_or(PollTimeout::ZERO);
            let _ = poll(&mut fds, t);
            drop(fds);
            for c in &mut self.clients {
                c.flush();
            }
        }
    }

    fn accept(&mut self) {
        loop {
            let stream = match self.listener.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return,
            };
            if self.clients.len() >= MAX_CLIENTS || stream.set_nonblocking(true).is_err() {
                continue;
            }
            let mut flags = 0;
            if self.stdin.is_some() && !self.closing {
                flags |= HELLO_STDIN;
            }
            if self.tty.is_some() {
                flags |= HELLO_TTY;
            }
            let mut c = Client {
                stream,
                inbuf: Vec::new(),
                out: VecDeque::new(),
                used_stdin: false,
                dead: false,
            };
            push_frame(&mut c.out, HELLO, &[flags]);
            c.flush();
            self.clients.push(c);
        }
    }

    fn read_client(&mut self, i: usize) {
        let mut buf = [0u8; 32 * 1024];
        let n = match (&self.clients[i].stream).read(&mut buf) {
            Ok(0) => {
                self.clients[i].dead = true;
                return;
            }
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                return;
            }
            Err(_) => {
                self.clients[i].dead = true;
                return;
            }
        };
        self.clients[i].inbuf.extend_from_slice(&buf[..n]);
        loop {
            let c = &mut self.clients[i];
            if c.inbuf.len() < HEADER {
                return;
            }
            let kind = c.inbuf[0];
            let len = u32::from_be_bytes([c.inbuf[1], c.inbuf[2], c.inbuf[3], c.inbuf[4]]) as usize;
            if len > MAX_IN_FRAME {
                c.dead = true;
                return;
            }
            if c.inbuf.len() < HEADER + len {
                return;
            }
            let payload: Vec<u8> = c.inbuf.drain(..HEADER + len).skip(HEADER).collect();
            self.frame(i, kind, &payload);
        }
    }

    fn frame(&mut self, i: usize, kind: u8, payload: &[u8]) {
        match kind {
            STDIN => {
                self.clients[i].used_stdin = true;
                if self.stdin.is_some() && !self.closing {
                    self.pending.extend(payload);
                }
            }
            STDIN_EOF => {
                self.clients[i].used_stdin = true;
                if self.stdin_once {
                    self.closing = true;
                }
            }
            LOG if !payload.is_empty() && (payload[0] == STDOUT || payload[0] == STDERR) => {
                let stream = payload[0];
                let text = payload[1..].strip_suffix(b"\n").unwrap_or(&payload[1..]);
                for line in text.split(|&b| b == b'\n').take(MAX_LOG_LINES) {
                    self.log_lines.push((stream, line.to_vec()));
                }
            }
            RESIZE if payload.len() == 4 => {
                let cols = u16::from_be_bytes([payload[0], payload[1]]);
                let rows = u16::from_be_bytes([payload[2], payload[3]]);
                if let Some(t) = &self.tty {
                    let _ = set_winsize(t, cols, rows);
                }
            }
            _ => {}
        }
    }

    /// Drops disconnected clients; a stdin user leaving ends a stdinOnce stdin.
    fn reap_clients(&mut self) {
        let once = self.stdin_once;
        let mut close = false;
        self.clients.retain(|c| {
            if c.dead && c.used_stdin && once {
                close = true;
            }
            !c.dead
        });
        if close {
            self.closing = true;
        }
    }

    fn write_stdin(&mut self) {
        if let Some(f) = &self.stdin {
            while !self.pending.is_empty() {
                let (a, _) = self.pending.as_slices();
                match (&*f).write(a) {
                    Ok(n) if n > 0 => {
                        self.pending.drain(..n);
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    // EPIPE: the container closed its stdin.
                    _ => {
                        self.stdin = None;
                        self.pending.clear();
                        break;
                    }
                }
            }
        }
        if self.closing && self.pending.is_empty() {
            // Dropping the pipe's write end is what gives the process EOF.
            self.stdin = None;
        }
    }
}

/// TIOCSWINSZ on the pty master: the kernel signals SIGWINCH to the
/// terminal's foreground process group.
fn set_winsize(master: &File, cols: u16, rows: u16) -> io::Result<()> {
    let ws = nix::pty::Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize struct that lives for the call,
    // on a descriptor we own.
    let r = unsafe { nix::libc::ioctl(master.as_raw_fd(), nix::libc::TIOCSWINSZ, &ws) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The pipe for a non-TTY container's stdin: (read end for the runtime,
/// write end the monitor keeps). Both close-on-exec in the monitor; the
/// read end reaches the container as the runtime's fd 0.
pub fn stdin_pipe() -> Result<(std::os::fd::OwnedFd, File), String> {
    let (r, w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| format!("stdin pipe: {e}"))?;
    Ok((r, File::from(w)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads one frame from a blocking stream.
    fn read_frame(s: &mut UnixStream) -> (u8, Vec<u8>) {
        let mut h = [0u8; HEADER];
        s.read_exact(&mut h).unwrap();
        let len = u32::from_be_bytes([h[1], h[2], h[3], h[4]]) as usize;
        let mut p = vec![0u8; len];
        s.read_exact(&mut p).unwrap();
        (h[0], p)
    }

    fn send(s: &mut UnixStream, kind: u8, payload: &[u8]) {
        let mut q = VecDeque::new();
        push_frame(&mut q, kind, payload);
        s.write_all(&Vec::from(q)).unwrap();
    }

    /// One turn of the monitor's loop, with a timeout so tests never hang.
    fn turn(a: &mut Attach) {
        let fds = a.poll_fds();
        let mut p: Vec<PollFd> = fds.iter().map(|(fd, ev)| PollFd::new(*fd, *ev)).collect();
        poll(&mut p, PollTimeout::from(200u8)).unwrap();
        let rev: Vec<PollFlags> = p
            .iter()
            .map(|f| f.revents().unwrap_or(PollFlags::empty()))
            .collect();
        drop(p);
        drop(fds);
        a.handle(&rev);
    }

    fn turns_until(a: &mut Attach, mut done: impl FnMut(&Attach) -> bool) {
        for _ in 0..50 {
            if done(a) {
                return;
            }
            turn(a);
        }
        panic!("condition not reached");
    }

    fn server(stdin_once: bool) -> (tempfile::TempDir, Attach, File) {
        let dir = tempfile::tempdir().unwrap();
        // Longer than sun_path on purpose: bind_long must cope.
        let deep = dir.path().join("x".repeat(100));
        std::fs::create_dir(&deep).unwrap();
        let (r, w) = stdin_pipe().unwrap();
        let a = Attach::open(
            &deep.join("attach"),
            Some(Stdin {
                file: w,
                once: stdin_once,
            }),
            None,
        )
        .unwrap();
        (dir, a, File::from(r))
    }

    fn connect(a: &Attach) -> UnixStream {
        let dir = File::open(a.path.parent().unwrap()).unwrap();
        let p = format!("/proc/self/fd/{}/attach", dir.as_raw_fd());
        UnixStream::connect(p).unwrap()
    }

    #[test]
    fn output_fan_out_stdin_and_exit() {
        let (_d, mut a, mut container_stdin) = server(false);
        let mut c1 = connect(&a);
        let mut c2 = connect(&a);
        turns_until(&mut a, |a| a.clients.len() == 2);
        assert_eq!(read_frame(&mut c1), (HELLO, vec![HELLO_STDIN]));
        assert_eq!(read_frame(&mut c2), (HELLO, vec![HELLO_STDIN]));
        a.output(STDOUT, b"out");
        a.output(STDERR, b"err");
        for c in [&mut c1, &mut c2] {
            assert_eq!(read_frame(c), (STDOUT, b"out".to_vec()));
            assert_eq!(read_frame(c), (STDERR, b"err".to_vec()));
        }
        send(&mut c1, STDIN, b"hello\n");
        turns_until(&mut a, |a| a.clients[0].used_stdin && a.pending.is_empty());
        let mut got = [0u8; 6];
        container_stdin.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hello\n");
        // Without stdinOnce a client leaving keeps stdin open for the next.
        drop(c1);
        turns_until(&mut a, |a| a.clients.len() == 1);
        assert!(a.stdin.is_some());
        a.finish(7);
        assert_eq!(read_frame(&mut c2), (EXIT, 7i32.to_be_bytes().to_vec()));
        let mut rest = Vec::new();
        c2.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
    }

    #[test]
    fn stdin_once_closes_after_first_stdin_client() {
        let (_d, mut a, mut container_stdin) = server(true);
        let mut c1 = connect(&a);
        turns_until(&mut a, |a| a.clients.len() == 1);
        send(&mut c1, STDIN, b"hi\n");
        send(&mut c1, STDIN_EOF, b"");
        turns_until(&mut a, |a| a.stdin.is_none());
        let mut all = Vec::new();
        container_stdin.read_to_end(&mut all).unwrap();
        assert_eq!(all, b"hi\n");
        // A later client is told stdin is gone.
        let mut c2 = connect(&a);
        turns_until(&mut a, |a| a.clients.len() == 2);
        assert_eq!(read_frame(&mut c2), (HELLO, vec![0]));
    }

    #[test]
    fn slow_client_is_dropped_not_waited_for() {
        let (_d, mut a, _stdin) = server(false);
        let _slow = connect(&a);
        turns_until(&mut a, |a| a.clients.len() == 1);
        let chunk = vec![b'x'; 64 * 1024];
        // Far more than socket buffers plus the backlog: must not block.
        for _ in 0..(2 * CLIENT_BACKLOG / chunk.len() + 64) {
            a.output(STDOUT, &chunk);
        }
        assert!(a.clients[0].dead);
        turn(&mut a);
        assert!(a.clients.is_empty());
    }

    #[test]
    fn log_frames_queue_lines_for_the_log() {
        let (_d, mut a, _stdin) = server(false);
        let mut c = connect(&a);
        turns_until(&mut a, |a| a.clients.len() == 1);
        let mut p = vec![STDERR];
        p.extend_from_slice(b"[hook] one\n[hook] two\n");
        send(&mut c, LOG, &p);
        send(&mut c, LOG, &[9, b'x']); // unknown stream: ignored
        turns_until(&mut a, |a| a.log_lines.len() == 2);
        assert_eq!(
            a.take_log_lines(),
            vec![
                (STDERR, b"[hook] one".to_vec()),
                (STDERR, b"[hook] two".to_vec())
            ]
        );
        assert!(a.take_log_lines().is_empty());
    }

    #[test]
    fn oversized_frame_ends_the_connection() {
        let (_d, mut a, _stdin) = server(false);
        let mut c = connect(&a);
        turns_until(&mut a, |a| a.clients.len() == 1);
        c.write_all(&[STDIN, 0xff, 0xff, 0xff, 0xff]).unwrap();
        turns_until(&mut a, |a| a.clients.is_empty());
    }
}
