//! 30 create/remove cycles of a networked sandbox with a hostPort, through
//! the CNI plugins and then natively, must leave the host exactly as it was: veths, namespace pins, IPAM leases,
//! iptables rules, mounts and our own file descriptors. Alone in its own
//! test binary so no other test of ours changes the counts meanwhile.

mod sandbox_support;

use std::collections::BTreeSet;
use std::time::Duration;

use nodelet_runtime::PortMapping;
use nodelet_runtime::sandbox::pin_space::SPACE_FILE;
use sandbox_support::*;

const CYCLES: usize = 30;

#[derive(Debug, Clone, PartialEq, Eq)]
struct HostCounts {
    veths: usize,
    iptables_lines: usize,
    mounts: usize,
}

fn host_counts() -> HostCounts {
    let veths = sh(&["ip", "-o", "link", "show", "type", "veth"])
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count();
    let iptables_lines = iptables_save()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .count();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .count();
    HostCounts {
        veths,
        iptables_lines,
        mounts,
    }
}

fn fds() -> usize {
    count_dir(std::path::Path::new("/proc/self/fd"))
}

fn chains(rules: &str) -> BTreeSet<String> {
    rules
        .lines()
        .filter_map(|l| l.strip_prefix(':'))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// Chains named (`-A X` or `-j X`) in rules that mention `id`.
fn tagged_chains(rules: &str, id: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for l in rules.lines().filter(|l| l.contains(id)) {
        let words: Vec<&str> = l.split_whitespace().collect();
        for w in words.windows(2) {
            if w[0] == "-A" || w[0] == "-j" {
                out.insert(w[1].to_string());
            }
        }
    }
    out
}

#[tokio::test]
async fn thirty_create_remove_cycles_leak_nothing() {
    if !require_real("thirty_create_remove_cycles_leak_nothing") {
        return;
    }
    // One after the other, not as two tests: the fd count is per process.
    cycles(TestNet::new(5)).await;
    cycles(TestNet::native(19)).await;
}

async fn cycles(net: TestNet) {
    let cfg = pod(
        "leaky",
        vec![PortMapping {
            container_port: 80,
            host_port: 18_553,
            protocol: "TCP".into(),
            host_ip: None,
        }],
    );
    // Warm-up: the bridge, portmap's top-level chains and the state dirs are
    // made once per network and are meant to stay.
    let first = net.manager.create(&cfg).await.unwrap();
    net.manager.remove(&first.id).await.unwrap();

    let host_before = host_counts();
    let fds_before = fds();
    let run_dir = net.run_dir();
    let run_dir_str = run_dir.display().to_string();
    let space_str = format!("{run_dir_str}/{SPACE_FILE} ");

    let (mut create_time, mut remove_time) = (Duration::ZERO, Duration::ZERO);
    for cycle in 0..CYCLES {
        let baseline_chains = chains(&iptables_save());
        let started = std::time::Instant::now();
        let info = net.manager.create(&cfg).await.unwrap();
        create_time += started.elapsed();
        let live = iptables_save();
        assert!(
            live.contains(&info.id),
            "cycle {cycle}: no iptables rule tagged with the sandbox id while it lives"
        );
        // New chains that rules tagged with this sandbox's id use: other
        // agents on the host (podman's netavark, other tests) add and drop
        // chains of their own meanwhile.
        let tagged = tagged_chains(&live, &info.id);
        let own_chains: BTreeSet<String> = chains(&live)
            .difference(&baseline_chains)
            .filter(|c| tagged.contains(*c))
            .cloned()
            .collect();
        assert!(
            !own_chains.is_empty(),
            "cycle {cycle}: sandbox made no chains of its own"
        );
        assert_eq!(net.bridge_veths(), 1, "cycle {cycle}");
        assert_eq!(net.lease_files(), 1, "cycle {cycle}");

        let started = std::time::Instant::now();
        net.manager.remove(&info.id).await.unwrap();
        remove_time += started.elapsed();

        let after = iptables_save();
        assert!(
            !after.contains(&info.id),
            "cycle {cycle}: rules of {} left",
            info.id
        );
        let left: Vec<_> = chains(&after).intersection(&own_chains).cloned().collect();
        assert!(left.is_empty(), "cycle {cycle}: chains left: {left:?}");
        assert_eq!(
            net.bridge_veths(),
            0,
            "cycle {cycle}: veth left on the bridge"
        );
        assert_eq!(net.lease_files(), 0, "cycle {cycle}: IPAM lease left");
        assert_eq!(pin_dirs(&run_dir), 0, "cycle {cycle}: pin directory left");
        // On the host only the pin space itself, which is meant to stay.
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let pins_on_host: Vec<_> = mountinfo
            .lines()
            .filter(|l| l.contains(&run_dir_str) && !l.contains(&space_str))
            .collect();
        assert!(pins_on_host.is_empty(), "cycle {cycle}: {pins_on_host:?}");
    }
    // Reported, not asserted: wall time depends on the machine.
    eprintln!(
        "{}: mean create {:?}, mean remove {:?} over {CYCLES} cycles",
        net.manager.pod_network().as_str(),
        create_time / CYCLES as u32,
        remove_time / CYCLES as u32
    );
    assert!(net.manager.list().await.unwrap().is_empty());
    assert_eq!(fds(), fds_before, "file descriptors leaked");

    // Host-wide counts can be moved by other programs on the machine for a
    // moment; our own leaks would not go away, so allow a short settle.
    let mut host_after = host_counts();
    for _ in 0..20 {
        if host_after == host_before {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
        host_after = host_counts();
    }
    assert_eq!(
        host_after, host_before,
        "host-wide veth/iptables/mount counts changed"
    );
}
