//! Stale connection-tracking entries, removed as kube-proxy removes them
//! (`pkg/proxy/conntrack`): UDP flows to an endpoint that left a service
//! (UDP has no connection to end, so the old DNAT would live on), flows to
//! a cluster IP whose service is gone, and flows to or from a deleted
//! pod's address. Uses the `conntrack` tool (Debian `conntrack`); without
//! it, entries time out on their own and a warning says so once.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};

static WARNED: AtomicBool = AtomicBool::new(false);

/// One deletion: `conntrack -D` with these filters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Flush {
    /// Everything whose original destination is the address (a deleted
    /// service's cluster IP, a deleted pod).
    To(Ipv4Addr),
    /// Everything DNAT'd to or answered by the address (a deleted pod).
    RepliedBy(Ipv4Addr),
    /// UDP to `cluster_ip:port` that went to `endpoint`.
    UdpVia {
        cluster_ip: Ipv4Addr,
        port: u16,
        endpoint: Ipv4Addr,
    },
}

impl Flush {
    fn args(&self) -> Vec<String> {
        match self {
            Flush::To(ip) => vec!["-D".into(), "-d".into(), ip.to_string()],
            Flush::RepliedBy(ip) => vec!["-D".into(), "-r".into(), ip.to_string()],
            Flush::UdpVia {
                cluster_ip,
                port,
                endpoint,
            } => vec![
                "-D".into(),
                "-p".into(),
                "udp".into(),
                "-d".into(),
                cluster_ip.to_string(),
                "--dport".into(),
                port.to_string(),
                "-r".into(),
                endpoint.to_string(),
            ],
        }
    }
}

/// Runs the deletions (after the data plane changed, off its path).
pub async fn flush(items: Vec<Flush>) {
    for f in items {
        let out = tokio::process::Command::new("conntrack")
            .args(f.args())
            .stdin(std::process::Stdio::null())
            .output()
            .await;
        match out {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !WARNED.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        "conntrack not found (Debian package conntrack): stale flows of removed endpoints expire on their own"
                    );
                }
                return;
            }
            Err(e) => tracing::debug!("conntrack {:?}: {e}", f.args()),
        }
    }
}
