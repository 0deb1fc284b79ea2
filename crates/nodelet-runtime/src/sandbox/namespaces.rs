//! Pinned pod namespaces (net, ipc, uts) without a pause process.
//!
//! A namespace lives as long as something references it; bind-mounting its
//! nsfs file (`/proc/<tid>/ns/net`) onto a plain file keeps it alive with no
//! process at all, which is what CRI-O's `pinns` and `ip netns add` do. The
//! containers of the pod then join the pinned files by path.
//!
//! How the namespaces are created: on a dedicated, short-lived OS thread
//! that calls `unshare(CLONE_NEWNET|CLONE_NEWIPC|CLONE_NEWUTS)`, sets the
//! hostname, bind-mounts `/proc/thread-self/ns/*` onto the pin files and
//! exits. These three namespace kinds are per-thread in Linux, so unsharing
//! them on one thread of our multithreaded tokio process is allowed and
//! affects nobody else; the thread is never returned to a pool (it is not a
//! tokio worker or blocking-pool thread) and dies right after, so no code of
//! ours ever runs in the wrong namespace. We preferred this over
//! - util-linux `unshare --net=FILE ...`: an extra fork+exec per pod, errors
//!   only as text on stderr, and behaviour that varies between versions;
//! - our own fork with `pre_exec`: after fork in a multithreaded program only
//!   async-signal-safe code may run, and we would still need a binary to
//!   exec to keep the namespaces alive until they are mounted.
//!
//! The mount namespace is not unshared, so the bind mounts land in the
//! agent's (the host's) mount namespace where every container can see them.
//! The pin directory is deliberately not made a shared mount point (as
//! `ip netns` does): a container's mount namespace copies the pins when runc
//! creates it, but runc's pivot_root detaches the old root and with it those
//! copies, so nothing keeps a torn-down namespace alive.
//!
//! Teardown lazily unmounts each pin (`MNT_DETACH`, so a process still inside
//! the namespace does not make it fail) and removes the files; it is
//! idempotent and tolerates half-made pins left by a crash.

use std::io;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;

use crate::error::{Result, RuntimeError};
use crate::types::SandboxNamespaces;

/// Which namespaces to create for a sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NamespaceSet {
    pub net: bool,
    pub ipc: bool,
    pub uts: bool,
}

impl NamespaceSet {
    fn kinds(self) -> impl Iterator<Item = (&'static str, CloneFlags)> {
        [
            (self.net, "net", CloneFlags::CLONE_NEWNET),
            (self.ipc, "ipc", CloneFlags::CLONE_NEWIPC),
            (self.uts, "uts", CloneFlags::CLONE_NEWUTS),
        ]
        .into_iter()
        .filter(|(on, _, _)| *on)
        .map(|(_, name, flag)| (name, flag))
    }

    pub fn is_empty(self) -> bool {
        !(self.net || self.ipc || self.uts)
    }
}

/// Names of the pin files inside a sandbox's pin directory (`user` only
/// for pods with their own user namespace, see [`super::userns`]; `pid`
/// only for a shared process namespace, see [`super::pause`]).
const PIN_NAMES: [&str; 5] = ["net", "ipc", "uts", "user", "pid"];

/// Creates the namespaces in `set` and pins them as files in `dir`
/// (`dir/net`, `dir/ipc`, `dir/uts`). With `set.uts`, `hostname` is set
/// inside the new UTS namespace. Blocking (spawns and joins a thread): call
/// from `spawn_blocking` or use [`pin_async`].
pub fn pin(dir: &Path, set: NamespaceSet, hostname: &str) -> Result<SandboxNamespaces> {
    let mut pinned = SandboxNamespaces::default();
    if set.is_empty() {
        return Ok(pinned);
    }
    if set.uts {
        validate_hostname(hostname)?;
    }
    std::fs::create_dir_all(dir).map_err(|e| RuntimeError::io(dir, e))?;
    for (name, _) in set.kinds() {
        let file = dir.join(name);
        // An empty regular file is a valid bind-mount target for an nsfs
        // file (the mount replaces what is seen at the path).
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&file)
            .map_err(|e| RuntimeError::io(&file, e))?;
    }

    let dir_owned = dir.to_path_buf();
    let hostname = hostname.to_string();
    let outcome = std::thread::Builder::new()
        .name("nodelet-pinns".into())
        .spawn(move || unshare_and_pin(&dir_owned, set, &hostname))
        .map_err(|e| RuntimeError::Other(format!("spawning namespace thread: {e}")))?
        .join()
        .map_err(|_| RuntimeError::Other("namespace thread panicked".into()));
    match outcome.and_then(|r| r) {
        Ok(()) => {}
        Err(e) => {
            // Leave nothing half-made behind.
            if let Err(cleanup) = unpin(dir) {
                tracing::warn!(dir = %dir.display(), error = %cleanup, "cleaning up failed namespace pins");
            }
            return Err(e);
        }
    }
    for (name, _) in set.kinds() {
        let path = Some(dir.join(name));
        match name {
            "net" => pinned.net = path,
            "ipc" => pinned.ipc = path,
            _ => pinned.uts = path,
        }
    }
    Ok(pinned)
}

/// [`pin`] from async code without blocking a runtime worker.
pub async fn pin_async(
    dir: PathBuf,
    set: NamespaceSet,
    hostname: String,
) -> Result<SandboxNamespaces> {
    tokio::task::spawn_blocking(move || pin(&dir, set, &hostname))
        .await
        .map_err(|e| RuntimeError::Other(format!("namespace pinning task failed: {e}")))?
}

/// Runs on the dedicated thread only: everything after `unshare` happens in
/// the new namespaces, which die with the thread unless mounted.
fn unshare_and_pin(dir: &Path, set: NamespaceSet, hostname: &str) -> Result<()> {
    let flags = set
        .kinds()
        .fold(CloneFlags::empty(), |acc, (_, flag)| acc | flag);
    nix::sched::unshare(flags).map_err(|e| {
        RuntimeError::Host(format!(
            "unshare({flags:?}) failed: {e} (nodelet needs root / CAP_SYS_ADMIN to create pod namespaces)"
        ))
    })?;
    if set.uts {
        nix::unistd::sethostname(hostname)
            .map_err(|e| RuntimeError::Other(format!("sethostname({hostname:?}) failed: {e}")))?;
    }
    for (name, _) in set.kinds() {
        let source = PathBuf::from(format!("/proc/thread-self/ns/{name}"));
        let target = dir.join(name);
        nix::mount::mount(
            Some(&source),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| RuntimeError::io(&target, io::Error::from(e)))?;
    }
    Ok(())
}

/// Unmounts and removes every pin in `dir`, then `dir` itself. Idempotent:
/// a missing directory, missing files and files that are not mounted are
/// all fine.
pub fn unpin(dir: &Path) -> Result<()> {
    for name in PIN_NAMES {
        let file = dir.join(name);
        unmount_all(&file)?;
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(RuntimeError::io(&file, e)),
        }
    }
    match std::fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(RuntimeError::io(dir, e)),
    }
}

/// Unmounts `path` until nothing is mounted there (a crash between two
/// pinnings could have stacked mounts).
fn unmount_all(path: &Path) -> Result<()> {
    for _ in 0..16 {
        match nix::mount::umount2(path, MntFlags::MNT_DETACH) {
            Ok(()) => continue,
            // EINVAL: not a mount point (any more); ENOENT: no file.
            Err(Errno::EINVAL) | Err(Errno::ENOENT) => return Ok(()),
            Err(e) => return Err(RuntimeError::io(path, io::Error::from(e))),
        }
    }
    Err(RuntimeError::Other(format!(
        "{}: still mounted after 16 unmounts",
        path.display()
    )))
}

/// Whether `path` is an nsfs bind mount (a live pin), for recovery checks.
pub fn is_pinned(path: &Path) -> bool {
    // nsfs files report the namespace inode; a plain file has st_dev of the
    // filesystem it lives on. Comparing with the parent's device tells them
    // apart without parsing mountinfo.
    use std::os::unix::fs::MetadataExt;
    let (Ok(meta), Some(parent)) = (std::fs::metadata(path), path.parent()) else {
        return false;
    };
    match std::fs::metadata(parent) {
        Ok(pmeta) => meta.dev() != pmeta.dev(),
        Err(_) => false,
    }
}

fn validate_hostname(hostname: &str) -> Result<()> {
    if hostname.is_empty() || hostname.len() > 64 {
        return Err(RuntimeError::Other(format!(
            "invalid pod hostname {hostname:?}: must be 1 to 64 bytes"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpin_of_missing_dir_is_ok() {
        let dir = tempfile::tempdir().unwrap();
        unpin(&dir.path().join("nope")).unwrap();
    }

    #[test]
    fn unpin_removes_unmounted_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let pins = dir.path().join("sb");
        std::fs::create_dir(&pins).unwrap();
        std::fs::write(pins.join("net"), b"").unwrap();
        unpin(&pins).unwrap();
        assert!(!pins.exists());
    }

    #[test]
    fn empty_set_pins_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let ns = pin(&dir.path().join("sb"), NamespaceSet::default(), "h").unwrap();
        assert_eq!(ns, SandboxNamespaces::default());
        assert!(!dir.path().join("sb").exists());
    }
}
