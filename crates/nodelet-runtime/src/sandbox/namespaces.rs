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
//! The thread first joins the pin space (see [`super::pin_space`]), a
//! mount namespace of the agent's own, so the bind mounts land there and
//! not in the host's mount table, which runc reads whole for every
//! container it starts. Containers, CNI plugins and the pause open the
//! pins through the space's root descriptor (`/proc/<agent>/fd/<n>/...`).
//! Pins of agents before the space (under `<run>/ns/<id>` in the host's
//! namespace) keep working and are removed the same way.
//!
//! Teardown lazily unmounts each pin (`MNT_DETACH`, so a process still inside
//! the namespace does not make it fail; a pin in the space is detached by
//! the unlink itself) and removes the files; it is idempotent and tolerates
//! half-made pins left by a crash.

use std::io;
use std::path::Path;
use std::sync::Arc;

use nix::errno::Errno;
use nix::mount::MntFlags;
use nix::sched::CloneFlags;

use super::pin_space::{PinSpace, bind_mount, make_pin_file};
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

/// Creates the namespaces in `set` and pins them in `space` as sandbox
/// `id`'s (`<dir>/net`, `<dir>/ipc`, `<dir>/uts` with `dir` =
/// `space.dir(id)`). With `set.uts`, `hostname` is set inside the new UTS
/// namespace. Blocking (spawns and joins a thread): call from
/// `spawn_blocking` or use [`pin_async`].
pub fn pin(
    space: &PinSpace,
    id: &str,
    set: NamespaceSet,
    hostname: &str,
) -> Result<SandboxNamespaces> {
    let mut pinned = SandboxNamespaces::default();
    if set.is_empty() {
        return Ok(pinned);
    }
    if set.uts {
        validate_hostname(hostname)?;
    }
    let inner = Path::new("/").join(id);
    let outcome = space.inside("nodelet-pinns", || unshare_and_pin(&inner, set, hostname));
    let dir = space.dir(id);
    if let Err(e) = outcome {
        // Leave nothing half-made behind.
        if let Err(cleanup) = unpin(&dir) {
            tracing::warn!(dir = %dir.display(), error = %cleanup, "cleaning up failed namespace pins");
        }
        return Err(e);
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
    space: Arc<PinSpace>,
    id: String,
    set: NamespaceSet,
    hostname: String,
) -> Result<SandboxNamespaces> {
    tokio::task::spawn_blocking(move || pin(&space, &id, set, &hostname))
        .await
        .map_err(|e| RuntimeError::Other(format!("namespace pinning task failed: {e}")))?
}

/// Runs on a thread inside the pin space only: everything after `unshare`
/// happens in the new namespaces, which die with the thread unless
/// mounted. `dir` is the sandbox's pin directory as the space sees it.
fn unshare_and_pin(dir: &Path, set: NamespaceSet, hostname: &str) -> Result<()> {
    let mut targets = Vec::new();
    for (name, _) in set.kinds() {
        targets.push((name, make_pin_file(dir, name)?));
    }
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
    for (name, target) in targets {
        bind_mount(Path::new(&format!("/proc/thread-self/ns/{name}")), &target)?;
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
}
