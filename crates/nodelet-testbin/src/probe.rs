//! `testbin probe`: tries what a container must not be able to do (or
//! may do, depending on its security context) and prints one line per
//! attempt, `<what>: ok` or `<what>: <errno>`, so tests can assert the
//! kernel's answer from inside the container: mounting, loading kernel
//! modules, raw sockets, ptrace, new user namespaces, mknod.

use nix::libc;

fn errno() -> String {
    std::io::Error::last_os_error().to_string()
}

fn report(what: &str, rc: libc::c_long) -> bool {
    if rc >= 0 {
        println!("{what}: ok");
        true
    } else {
        println!("{what}: {}", errno());
        false
    }
}

/// Mounts a tmpfs on a fresh directory under /tmp (then unmounts it).
fn mount() {
    let dir = c"/tmp/.testbin-probe-mnt";
    // SAFETY: plain syscalls on NUL-terminated string constants; errors are
    // returned, no memory is shared with the kernel beyond the call.
    unsafe {
        libc::mkdir(dir.as_ptr(), 0o700);
        let rc = libc::mount(
            c"none".as_ptr(),
            dir.as_ptr(),
            c"tmpfs".as_ptr(),
            0,
            std::ptr::null(),
        );
        if report("mount", rc as libc::c_long) {
            libc::umount2(dir.as_ptr(), libc::MNT_DETACH);
        }
    }
}

/// `init_module` with an empty image: EPERM without CAP_SYS_MODULE or
/// under seccomp (a kernel without module support answers ENOSYS; one
/// that checked the image, ENOEXEC or EINVAL). Never `ok`.
fn module() {
    // SAFETY: a zero-length module image and an empty parameter string;
    // the kernel reads nothing from the null pointer with length 0.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_init_module,
            std::ptr::null::<u8>(),
            0usize,
            c"".as_ptr(),
        )
    };
    report("module", rc);
}

fn raw_socket() {
    // SAFETY: socket(2) returns an fd or -1; the fd is closed at once.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP);
        if report("raw-socket", fd as libc::c_long) {
            libc::close(fd);
        }
    }
}

fn ptrace(pid: libc::pid_t) {
    // SAFETY: PTRACE_SEIZE takes no memory arguments; on success we detach.
    unsafe {
        let rc = libc::ptrace(libc::PTRACE_SEIZE, pid, 0usize, 0usize);
        if report(&format!("ptrace {pid}"), rc) {
            libc::ptrace(libc::PTRACE_DETACH, pid, 0usize, 0usize);
        }
    }
}

/// A new user namespace, in a child so the probe itself is unchanged.
fn userns() {
    // SAFETY: fork in a single-threaded program; the child only calls
    // async-signal-safe functions (unshare, _exit).
    unsafe {
        let pid = libc::fork();
        if pid == 0 {
            let rc = libc::unshare(libc::CLONE_NEWUSER);
            let code = if rc == 0 {
                0
            } else {
                *libc::__errno_location()
            };
            libc::_exit(code);
        }
        let mut status = 0;
        libc::waitpid(pid, &mut status, 0);
        let code = libc::WEXITSTATUS(status);
        if code == 0 {
            println!("userns: ok");
        } else {
            println!("userns: {}", std::io::Error::from_raw_os_error(code));
        }
    }
}

fn mknod() {
    let path = c"/tmp/.testbin-probe-null";
    // SAFETY: mknod of a char device (1,3) on a constant path; removed after.
    unsafe {
        let rc = libc::mknod(path.as_ptr(), libc::S_IFCHR | 0o600, libc::makedev(1, 3));
        if report("mknod", rc as libc::c_long) {
            libc::unlink(path.as_ptr());
        }
    }
}

/// Runs the named probes (all when none are named).
pub fn run(args: &[String]) -> Result<i32, String> {
    let all = ["mount", "module", "raw-socket", "userns", "mknod"];
    let names: Vec<&str> = if args.is_empty() {
        all.to_vec()
    } else {
        args.iter().map(String::as_str).collect()
    };
    let mut it = names.into_iter();
    while let Some(n) = it.next() {
        match n {
            "mount" => mount(),
            "module" => module(),
            "raw-socket" => raw_socket(),
            "userns" => userns(),
            "mknod" => mknod(),
            "ptrace" => {
                let pid = it
                    .next()
                    .and_then(|p| p.parse().ok())
                    .ok_or("ptrace needs a PID")?;
                ptrace(pid);
            }
            other => return Err(format!("unknown probe {other:?}")),
        }
    }
    Ok(0)
}
