//! nodelet-monitor: one small process per container (nodelet's conmon). It
//! creates the container with the OCI runtime, keeps its output in CRI log
//! files, reaps its init process and records the exit status in an exit file,
//! surviving restarts and crashes of the agent. See
//! /work/notes/runtime-contract.md ("monitor") for the CLI and files.
//!
//! No async runtime and no serde: a single poll(2) loop over a signalfd and
//! the output fds. Memory, measured on this host (Debian 12, runc 1.1.5) with
//! the same busybox bundle running `sleep 60`: nodelet-monitor (release build,
//! 630 KB binary) VmRSS 1292 kB; conmon 2.1.6 started the same way (k8s-file
//! log, runc create) VmRSS 2072 kB.
//!
//! The same binary is the pause process of pods with
//! `shareProcessNamespace: true` (see `pause.rs`).

mod args;
mod attach;
mod create;
mod detach;
mod logwriter;
mod oom;
mod pause;
mod report;
mod supervise;
mod timefmt;

use std::io::Write;

use nix::unistd::Pid;

use crate::create::Output;
use crate::logwriter::{LineSplitter, LogWriter, Stream};
use crate::supervise::Source;

fn main() {
    // The pause of a shareProcessNamespace pod (see pause.rs): re-executed
    // as `/pause`, or its starter `nodelet-monitor pause ...`.
    if std::env::args_os()
        .next()
        .is_some_and(|a| a == pause::PAUSE_ARGV0)
    {
        std::process::exit(pause::pause());
    }
    if std::env::args().nth(1).as_deref() == Some("pause") {
        // Only stdin/stdout/stderr go on to the pause.
        detach::close_other_fds(2);
        let code = match pause::parse(std::env::args().skip(2)) {
            Ok(a) => pause::start(&a),
            Err(e) => {
                eprintln!("nodelet-monitor: {e}");
                2
            }
        };
        std::process::exit(code);
    }
    let mut args = match args::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("nodelet-monitor: {e}");
            std::process::exit(2);
        }
    };
    // We chdir to / when detaching: anchor relative paths first.
    for p in [
        &mut args.bundle,
        &mut args.runtime_root,
        &mut args.log_path,
        &mut args.exit_file,
    ] {
        if let Ok(abs) = std::path::absolute(&*p) {
            *p = abs;
        }
    }
    if args.runtime.components().count() > 1
        && let Ok(abs) = std::path::absolute(&args.runtime)
    {
        args.runtime = abs;
    }
    let sync = match detach::take_sync_fd(args.sync_fd) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("nodelet-monitor: {e}");
            std::process::exit(2);
        }
    };
    std::process::exit(run(&args, sync));
}

/// Everything after argument checks; returns the exit code. Errors before the
/// sync message go to the agent through it; after it there is nobody to tell
/// but the exit file.
fn run(args: &args::Args, mut sync: std::fs::File) -> i32 {
    let fail = |sync: &mut std::fs::File, msg: String| {
        let _ = sync.write_all(report::sync_error(&msg).as_bytes());
        1
    };
    {
        use std::os::fd::AsRawFd;
        detach::close_other_fds(sync.as_raw_fd());
    }
    if let Err(e) = detach::daemonize().and_then(|_| detach::null_stdio()) {
        return fail(&mut sync, e);
    }
    if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
        return fail(&mut sync, format!("PR_SET_CHILD_SUBREAPER: {e}"));
    }
    let sigfd = match detach::signal_fd() {
        Ok(s) => s,
        Err(e) => return fail(&mut sync, e),
    };
    let mut log = match LogWriter::open(&args.log_path, args.log_max_size, args.log_max_files) {
        Ok(l) => l,
        Err(e) => {
            return fail(
                &mut sync,
                format!("log file {}: {e}", args.log_path.display()),
            );
        }
    };
    // Without a TTY the container's stdin is a pipe the attach server feeds.
    let (stdin_r, stdin_w) = if args.stdin && !args.tty && args.attach_socket.is_some() {
        match attach::stdin_pipe() {
            Ok((r, w)) => (std::process::Stdio::from(r), Some(w)),
            Err(e) => return fail(&mut sync, e),
        }
    } else {
        (std::process::Stdio::null(), None)
    };
    let created = match create::create(args, stdin_r) {
        Ok(c) => c,
        Err(e) => return fail(&mut sync, e),
    };
    let mut attach = match attach_server(args, &created, stdin_w) {
        Ok(a) => a,
        Err(e) => return fail(&mut sync, e),
    };
    let mut sources = match created.output {
        Output::Pipes { stdout, stderr } => vec![
            Source {
                file: stdout,
                splitter: LineSplitter::new(Stream::Stdout, false),
                open: true,
            },
            Source {
                file: stderr,
                splitter: LineSplitter::new(Stream::Stderr, false),
                open: true,
            },
        ],
        Output::Tty { master } => vec![Source {
            file: master,
            splitter: LineSplitter::new(Stream::Stdout, true),
            open: true,
        }],
    };
    for s in &sources {
        let _ = detach::set_nonblocking(&s.file);
    }
    let cgroup = args
        .cgroup_path
        .clone()
        .or_else(|| oom::cgroup_of(created.pid));
    let me = std::process::id() as i32;
    // The agent may be gone already: the container is created regardless.
    let _ = sync.write_all(report::sync_ok(me, created.pid).as_bytes());
    // Closing it gives the agent EOF after the one line.
    drop(sync);

    let (init_exit, _log_err) = supervise::supervise(
        &sigfd,
        Pid::from_raw(created.pid),
        &mut sources,
        &mut log,
        attach.as_mut(),
    );
    let exit = report::Exit {
        exit_code: init_exit.exit_code,
        signal: init_exit.signal,
        oom_killed: cgroup.as_deref().is_some_and(oom::oom_killed),
        finished_at: init_exit.finished_at,
    };
    let code = match report::write_atomic(&args.exit_file, exit.to_json().as_bytes()) {
        Ok(()) => 0,
        Err(_) => 1,
    };
    // After the exit file: a slow attach client must not delay the status.
    if let Some(a) = attach {
        a.finish(exit.exit_code);
    }
    code
}

/// The attach server when the agent asked for one (`--attach-socket`), with
/// the container's stdin (pipe write end, or the pty master) when it has one.
fn attach_server(
    args: &args::Args,
    created: &create::Created,
    stdin_pipe: Option<std::fs::File>,
) -> Result<Option<attach::Attach>, String> {
    let Some(path) = &args.attach_socket else {
        return Ok(None);
    };
    let dup = |f: &std::fs::File| f.try_clone().map_err(|e| format!("pty master: {e}"));
    let (stdin, tty) = match &created.output {
        Output::Tty { master } => {
            let stdin = if args.stdin { Some(dup(master)?) } else { None };
            (stdin, Some(dup(master)?))
        }
        Output::Pipes { .. } => (stdin_pipe, None),
    };
    let stdin = stdin.map(|file| attach::Stdin {
        file,
        once: args.stdin_once,
    });
    attach::Attach::open(path, stdin, tty).map(Some)
}
