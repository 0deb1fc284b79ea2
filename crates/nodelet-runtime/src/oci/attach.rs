//! The agent's side of attach: a client of the container monitor's attach
//! socket (`<container dir>/attach`), turned into the byte streams of an
//! [`InteractiveExec`]. The monitor owns the container's stdio, so this is
//! the only way back to a running container's main process.
//!
//! The frame format (`[kind u8][len u32 BE][payload]`) and its kinds are
//! defined and documented in `crates/nodelet-monitor/src/attach.rs`; the
//! constants below mirror it (the monitor deliberately has no dependency on
//! this crate).

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot};

use crate::error::{Result, RuntimeError};
use crate::types::{AttachRequest, InteractiveExec, LogStream};

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const STDIN_EOF: u8 = 3;
const RESIZE: u8 = 4;
const EXIT: u8 = 5;
const HELLO: u8 = 6;
const LOG: u8 = 7;
/// The monitor's bound on lines per LOG frame.
const MAX_LOG_LINES: usize = 1024;
const HELLO_STDIN: u8 = 1;
const HELLO_TTY: u8 = 2;

/// A sane bound for one frame from the monitor (it sends at most 64 KiB).
const MAX_FRAME: usize = 1024 * 1024;
/// The monitor answers from its poll loop at once; longer means it is stuck.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes of output buffered between the socket and the API's reader.
const PIPE: usize = 64 * 1024;

/// The socket's file name inside the container dir.
pub const SOCKET: &str = "attach";

/// Connects through the directory's /proc/self/fd entry: container dirs
/// can be longer than a unix socket path (108 bytes); conmon clients do
/// the same.
async fn connect(container_dir: &Path) -> std::io::Result<UnixStream> {
    let dir = std::fs::File::open(container_dir)?;
    let path = format!(
        "/proc/self/fd/{}/{SOCKET}",
        std::os::fd::AsRawFd::as_raw_fd(&dir)
    );
    let s = UnixStream::connect(path).await;
    drop(dir);
    s
}

async fn read_frame(r: &mut OwnedReadHalf) -> std::io::Result<Option<(u8, Vec<u8>)>> {
    let mut h = [0u8; 5];
    match r.read_exact(&mut h).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes([h[1], h[2], h[3], h[4]]) as usize;
    if len > MAX_FRAME {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("attach frame of {len} bytes"),
        ));
    }
    let mut p = vec![0u8; len];
    r.read_exact(&mut p).await?;
    Ok(Some((h[0], p)))
}

async fn write_frame(w: &mut OwnedWriteHalf, kind: u8, payload: &[u8]) -> std::io::Result<()> {
    let mut f = Vec::with_capacity(5 + payload.len());
    f.push(kind);
    f.extend((payload.len() as u32).to_be_bytes());
    f.extend_from_slice(payload);
    w.write_all(&f).await
}

/// Attaches to the container whose dir is `container_dir`. `name` is for
/// messages.
pub async fn attach(
    container_dir: &Path,
    name: &str,
    req: &AttachRequest,
) -> Result<InteractiveExec> {
    let stream = connect(container_dir).await.map_err(|e| match e.kind() {
        // The monitor removes the socket when the container exits; a
        // listener-less socket file means the monitor itself died.
        std::io::ErrorKind::ConnectionRefused => RuntimeError::Other(format!(
            "container {name} is not running (its monitor no longer serves attach)"
        )),
        std::io::ErrorKind::NotFound => RuntimeError::Other(format!(
            "container {name} has no attach socket: it exited, or was created by a nodelet without attach support"
        )),
        _ => RuntimeError::io(container_dir.join(SOCKET), e),
    })?;
    let (mut rd, mut wr) = stream.into_split();
    let hello = tokio::time::timeout(HELLO_TIMEOUT, read_frame(&mut rd))
        .await
        .map_err(|_| RuntimeError::Other(format!("attach to {name}: the monitor did not answer")))?
        .map_err(|e| RuntimeError::io(container_dir.join(SOCKET), e))?;
    let flags = match hello {
        Some((HELLO, p)) if p.len() == 1 => p[0],
        Some((k, _)) => {
            return Err(RuntimeError::Other(format!(
                "attach to {name}: unexpected first frame kind {k} from the monitor"
            )));
        }
        None => {
            return Err(RuntimeError::Other(format!(
                "attach to {name}: the monitor closed the connection (the container is exiting, or too many clients are attached)"
            )));
        }
    };
    let tty = flags & HELLO_TTY != 0;
    if req.stdin && flags & HELLO_STDIN == 0 {
        return Err(RuntimeError::Other(format!(
            "container {name}'s stdin is not open: it needs stdin: true in its spec (with stdinOnce: true only the first attach gets it)"
        )));
    }
    let (stdin_api, stdin_ours) = if req.stdin {
        // Declares this client a stdin user to the monitor (stdinOnce).
        write_frame(&mut wr, STDIN, &[])
            .await
            .map_err(|e| RuntimeError::io(container_dir.join(SOCKET), e))?;
        let (a, b) = tokio::io::duplex(PIPE);
        (Some(a), Some(b))
    } else {
        (None, None)
    };
    let pipe = |want: bool| {
        if want {
            let (a, b) = tokio::io::duplex(PIPE);
            (Some(a), Some(b))
        } else {
            (None, None)
        }
    };
    let (out_api, out_ours) = pipe(req.stdout);
    let (err_api, err_ours) = pipe(req.stderr && !tty);
    let (resize_tx, resize_rx) = if tty {
        let (t, r) = mpsc::channel::<(u16, u16)>(8);
        (Some(t), Some(r))
    } else {
        (None, None)
    };
    let (exit_tx, exit_rx) = oneshot::channel();
    tokio::spawn(pump(
        rd, wr, stdin_ours, out_ours, err_ours, resize_rx, exit_tx,
    ));
    let boxed_r =
        |d: Option<DuplexStream>| d.map(|d| Box::new(d) as Box<dyn AsyncRead + Send + Unpin>);
    Ok(InteractiveExec {
        stdin: stdin_api.map(|d| Box::new(d) as Box<dyn AsyncWrite + Send + Unpin>),
        stdout: boxed_r(out_api),
        stderr: boxed_r(err_api),
        resize: resize_tx,
        exit: exit_rx,
    })
}

/// Has the container's monitor write `text` (lines) into the container's
/// log, as LOG frames (see the monitor's protocol): the monitor owns the
/// log file, so hook output lands whole and in order with the app's lines.
pub async fn append_log(
    container_dir: &Path,
    name: &str,
    stream: LogStream,
    text: &[u8],
) -> Result<()> {
    let sock = connect(container_dir).await.map_err(|e| {
        RuntimeError::Other(format!(
            "writing to the log of container {name}: its monitor is not reachable ({e})"
        ))
    })?;
    let (mut rd, mut wr) = sock.into_split();
    match tokio::time::timeout(HELLO_TIMEOUT, read_frame(&mut rd)).await {
        Ok(Ok(Some((HELLO, _)))) => {}
        _ => {
            return Err(RuntimeError::Other(format!(
                "writing to the log of container {name}: the monitor did not answer"
            )));
        }
    }
    let stream_id = match stream {
        LogStream::Stdout => STDOUT,
        LogStream::Stderr => STDERR,
    };
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
    for chunk in lines.chunks(MAX_LOG_LINES) {
        let mut payload = vec![stream_id];
        for (i, l) in chunk.iter().enumerate() {
            if i > 0 {
                payload.push(b'\n');
            }
            payload.extend_from_slice(l);
        }
        write_frame(&mut wr, LOG, &payload)
            .await
            .map_err(|e| RuntimeError::io(container_dir.join(SOCKET), e))?;
    }
    // Close our side; the monitor reads what we sent before the EOF.
    let _ = wr.shutdown().await;
    Ok(())
}

/// Moves bytes both ways until the monitor closes (the container exited)
/// or the caller dropped the [`InteractiveExec`] (detach).
async fn pump(
    mut rd: OwnedReadHalf,
    mut wr: OwnedWriteHalf,
    stdin: Option<DuplexStream>,
    mut out: Option<DuplexStream>,
    mut err: Option<DuplexStream>,
    resize: Option<mpsc::Receiver<(u16, u16)>>,
    mut exit_tx: oneshot::Sender<i32>,
) {
    let input = async move {
        let mut stdin = stdin;
        let mut resize = resize;
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let read_stdin = async {
                match stdin.as_mut() {
                    Some(s) => s.read(&mut buf).await,
                    None => std::future::pending().await,
                }
            };
            let next_size = async {
                match resize.as_mut() {
                    Some(r) => r.recv().await,
                    None => std::future::pending().await,
                }
            };
            let sent = tokio::select! {
                n = read_stdin => match n {
                    Ok(n) if n > 0 => write_frame(&mut wr, STDIN, &buf[..n]).await,
                    // EOF (or the writer dropped): tell the monitor once.
                    _ => {
                        stdin = None;
                        write_frame(&mut wr, STDIN_EOF, &[]).await
                    }
                },
                size = next_size => match size {
                    Some((cols, rows)) => {
                        let mut p = [0u8; 4];
                        p[..2].copy_from_slice(&cols.to_be_bytes());
                        p[2..].copy_from_slice(&rows.to_be_bytes());
                        write_frame(&mut wr, RESIZE, &p).await
                    }
                    None => {
                        resize = None;
                        Ok(())
                    }
                },
            };
            if sent.is_err() {
                // The monitor is gone; output side sees EOF too.
                return std::future::pending::<()>().await;
            }
        }
    };
    let output = async move {
        let mut code = -1;
        while let Ok(Some((kind, p))) = read_frame(&mut rd).await {
            let dest = match kind {
                STDOUT => &mut out,
                STDERR => &mut err,
                EXIT if p.len() == 4 => {
                    code = i32::from_be_bytes([p[0], p[1], p[2], p[3]]);
                    continue;
                }
                _ => continue,
            };
            // A reader that went away only loses its own stream.
            if let Some(d) = dest
                && d.write_all(&p).await.is_err()
            {
                *dest = None;
            }
        }
        // EOF for the readers before the exit code, as with a process.
        drop(out);
        drop(err);
        code
    };
    let code = tokio::select! {
        code = output => Some(code),
        _ = input => None,
        _ = exit_tx.closed() => None,
    };
    if let Some(code) = code {
        let _ = exit_tx.send(code);
    }
}
