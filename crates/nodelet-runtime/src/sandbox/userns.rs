//! User namespaces for pods with `hostUsers: false` (the kubelet's
//! `userns` manager and containerd's pod user namespace).
//!
//! Each such pod gets a private block of 65536 host ids (the kubelet's
//! default `idsPerPod`), allocated from 65536 upwards (the kubelet's
//! default range when no `kubelet` entry exists in `/etc/subuid`) and kept
//! in the sandbox record, so a restart never hands the same block to two
//! pods. Container ids `0..65536` map to it for users and groups alike.
//!
//! The pod's user namespace owns its network, IPC and UTS namespaces, as
//! with containerd: a container's root may then mount sysfs and mqueue and
//! use its own network, but holds nothing over the host's. A multithreaded
//! process may not `unshare(CLONE_NEWUSER)` itself, so a forked child does
//! it (together with net/ipc/uts, which makes them owned by the new user
//! namespace), reports back over a pipe and pauses; the agent writes the id
//! maps, pins the four namespaces by bind mount in the pin space (see
//! [`super::pin_space`]), kills the child, and sets the hostname from a
//! thread that joins the UTS namespace. The child runs only raw system
//! calls between `fork` and `_exit`, which is what is allowed after a fork
//! in a multithreaded program.

use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::namespaces::{NamespaceSet, unpin};
use super::pin_space::PinSpace;
use crate::error::{Result, RuntimeError};
use crate::types::{IdMapping, SandboxNamespaces};

/// Ids per pod (the kubelet's default `idsPerPod`).
pub const IDS_PER_POD: u32 = 65536;
/// The first host id handed out (the kubelet's default range start).
pub const FIRST_ID: u32 = 65536;

/// The lowest block of [`IDS_PER_POD`] host ids that no mapping in `used`
/// overlaps.
pub fn allocate(used: &[IdMapping]) -> Result<IdMapping> {
    let mut start = u64::from(FIRST_ID);
    let end = 1u64 << 32;
    while start + u64::from(IDS_PER_POD) <= end {
        let overlaps = used.iter().any(|m| {
            let (a, b) = (
                u64::from(m.host_id),
                u64::from(m.host_id) + u64::from(m.size),
            );
            start < b && a < start + u64::from(IDS_PER_POD)
        });
        if !overlaps {
            return Ok(IdMapping {
                host_id: start as u32,
                size: IDS_PER_POD,
            });
        }
        start += u64::from(IDS_PER_POD);
    }
    Err(RuntimeError::Other(
        "no free range of host ids left for a pod user namespace".into(),
    ))
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| RuntimeError::Other(format!("pipe: {e}")))
}

/// A forked child inside the new namespaces; dropping it kills and reaps
/// it (by then the namespaces are pinned).
struct Holder {
    pid: libc::pid_t,
}

impl Drop for Holder {
    fn drop(&mut self) {
        let mut status = 0;
        // SAFETY: kill and waitpid on our own child's pid, with a valid out
        // pointer; the child only ever pauses.
        unsafe {
            libc::kill(self.pid, libc::SIGKILL);
            libc::waitpid(self.pid, &mut status, 0);
        }
    }
}

/// Forks a child that unshares a user namespace plus `set`, and returns
/// once it did.
fn spawn_holder(set: NamespaceSet) -> Result<Holder> {
    let mut flags = libc::CLONE_NEWUSER;
    if set.net {
        flags |= libc::CLONE_NEWNET;
    }
    if set.ipc {
        flags |= libc::CLONE_NEWIPC;
    }
    if set.uts {
        flags |= libc::CLONE_NEWUTS;
    }
    let (ready_r, ready_w) = pipe()?;
    let rw = ready_w.as_raw_fd();
    // SAFETY: after fork the child only makes raw system calls (unshare,
    // write, pause, _exit) on values prepared before the fork: no
    // allocation, no locks, which is what a child of a multithreaded
    // process may do. It is killed by the parent (see `Holder`).
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(RuntimeError::Other(format!(
            "fork for the pod user namespace: {}",
            io::Error::last_os_error()
        )));
    }
    if pid == 0 {
        // SAFETY: see above; the child never returns into Rust code.
        unsafe {
            let rc = libc::unshare(flags);
            let code: u8 = if rc == 0 {
                0
            } else {
                (*libc::__errno_location()).clamp(1, 255) as u8
            };
            libc::write(rw, (&code as *const u8).cast(), 1);
            loop {
                libc::pause();
            }
        }
    }
    drop(ready_w);
    let holder = Holder { pid };
    let mut code = [0u8; 1];
    // SAFETY: reading one byte into a local buffer from our pipe end.
    let n = unsafe { libc::read(ready_r.as_raw_fd(), code.as_mut_ptr().cast(), 1) };
    drop(ready_r);
    if n != 1 {
        return Err(RuntimeError::Other(
            "the user namespace helper exited before reporting".into(),
        ));
    }
    if code[0] != 0 {
        return Err(RuntimeError::Host(format!(
            "creating the pod's user namespace: unshare: {} (hostUsers: false needs user namespaces: check user.max_user_namespaces)",
            io::Error::from_raw_os_error(i32::from(code[0]))
        )));
    }
    Ok(holder)
}

fn write_map(pid: libc::pid_t, file: &str, m: IdMapping) -> Result<()> {
    let path = PathBuf::from(format!("/proc/{pid}/{file}"));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .map_err(|e| RuntimeError::io(&path, e))?;
    f.write_all(format!("0 {} {}\n", m.host_id, m.size).as_bytes())
        .map_err(|e| RuntimeError::io(&path, e))
}

/// Sets the hostname of the UTS namespace pinned at `uts` from a thread
/// that joins it (UTS is per thread; the thread dies afterwards).
fn set_hostname(uts: &Path, hostname: &str) -> Result<()> {
    let uts = uts.to_path_buf();
    let hostname = hostname.to_string();
    std::thread::Builder::new()
        .name("nodelet-userns-uts".into())
        .spawn(move || -> Result<()> {
            let f = std::fs::File::open(&uts).map_err(|e| RuntimeError::io(&uts, e))?;
            nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWUTS).map_err(|e| {
                RuntimeError::Other(format!("joining the pod's UTS namespace: {e}"))
            })?;
            nix::unistd::sethostname(&hostname)
                .map_err(|e| RuntimeError::Other(format!("sethostname({hostname:?}) failed: {e}")))
        })
        .map_err(|e| RuntimeError::Other(format!("spawning the hostname thread: {e}")))?
        .join()
        .map_err(|_| RuntimeError::Other("hostname thread panicked".into()))?
}

/// Creates the pod's user namespace with `mapping` and the namespaces in
/// `set` owned by it, pins all of them in `space` as sandbox `id`'s
/// (`user`, `net`, `ipc`, `uts`) and sets the hostname. Blocking; on
/// failure nothing is left.
pub fn pin(
    space: &PinSpace,
    id: &str,
    set: NamespaceSet,
    hostname: &str,
    mapping: IdMapping,
) -> Result<SandboxNamespaces> {
    let r = pin_inner(space, id, set, hostname, mapping);
    let dir = space.dir(id);
    if r.is_err()
        && let Err(e) = unpin(&dir)
    {
        tracing::warn!(dir = %dir.display(), error = %e, "cleaning up failed user namespace pins");
    }
    r
}

fn pin_inner(
    space: &PinSpace,
    id: &str,
    set: NamespaceSet,
    hostname: &str,
    mapping: IdMapping,
) -> Result<SandboxNamespaces> {
    let mut kinds = vec!["user"];
    for (on, name) in [(set.net, "net"), (set.ipc, "ipc"), (set.uts, "uts")] {
        if on {
            kinds.push(name);
        }
    }
    let holder = spawn_holder(set)?;
    write_map(holder.pid, "uid_map", mapping)?;
    write_map(holder.pid, "gid_map", mapping)?;
    let mut pinned = SandboxNamespaces::default();
    for k in &kinds {
        let source = PathBuf::from(format!("/proc/{}/ns/{k}", holder.pid));
        let p = Some(space.bind(id, k, &source)?);
        match *k {
            "user" => pinned.user = p,
            "net" => pinned.net = p,
            "ipc" => pinned.ipc = p,
            _ => pinned.uts = p,
        }
    }
    drop(holder);
    if let Some(uts) = &pinned.uts {
        set_hostname(uts, hostname)?;
    }
    Ok(pinned)
}

/// [`pin`] from async code.
pub async fn pin_async(
    space: Arc<PinSpace>,
    id: String,
    set: NamespaceSet,
    hostname: String,
    mapping: IdMapping,
) -> Result<SandboxNamespaces> {
    tokio::task::spawn_blocking(move || pin(&space, &id, set, &hostname, mapping))
        .await
        .map_err(|e| RuntimeError::Other(format!("user namespace task failed: {e}")))?
}

/// Opens a pinned user namespace (for idmapped mounts).
pub fn open(path: &Path) -> Result<OwnedFd> {
    let f = std::fs::File::open(path).map_err(|e| RuntimeError::io(path, e))?;
    Ok(OwnedFd::from(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_allocated_lowest_first_without_overlap() {
        let a = allocate(&[]).unwrap();
        assert_eq!(
            a,
            IdMapping {
                host_id: 65536,
                size: 65536
            }
        );
        let b = allocate(&[a]).unwrap();
        assert_eq!(b.host_id, 131072);
        // A freed block is reused.
        assert_eq!(allocate(&[b]).unwrap().host_id, 65536);
        // An odd-sized foreign mapping blocks every block it touches.
        let odd = IdMapping {
            host_id: 65536 + 10,
            size: 65536,
        };
        assert_eq!(allocate(&[odd]).unwrap().host_id, 196608);
        // Full: every block used.
        let all: Vec<IdMapping> = (1..65536u64)
            .map(|i| IdMapping {
                host_id: (i * 65536) as u32,
                size: 65536,
            })
            .collect();
        assert!(allocate(&all).is_err());
    }
}
