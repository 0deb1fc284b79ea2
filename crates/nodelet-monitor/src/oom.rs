//! Detecting that the container was OOM-killed, from its memory cgroup's
//! `oom_kill` counter (cgroup v1 `memory.oom_control`, v2 `memory.events`).
//! Read right after init exits, before the agent deletes the container.

/// The container's memory cgroup path (relative to the hierarchy root), from
/// `/proc/<pid>/cgroup`: the v1 memory controller line, else the v2 line.
pub fn cgroup_of(pid: i32) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let mut v2 = None;
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
        if ctrls.split(',').any(|c| c == "memory") {
            return Some(path.trim_start_matches('/').to_string());
        }
        if ctrls.is_empty() {
            v2 = Some(path.trim_start_matches('/').to_string());
        }
    }
    v2
}

/// True if any process of the cgroup was killed by the OOM killer.
pub fn oom_killed(rel: &str) -> bool {
    let rel = rel.trim_start_matches('/');
    let candidates = [
        format!("/sys/fs/cgroup/memory/{rel}/memory.oom_control"),
        format!("/sys/fs/cgroup/{rel}/memory.events"),
        format!("/sys/fs/cgroup/unified/{rel}/memory.events"),
    ];
    candidates.iter().any(|p| {
        std::fs::read_to_string(p).is_ok_and(|t| counter(&t, "oom_kill").is_some_and(|n| n > 0))
    })
}

fn counter(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn counter_parses() {
        let t = "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n";
        assert_eq!(super::counter(t, "oom_kill"), Some(2));
        assert_eq!(super::counter("low 0\n", "oom_kill"), None);
    }
}
