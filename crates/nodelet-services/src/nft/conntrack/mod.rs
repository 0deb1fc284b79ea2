//! Stale connection-tracking entries, removed as kube-proxy removes them
//! (`pkg/proxy/conntrack`): UDP flows to an endpoint that left a service
//! (UDP has no connection to end, so the old DNAT would live on), flows to
//! a cluster IP whose service is gone, and flows to or from a deleted
//! pod's address. One call reads the IPv4 table once over ctnetlink
//! ([`netlink`]), in process, and deletes every entry any item matches;
//! no `conntrack` tool is needed. When the table cannot be read (no
//! `nf_conntrack_netlink`), entries time out on their own and a warning
//! says so once.

pub mod netlink;

use std::collections::HashSet;
use std::io;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};

use netlink::{Entry, Tuple};

use crate::nft::netlink::Socket;

static WARNED: AtomicBool = AtomicBool::new(false);

/// One kind of stale entry, with the meaning of the `conntrack -D` filter
/// named on each.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Flush {
    /// Everything whose original destination is the address (a deleted
    /// service's cluster IP, a deleted pod): `-d IP`.
    To(Ipv4Addr),
    /// Everything DNAT'd to or answered by the address (a deleted pod):
    /// the reply's source, `-r IP`.
    RepliedBy(Ipv4Addr),
    /// UDP to `cluster_ip:port` that went to `endpoint`:
    /// `-p udp -d CIP --dport P -r EP`.
    UdpVia {
        cluster_ip: Ipv4Addr,
        port: u16,
        endpoint: Ipv4Addr,
    },
}

/// A set of [`Flush`] items, looked up per entry in constant time.
#[derive(Debug, Default)]
pub struct Matcher {
    to: HashSet<Ipv4Addr>,
    replied_by: HashSet<Ipv4Addr>,
    udp_via: HashSet<(Ipv4Addr, u16, Ipv4Addr)>,
}

const IPPROTO_UDP: u8 = 17;

impl Matcher {
    pub fn new(items: &[Flush]) -> Matcher {
        let mut m = Matcher::default();
        for f in items {
            match f {
                Flush::To(ip) => {
                    m.to.insert(*ip);
                }
                Flush::RepliedBy(ip) => {
                    m.replied_by.insert(*ip);
                }
                Flush::UdpVia {
                    cluster_ip,
                    port,
                    endpoint,
                } => {
                    m.udp_via.insert((*cluster_ip, *port, *endpoint));
                }
            }
        }
        m
    }

    pub fn is_empty(&self) -> bool {
        self.to.is_empty() && self.replied_by.is_empty() && self.udp_via.is_empty()
    }

    /// Whether any item matches the connection `orig` / `reply`.
    pub fn matches(&self, orig: &Tuple, reply: &Tuple) -> bool {
        self.to.contains(&orig.dst)
            || self.replied_by.contains(&reply.src)
            || (orig.proto == IPPROTO_UDP
                && orig
                    .dport
                    .is_some_and(|port| self.udp_via.contains(&(orig.dst, port, reply.src))))
    }

    fn entry(&self, e: &Entry) -> bool {
        self.matches(&e.orig, &e.reply)
    }
}

/// What one flush did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Flushed {
    /// Entries in the IPv4 table when it was read.
    pub entries: usize,
    /// Entries matched (and so deleted, or gone meanwhile, or refused).
    pub matched: usize,
    pub deleted: usize,
    /// Gone between the dump and their delete.
    pub vanished: usize,
    /// Refused by the kernel (other than "no such entry").
    pub failed: usize,
    /// Entries skipped as malformed.
    pub malformed: usize,
}

/// Runs the deletions (after the data plane changed, off its path): the
/// socket work on a blocking thread. Never fails: problems are logged.
pub async fn flush(items: Vec<Flush>) {
    if items.is_empty() {
        return;
    }
    let n = items.len();
    match tokio::task::spawn_blocking(move || flush_now(&items)).await {
        Ok(Ok(f)) => tracing::debug!(
            items = n,
            entries = f.entries,
            deleted = f.deleted,
            vanished = f.vanished,
            failed = f.failed,
            malformed = f.malformed,
            "conntrack: stale entries flushed"
        ),
        Ok(Err(e)) => failed(&e.to_string()),
        Err(e) => failed(&e.to_string()),
    }
}

fn failed(e: &str) {
    if !WARNED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            "conntrack: reading or changing the connection-tracking table over netlink failed ({e}; is nf_conntrack_netlink available?): stale flows of removed endpoints expire on their own"
        );
    } else {
        tracing::debug!("conntrack: flush failed: {e}");
    }
}

/// [`flush`] on the calling thread (in its network namespace): one dump of
/// the IPv4 table, then a delete per matching entry.
pub fn flush_now(items: &[Flush]) -> io::Result<Flushed> {
    let matcher = Matcher::new(items);
    if matcher.is_empty() {
        return Ok(Flushed::default());
    }
    let sock = Socket::open()?;
    let dump = netlink::dump(&sock, 1, |e| matcher.entry(e))?;
    if dump.interrupted {
        tracing::debug!("conntrack: the table changed during the dump; an entry may be left");
    }
    let d = netlink::delete(&sock, 2, &dump.doomed)?;
    if let Some(code) = d.first_error {
        tracing::debug!(
            failed = d.failed,
            "conntrack: deleting an entry: {}",
            netlink::errno(code)
        );
    }
    Ok(Flushed {
        entries: dump.entries,
        matched: dump.doomed.len(),
        deleted: d.deleted,
        vanished: d.vanished,
        failed: d.failed,
        malformed: dump.malformed,
    })
}

#[cfg(test)]
mod tests;
