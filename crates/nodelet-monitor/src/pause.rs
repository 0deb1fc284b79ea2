//! The pause process of a pod with `shareProcessNamespace: true`: PID 1 of
//! the pod's process namespace, which every container of the pod joins.
//!
//! A PID namespace, unlike net/ipc/uts, cannot be kept by a bind mount
//! alone: when its PID 1 exits the kernel kills everything in it and no
//! process can enter it again. So such a sandbox needs a process, and this
//! binary already is the daemon-like helper that outlives the agent; two
//! small modes of it do the job without a rootfs, an image or a runc
//! container for the pause (the agent's side is
//! `nodelet-runtime/src/sandbox/pause.rs`):
//!
//! - `nodelet-monitor pause [--userns F] [--ipcns F] [--utsns F] [--netns F]`
//!   (the *starter*): joins the pod's pinned namespaces (the user namespace
//!   first, so the new PID namespace is owned by it, as runc's joining
//!   containers require), `unshare(CLONE_NEWPID)`, forks and prints
//!   `pid <host pid>` of the child on stdout, then exits. The child,
//!   PID 1 of the new namespace, re-executes this binary as `/pause` with
//!   an empty environment, so `ps` in the pod shows `/pause` as PID 1 (as
//!   with the kubelet's pause image) and none of the agent's paths.
//! - argv[0] `/pause` (the *pause*): moves into a mount namespace of its own
//!   whose root is an empty read-only tmpfs (a container that may ptrace it
//!   finds nothing at `/proc/1/root`), drops every privilege (uid/gid 65535
//!   as the pause image, no groups, no capabilities, no_new_privs), prints
//!   `ready`, and then waits for one byte on stdin: the agent sends it once
//!   the namespace is pinned. EOF instead means the agent gave up or died
//!   before pinning it, and the pause exits, so nothing is left that nobody
//!   knows of. After that it reaps zombies forever (orphans of the pod's
//!   processes are re-parented to it) and is only ever ended by SIGKILL
//!   from the agent: the kernel drops signals with default action that
//!   processes of the namespace send to its init, and the agent's SIGTERM
//!   likewise.
//!
//! Both report failures as `error <text>` lines on stdout.

use std::ffi::CString;
use std::fs::File;
use std::io::{Read, Write};
use std::path::PathBuf;

use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Gid, Uid};

/// The uid and gid the pause runs as (the kubelet's pause image's `USER`).
const PAUSE_ID: u32 = 65535;

/// What argv[0] is when this binary runs as the pause.
pub const PAUSE_ARGV0: &str = "/pause";

/// The namespaces the starter joins, in the order it joins them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StartArgs {
    pub user: Option<PathBuf>,
    pub ipc: Option<PathBuf>,
    pub uts: Option<PathBuf>,
    pub net: Option<PathBuf>,
}

/// Parses the starter's arguments (after `pause`).
pub fn parse<I: IntoIterator<Item = String>>(argv: I) -> Result<StartArgs, String> {
    let mut a = StartArgs::default();
    let mut it = argv.into_iter();
    while let Some(flag) = it.next() {
        let slot = match flag.as_str() {
            "--userns" => &mut a.user,
            "--ipcns" => &mut a.ipc,
            "--utsns" => &mut a.uts,
            "--netns" => &mut a.net,
            other => return Err(format!("pause: unknown argument {other:?}")),
        };
        let value = it
            .next()
            .ok_or_else(|| format!("pause: {flag} needs a value"))?;
        *slot = Some(PathBuf::from(value));
    }
    Ok(a)
}

fn say(line: &str) {
    // stdout is the agent's pipe; if it is gone there is nobody to tell.
    let _ = std::io::stdout().write_all(format!("{line}\n").as_bytes());
    let _ = std::io::stdout().flush();
}

/// The starter: returns the exit code.
pub fn start(args: &StartArgs) -> i32 {
    match start_inner(args) {
        Ok(pid) => {
            say(&format!("pid {pid}"));
            0
        }
        Err(e) => {
            say(&format!("error {e}"));
            1
        }
    }
}

fn start_inner(args: &StartArgs) -> Result<i32, String> {
    let open = |p: &PathBuf| File::open(p).map_err(|e| format!("{}: {e}", p.display()));
    // Everything opened before the first setns: the paths are the host's.
    let user = args.user.as_ref().map(open).transpose()?;
    let others = [
        (args.ipc.as_ref(), CloneFlags::CLONE_NEWIPC),
        (args.uts.as_ref(), CloneFlags::CLONE_NEWUTS),
        (args.net.as_ref(), CloneFlags::CLONE_NEWNET),
    ]
    .into_iter()
    .filter_map(|(p, f)| p.map(|p| open(p).map(|file| (file, f))))
    .collect::<Result<Vec<_>, String>>()?;
    if let Some(u) = user {
        nix::sched::setns(&u, CloneFlags::CLONE_NEWUSER).map_err(|e| format!("setns user: {e}"))?;
        // Root of the pod's user namespace, so that the pause, once it
        // has re-executed, still holds the capabilities it needs to
        // confine itself (an unmapped uid loses them across exec).
        nix::unistd::setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0))
            .map_err(|e| format!("setresgid 0 in the pod's user namespace: {e}"))?;
        nix::unistd::setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0))
            .map_err(|e| format!("setresuid 0 in the pod's user namespace: {e}"))?;
    }
    for (f, flag) in &others {
        nix::sched::setns(f, *flag).map_err(|e| format!("setns {flag:?}: {e}"))?;
    }
    drop(others);
    nix::sched::unshare(CloneFlags::CLONE_NEWPID).map_err(|e| format!("unshare pid: {e}"))?;
    let exe = CString::new("/proc/self/exe").map_err(|e| e.to_string())?;
    let argv0 = CString::new(PAUSE_ARGV0).map_err(|e| e.to_string())?;
    // SAFETY: this process is single-threaded (a fresh exec that spawned no
    // thread), so the child is a full copy and may run any code.
    match unsafe { nix::unistd::fork() }.map_err(|e| format!("fork: {e}"))? {
        ForkResult::Parent { child } => Ok(child.as_raw()),
        ForkResult::Child => {
            let env: [CString; 0] = [];
            let err = nix::unistd::execve(&exe, &[argv0], &env).unwrap_err();
            say(&format!("error exec of the pause: {err}"));
            std::process::exit(1);
        }
    }
}

/// The pause: returns only on failure, with the exit code.
pub fn pause() -> i32 {
    let null = match File::options().read(true).write(true).open("/dev/null") {
        Ok(f) => f,
        Err(e) => {
            say(&format!("error /dev/null: {e}"));
            return 1;
        }
    };
    if let Err(e) = confine() {
        say(&format!("error {e}"));
        return 1;
    }
    // Blocked, SIGCHLD stays pending until `wait` takes it: an orphan that
    // exits between a reap and the wait is never missed.
    let mut chld = SigSet::empty();
    chld.add(Signal::SIGCHLD);
    if let Err(e) = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&chld), None) {
        say(&format!("error sigprocmask: {e}"));
        return 1;
    }
    say("ready");
    let _ = nix::unistd::dup2_stdout(&null);
    let mut go = [0u8; 1];
    if !matches!(std::io::stdin().read(&mut go), Ok(1)) {
        // The agent never pinned the namespace: leave, taking it along.
        return 1;
    }
    let _ = nix::unistd::dup2_stdin(&null);
    let _ = nix::unistd::dup2_stderr(&null);
    drop(null);
    loop {
        reap();
        let _ = chld.wait();
    }
}

/// Reaps every child that has exited.
fn reap() {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => return,
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            // ECHILD: nobody left to reap.
            Err(_) => return,
        }
    }
}

/// Own mount namespace with an empty read-only root, then no privileges.
fn confine() -> Result<(), String> {
    if std::process::id() != 1 {
        return Err(format!(
            "{PAUSE_ARGV0} must be PID 1 of its namespace (is {})",
            std::process::id()
        ));
    }
    nix::sched::unshare(CloneFlags::CLONE_NEWNS).map_err(|e| format!("unshare mount: {e}"))?;
    let none: Option<&str> = None;
    nix::mount::mount(none, "/", none, MsFlags::MS_REC | MsFlags::MS_PRIVATE, none)
        .map_err(|e| format!("making / private: {e}"))?;
    // Any directory will do as the mount point in this private namespace;
    // /proc exists on every Linux host.
    nix::mount::mount(
        Some("tmpfs"),
        "/proc",
        Some("tmpfs"),
        MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("size=4k,mode=0555"),
    )
    .map_err(|e| format!("mounting the empty root: {e}"))?;
    std::env::set_current_dir("/proc").map_err(|e| format!("chdir: {e}"))?;
    nix::unistd::pivot_root(".", ".").map_err(|e| format!("pivot_root: {e}"))?;
    nix::mount::umount2(".", MntFlags::MNT_DETACH)
        .map_err(|e| format!("detaching the host's root: {e}"))?;
    std::env::set_current_dir("/").map_err(|e| format!("chdir /: {e}"))?;
    let name = CString::new("pause").map_err(|e| e.to_string())?;
    let _ = nix::sys::prctl::set_name(&name);
    nix::unistd::setgroups(&[]).map_err(|e| format!("setgroups: {e}"))?;
    let gid = Gid::from_raw(PAUSE_ID);
    nix::unistd::setresgid(gid, gid, gid).map_err(|e| format!("setresgid: {e}"))?;
    let uid = Uid::from_raw(PAUSE_ID);
    // From root to an unprivileged uid: the kernel clears every capability.
    nix::unistd::setresuid(uid, uid, uid).map_err(|e| format!("setresuid: {e}"))?;
    nix::sys::prctl::set_no_new_privs().map_err(|e| format!("no_new_privs: {e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_namespaces() {
        let a = parse(
            ["--userns", "/p/user", "--netns", "/p/net"]
                .map(String::from)
                .to_vec(),
        )
        .unwrap();
        assert_eq!(a.user, Some(PathBuf::from("/p/user")));
        assert_eq!(a.net, Some(PathBuf::from("/p/net")));
        assert_eq!(a.ipc, None);
        assert!(
            parse(["--netns".to_string()])
                .unwrap_err()
                .contains("value")
        );
        assert!(parse(["--pidns".to_string(), "x".into()]).is_err());
    }

    #[test]
    fn the_pause_refuses_to_run_unless_pid_1() {
        assert!(confine().unwrap_err().contains("PID 1"));
    }
}
