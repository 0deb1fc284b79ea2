//! Port forwarding into a pod: a TCP connection to `localhost:<port>` made
//! from inside the pod's network namespace, as containerd's CRI
//! `PortForward` does (`netns.Do` + dial `localhost`, IPv4 first, then
//! IPv6). The kubelet's streaming server then copies bytes both ways.
//!
//! The socket is created by a short-lived thread that `setns`es into the
//! pinned namespace and exits afterwards: a socket stays in the namespace
//! it was created in, and no thread of the agent (least of all a tokio
//! worker) is left in a pod's namespace.

use std::fs::File;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use crate::error::{Result, RuntimeError};

/// How long a connect inside the pod may take (a filtered port).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects to `localhost:port` in the network namespace pinned at
/// `netns` (`None`: the host's, for hostNetwork pods).
pub async fn connect(
    netns: Option<&Path>,
    sandbox_id: &str,
    port: u16,
) -> Result<tokio::net::TcpStream> {
    let ns = match netns {
        Some(p) => Some(File::open(p).map_err(|e| RuntimeError::io(p, e))?),
        None => None,
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let id = sandbox_id.to_owned();
    std::thread::Builder::new()
        .name("nodelet-portfwd".into())
        .spawn(move || {
            let _ = tx.send(connect_here(ns, &id, port));
        })
        .map_err(|e| RuntimeError::Other(format!("port-forward thread: {e}")))?;
    let stream = rx
        .await
        .map_err(|_| RuntimeError::Other("port-forward thread ended without an answer".into()))??;
    stream
        .set_nonblocking(true)
        .map_err(|e| RuntimeError::Other(format!("port-forward socket: {e}")))?;
    tokio::net::TcpStream::from_std(stream)
        .map_err(|e| RuntimeError::Other(format!("port-forward socket: {e}")))
}

/// Runs on its own thread: enter the namespace, dial IPv4 then IPv6.
fn connect_here(ns: Option<File>, sandbox_id: &str, port: u16) -> Result<TcpStream> {
    if let Some(ns) = &ns {
        nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| {
            RuntimeError::Other(format!(
                "failed to enter the network namespace of sandbox {sandbox_id}: {e}"
            ))
        })?;
    }
    let v4 = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let v6 = SocketAddr::from((Ipv6Addr::LOCALHOST, port));
    let dial = |a: &SocketAddr| TcpStream::connect_timeout(a, CONNECT_TIMEOUT);
    match dial(&v4) {
        Ok(s) => Ok(s),
        Err(e4) => dial(&v6).map_err(|e6| {
            RuntimeError::Other(format!(
                "failed to connect to localhost:{port} inside namespace \"{sandbox_id}\", IPv4: {} IPv6 {} ",
                go_dial_error("tcp4", &v4, &e4),
                go_dial_error("tcp6", &v6, &e6)
            ))
        }),
    }
}

/// Go's `dial tcp4 127.0.0.1:80: connect: connection refused`.
fn go_dial_error(net: &str, addr: &SocketAddr, e: &io::Error) -> String {
    let what = match e.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
        io::ErrorKind::TimedOut => "i/o timeout".to_owned(),
        _ => e
            .raw_os_error()
            .map(|n| nix::errno::Errno::from_raw(n).desc().to_lowercase())
            .unwrap_or_else(|| e.to_string()),
    };
    format!("dial {net} {addr}: connect: {what}")
}
