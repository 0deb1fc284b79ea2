//! runc run from a sealed in-memory copy of its binary.
//!
//! runc 1.1 guards against CVE-2019-5736 (a container overwriting the
//! host's runc through `/proc/self/exe`) by re-opening its own binary
//! before every `runc init`: unless `/proc/self/exe` already is a fully
//! sealed memfd, it makes a temporary file in its state directory,
//! bind-mounts `/proc/self/exe` on it, remounts that read-only, opens it
//! and detaches the mount. That is two mounts and an unmount in the host's
//! mount namespace, and a file created and deleted, for every `run` and
//! every `exec` (a postStart hook, a probe). Each mount operation takes
//! the namespace lock that every concurrent reader of a mountinfo file
//! holds while the kernel prints it, and each detach waits for an
//! expedited RCU grace period; in a burst of pod starts they queue behind
//! one another.
//!
//! runc itself names the alternative: a binary that is a sealed memfd
//! (`F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE`) can never
//! be written, so runc uses it as it is. The agent makes one such copy of
//! the runtime binary and executes it through `<run-root>/exe/runc`, a
//! symlink to `/proc/<agent pid>/fd/<n>`: a path a spawned process (runc,
//! or the monitor that runs `runc create` while the agent waits for its
//! handshake) can open while the agent lives, without the descriptor
//! being inherited by anything, and a name that keeps the process called
//! `runc` in `ps`. The copy
//! follows the binary: when its device, inode, size or modification time
//! change (a package upgrade), the next command gets a new copy.
//!
//! A runtime that does not clone itself (crun, youki) gains nothing and is
//! run by its path; so is runc when no copy can be made or run (no
//! memfd, sealing refused, a `/proc` that hides the agent's descriptors):
//! then runc protects itself as before.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustix::fs::{MemfdFlags, SealFlags, fcntl_add_seals, memfd_create};

/// What identifies one version of a binary on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
}

impl FileId {
    fn of(path: &Path) -> std::io::Result<FileId> {
        let m = std::fs::metadata(path)?;
        Ok(FileId {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
        })
    }
}

#[derive(Debug)]
struct Copy {
    of: FileId,
    /// Kept open for as long as the copy is the current one: its number is
    /// in [`Copy::path`].
    _fd: OwnedFd,
    path: PathBuf,
}

impl Drop for Copy {
    fn drop(&mut self) {
        // The link's directory: the descriptor it names closes now.
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

#[derive(Debug, Default)]
enum State {
    #[default]
    None,
    /// The current copy, and the one it replaced: a command handed the
    /// older path just before a renewal may still be spawning with it.
    Copied {
        current: Copy,
        _previous: Option<Copy>,
    },
    /// This version of the file could not be copied or the copy not run:
    /// it is run by path until the file changes.
    Failed(FileId),
}

/// The binary to execute for one runtime: a sealed copy when it helps.
#[derive(Debug, Clone)]
pub struct SealedExe {
    binary: PathBuf,
    /// Where the symlink to the copy is made, named as the binary.
    link_dir: PathBuf,
    /// `None` for runtimes that are not runc: always run by path.
    state: Option<Arc<Mutex<State>>>,
}

impl SealedExe {
    /// For `binary` (resolved); the link to the copy goes in `link_dir`.
    /// Only runc gets a copy.
    pub fn new(binary: &Path, link_dir: &Path) -> SealedExe {
        let is_runc = binary
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("runc"));
        SealedExe {
            binary: binary.to_path_buf(),
            link_dir: link_dir.to_path_buf(),
            state: is_runc.then(|| Arc::new(Mutex::new(State::None))),
        }
    }

    /// The path to execute now: the current sealed copy of the binary as
    /// it is on disk (made or renewed here), else the binary itself.
    pub fn path(&self) -> PathBuf {
        let Some(state) = &self.state else {
            return self.binary.clone();
        };
        let Ok(now) = FileId::of(&self.binary) else {
            return self.binary.clone();
        };
        let Ok(mut state) = state.lock() else {
            return self.binary.clone();
        };
        match &*state {
            State::Copied { current, .. } if current.of == now => return current.path.clone(),
            State::Failed(of) if *of == now => return self.binary.clone(),
            _ => {}
        }
        match seal_copy(&self.binary).and_then(|(fd, of)| {
            let link = self.link(&fd)?;
            Ok((fd, of, link))
        }) {
            Ok((fd, of, link)) if of == now => {
                tracing::debug!(binary = %self.binary.display(), copy = %link.display(), "sealed copy of the runtime binary");
                let copy = Copy {
                    of,
                    _fd: fd,
                    path: link.clone(),
                };
                let previous = match std::mem::take(&mut *state) {
                    State::Copied { current, .. } => Some(current),
                    _ => None,
                };
                *state = State::Copied {
                    current: copy,
                    _previous: previous,
                };
                link
            }
            // Replaced while we copied: run it by path this time, copy the
            // settled file next time.
            Ok(_) => self.binary.clone(),
            Err(e) => {
                tracing::info!(binary = %self.binary.display(), error = %e, "no sealed copy of the runtime binary: runc clones itself on every start");
                *state = State::Failed(now);
                self.binary.clone()
            }
        }
    }

    /// `<link_dir>/<pid>.<n>/<binary's name>` → `/proc/<pid>/fd/<n>`.
    /// Executed through a link of its name, the process is called `runc`
    /// (its `comm`, what `ps` and `top` show), not `<n>`. One directory per
    /// copy: two runtimes of one process (a test's reopened one) must not
    /// repoint each other's link; the copy's drop removes it, and a start
    /// removes those of agents no longer running.
    fn link(&self, fd: &OwnedFd) -> std::io::Result<PathBuf> {
        let pid = std::process::id();
        std::fs::create_dir_all(&self.link_dir)?;
        if let Ok(rd) = std::fs::read_dir(&self.link_dir) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let owner = name.split('.').next().and_then(|p| p.parse::<u32>().ok());
                // Another live agent's (a second one started on the same
                // roots, about to fail on the store's lock) is left alone.
                let stale =
                    owner.is_none_or(|o| o != pid && !Path::new(&format!("/proc/{o}")).exists());
                if stale {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let dir = self.link_dir.join(format!("{pid}.{}", fd.as_raw_fd()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir)?;
        let link = dir.join(self.binary.file_name().unwrap_or_default());
        std::os::unix::fs::symlink(format!("/proc/{pid}/fd/{}", fd.as_raw_fd()), &link)?;
        Ok(link)
    }

    /// Runs `<copy> --version` once: where the copy cannot be executed
    /// through `/proc` (a hardened `/proc`, an LSM), the binary is run by
    /// its path from then on. Blocking; for start-up.
    pub fn check(&self) {
        let Some(state) = &self.state else {
            return;
        };
        let path = self.path();
        if path == self.binary {
            return;
        }
        let ok = std::process::Command::new(&path)
            .arg("--version")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok && let (Ok(mut st), Ok(now)) = (state.lock(), FileId::of(&self.binary)) {
            tracing::info!(binary = %self.binary.display(), copy = %path.display(), "the sealed copy of the runtime binary does not run: runc clones itself on every start");
            *st = State::Failed(now);
        }
    }
}

/// A memfd holding `binary`'s bytes, sealed against every change, and the
/// identity of the file it was read from.
fn seal_copy(binary: &Path) -> std::io::Result<(OwnedFd, FileId)> {
    let mut src = std::fs::File::open(binary)?;
    let of = FileId::of(binary)?;
    let flags = MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING;
    // Linux >= 6.3 wants the intent stated (and may refuse an executable
    // memfd without it, `vm.memfd_noexec`); older kernels refuse the flag.
    let fd = memfd_create("runc", flags | MemfdFlags::EXEC)
        .or_else(|_| memfd_create("runc", flags))
        .map_err(std::io::Error::from)?;
    let mut dst = std::fs::File::from(fd);
    std::io::copy(&mut src, &mut dst)?;
    let seals = SealFlags::SEAL | SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE;
    fcntl_add_seals(&dst, seals).map_err(std::io::Error::from)?;
    Ok((OwnedFd::from(dst), of))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::fs::fcntl_get_seals;

    /// `/bin/true` copied to `<dir>/<name>`.
    fn binary(dir: &Path, name: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::copy("/bin/true", &p).unwrap();
        p
    }

    #[test]
    fn other_runtimes_run_by_path() {
        let t = tempfile::tempdir().unwrap();
        let crun = binary(t.path(), "crun");
        assert_eq!(SealedExe::new(&crun, t.path()).path(), crun);
    }

    #[test]
    fn runc_runs_from_a_sealed_copy_of_itself() {
        let t = tempfile::tempdir().unwrap();
        let runc = binary(t.path(), "runc");
        let exe = SealedExe::new(&runc, &t.path().join("exe"));
        // The copy runs (else `check` falls back to the path).
        exe.check();
        let path = exe.path();
        assert_eq!(path.file_name().unwrap(), "runc");
        assert!(path.starts_with(t.path().join("exe")), "{path:?}");
        let target = std::fs::read_link(&path).unwrap();
        assert!(
            target.starts_with(format!("/proc/{}/fd", std::process::id())),
            "{target:?}"
        );
        let f = std::fs::File::open(&path).unwrap();
        let seals = fcntl_get_seals(&f).unwrap();
        assert!(
            seals
                .contains(SealFlags::SEAL | SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE)
        );
        assert_eq!(std::fs::read(&path).unwrap(), std::fs::read(&runc).unwrap());
        // Sealed: not even root can change it.
        use std::io::Write as _;
        let mut w = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        assert!(w.write_all(b"x").is_err());
        assert!(w.set_len(0).is_err());
        drop(w);
        // The same copy while the file is unchanged; it runs.
        assert_eq!(exe.path(), path);
        assert!(
            std::process::Command::new(&path)
                .status()
                .unwrap()
                .success()
        );
    }

    #[test]
    fn a_replaced_binary_gets_a_new_copy() {
        let t = tempfile::tempdir().unwrap();
        let runc = binary(t.path(), "runc");
        let exe = SealedExe::new(&runc, &t.path().join("exe"));
        let p1 = exe.path();
        let first = std::fs::read(&p1).unwrap();
        // As a package upgrade does: a new file renamed over the old.
        let new = t.path().join("runc.new");
        std::fs::copy("/bin/false", &new).unwrap();
        std::fs::rename(&new, &runc).unwrap();
        let second = std::fs::read(exe.path()).unwrap();
        assert_ne!(first, second);
        // The path handed out before the renewal still runs.
        assert!(std::process::Command::new(&p1).status().unwrap().success());
        assert_eq!(second, std::fs::read("/bin/false").unwrap());
    }

    #[test]
    fn a_second_runtime_leaves_the_first_ones_copy_alone() {
        let t = tempfile::tempdir().unwrap();
        let runc = binary(t.path(), "runc");
        let links = t.path().join("exe");
        let first = SealedExe::new(&runc, &links);
        let p1 = first.path();
        {
            let second = SealedExe::new(&runc, &links);
            assert_ne!(second.path(), p1);
        }
        // The second's copy is gone with it; the first's still runs.
        assert_eq!(std::fs::read_dir(&links).unwrap().count(), 1);
        assert!(std::process::Command::new(&p1).status().unwrap().success());
    }

    #[test]
    fn a_missing_binary_is_run_by_its_path() {
        let p = Path::new("/nonexistent-nodelet/runc");
        assert_eq!(
            SealedExe::new(p, Path::new("/nonexistent-nodelet")).path(),
            p
        );
    }
}
