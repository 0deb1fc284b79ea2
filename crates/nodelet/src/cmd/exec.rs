//! `nodelet exec [-it] POD -- CMD...`: kubectl's exec over the WebSocket
//! channel protocol. With `-t` on a terminal, the local terminal is put in
//! raw mode (restored on every exit path) and window-size changes are
//! forwarded; the exit code is the remote command's.

use std::os::fd::AsFd;
use std::process::ExitCode;

use nix::sys::termios::{self, SetArg, Termios};
use tokio::sync::mpsc;

use crate::cli_client::ExecArgs;
use crate::client::container::default_container;
use crate::client::exec::{ExecIo, ExecStatus, exec};
use crate::client::resource::pod_name;
use crate::client::with_query;

pub async fn run(a: &ExecArgs) -> anyhow::Result<ExitCode> {
    let client = a.conn.client();
    let pod = pod_name(&a.pod).map_err(anyhow::Error::msg)?;
    let stdin_tty = termios::tcgetattr(std::io::stdin().as_fd()).is_ok();
    let mut tty = a.tty;
    if tty && !(a.stdin && stdin_tty) {
        eprintln!("Unable to use a TTY - input is not a terminal or the right kind of file");
        tty = false;
    }
    let mut q: Vec<(&str, String)> = a.command.iter().map(|c| ("command", c.clone())).collect();
    let container = match &a.container {
        Some(c) => c.clone(),
        None => {
            let v = client
                .get(&format!(
                    "/api/v1/namespaces/{}/pods/{pod}",
                    a.conn.namespace
                ))
                .await?;
            let (c, notice) = default_container(&v)
                .ok_or_else(|| anyhow::anyhow!("pod {pod} has no containers"))?;
            if let Some(n) = notice {
                eprintln!("{n}");
            }
            c
        }
    };
    q.push(("container", container));
    q.push(("stdin", a.stdin.to_string()));
    q.push(("stdout", "true".into()));
    // A terminal merges stderr into stdout, as kubectl asks.
    q.push(("stderr", (!tty).to_string()));
    q.push(("tty", tty.to_string()));
    let path = with_query(
        &format!("/api/v1/namespaces/{}/pods/{pod}/exec", a.conn.namespace),
        &q,
    );

    let (resize, _winch) = if tty {
        let (tx, rx) = mpsc::channel(4);
        (Some(rx), Some(tokio::spawn(forward_window_size(tx))))
    } else {
        (None, None)
    };
    let raw = if tty { Some(RawMode::enter()?) } else { None };
    let io = ExecIo {
        stdin: a.stdin.then(tokio::io::stdin),
        stdout: tokio::io::stdout(),
        stderr: tokio::io::stderr(),
        resize,
    };
    let status = exec(&client, &path, io).await;
    drop(raw);
    match status? {
        ExecStatus::Success => Ok(ExitCode::SUCCESS),
        ExecStatus::ExitCode(code) => {
            eprintln!("command terminated with exit code {code}");
            Ok(ExitCode::from(u8::try_from(code & 0xff).unwrap_or(1)))
        }
        ExecStatus::Failure(msg) => anyhow::bail!("{msg}"),
    }
}

/// The terminal's settings before raw mode, put back on drop.
pub(crate) struct RawMode {
    saved: Termios,
}

impl RawMode {
    pub(crate) fn enter() -> anyhow::Result<Self> {
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd())?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw)?;
        Ok(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.saved);
    }
}

nix::ioctl_read_bad!(tiocgwinsz, nix::libc::TIOCGWINSZ, nix::pty::Winsize);

/// The terminal size of stdout (columns, rows), if it is a terminal.
fn window_size() -> Option<(u16, u16)> {
    let mut ws = nix::pty::Winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` into the valid, exclusively
    // borrowed struct; fd 1 stays open for the process's life.
    let r = unsafe { tiocgwinsz(1, &mut ws) };
    (r.is_ok() && ws.ws_col > 0).then_some((ws.ws_col, ws.ws_row))
}

/// Sends the current size, then a new one after every SIGWINCH.
pub(crate) async fn forward_window_size(tx: mpsc::Sender<(u16, u16)>) {
    use tokio::signal::unix::{SignalKind, signal};
    if let Some(size) = window_size()
        && tx.send(size).await.is_err()
    {
        return;
    }
    let Ok(mut winch) = signal(SignalKind::window_change()) else {
        return;
    };
    while winch.recv().await.is_some() {
        if let Some(size) = window_size()
            && tx.send(size).await.is_err()
        {
            return;
        }
    }
}
