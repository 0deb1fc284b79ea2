//! Seccomp profiles: `RuntimeDefault` is containerd's default profile
//! (`contrib/seccomp/seccomp_default.go`, as of containerd 2.x: an allow
//! list, EPERM for everything else, `io_uring_*` no longer allowed,
//! `clone` without namespace flags and `clone3` answered ENOSYS unless the
//! container holds CAP_SYS_ADMIN, syscalls gated by the capabilities the
//! container holds); `Localhost` profiles are OCI `LinuxSeccomp` JSON files
//! under `<root>/seccomp/` (the kubelet's `<root-dir>/seccomp`, which
//! containerd reads with `WithProfile`); `Unconfined` sets none.
//! Privileged containers are never filtered (containerd's rule).

use std::path::{Component, Path, PathBuf};

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArgBuilder, LinuxSeccompOperator,
    LinuxSyscall,
};

use crate::error::{Result, RuntimeError};
use crate::types::SeccompProfile;

/// Syscalls every container may make.
const ALLOWED: &[&str] = &[
    "accept",
    "accept4",
    "access",
    "adjtimex",
    "alarm",
    "bind",
    "brk",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "clock_adjtime",
    "clock_adjtime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futex",
    "futex_time64",
    "futex_waitv",
    "futimesat",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "get_robust_list",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "get_thread_area",
    "gettid",
    "gettimeofday",
    "getuid",
    "getuid32",
    "getxattr",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "ioctl",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "ioprio_get",
    "ioprio_set",
    "io_setup",
    "io_submit",
    "ipc",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listxattr",
    "llistxattr",
    "_llseek",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "lstat64",
    "madvise",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "mremap",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "nanosleep",
    "newfstatat",
    "_newselect",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "poll",
    "ppoll",
    "ppoll_time64",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pselect6_time64",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "send",
    "sendfile",
    "sendfile64",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "set_robust_list",
    "setsid",
    "setsockopt",
    "set_thread_area",
    "set_tid_address",
    "setuid",
    "setuid32",
    "setxattr",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "sigprocmask",
    "sigreturn",
    "socket",
    "socketcall",
    "socketpair",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    "times",
    "tkill",
    "truncate",
    "truncate64",
    "ugetrlimit",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "waitpid",
    "write",
    "writev",
];

/// `personality(2)` personas allowed (PER_LINUX, PER_LINUX32, UNAME26
/// variants and the query value).
const PERSONALITIES: &[u64] = &[0x0, 0x0008, 0x20000, 0x20008, 0xffff_ffff];

/// Syscalls allowed only to containers whose bounding set holds the
/// capability (containerd's `switch` over `Process.Capabilities.Bounding`).
const BY_CAPABILITY: &[(&str, &[&str])] = &[
    ("DAC_READ_SEARCH", &["open_by_handle_at"]),
    (
        "SYS_ADMIN",
        &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "mount",
            "mount_setattr",
            "move_mount",
            "name_to_handle_at",
            "open_tree",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount",
            "umount2",
            "unshare",
        ],
    ),
    ("SYS_BOOT", &["reboot"]),
    ("SYS_CHROOT", &["chroot"]),
    (
        "SYS_MODULE",
        &["delete_module", "init_module", "finit_module"],
    ),
    ("SYS_PACCT", &["acct"]),
    (
        "SYS_PTRACE",
        &[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
        ],
    ),
    ("SYS_RAWIO", &["iopl", "ioperm"]),
    (
        "SYS_TIME",
        &["settimeofday", "stime", "clock_settime", "clock_settime64"],
    ),
    ("SYS_TTY_CONFIG", &["vhangup"]),
    ("SYSLOG", &["syslog"]),
    ("BPF", &["bpf"]),
    ("PERFMON", &["perf_event_open"]),
];

/// Namespace flags `clone(2)` may not carry without CAP_SYS_ADMIN.
const CLONE_NS_FLAGS: u64 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWCGROUP) as u64;

fn allow(names: &[&str]) -> LinuxSyscall {
    let mut s = LinuxSyscall::default();
    s.set_names(names.iter().map(|n| n.to_string()).collect());
    s.set_action(LinuxSeccompAction::ScmpActAllow);
    s
}

fn allow_if(name: &str, index: usize, value: u64, op: LinuxSeccompOperator) -> LinuxSyscall {
    let mut s = allow(&[name]);
    let mut b = LinuxSeccompArgBuilder::default()
        .index(index)
        .value(value)
        .op(op);
    if op == LinuxSeccompOperator::ScmpCmpMaskedEq {
        b = b.value_two(0u64);
    }
    // Every field is set: the builder cannot fail.
    s.set_args(b.build().ok().map(|a| vec![a]));
    s
}

/// The seccomp architectures of the agent's own architecture (the filter
/// also covers the 32-bit ABIs a 64-bit kernel runs).
fn architectures() -> Vec<Arch> {
    match std::env::consts::ARCH {
        "x86_64" => vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32],
        "aarch64" => vec![Arch::ScmpArchArm, Arch::ScmpArchAarch64],
        "s390x" => vec![Arch::ScmpArchS390, Arch::ScmpArchS390x],
        "riscv64" => vec![Arch::ScmpArchRiscv64],
        _ => vec![],
    }
}

/// Architecture-specific syscalls.
fn arch_syscalls() -> &'static [&'static str] {
    match std::env::consts::ARCH {
        "x86_64" => &["arch_prctl", "modify_ldt"],
        "x86" => &["modify_ldt"],
        "aarch64" | "arm" => &[
            "arm_fadvise64_64",
            "arm_sync_file_range",
            "sync_file_range2",
            "breakpoint",
            "cacheflush",
            "set_tls",
        ],
        "powerpc64" => &["sync_file_range2", "swapcontext"],
        "s390x" => &[
            "s390_pci_mmio_read",
            "s390_pci_mmio_write",
            "s390_runtime_instr",
        ],
        "riscv64" => &["riscv_flush_icache"],
        _ => &[],
    }
}

/// The running kernel's (major, minor) version, from `osrelease`.
pub fn kernel_version() -> Option<(u32, u32)> {
    let s = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    let mut it = s.trim().split(['.', '-']);
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// containerd's default profile for a container whose bounding set is
/// `caps` (names without `CAP_`), on a kernel of version `kernel`.
pub fn runtime_default(caps: &[String], kernel: Option<(u32, u32)>) -> LinuxSeccomp {
    let mut syscalls = vec![allow(ALLOWED)];
    for p in PERSONALITIES {
        syscalls.push(allow_if(
            "personality",
            0,
            *p,
            LinuxSeccompOperator::ScmpCmpEq,
        ));
    }
    // ptrace is safe since 4.8 (seccomp checks after the tracer's changes).
    if kernel.is_some_and(|k| k >= (4, 8)) {
        syscalls.push(allow(&["ptrace"]));
    }
    let arch = arch_syscalls();
    if !arch.is_empty() {
        syscalls.push(allow(arch));
    }
    for cap in caps {
        if let Some((_, names)) = BY_CAPABILITY.iter().find(|(c, _)| c == cap) {
            syscalls.push(allow(names));
        }
    }
    if !caps.iter().any(|c| c == "SYS_ADMIN") {
        // Threads and processes yes, namespaces no (the flags are argument
        // 1 on s390, 0 elsewhere).
        let index = if std::env::consts::ARCH == "s390x" {
            1
        } else {
            0
        };
        syscalls.push(allow_if(
            "clone",
            index,
            CLONE_NS_FLAGS,
            LinuxSeccompOperator::ScmpCmpMaskedEq,
        ));
        // clone3's flags live in a struct seccomp cannot read: ENOSYS makes
        // libc fall back to clone, which is filtered above.
        let mut c3 = LinuxSyscall::default();
        c3.set_names(vec!["clone3".to_string()]);
        c3.set_action(LinuxSeccompAction::ScmpActErrno);
        c3.set_errno_ret(Some(libc::ENOSYS as u32));
        syscalls.push(c3);
    }
    let mut s = LinuxSeccomp::default();
    s.set_default_action(LinuxSeccompAction::ScmpActErrno);
    s.set_architectures(Some(architectures()));
    s.set_syscalls(Some(syscalls));
    s
}

/// Where a `Localhost` profile lives: `<root>/seccomp/<relative>`. The API
/// refuses absolute paths and `..`; refused here again, since the file is
/// read by root.
pub fn localhost_path(root: &Path, relative: &str) -> Result<PathBuf> {
    let rel = Path::new(relative);
    let descending = !relative.is_empty()
        && rel
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if !descending {
        return Err(RuntimeError::Other(format!(
            "failed to generate seccomp spec opts: localhost profile {relative:?} must be a relative path under {} without \"..\"",
            root.join("seccomp").display()
        )));
    }
    Ok(root.join("seccomp").join(rel))
}

/// Largest profile file read (a profile is a few KiB).
const MAX_PROFILE_BYTES: u64 = 1 << 20;

/// Reads a `Localhost` profile (OCI `LinuxSeccomp` JSON, what containerd
/// expects), with containerd's messages.
pub fn load_localhost(path: &Path) -> Result<LinuxSeccomp> {
    use std::io::Read;
    let fail = |e: String| {
        RuntimeError::Other(format!(
            "failed to generate seccomp spec opts: cannot load seccomp profile {:?}: {e}",
            path.display().to_string()
        ))
    };
    let f = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    let mut bytes = Vec::new();
    f.take(MAX_PROFILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(e.to_string()))?;
    if bytes.len() as u64 > MAX_PROFILE_BYTES {
        return Err(fail(format!("larger than {MAX_PROFILE_BYTES} bytes")));
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        RuntimeError::Other(format!(
            "failed to generate seccomp spec opts: decoding seccomp profile failed {:?}: {e}",
            path.display().to_string()
        ))
    })
}

/// The filter for a container: `None` for Unconfined and privileged.
pub fn for_container(
    profile: &SeccompProfile,
    privileged: bool,
    caps: &[String],
    root: &Path,
) -> Result<Option<LinuxSeccomp>> {
    if privileged {
        return Ok(None);
    }
    match profile {
        SeccompProfile::Unconfined => Ok(None),
        SeccompProfile::RuntimeDefault => Ok(Some(runtime_default(caps, kernel_version()))),
        SeccompProfile::Localhost(rel) => load_localhost(&localhost_path(root, rel)?).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(s: &LinuxSeccomp) -> Vec<(String, LinuxSeccompAction, bool)> {
        s.syscalls()
            .clone()
            .unwrap()
            .iter()
            .flat_map(|c| {
                let cond = c.args().as_ref().is_some_and(|a| !a.is_empty());
                c.names()
                    .iter()
                    .map(move |n| (n.clone(), c.action(), cond))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    fn allowed(s: &LinuxSeccomp, name: &str) -> bool {
        names(s)
            .iter()
            .any(|(n, a, cond)| n == name && *a == LinuxSeccompAction::ScmpActAllow && !cond)
    }

    #[test]
    fn default_profile_shape() {
        let caps: Vec<String> = super::super::capabilities::DEFAULT_CAPS
            .iter()
            .map(|s| s.to_string())
            .collect();
        let p = runtime_default(&caps, Some((6, 1)));
        assert_eq!(p.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert!(allowed(&p, "read") && allowed(&p, "ptrace") && allowed(&p, "chroot"));
        for denied in [
            "mount",
            "unshare",
            "setns",
            "init_module",
            "kexec_load",
            "io_uring_setup",
            "bpf",
            "reboot",
            "keyctl",
            "add_key",
            "open_by_handle_at",
        ] {
            assert!(!allowed(&p, denied), "{denied} allowed");
        }
        // clone only without namespace flags; clone3 → ENOSYS.
        let n = names(&p);
        assert!(n.iter().any(|(c, _, cond)| c == "clone" && *cond));
        let c3 = p
            .syscalls()
            .clone()
            .unwrap()
            .into_iter()
            .find(|s| s.names() == &["clone3".to_string()])
            .unwrap();
        assert_eq!(c3.errno_ret(), Some(libc::ENOSYS as u32));
        assert!(!allowed(&runtime_default(&caps, Some((4, 4))), "ptrace"));
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["defaultAction"], "SCMP_ACT_ERRNO");
        if std::env::consts::ARCH == "x86_64" {
            assert_eq!(
                json["architectures"],
                serde_json::json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
            );
        }
        let clone = json["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["names"] == serde_json::json!(["clone"]))
            .unwrap();
        assert_eq!(clone["args"][0]["op"], "SCMP_CMP_MASKED_EQ");
        assert_eq!(clone["args"][0]["value"], 2114060288u64);
        assert_eq!(clone["args"][0]["valueTwo"], 0);
    }

    #[test]
    fn sys_admin_opens_namespaces() {
        let p = runtime_default(&["SYS_ADMIN".to_string()], Some((6, 1)));
        assert!(allowed(&p, "mount") && allowed(&p, "clone") && allowed(&p, "clone3"));
        assert!(!names(&p).iter().any(|(n, _, cond)| n == "clone" && *cond));
    }

    #[test]
    fn localhost_paths_stay_under_root() {
        let root = Path::new("/var/lib/nodelet");
        assert_eq!(
            localhost_path(root, "profiles/audit.json").unwrap(),
            Path::new("/var/lib/nodelet/seccomp/profiles/audit.json")
        );
        for bad in ["../x.json", "/etc/x.json", "a/../../b", ""] {
            assert!(localhost_path(root, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn localhost_profiles_load_with_containerds_messages() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("audit.json");
        std::fs::write(&p, r#"{"defaultAction": "SCMP_ACT_LOG"}"#).unwrap();
        let s = load_localhost(&p).unwrap();
        assert_eq!(s.default_action(), LinuxSeccompAction::ScmpActLog);
        let e = load_localhost(&dir.path().join("missing.json"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("failed to generate seccomp spec opts: cannot load seccomp profile \"")
                && e.contains("No such file or directory"),
            "{e}"
        );
        std::fs::write(&p, "{not json").unwrap();
        let e = load_localhost(&p).unwrap_err().to_string();
        assert!(e.contains("decoding seccomp profile failed"), "{e}");
    }
}
