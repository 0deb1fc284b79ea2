//! Durability under SIGKILL: a child process (this test binary re-run with
//! `NODELET_STORE_CRASH_DB` set) writes objects as fast as it can and prints
//! `ACK <i> <rv>` after each commit returns; the parent SIGKILLs it mid-stream,
//! reopens the file and checks every acknowledged write is there. Three
//! rounds on the same file, killed at different points, so recovery of an
//! already-crashed file is exercised too.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use nodelet_store::Store;
use serde_json::json;

const ENV: &str = "NODELET_STORE_CRASH_DB";
const ROUND_ENV: &str = "NODELET_STORE_CRASH_ROUND";

fn child_writer(path: &Path, ns: &str) -> ! {
    use std::io::Write;
    let store = Store::open(path).unwrap();
    let mut out = std::io::stdout().lock();
    for i in 0u64.. {
        let value = json!({"i": i, "pad": "x".repeat((i % 7 * 300) as usize)});
        let rv = store
            .put_object("ConfigMap", ns, &format!("cm-{i}"), &value)
            .unwrap();
        writeln!(out, "ACK {i} {rv}").unwrap();
        out.flush().unwrap();
    }
    unreachable!()
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    if let Some(path) = std::env::var_os(ENV) {
        let ns = std::env::var(ROUND_ENV).unwrap();
        child_writer(Path::new(&path), &ns);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    for (round, kill_after) in [(0, 60), (1, 7), (2, 150)] {
        crash_round(&path, &format!("round-{round}"), kill_after);
    }
}

/// The `ACK` part of a line: the harness prints `test <name> ... ` without
/// a newline before the child's first line, so it may not start the line.
fn ack(line: &str) -> Option<&str> {
    line.split_once("ACK ").map(|(_, rest)| rest)
}

fn crash_round(path: &Path, ns: &str, kill_after: usize) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "acknowledged_writes_survive_sigkill",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ENV, path)
        .env(ROUND_ENV, ns)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acked = Vec::new();
    // Kill while the child is in the middle of its stream of commits.
    while acked.len() < kill_after {
        let line = lines.next().expect("child ended early").unwrap();
        if let Some(rest) = ack(&line) {
            let (i, rv) = rest.split_once(' ').unwrap();
            acked.push((i.parse::<u64>().unwrap(), rv.parse::<u64>().unwrap()));
        }
    }
    assert_eq!(
        acked[0].0, 0,
        "every acknowledgement is read, from the first"
    );
    child.kill().unwrap(); // SIGKILL on unix
    // Acks already in the pipe were committed before they were printed.
    for line in lines {
        if let Some(rest) = ack(&line.unwrap()) {
            let (i, rv) = rest.split_once(' ').unwrap();
            acked.push((i.parse().unwrap(), rv.parse().unwrap()));
        }
    }
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "the child must have been killed, got {status}"
    );

    let store = Store::open(path).expect("the store must reopen cleanly after SIGKILL");
    for (i, rv) in &acked {
        let (value, got_rv) = store
            .get_object("ConfigMap", ns, &format!("cm-{i}"))
            .unwrap()
            .unwrap_or_else(|| panic!("acknowledged write {i} (rv {rv}) lost"));
        assert_eq!((value["i"].as_u64(), got_rv), (Some(*i), *rv));
    }
    let last_rv = acked.last().unwrap().1;
    let current = store.current_resource_version().unwrap();
    // At most one more write may have committed without being acknowledged.
    assert!(
        current == last_rv || current == last_rv + 1,
        "rv {current} vs last ack {last_rv}"
    );
    // And the store keeps working after the crash.
    assert_eq!(
        store
            .put_object("ConfigMap", ns, "after", &json!(1))
            .unwrap(),
        current + 1
    );
    eprintln!("{ns}: {} acknowledged writes survived SIGKILL", acked.len());
}
