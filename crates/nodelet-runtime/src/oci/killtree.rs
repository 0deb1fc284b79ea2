//! Ending an exec'd process *and everything it started*: a hook's
//! `sh -c 'sleep 3600'` that times out must not leave the `sleep` behind
//! in the container. The tree is frozen first (SIGSTOP, repeated until no
//! new process appears, so nothing forks while we look) and then killed.
//! Processes that detached themselves (double fork, re-parented to the
//! container's init) are no longer in the tree and are not touched, as a
//! kubelet exec timeout would not touch them either.

use std::collections::{BTreeSet, HashMap};

fn parent_map() -> HashMap<i32, Vec<i32>> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return children;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`: comm may contain spaces and parens.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        if let Some(ppid) = rest.split_whitespace().nth(1).and_then(|s| s.parse().ok()) {
            children.entry(ppid).or_default().push(pid);
        }
    }
    children
}

/// `root` and its descendants now.
pub fn tree(root: i32) -> BTreeSet<i32> {
    let children = parent_map();
    let mut out = BTreeSet::new();
    let mut todo = vec![root];
    while let Some(p) = todo.pop() {
        if out.insert(p)
            && let Some(cs) = children.get(&p)
        {
            todo.extend(cs);
        }
    }
    out
}

fn send(pid: i32, sig: rustix::process::Signal) {
    if let Some(p) = rustix::process::Pid::from_raw(pid) {
        let _ = rustix::process::kill_process(p, sig);
    }
}

/// Stops `root`'s whole tree, then SIGKILLs it; returns how many processes
/// were killed.
pub fn kill_tree(root: i32) -> usize {
    let mut frozen = BTreeSet::new();
    // Bounded: a fork bomb gets what was found after a few rounds.
    for _ in 0..16 {
        let now = tree(root);
        let new: Vec<i32> = now.difference(&frozen).copied().collect();
        if new.is_empty() {
            break;
        }
        for &p in &new {
            send(p, rustix::process::Signal::STOP);
        }
        frozen.extend(new);
    }
    for &p in &frozen {
        send(p, rustix::process::Signal::KILL);
    }
    frozen.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kills_a_shell_and_its_children() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 300 & sleep 300 & wait"])
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        // Wait for both sleeps to exist.
        let mut t = tree(pid);
        for _ in 0..100 {
            if t.len() >= 3 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
            t = tree(pid);
        }
        assert!(t.len() >= 3, "shell and two sleeps: {t:?}");
        let descendants: Vec<i32> = t.iter().copied().filter(|&p| p != pid).collect();
        assert!(kill_tree(pid) >= 3);
        child.wait().unwrap();
        for p in descendants {
            // Reaped by init (we are not their parent): gone or a zombie soon.
            let mut gone = false;
            for _ in 0..100 {
                let state = std::fs::read_to_string(format!("/proc/{p}/stat")).ok();
                if state.as_deref().is_none_or(|s| s.contains(") Z ")) {
                    gone = true;
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            assert!(gone, "descendant {p} survived");
        }
    }
}
