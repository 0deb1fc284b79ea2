//! Pod addresses leased the way the host-local IPAM plugin leases them, in
//! the same files, so the native path and the CNI plugins can take turns on
//! one node (an upgrade, a `--pod-network` change) without ever handing out
//! an address twice, and either can release what the other leased.
//!
//! host-local's on-disk format (containernetworking-plugins, `disk`
//! backend), which this module keeps exactly:
//! - `<dataDir>/<network>/` holds the leases (created 0755);
//! - one file per leased address, named by the address, created with
//!   `O_EXCL` (that is what makes a lease exclusive) and holding
//!   `<container id>\r\n<ifname>`;
//! - `last_reserved_ip.0` holds the last address handed out for range set
//!   0, and the next allocation starts right after it (round robin: a pod
//!   in a crash loop does not get the address its predecessor just left);
//! - `lock`, an empty file whose `flock(LOCK_EX)` serialises allocations
//!   and releases between all processes (plugin runs and this agent).
//!
//! A range is the subnet minus its network and broadcast addresses, the
//! gateway (the first address) skipped, as host-local's defaults for a
//! `ranges: [[{subnet}]]` config.

use std::fs::File;
use std::io::{self, Write};
use std::net::Ipv4Addr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Result, RuntimeError};

/// host-local's separator between the container id and the ifname.
const LINE_BREAK: &str = "\r\n";
/// Last handed-out address of range set 0 (the only one nodelet's default
/// config has).
const LAST_RESERVED: &str = "last_reserved_ip.0";
const LOCK: &str = "lock";

/// An IPv4 subnet and the addresses host-local hands out of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub network: Ipv4Addr,
    pub prefix_len: u8,
    /// First address handed out (network + 1; the gateway is skipped).
    pub start: Ipv4Addr,
    /// Last address handed out (broadcast - 1).
    pub end: Ipv4Addr,
    pub gateway: Ipv4Addr,
}

impl Range {
    /// The range of an IPv4 CIDR such as `10.244.0.0/24` (host bits are
    /// masked off, as host-local does). `None` for IPv6 or a subnet too
    /// small to hold a pod.
    pub fn from_cidr(cidr: &str) -> Option<Range> {
        let (addr, len) = cidr.split_once('/')?;
        let addr: Ipv4Addr = addr.parse().ok()?;
        let prefix_len: u8 = len.parse().ok()?;
        if !(8..=30).contains(&prefix_len) {
            return None;
        }
        let mask = u32::MAX << (32 - prefix_len);
        let network = u32::from(addr) & mask;
        let broadcast = network | !mask;
        Some(Range {
            network: Ipv4Addr::from(network),
            prefix_len,
            start: Ipv4Addr::from(network + 1),
            end: Ipv4Addr::from(broadcast - 1),
            gateway: Ipv4Addr::from(network + 1),
        })
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        (u32::from(self.start)..=u32::from(self.end)).contains(&u32::from(ip))
    }

    /// The broadcast address of the subnet.
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.end) + 1)
    }

    /// `10.244.0.0/24`.
    pub fn cidr(&self) -> String {
        format!("{}/{}", self.network, self.prefix_len)
    }
}

/// The lease directory of one network (`<dataDir>/<network name>`).
#[derive(Debug, Clone)]
pub struct Leases {
    dir: PathBuf,
}

impl Leases {
    pub fn new(data_dir: &Path, network: &str) -> Leases {
        Leases {
            dir: data_dir.join(network),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Leases the next free address of `range` to `id`/`ifname`, after the
    /// last one handed out. Errors as host-local does when `id`/`ifname`
    /// already holds an address of the range, or none is left.
    pub fn allocate(&self, range: &Range, id: &str, ifname: &str) -> Result<Ipv4Addr> {
        let _lock = self.lock()?;
        if let Some(ip) = self
            .held_by(id, ifname)?
            .into_iter()
            .find(|ip| range.contains(*ip))
        {
            return Err(RuntimeError::Network(format!(
                "{ip} has been allocated to {id}, duplicate allocation is not allowed"
            )));
        }
        let start = u32::from(range.start);
        let count = u32::from(range.end) - start + 1;
        // host-local starts after the last reserved address when it is in
        // the range (so that one is tried last), else at the range start.
        let first = match self.last_reserved() {
            Some(last) if range.contains(last) => (u32::from(last) - start + 1) % count,
            _ => 0,
        };
        for k in 0..count {
            let ip = Ipv4Addr::from(start + (first + k) % count);
            if ip == range.gateway {
                continue;
            }
            if self.reserve(ip, id, ifname)? {
                return Ok(ip);
            }
        }
        Err(RuntimeError::Network(format!(
            "failed to allocate for range 0: no IP addresses available in range set: {}-{}",
            range.start, range.end
        )))
    }

    /// Releases every address leased to `id`/`ifname` (and, as host-local,
    /// leases of the old format holding only the id when none matched).
    /// Releasing nothing is fine: DEL is idempotent.
    pub fn release(&self, id: &str, ifname: &str) -> Result<Vec<Ipv4Addr>> {
        let _lock = self.lock()?;
        let mut released = Vec::new();
        let current = lease_content(id, ifname);
        for pass in [current.as_str(), id.trim()] {
            for (ip, content) in self.entries()? {
                if content.trim() == pass {
                    let path = self.dir.join(ip.to_string());
                    match std::fs::remove_file(&path) {
                        Ok(()) => released.push(ip),
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                        Err(e) => return Err(RuntimeError::io(path, e)),
                    }
                }
            }
            if !released.is_empty() {
                break;
            }
        }
        Ok(released)
    }

    /// The addresses leased to `id`/`ifname` (CNI CHECK: is the lease still
    /// there?).
    pub fn held_by(&self, id: &str, ifname: &str) -> Result<Vec<Ipv4Addr>> {
        let want = lease_content(id, ifname);
        Ok(self
            .entries()?
            .into_iter()
            .filter(|(_, content)| content.trim() == want)
            .map(|(ip, _)| ip)
            .collect())
    }

    /// `(address, content)` of every lease file; a missing directory has
    /// none.
    fn entries(&self) -> Result<Vec<(Ipv4Addr, String)>> {
        let read = match std::fs::read_dir(&self.dir) {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(RuntimeError::io(&self.dir, e)),
        };
        let mut out = Vec::new();
        for entry in read {
            let entry = entry.map_err(|e| RuntimeError::io(&self.dir, e))?;
            let Some(ip) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<Ipv4Addr>().ok())
            else {
                continue;
            };
            // A lease removed meanwhile (by a plugin not holding our lock:
            // impossible, but harmless) is skipped like host-local does.
            if let Ok(content) = std::fs::read_to_string(entry.path()) {
                out.push((ip, content));
            }
        }
        Ok(out)
    }

    fn last_reserved(&self) -> Option<Ipv4Addr> {
        std::fs::read_to_string(self.dir.join(LAST_RESERVED))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    /// Creates the lease file exclusively; `false` when it exists.
    fn reserve(&self, ip: Ipv4Addr, id: &str, ifname: &str) -> Result<bool> {
        let path = self.dir.join(ip.to_string());
        let mut file = match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(false),
            Err(e) => return Err(RuntimeError::io(path, e)),
        };
        if let Err(e) = file.write_all(lease_content(id, ifname).as_bytes()) {
            let _ = std::fs::remove_file(&path);
            return Err(RuntimeError::io(path, e));
        }
        drop(file);
        let last = self.dir.join(LAST_RESERVED);
        std::fs::write(&last, ip.to_string()).map_err(|e| RuntimeError::io(last, e))?;
        Ok(true)
    }

    /// Takes the network's lock file (shared with host-local processes);
    /// released when the returned file is closed.
    fn lock(&self) -> Result<File> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(&self.dir)
            .map_err(|e| RuntimeError::io(&self.dir, e))?;
        let path = self.dir.join(LOCK);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| RuntimeError::io(&path, e))?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| RuntimeError::io(&path, e.into()))?;
        Ok(file)
    }
}

fn lease_content(id: &str, ifname: &str) -> String {
    format!("{}{LINE_BREAK}{ifname}", id.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(cidr: &str) -> Range {
        Range::from_cidr(cidr).unwrap()
    }

    #[test]
    fn ranges_skip_network_broadcast_and_gateway() {
        let r = range("10.244.0.7/24");
        assert_eq!(r.network, Ipv4Addr::new(10, 244, 0, 0));
        assert_eq!(r.start, Ipv4Addr::new(10, 244, 0, 1));
        assert_eq!(r.end, Ipv4Addr::new(10, 244, 0, 254));
        assert_eq!(r.gateway, Ipv4Addr::new(10, 244, 0, 1));
        assert_eq!(r.broadcast(), Ipv4Addr::new(10, 244, 0, 255));
        assert_eq!(r.cidr(), "10.244.0.0/24");
        assert!(Range::from_cidr("fd00::/64").is_none());
        assert!(Range::from_cidr("10.0.0.0/31").is_none());
    }

    #[test]
    fn leases_are_host_local_files() {
        let dir = tempfile::tempdir().unwrap();
        let leases = Leases::new(dir.path(), "net");
        let r = range("10.99.0.0/29");
        let ip = leases.allocate(&r, "abc", "eth0").unwrap();
        assert_eq!(ip, Ipv4Addr::new(10, 99, 0, 2));
        let d = dir.path().join("net");
        assert_eq!(std::fs::read(d.join("10.99.0.2")).unwrap(), b"abc\r\neth0");
        assert_eq!(std::fs::read(d.join(LAST_RESERVED)).unwrap(), b"10.99.0.2");
        assert!(d.join(LOCK).exists());
        assert_eq!(leases.held_by("abc", "eth0").unwrap(), vec![ip]);
        assert!(leases.held_by("abc", "eth1").unwrap().is_empty());
    }

    #[test]
    fn a_second_allocation_for_the_same_attachment_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let leases = Leases::new(dir.path(), "net");
        let r = range("10.99.0.0/29");
        leases.allocate(&r, "abc", "eth0").unwrap();
        let e = leases.allocate(&r, "abc", "eth0").unwrap_err();
        assert!(
            e.to_string()
                .contains("duplicate allocation is not allowed"),
            "{e}"
        );
    }

    #[test]
    fn exhaustion_release_and_round_robin() {
        let dir = tempfile::tempdir().unwrap();
        let leases = Leases::new(dir.path(), "net");
        // /29: .1 gateway, .2-.6 for pods.
        let r = range("10.99.0.0/29");
        let got: Vec<_> = (0..5)
            .map(|i| leases.allocate(&r, &format!("c{i}"), "eth0").unwrap())
            .collect();
        assert_eq!(
            got,
            (2..=6)
                .map(|i| Ipv4Addr::new(10, 99, 0, i))
                .collect::<Vec<_>>()
        );
        let e = leases.allocate(&r, "c9", "eth0").unwrap_err();
        assert_eq!(
            e.to_string(),
            "network setup failed: failed to allocate for range 0: no IP addresses available in range set: 10.99.0.1-10.99.0.6"
        );
        assert_eq!(leases.release("c1", "eth0").unwrap(), vec![got[1]]);
        // Idempotent.
        assert!(leases.release("c1", "eth0").unwrap().is_empty());
        assert_eq!(leases.allocate(&r, "c9", "eth0").unwrap(), got[1]);
        // Round robin: after .3 was handed out again, freeing .2 and .5
        // gives .5 next (the first free after the last reserved), then .2.
        leases.release("c0", "eth0").unwrap();
        leases.release("c3", "eth0").unwrap();
        assert_eq!(leases.allocate(&r, "d1", "eth0").unwrap(), got[3]);
        assert_eq!(leases.allocate(&r, "d2", "eth0").unwrap(), got[0]);
    }

    #[test]
    fn a_restart_continues_after_the_last_reserved_address() {
        let dir = tempfile::tempdir().unwrap();
        let r = range("10.99.0.0/24");
        let a = Leases::new(dir.path(), "net")
            .allocate(&r, "a", "eth0")
            .unwrap();
        Leases::new(dir.path(), "net").release("a", "eth0").unwrap();
        // A new agent (new Leases) does not hand the just-freed address out.
        let b = Leases::new(dir.path(), "net")
            .allocate(&r, "b", "eth0")
            .unwrap();
        assert_eq!(u32::from(b), u32::from(a) + 1);
    }

    #[test]
    fn leases_of_others_are_kept_and_old_format_is_released() {
        let dir = tempfile::tempdir().unwrap();
        let leases = Leases::new(dir.path(), "net");
        let r = range("10.99.0.0/29");
        let d = dir.path().join("net");
        std::fs::create_dir_all(&d).unwrap();
        // A lease written by an old host-local: the id alone.
        std::fs::write(d.join("10.99.0.4"), "old").unwrap();
        std::fs::write(d.join("10.99.0.5"), "other\r\neth0").unwrap();
        assert_eq!(
            leases.allocate(&r, "x", "eth0").unwrap(),
            Ipv4Addr::new(10, 99, 0, 2)
        );
        assert_eq!(
            leases.allocate(&r, "y", "eth0").unwrap(),
            Ipv4Addr::new(10, 99, 0, 3)
        );
        // .4 and .5 are taken: never handed out twice.
        assert_eq!(
            leases.allocate(&r, "z", "eth0").unwrap(),
            Ipv4Addr::new(10, 99, 0, 6)
        );
        assert_eq!(
            leases.release("old", "eth0").unwrap(),
            vec![Ipv4Addr::new(10, 99, 0, 4)]
        );
        assert!(d.join("10.99.0.5").exists());
    }
}
