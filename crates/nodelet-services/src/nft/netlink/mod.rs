//! nf_tables over netlink, for the incremental updates: one
//! `NETLINK_NETFILTER` socket, one batch (one kernel transaction) per
//! update. libnftables first refreshes its cache of the whole namespace's
//! ruleset (every table's chains and sets, not only ours) before each
//! transaction, which beside iptables-nft's tables and other agents' is
//! most of an update's time; a batch built here names only nodelet's table
//! and reads nothing back (see docs/architecture.md, "Services").

mod encode;

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

pub use encode::Batch;

use crate::nft::exec::NftError;
use crate::nft::ops::{Op, render};

const NLMSG_ERROR: u16 = 2;
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
        // SAFETY: a zeroed sockaddr_nl with the family set addresses the
        // kernel (pid 0).
        let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: sendto with a buffer we own for the call's duration and
        // a valid address. The kernel processes the whole batch inside
        // this call (netlink to the kernel is synchronous).
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
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EMSGSIZE) {
                return Err(SendError::TooLarge);
            }
            return Err(SendError::Failed(NftError(format!(
                "netlink: sending a batch of {} bytes: {e}",
                buf.len()
            ))));
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

    /// Drops answers left from an earlier batch.
    fn drain(&self) {
        let mut buf = vec![0u8; 16 << 10];
        while self.recv(&mut buf).is_ok_and(|n| n > 0) {}
    }
}

/// `(sequence number, error code)` of every `NLMSG_ERROR` in `buf`; code 0
/// is an acknowledgement, otherwise a negative errno.
fn parse_errors(buf: &[u8]) -> Vec<(u32, i32)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 16 <= buf.len() {
        let len = u32::from_ne_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]) as usize;
        if len < 16 || at + len > buf.len() {
            break;
        }
        let ty = u16::from_ne_bytes([buf[at + 4], buf[at + 5]]);
        let seq = u32::from_ne_bytes([buf[at + 8], buf[at + 9], buf[at + 10], buf[at + 11]]);
        if ty == NLMSG_ERROR && len >= 20 {
            let code = i32::from_ne_bytes([buf[at + 16], buf[at + 17], buf[at + 18], buf[at + 19]]);
            out.push((seq, code));
        }
        at += (len + 3) & !3;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::parse_errors;

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
}
