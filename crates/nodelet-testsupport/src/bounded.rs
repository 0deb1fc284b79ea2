//! End-to-end scripts run with a deadline. A script that hangs (a kubectl
//! waiting forever on a deletion, a server that never answers) must fail
//! its one test with a clear message, not stall the whole suite until CI
//! kills it without a word. The script runs in its own process group so
//! the whole tree — kubectl, the agent it started, their children — gets
//! SIGTERM first (the script's cleanup trap runs), then SIGKILL.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// How long a process group has to run its cleanup after SIGTERM.
const GRACE: Duration = Duration::from_secs(30);

/// Runs `cmd` to completion or until `limit` has passed; panics naming
/// `what` and the limit when the deadline is hit (after killing the group).
pub fn run_bounded(what: &str, cmd: Command, limit: Duration) -> ExitStatus {
    run_bounded_with(what, cmd, limit, |_| {})
}

/// [`run_bounded`], with `started` given the child before the wait begins
/// (to take its pipes).
fn run_bounded_with(
    what: &str,
    mut cmd: Command,
    limit: Duration,
    started: impl FnOnce(&mut Child),
) -> ExitStatus {
    use std::os::unix::process::CommandExt;
    cmd.process_group(0);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    started(&mut child);
    let pgid = Pid::from_raw(child.id() as i32);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let waited = match rx.recv_timeout(limit) {
        Ok(r) => return r.unwrap_or_else(|e| panic!("{what}: wait failed: {e}")),
        Err(_) => {
            let _ = killpg(pgid, Signal::SIGTERM);
            let r = rx.recv_timeout(GRACE);
            let _ = killpg(pgid, Signal::SIGKILL);
            r
        }
    };
    let _ = waited;
    panic!(
        "{what} did not finish within {} s: its process group was killed (the output above shows the last check that ran)",
        limit.as_secs()
    );
}

/// Runs the repository's end-to-end script `scripts/<name>` with `bash`
/// against the test's own `nodelet` binary (its target dir is the script's
/// CARGO_TARGET_DIR, where the test images are cached), with `env` added,
/// bounded by `limit`; fails the test if the script fails (its summary,
/// printed above, lists the failing checks).
pub fn run_e2e_script(name: &str, nodelet: &Path, env: &[(&str, &OsStr)], limit: Duration) {
    // target/<profile>/nodelet → target
    let target = nodelet
        .parent()
        .and_then(Path::parent)
        .expect("the nodelet binary sits in target/<profile>/");
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts")
        .join(name);
    let mut cmd = Command::new("bash");
    cmd.arg(&script)
        .env("CARGO_TARGET_DIR", target)
        .env("CARGO", env!("CARGO"))
        .envs(env.iter().copied());
    let (status, failed) = run_bounded_echoing(&script.display().to_string(), cmd, limit);
    assert!(
        status.success(),
        "{} failed; its failing checks:\n{}",
        script.display(),
        if failed.is_empty() {
            "(none printed: see the output above)".to_string()
        } else {
            failed.join("\n")
        }
    );
}

/// Runs `cmd` (its stdout and stderr piped) bounded as [`run_bounded`],
/// passing each line through to this process's stdout or stderr as it
/// comes and keeping the scripts' `not ok` lines (with up to
/// [`DETAIL_LINES`] of their `    | ` detail): a failure then names its
/// checks in the test's own panic message, which a CI log excerpt keeps
/// when the interleaved output of the agents around it is cut.
fn run_bounded_echoing(what: &str, mut cmd: Command, limit: Duration) -> (ExitStatus, Vec<String>) {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::sync::{Arc, Mutex};
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let failed = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel::<()>();
    // Raw stdout/stderr, not print!: the test harness would hold it back
    // until the end, and a long script's progress is worth seeing.
    fn pass_through<R: Read + Send + 'static, W: Write + Send + 'static>(
        from: Option<R>,
        mut to: W,
        failed: Arc<Mutex<Vec<String>>>,
        done: mpsc::Sender<()>,
    ) {
        let Some(from) = from else {
            return;
        };
        std::thread::spawn(move || {
            let mut detail = 0;
            for line in BufReader::new(from).lines().map_while(Result::ok) {
                let _ = writeln!(to, "{line}");
                let mut f = failed.lock().unwrap_or_else(|p| p.into_inner());
                if line.starts_with("not ok") {
                    f.push(line);
                    detail = DETAIL_LINES;
                } else if detail > 0 && line.starts_with("    | ") {
                    f.push(line);
                    detail -= 1;
                } else {
                    detail = 0;
                }
            }
            let _ = done.send(());
        });
    }
    let status = run_bounded_with(what, cmd, limit, |child| {
        pass_through(
            child.stdout.take(),
            std::io::stdout(),
            failed.clone(),
            tx.clone(),
        );
        pass_through(
            child.stderr.take(),
            std::io::stderr(),
            failed.clone(),
            tx.clone(),
        );
    });
    drop(tx);
    // The readers end when the group's last writer is gone; a stray
    // background child keeping a pipe open must not hold the test.
    let deadline = std::time::Instant::now() + GRACE;
    for _ in 0..2 {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if rx.recv_timeout(left).is_err() {
            break;
        }
    }
    let failed = failed.lock().unwrap_or_else(|p| p.into_inner()).clone();
    (status, failed)
}

/// Detail lines kept under each failing check.
const DETAIL_LINES: usize = 12;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quick_command_returns_its_status() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "exit 3"]);
        let st = run_bounded("exit 3", cmd, Duration::from_secs(10));
        assert_eq!(st.code(), Some(3));
    }

    #[test]
    fn failing_checks_are_kept_for_the_message() {
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            "echo 'ok - one'; echo 'not ok - two' >&2; echo '    | why' >&2; echo 'ok - x'; \
             echo 'not ok - three' >&2; echo '    | because' >&2; echo 'done' >&2; \
             echo '    | not a detail' >&2; echo 'not ok - on stdout'; exit 1",
        ]);
        let (st, mut failed) = run_bounded_echoing("checks", cmd, Duration::from_secs(10));
        assert_eq!(st.code(), Some(1));
        // Lines of one stream keep their order; the two streams interleave
        // as the threads read them.
        let pos = failed.iter().position(|l| l == "not ok - on stdout");
        assert!(pos.is_some(), "{failed:?}");
        failed.retain(|l| l != "not ok - on stdout");
        assert_eq!(
            failed,
            [
                "not ok - two",
                "    | why",
                "not ok - three",
                "    | because"
            ]
        );
    }

    #[test]
    #[should_panic(expected = "did not finish within 1 s")]
    fn a_hanging_tree_is_killed_and_fails() {
        // The grandchild sleeps too: the whole group must go, or the wait
        // on the script would still return only after 60 s.
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "sleep 60 & sleep 60"]);
        run_bounded("sleeper", cmd, Duration::from_secs(1));
    }
}
