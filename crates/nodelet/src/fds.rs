//! Descriptors nodelet inherited stay with nodelet.
//!
//! A caller may start nodelet with descriptors that are not close-on-exec
//! (`flock LOCK nodelet …` leaves the lock's descriptor open, a shell
//! `exec 7>file` another). Without care every child would inherit them:
//! nodelet-monitor, which outlives nodelet and lives as long as its
//! container, would keep a caller's lock held (or a pipe's write end open,
//! so the reader never sees EOF) long after the caller is gone, and runc,
//! the CNI plugins and hook processes would see them too.
//!
//! Why here, once at the start of `main`, and not where children are
//! spawned: the only descriptors without close-on-exec are the inherited
//! ones (Rust's std, tokio, rustix and nix open everything with
//! `O_CLOEXEC`), so marking them once before any thread exists covers
//! every child — the monitor, runc, CNI plugins, exec sessions, hooks —
//! with no `pre_exec` hook, which would make std `fork()` the whole
//! multi-threaded agent instead of using posix_spawn (see
//! `nodelet_runtime::oci::runc::create_via_monitor`). The descriptors stay
//! open in nodelet itself (marked, not closed): nodelet never uses them,
//! but closing what a caller handed over is not its business — a caller's
//! lock stays held for as long as nodelet runs, as the caller meant.
//! Descriptors a child must get (the monitor's sync pipe, exec's pty) are
//! placed on 0..2 of the child by the spawn itself, which close-on-exec
//! does not affect.

use std::io;

/// Marks every descriptor from 3 up close-on-exec: `close_range(3, ~0,
/// CLOSE_RANGE_CLOEXEC)` (Linux 5.11), or one `fcntl` per entry of
/// `/proc/self/fd` on older kernels.
pub fn cloexec_inherited() -> io::Result<()> {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC closes nothing; it only
    // sets a flag on descriptors of this process. Called through syscall(2)
    // so glibc older than 2.34 (no wrapper) works too.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3 as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if r == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        // ENOSYS: no close_range (before 5.9); EINVAL: no CLOSE_RANGE_CLOEXEC (5.9, 5.10).
        Some(libc::ENOSYS) | Some(libc::EINVAL) => cloexec_by_proc(),
        _ => Err(err),
    }
}

fn cloexec_by_proc() -> io::Result<()> {
    // Collected first: the directory's own descriptor is open while listing.
    let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd >= 3)
        .collect();
    for fd in fds {
        // SAFETY: F_GETFD/F_SETFD only read and set the descriptor's flag;
        // a descriptor closed since the listing (the directory's) gives
        // EBADF, which is ignored.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags >= 0 {
                libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsRawFd;
    use std::process::Command;

    use super::*;

    /// Whether a child started now sees descriptor `fd`.
    fn child_sees(fd: i32) -> bool {
        Command::new("sh")
            .arg("-c")
            .arg(format!("test -e /proc/self/fd/{fd}"))
            .status()
            .expect("sh")
            .success()
    }

    fn clear_cloexec(fd: i32) {
        // SAFETY: only the descriptor's flag changes; `fd` is open (owned by
        // the caller's File).
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            assert!(flags >= 0);
            assert_eq!(libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC), 0);
        }
    }

    // One test for both paths: they change descriptors of the whole test
    // process, so they must not run concurrently with each other.
    #[test]
    fn inherited_descriptors_do_not_reach_children() {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        for mark in [cloexec_inherited as fn() -> io::Result<()>, cloexec_by_proc] {
            let f = std::fs::File::open(tmp.path()).unwrap();
            let fd = f.as_raw_fd();
            clear_cloexec(fd);
            assert!(
                child_sees(fd),
                "an inherited descriptor {fd} reaches a child"
            );
            mark().unwrap();
            assert!(!child_sees(fd), "descriptor {fd} still reaches a child");
            // Still open in this process.
            // SAFETY: a flag read of an open descriptor.
            assert!(unsafe { libc::fcntl(fd, libc::F_GETFD) } & libc::FD_CLOEXEC != 0);
        }
    }
}
