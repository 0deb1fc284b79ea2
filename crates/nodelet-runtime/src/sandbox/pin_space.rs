//! A private mount namespace that holds the namespace pins of every pod.
//!
//! Why: a pin is a bind mount of an nsfs file (see [`super::namespaces`]),
//! and in the host's mount namespace each one is a line of the host's mount
//! table. runc reads that table whole several times per container start
//! (`docs/benchmarks.md`, "Who reads the mount table"), so three pins per
//! pod made every later container start pay for every running pod. Nothing
//! needs the pins to be *mounted* where the host sees them: runc, the CNI
//! plugins and the pause only *open* them by path, and a path can walk into
//! another mount namespace's tree through `/proc/<pid>/fd/<dir fd>`.
//!
//! So the pins live in one mount namespace of their own whose whole tree is
//! a small tmpfs (plus the host's `/proc`, which pinning threads need to
//! name their namespaces by). That namespace is kept alive by one bind
//! mount of its nsfs file at `<run>/ns/space` (the host's only line for
//! all pins) and survives the agent like the pins always did; a restarted
//! agent reopens it there. Its root is reached through an `O_PATH` descriptor
//! the agent holds, so a pin's path is `/proc/<agent>/fd/<n>/<sandbox>/net`:
//! valid for the agent's lifetime, which is when anything opens a pin
//! (records store it and are rebased on load, see `SandboxManager`).
//!
//! Mounting into the space happens on a dedicated, short-lived thread that
//! first leaves the process's shared filesystem context (`unshare(CLONE_FS)`,
//! which `setns` into a mount namespace requires) and then joins the space;
//! the thread dies right after, so no other code ever runs in it. Removing
//! a pin needs no such thread: unlinking a mount point that belongs to
//! another mount namespace detaches the mount (Linux ≥ 3.18).

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;

use super::namespaces;
use crate::error::{Result, RuntimeError};

/// The host file the space's namespace is pinned at, inside the pin
/// directory (not a sandbox id, so nothing takes it for a pod's pins).
pub const SPACE_FILE: &str = "space";

/// The pins' mount namespace, opened or made. Cheap to share in an `Arc`.
#[derive(Debug)]
pub struct PinSpace {
    /// The namespace itself, for threads that join it.
    ns: OwnedFd,
    /// The space's root directory (`O_PATH`), what pin paths go through.
    root: OwnedFd,
}

impl PinSpace {
    /// Opens the space pinned under `run_dir` (`<run>/ns`), or makes one.
    /// Blocking (spawns and joins a thread).
    pub fn open(run_dir: &Path) -> Result<PinSpace> {
        std::fs::create_dir_all(run_dir).map_err(|e| RuntimeError::io(run_dir, e))?;
        let file = run_dir.join(SPACE_FILE);
        if !namespaces::is_pinned(&file) {
            create(run_dir, &file)?;
        }
        let ns: OwnedFd = File::open(&file)
            .map_err(|e| RuntimeError::io(&file, e))?
            .into();
        let root = on_thread_inside(&ns, "nodelet-pinspace", || {
            rustix::fs::open(
                "/",
                rustix::fs::OFlags::PATH
                    | rustix::fs::OFlags::DIRECTORY
                    | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            )
            .map_err(|e| RuntimeError::Other(format!("opening the pin space's root: {e}")))
        })?;
        Ok(PinSpace { ns, root })
    }

    /// `/proc/<agent pid>/fd/<root>`: the root's path for any process.
    fn prefix(&self) -> PathBuf {
        PathBuf::from(format!(
            "/proc/{}/fd/{}",
            std::process::id(),
            self.root.as_raw_fd()
        ))
    }

    /// Where the pins of sandbox `id` are, as any process of this host
    /// opens them while the agent lives.
    pub fn dir(&self, id: &str) -> PathBuf {
        self.prefix().join(id)
    }

    /// Whether `path` is a pin path of this space (rather than of a host
    /// pin directory or of an earlier agent's descriptor).
    pub fn holds(&self, path: &Path) -> bool {
        path.starts_with(self.prefix())
    }

    /// Runs `f` on a new thread that has joined the space: there, `/` is
    /// the space's root and `/proc` the host's. For mounting pins only.
    pub fn inside<T: Send>(&self, name: &str, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
        on_thread_inside(&self.ns, name, f)
    }

    /// Bind-mounts the nsfs file `source` (a `/proc/...` path) as pin
    /// `name` of sandbox `id` and returns the pin's path.
    pub fn bind(&self, id: &str, name: &str, source: &Path) -> Result<PathBuf> {
        // A scoped thread: the closure borrows, nothing is copied for it.
        self.inside("nodelet-pin", || {
            bind_mount(source, &make_pin_file(&Path::new("/").join(id), name)?)
        })?;
        Ok(self.dir(id).join(name))
    }
}

/// Unpins the space under `run_dir` (if any) and removes its file. Pins
/// still in it die with it once no descriptor of it is left.
pub fn release(run_dir: &Path) -> Result<()> {
    let file = run_dir.join(SPACE_FILE);
    while namespaces::is_pinned(&file) {
        nix::mount::umount2(&file, MntFlags::MNT_DETACH)
            .map_err(|e| RuntimeError::io(&file, io::Error::from(e)))?;
    }
    match std::fs::remove_file(&file) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(RuntimeError::io(&file, e)),
    }
}

/// The sandboxes with a pin directory under `run_dir`: in its pin space
/// (if one is pinned there) and, from agents before the space, on the
/// host. For leak checks; does not make a space.
pub fn pinned_sandboxes(run_dir: &Path) -> Result<Vec<String>> {
    let mut ids = names(run_dir, SPACE_FILE)?;
    if namespaces::is_pinned(&run_dir.join(SPACE_FILE)) {
        let space = PinSpace::open(run_dir)?;
        ids.extend(names(&space.prefix(), "proc")?);
    }
    Ok(ids)
}

fn names(dir: &Path, except: &str) -> Result<Vec<String>> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(RuntimeError::io(dir, e)),
    };
    Ok(rd
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n != except)
        .collect())
}

/// Inside the space (on a joined thread): creates `<dir>/<name>` as an
/// empty file, the bind mount's target.
pub(crate) fn make_pin_file(dir: &Path, name: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| RuntimeError::io(dir, e))?;
    let file = dir.join(name);
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&file)
        .map_err(|e| RuntimeError::io(&file, e))?;
    Ok(file)
}

pub(crate) fn bind_mount(source: &Path, target: &Path) -> Result<()> {
    nix::mount::mount(
        Some(source),
        target,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| RuntimeError::io(target, io::Error::from(e)))
}

/// Leaves the process's shared filesystem context and joins mount
/// namespace `ns`. Only on a thread that dies afterwards.
pub(crate) fn join(ns: &OwnedFd) -> Result<()> {
    nix::sched::unshare(CloneFlags::CLONE_FS)
        .map_err(|e| RuntimeError::Host(format!("unshare(CLONE_FS): {e}")))?;
    nix::sched::setns(ns.as_fd(), CloneFlags::CLONE_NEWNS).map_err(|e| {
        RuntimeError::Host(format!(
            "joining the pin space's mount namespace: {e} (nodelet needs root / CAP_SYS_ADMIN)"
        ))
    })
}

fn on_thread_inside<T: Send>(
    ns: &OwnedFd,
    name: &str,
    f: impl FnOnce() -> Result<T> + Send,
) -> Result<T> {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name(name.into())
            .spawn_scoped(s, || {
                join(ns)?;
                f()
            })
            .map_err(|e| RuntimeError::Other(format!("spawning thread {name}: {e}")))?
            .join()
            .map_err(|_| RuntimeError::Other(format!("thread {name} panicked")))?
    })
}

/// Makes a new space and pins it at `file`: a thread unshares its mount
/// namespace, swaps the copy of the host's tree for a tmpfs with the
/// host's `/proc` in it, and waits while this thread (still in the host's
/// namespace) bind-mounts the new namespace at `file`.
fn create(run_dir: &Path, file: &Path) -> Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(file)
        .map_err(|e| RuntimeError::io(file, e))?;
    let base = run_dir.to_path_buf();
    let (made_tx, made_rx) = std::sync::mpsc::channel::<Result<i32>>();
    let (pinned_tx, pinned_rx) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("nodelet-pinspace".into())
        .spawn(move || {
            let made = build_tree(&base).map(|()| nix::unistd::gettid().as_raw());
            let ok = made.is_ok();
            let _ = made_tx.send(made);
            if ok {
                // The namespace dies with this thread unless pinned first.
                let _ = pinned_rx.recv();
            }
        })
        .map_err(|e| RuntimeError::Other(format!("spawning the pin space thread: {e}")))?;
    let made = made_rx
        .recv()
        .map_err(|_| RuntimeError::Other("the pin space thread died".into()));
    let pinned = made.and_then(|r| r).and_then(|tid| {
        let source = PathBuf::from(format!("/proc/self/task/{tid}/ns/mnt"));
        bind_mount(&source, file)
    });
    drop(pinned_tx);
    let _ = thread.join();
    pinned
}

/// On the space's thread: everything after `unshare` is in the new mount
/// namespace only.
fn build_tree(base: &Path) -> Result<()> {
    let host = |what: &str, e: nix::Error| RuntimeError::Host(format!("pin space: {what}: {e}"));
    nix::sched::unshare(CloneFlags::CLONE_FS | CloneFlags::CLONE_NEWNS)
        .map_err(|e| host("unshare(CLONE_NEWNS)", e))?;
    // Nothing mounted in either namespace may propagate to the other.
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| host("making / private", e))?;
    nix::mount::mount(
        Some("nodelet-pins"),
        base,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("mode=0700,size=1m"),
    )
    .map_err(|e| host("mounting its tmpfs", e))?;
    let proc_dir = base.join("proc");
    std::fs::create_dir(&proc_dir).map_err(|e| RuntimeError::io(&proc_dir, e))?;
    bind_mount(Path::new("/proc"), &proc_dir)?;
    // pivot_root(".", "."): the old root ends up stacked on the new one and
    // the detach removes it, and with it every copied host mount.
    nix::unistd::chdir(base).map_err(|e| host("chdir", e))?;
    let dot = CString::new(".").map_err(|e| RuntimeError::Other(e.to_string()))?;
    nix::unistd::pivot_root(dot.as_c_str(), dot.as_c_str()).map_err(|e| host("pivot_root", e))?;
    nix::mount::umount2(".", MntFlags::MNT_DETACH)
        .map_err(|e| host("detaching the old root", e))?;
    nix::unistd::chdir("/").map_err(|e| host("chdir /", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    #[test]
    fn a_pin_in_the_space_is_not_in_the_host_mount_table_and_goes_with_unlink() {
        if !is_root() {
            eprintln!("skipped: needs root to make mount namespaces");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("ns");
        let space = PinSpace::open(&run).unwrap();
        let id = "a".repeat(64);
        let pin = space
            .bind(&id, "net", Path::new("/proc/self/ns/net"))
            .unwrap();
        assert!(namespaces::is_pinned(&pin), "{}", pin.display());
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(!mountinfo.contains(&id), "the pin is in the host's table");
        // Only the space itself is on the host.
        let hits = mountinfo
            .lines()
            .filter(|l| l.contains(dir.path().to_str().unwrap()))
            .count();
        assert_eq!(hits, 1, "{mountinfo}");

        // A second open (a restarted agent) finds the same pins.
        let again = PinSpace::open(&run).unwrap();
        assert!(namespaces::is_pinned(&again.dir(&id).join("net")));
        assert!(again.holds(&again.dir(&id)) && !again.holds(&run.join(&id)));

        assert_eq!(pinned_sandboxes(&run).unwrap(), vec![id.clone()]);
        namespaces::unpin(&space.dir(&id)).unwrap();
        assert!(!again.dir(&id).exists());
        assert!(pinned_sandboxes(&run).unwrap().is_empty());
        release(&run).unwrap();
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(!mountinfo.contains(dir.path().to_str().unwrap()));
        assert!(!run.join(SPACE_FILE).exists());
        release(&run).unwrap();
    }
}
