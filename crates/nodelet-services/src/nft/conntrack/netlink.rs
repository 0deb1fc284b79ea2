//! ctnetlink (`NFNL_SUBSYS_CTNETLINK`), the kernel's own interface to the
//! connection-tracking table, over the crate's `NETLINK_NETFILTER` socket:
//! one dump of the IPv4 table and a delete per stale entry. This is what
//! the `conntrack` tool does inside, once per invocation: spawning it per
//! deletion dumped the whole table once per deleted address (two processes
//! per deleted pod), which under pod churn was a third of a small node's
//! CPU. kube-proxy (`pkg/proxy/conntrack`) likewise lists once per sync.
//!
//! Only what deciding and deleting needs is read: the original and reply
//! tuples (addresses, protocol, ports) and the zone. Everything read from
//! the kernel is bounds-checked; a malformed entry is skipped.

use std::io;
use std::net::Ipv4Addr;
use std::time::Duration;

use crate::nft::netlink::encode::{self, NLA_F_NESTED, NLM_F_ACK, NLM_F_REQUEST};
use crate::nft::netlink::{NLMSG_DONE, NLMSG_ERROR, Socket, error_code, messages};

// linux/netlink.h, linux/netfilter/nfnetlink_conntrack.h.
const NLM_F_DUMP: u16 = 0x300;
/// Set on dump messages when the table changed during the dump (entries
/// may be missing from it).
const NLM_F_DUMP_INTR: u16 = 0x10;
const NLA_TYPE_MASK: u16 = !(NLA_F_NESTED | 0x4000);
const NFNL_SUBSYS_CTNETLINK: u16 = 1;
const IPCTNL_MSG_CT_NEW: u16 = 0;
const IPCTNL_MSG_CT_GET: u16 = 1;
const IPCTNL_MSG_CT_DELETE: u16 = 2;
const AF_INET: u8 = libc::AF_INET as u8;

const CTA_TUPLE_ORIG: u16 = 1;
const CTA_TUPLE_REPLY: u16 = 2;
const CTA_ZONE: u16 = 18;
const CTA_TUPLE_IP: u16 = 1;
const CTA_TUPLE_PROTO: u16 = 2;
const CTA_IP_V4_SRC: u16 = 1;
const CTA_IP_V4_DST: u16 = 2;
const CTA_PROTO_NUM: u16 = 1;
const CTA_PROTO_SRC_PORT: u16 = 2;
const CTA_PROTO_DST_PORT: u16 = 3;

/// How long one read waits for the kernel (it answers within the call
/// that asked, or as the dump is read; this only bounds a broken socket).
const TIMEOUT: Duration = Duration::from_secs(10);
/// One datagram: the kernel fills dump datagrams up to the reader's buffer
/// size, at most 32 KiB; larger is never cut (`recv_wait` checks).
const RECV_BUFFER: usize = 64 << 10;
/// Deletes sent per `sendto`: their acknowledgements are queued during the
/// call and must fit the receive buffer (also its default size, not root).
const DELETES_PER_SEND: usize = 64;

/// One direction of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuple {
    pub proto: u8,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    /// Ports of port-based protocols (TCP, UDP, SCTP, …); `None` for
    /// others (ICMP has type, code and id instead).
    pub sport: Option<u16>,
    pub dport: Option<u16>,
}

/// One entry of a dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    pub orig: Tuple,
    pub reply: Tuple,
    /// `CTA_ZONE`, 0 when absent (the default zone).
    pub zone: u16,
    /// The `CTA_TUPLE_ORIG` attribute's content as the kernel sent it: the
    /// delete names the entry with it, so protocols whose tuple is not
    /// ports (ICMP) are deleted as the tool deletes them.
    pub orig_raw: &'a [u8],
}

/// What a delete needs of an entry, kept from the dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Doomed {
    pub orig_raw: Vec<u8>,
    pub zone: u16,
}

impl Entry<'_> {
    pub fn doomed(&self) -> Doomed {
        Doomed {
            orig_raw: self.orig_raw.to_vec(),
            zone: self.zone,
        }
    }
}

/// The request for a dump of the IPv4 table.
pub fn dump_request(seq: u32) -> Vec<u8> {
    let mut buf = Vec::with_capacity(20);
    let at = encode::header(
        &mut buf,
        (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET,
        NLM_F_REQUEST | NLM_F_DUMP,
        seq,
        AF_INET,
        0,
    );
    encode::finish(&mut buf, at);
    buf
}

/// Appends the deletion of `d` (acknowledged) to `buf`.
pub fn delete_message(buf: &mut Vec<u8>, seq: u32, d: &Doomed) {
    let at = encode::header(
        buf,
        (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE,
        NLM_F_REQUEST | NLM_F_ACK,
        seq,
        AF_INET,
        0,
    );
    encode::attr(buf, CTA_TUPLE_ORIG | NLA_F_NESTED, &d.orig_raw);
    if d.zone != 0 {
        encode::attr(buf, CTA_ZONE, &d.zone.to_be_bytes());
    }
    encode::finish(buf, at);
}

/// Whether a message type is a conntrack entry (dumps answer with the
/// request's type; `NEW` as events do is accepted too).
pub fn is_entry(ty: u16) -> bool {
    ty >> 8 == NFNL_SUBSYS_CTNETLINK && matches!(ty & 0xff, IPCTNL_MSG_CT_NEW | IPCTNL_MSG_CT_GET)
}

/// The entry in a ctnetlink message's payload (after the `nlmsghdr`):
/// `None` when it is not IPv4 or anything needed is missing or malformed.
pub fn parse_entry(payload: &[u8]) -> Option<Entry<'_>> {
    if *payload.first()? != AF_INET {
        return None;
    }
    let mut orig = None;
    let mut reply = None;
    let mut zone = 0;
    for a in attrs(payload.get(4..)?) {
        let (ty, data) = a?;
        match ty {
            CTA_TUPLE_ORIG => orig = Some((tuple(data)?, data)),
            CTA_TUPLE_REPLY => reply = Some(tuple(data)?),
            CTA_ZONE => zone = be16(data)?,
            _ => {}
        }
    }
    let (orig, orig_raw) = orig?;
    Some(Entry {
        orig,
        reply: reply?,
        zone,
        orig_raw,
    })
}

fn tuple(data: &[u8]) -> Option<Tuple> {
    let (mut src, mut dst, mut proto, mut sport, mut dport) = (None, None, None, None, None);
    for a in attrs(data) {
        let (ty, data) = a?;
        match ty {
            CTA_TUPLE_IP => {
                for a in attrs(data) {
                    let (ty, v) = a?;
                    match ty {
                        CTA_IP_V4_SRC => src = Some(ipv4(v)?),
                        CTA_IP_V4_DST => dst = Some(ipv4(v)?),
                        _ => {}
                    }
                }
            }
            CTA_TUPLE_PROTO => {
                for a in attrs(data) {
                    let (ty, v) = a?;
                    match ty {
                        CTA_PROTO_NUM => proto = Some(<[u8; 1]>::try_from(v).ok()?[0]),
                        CTA_PROTO_SRC_PORT => sport = Some(be16(v)?),
                        CTA_PROTO_DST_PORT => dport = Some(be16(v)?),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Some(Tuple {
        proto: proto?,
        src: src?,
        dst: dst?,
        sport,
        dport,
    })
}

fn ipv4(v: &[u8]) -> Option<Ipv4Addr> {
    Some(Ipv4Addr::from(<[u8; 4]>::try_from(v).ok()?))
}

fn be16(v: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes(<[u8; 2]>::try_from(v).ok()?))
}

/// The attributes in `buf` as `(type without flags, payload)`; an item is
/// `None` (and the last) when an attribute's length does not fit.
fn attrs(buf: &[u8]) -> impl Iterator<Item = Option<(u16, &[u8])>> {
    let mut at = 0usize;
    let mut broken = false;
    std::iter::from_fn(move || {
        if broken || at >= buf.len() {
            return None;
        }
        let parsed = (|| {
            let h = buf.get(at..at.checked_add(4)?)?;
            let len = usize::from(u16::from_ne_bytes([h[0], h[1]]));
            let ty = u16::from_ne_bytes([h[2], h[3]]) & NLA_TYPE_MASK;
            let data = buf.get(at + 4..at.checked_add(len)?)?;
            at = at.checked_add((len + 3) & !3)?;
            Some((ty, data))
        })();
        broken = parsed.is_none();
        Some(parsed)
    })
}

/// What one dump found.
#[derive(Debug, Default)]
pub struct Dump {
    /// IPv4 entries read.
    pub entries: usize,
    /// Entries skipped as malformed.
    pub malformed: usize,
    /// The table changed during the dump (`NLM_F_DUMP_INTR`): an entry
    /// may have been missed.
    pub interrupted: bool,
    pub doomed: Vec<Doomed>,
}

/// Dumps the IPv4 table and keeps the entries `doom` picks. Everything is
/// read before anything is deleted.
pub fn dump(sock: &Socket, seq: u32, mut doom: impl FnMut(&Entry) -> bool) -> io::Result<Dump> {
    sock.send_raw(&dump_request(seq))?;
    let mut out = Dump::default();
    let mut buf = vec![0u8; RECV_BUFFER];
    loop {
        let n = sock.recv_wait(&mut buf, TIMEOUT)?;
        for m in messages(buf.get(..n).unwrap_or_default()) {
            if m.seq != seq {
                continue;
            }
            out.interrupted |= m.flags & NLM_F_DUMP_INTR != 0;
            match m.ty {
                NLMSG_DONE => {
                    // The dump's own error, if it failed part way.
                    return match error_code(m.payload) {
                        Some(code) if code < 0 => Err(errno(code)),
                        _ => Ok(out),
                    };
                }
                NLMSG_ERROR => match error_code(m.payload) {
                    Some(0) => {}
                    Some(code) => return Err(errno(code)),
                    None => return Err(io::Error::other("a truncated netlink error")),
                },
                ty if is_entry(ty) => match parse_entry(m.payload) {
                    Some(e) => {
                        out.entries += 1;
                        if doom(&e) {
                            out.doomed.push(e.doomed());
                        }
                    }
                    None => out.malformed += 1,
                },
                _ => {}
            }
        }
    }
}

/// The error of a netlink error code (a negative errno).
pub fn errno(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code.checked_neg().unwrap_or(libc::EINVAL))
}

/// How the deletes went.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Deleted {
    pub deleted: usize,
    /// Gone before its delete (expired or removed meanwhile): not an error.
    pub vanished: usize,
    pub failed: usize,
    /// The first refusal other than "no such entry".
    pub first_error: Option<i32>,
}

/// Deletes `doomed`, sequence numbers from `seq` on.
pub fn delete(sock: &Socket, seq: u32, doomed: &[Doomed]) -> io::Result<Deleted> {
    let mut out = Deleted::default();
    let mut send = Vec::with_capacity(DELETES_PER_SEND * 96);
    let mut buf = vec![0u8; RECV_BUFFER];
    let mut next = seq;
    for chunk in doomed.chunks(DELETES_PER_SEND) {
        send.clear();
        let first = next;
        for d in chunk {
            delete_message(&mut send, next, d);
            next = next.wrapping_add(1);
        }
        let ours = |s: u32| s.wrapping_sub(first) < chunk.len() as u32;
        sock.send_raw(&send)?;
        let mut pending = chunk.len();
        while pending > 0 {
            let n = sock.recv_wait(&mut buf, TIMEOUT)?;
            for m in messages(buf.get(..n).unwrap_or_default()) {
                if m.ty != NLMSG_ERROR || !ours(m.seq) {
                    continue;
                }
                pending = pending.saturating_sub(1);
                match error_code(m.payload) {
                    Some(0) => out.deleted += 1,
                    Some(code) if code == -libc::ENOENT => out.vanished += 1,
                    code => {
                        out.failed += 1;
                        out.first_error = out.first_error.or(code).or(Some(-libc::EINVAL));
                    }
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
