//! The tcpSocket probe (`pkg/probe/tcp`): success when a TCP connection to
//! host (default: the pod IP) and port opens within `timeoutSeconds`; the
//! connection is closed at once. Failures read like Go's dial errors
//! (`dial tcp <addr>: connect: connection refused`, `... i/o timeout`).

use std::time::Duration;

use tokio::net::TcpStream;

use super::outcome::ProbeOutcome;
use crate::clock::Clock;
use crate::hooks::http::host_port;

pub async fn probe(clock: &dyn Clock, host: &str, port: u16, timeout: Duration) -> ProbeOutcome {
    let addr = host_port(host, port);
    let connected = tokio::select! {
        r = TcpStream::connect((host, port)) => r,
        () = clock.sleep(timeout) => {
            return ProbeOutcome::Failure(format!("dial tcp {addr}: i/o timeout"));
        }
    };
    match connected {
        Ok(stream) => {
            drop(stream);
            ProbeOutcome::Success
        }
        Err(e) => ProbeOutcome::Failure(format!("dial tcp {addr}: {}", go_io_error(&e))),
    }
}

/// The common connect errors in Go's words; others as the OS words them.
fn go_io_error(e: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::ConnectionRefused => "connect: connection refused".to_owned(),
        ErrorKind::HostUnreachable => "connect: no route to host".to_owned(),
        ErrorKind::NetworkUnreachable => "connect: network is unreachable".to_owned(),
        _ => format!("connect: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;

    #[tokio::test]
    async fn open_and_closed_ports() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let clock = SystemClock;
        let t = Duration::from_secs(1);
        assert_eq!(
            probe(&clock, "127.0.0.1", port, t).await,
            ProbeOutcome::Success
        );
        drop(listener);
        assert_eq!(
            probe(&clock, "127.0.0.1", port, t).await,
            ProbeOutcome::Failure(format!(
                "dial tcp 127.0.0.1:{port}: connect: connection refused"
            ))
        );
    }
}
