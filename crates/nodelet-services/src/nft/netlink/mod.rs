//! nf_tables over netlink, for the incremental updates: one
//! `NETLINK_NETFILTER` socket, one batch (one kernel transaction) per
//! update. libnftables first refreshes its cache of the whole namespace's
//! ruleset (every table's chains and sets, not only ours) before each
//! transaction, which beside iptables-nft's tables and other agents' is
//! most of an update's time; a batch built here names only nodelet's table
//! and reads nothing back (see docs/architecture.md, "Services").
//! The socket and the framing also serve ctnetlink (`nft/conntrack`).

pub(crate) mod encode;

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

pub use encode::Batch;

use crate::nft::exec::NftError;
use crate::nft::ops::{Op, render};

pub(crate) const NLMSG_ERROR: u16 = 2;
pub(crate) const NLMSG_DONE: u16 = 3;
/// Socket buffers large enough for the largest incremental batch (churn of
/// many services at once); root may exceed the sysctl limits.
const BUFFER: libc::c_int = 8 << 20;

/// A `NETLINK_NETFILTER` socket bound in this process's network namespace.
pub struct Socket {
    fd: OwnedFd,
    seq: u32,
}

/// Why a batch did not apply.
#[derive(Debug)]
pub enum SendError {
    /// The batch is larger than the socket takes in one message: apply it
    /// another way (the text path).
    TooLarge,
    /// The kernel refused (or the socket failed): nothing was applied.
    Failed(NftError),
}

impl Socket {
    pub fn open() -> io::Result<Socket> {
        // SAFETY: plain socket(2); the result is checked before use.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_NETFILTER,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        for opt in [libc::SO_SNDBUFFORCE, libc::SO_RCVBUFFORCE] {
            // SAFETY: setsockopt with a pointer to a c_int and its size.
            // Failure (not root) leaves the default size: large batches
            // then take the text path (SendError::TooLarge).
            unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    libc::SOL_SOCKET,
                    opt,
                    (&BUFFER as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
        }
        // SAFETY: a zeroed sockaddr_nl is valid (family set below; pid 0
        // lets the kernel pick our port id).
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: bind with a valid sockaddr_nl and its size.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Socket { fd, seq: 0 })
    }

    /// Applies `ops` to `table` as one transaction: all or nothing.
    pub fn apply(&mut self, table: &str, ops: &[Op]) -> Result<(), SendError> {
        if ops.is_empty() {
            return Ok(());
        }
        self.drain();
        let batch = Batch::encode(table, ops, self.seq).map_err(SendError::Failed)?;
        self.seq = batch.last_seq.wrapping_add(1);
        if self.seq > u32::MAX / 2 {
            self.seq = 0;
        }
        self.send(&batch.buf)?;
        self.answers(&batch, table, ops)
    }

    fn send(&self, buf: &[u8]) -> Result<(), SendError> {
        self.send_raw(buf).map_err(|e| {
            if e.raw_os_error() == Some(libc::EMSGSIZE) {
                return SendError::TooLarge;
            }
            SendError::Failed(NftError(format!(
                "netlink: sending a batch of {} bytes: {e}",
                buf.len()
            )))
        })
    }

    /// Sends `buf` (one or more messages) to the kernel, which processes
    /// them inside this call (netlink to the kernel is synchronous; a dump
    /// continues as its answers are read).
    pub(crate) fn send_raw(&self, buf: &[u8]) -> io::Result<()> {
        // SAFETY: a zeroed sockaddr_nl with the family set addresses the
        // kernel (pid 0).
        let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: sendto with a buffer we own for the call's duration and
        // a valid address.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                buf.as_ptr().cast(),
                buf.len(),
                0,
                (&kernel as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Reads what the kernel queued during the send: errors for commands
    /// that failed and the acknowledgement of the last command.
    fn answers(&mut self, batch: &Batch, table: &str, ops: &[Op]) -> Result<(), SendError> {
        let mut acked = false;
        let mut errors = Vec::new();
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = match self.recv(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    return Err(SendError::Failed(NftError(format!(
                        "netlink: reading the kernel's answer: {e}"
                    ))));
                }
            };
            for (seq, code) in parse_errors(&buf[..n]) {
                if seq < batch.first_seq || seq > batch.last_seq {
                    continue;
                }
                if code == 0 {
                    acked |= seq == batch.last_seq;
                    continue;
                }
                let what = batch
                    .origin
                    .get(&seq)
                    .and_then(|i| ops.get(*i))
                    .map(|op| render(table, std::slice::from_ref(op)))
                    .unwrap_or_default();
                errors.push(format!(
                    "{}: {}",
                    what.trim(),
                    io::Error::from_raw_os_error(-code)
                ));
            }
        }
        if !errors.is_empty() {
            return Err(SendError::Failed(NftError(format!(
                "netlink: {}",
                errors.join("; ")
            ))));
        }
        if !acked {
            return Err(SendError::Failed(NftError(
                "netlink: the kernel did not acknowledge the batch".into(),
            )));
        }
        Ok(())
    }

    fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: recv into a buffer we own, at most its length.
        let n = unsafe {
            libc::recv(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    /// The next datagram, waiting up to `timeout` for it (`TimedOut`
    /// after). A datagram longer than `buf` is an error, not a silently
    /// cut one.
    pub(crate) fn recv_wait(&self, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        loop {
            // SAFETY: poll on one pollfd we own, for its duration.
            let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
            if rc < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if rc == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no answer from the kernel in {timeout:?}"),
                ));
            }
            break;
        }
        // SAFETY: recv into a buffer we own, at most its length; with
        // MSG_TRUNC the result is the datagram's real length.
        let n = unsafe {
            libc::recv(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT | libc::MSG_TRUNC,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        if n > buf.len() {
            return Err(io::Error::other(format!(
                "a netlink message of {n} bytes exceeds the {} byte buffer",
                buf.len()
            )));
        }
        Ok(n)
    }

    /// Drops answers left from an earlier batch.
    fn drain(&self) {
        let mut buf = vec![0u8; 16 << 10];
        while self.recv(&mut buf).is_ok_and(|n| n > 0) {}
    }
}

/// One netlink message of a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Message<'a> {
    pub ty: u16,
    pub flags: u16,
    pub seq: u32,
    /// What follows the 16-byte `nlmsghdr`.
    pub payload: &'a [u8],
}

/// The messages of a datagram, in order; stops at the first whose length
/// does not fit (a truncated tail is ignored, never read past).
pub(crate) fn messages(buf: &[u8]) -> impl Iterator<Item = Message<'_>> {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        let h = buf.get(at..at.checked_add(16)?)?;
        let len = u32::from_ne_bytes([h[0], h[1], h[2], h[3]]) as usize;
        if len < 16 {
            return None;
        }
        let payload = buf.get(at + 16..at.checked_add(len)?)?;
        let m = Message {
            ty: u16::from_ne_bytes([h[4], h[5]]),
            flags: u16::from_ne_bytes([h[6], h[7]]),
            seq: u32::from_ne_bytes([h[8], h[9], h[10], h[11]]),
            payload,
        };
        at = at.checked_add((len + 3) & !3)?;
        Some(m)
    })
}

/// The error code of an `NLMSG_ERROR` message's payload: 0 is an
/// acknowledgement, otherwise a negative errno.
pub(crate) fn error_code(payload: &[u8]) -> Option<i32> {
    let b = payload.get(..4)?;
    Some(i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

/// `(sequence number, error code)` of every `NLMSG_ERROR` in `buf`; code 0
/// is an acknowledgement, otherwise a negative errno.
fn parse_errors(buf: &[u8]) -> Vec<(u32, i32)> {
    messages(buf)
        .filter(|m| m.ty == NLMSG_ERROR)
        .filter_map(|m| Some((m.seq, error_code(m.payload)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{messages, parse_errors};

    fn msg(ty: u16, seq: u32, code: i32) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&36u32.to_ne_bytes());
        v.extend_from_slice(&ty.to_ne_bytes());
        v.extend_from_slice(&0u16.to_ne_bytes());
        v.extend_from_slice(&seq.to_ne_bytes());
        v.extend_from_slice(&0u32.to_ne_bytes());
        v.extend_from_slice(&code.to_ne_bytes());
        v.extend_from_slice(&[0; 16]);
        v
    }

    #[test]
    fn errors_and_acknowledgements_are_read_by_sequence_number() {
        let mut buf = msg(2, 7, -libc::ENOENT);
        buf.extend(msg(3, 8, 0)); // NLMSG_DONE: not an answer
        buf.extend(msg(2, 9, 0));
        buf.extend_from_slice(&[1, 2, 3]); // a truncated tail is ignored
        assert_eq!(parse_errors(&buf), [(7, -libc::ENOENT), (9, 0)]);
    }

    #[test]
    fn a_length_that_does_not_fit_ends_the_walk_without_reading_past() {
        let mut buf = msg(2, 1, 0);
        buf[0..4].copy_from_slice(&8u32.to_ne_bytes()); // shorter than a header
        assert_eq!(messages(&buf).count(), 0);
        let mut buf = msg(2, 1, 0);
        buf[0..4].copy_from_slice(&u32::MAX.to_ne_bytes()); // longer than the datagram
        assert_eq!(messages(&buf).count(), 0);
        let buf = msg(2, 1, 0);
        let m: Vec<_> = messages(&buf).collect();
        assert_eq!(
            (m.len(), m[0].ty, m[0].seq, m[0].payload.len()),
            (1, 2, 1, 20)
        );
    }
}
