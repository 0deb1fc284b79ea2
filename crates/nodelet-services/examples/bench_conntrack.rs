//! One conntrack flush of deleted pods, in process over ctnetlink versus
//! the `conntrack` tool once per item (how it was done before).
//!
//! In a network namespace of its own (the main thread unshares one), N
//! TCP entries are inserted with the `conntrack` tool: half to cluster
//! IPs DNAT'd to pods, half straight to pods, over 1000 pod addresses.
//! Deleting P pods is P `To` + P `RepliedBy` items. Per round, the same
//! flush runs both ways on the same table: wall time and CPU time (this
//! thread's for the in-process flush, which runs on it, kernel time
//! included; the children's plus this thread's for the processes). A
//! second in-process flush, with nothing left to match, times the dump
//! alone.
//!
//! Usage: bench_conntrack [ENTRIES] [PODS] [ROUNDS]   (root; Debian conntrack)

use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nodelet_services::nft::conntrack::{self, Flush};

fn cpu(who: libc::c_int) -> Duration {
    // SAFETY: getrusage fills the zeroed struct we pass; checked below.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid `who` and a pointer to our struct.
    let rc = unsafe { libc::getrusage(who, &mut ru) };
    assert_eq!(rc, 0, "getrusage: {}", std::io::Error::last_os_error());
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn ct(args: &[String]) -> std::process::Output {
    Command::new("conntrack")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("running conntrack (Debian package conntrack)")
}

fn count() -> usize {
    let out = ct(&["-C".into()]);
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

fn addr(net: [u8; 2], j: usize) -> Ipv4Addr {
    Ipv4Addr::new(net[0], net[1], (j / 250) as u8, (j % 250 + 1) as u8)
}

/// Entry `i`: client `i` to a cluster IP DNAT'd to pod `j` (even `i`) or
/// straight to pod `j` (odd), `j = i/2 mod 1000`.
fn insert(i: usize) {
    let j = (i / 2) % 1000;
    let pod = addr([10, 244], j).to_string();
    let dst = if i.is_multiple_of(2) {
        addr([10, 96], j).to_string()
    } else {
        pod.clone()
    };
    let client = addr([10, 1], i).to_string();
    let sport = (10000 + i % 50000).to_string();
    let args: Vec<String> = [
        "-I",
        "-p",
        "tcp",
        "-s",
        &client,
        "-d",
        &dst,
        "--sport",
        &sport,
        "--dport",
        "80",
        "-r",
        &pod,
        "-q",
        &client,
        "--reply-port-src",
        "8080",
        "--reply-port-dst",
        &sport,
        "--state",
        "ESTABLISHED",
        "-t",
        "3600",
    ]
    .map(String::from)
    .to_vec();
    let out = ct(&args);
    assert!(
        out.status.success(),
        "conntrack {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let n: usize = a.get(1).and_then(|s| s.parse().ok()).unwrap_or(2000);
    let pods: usize = a.get(2).and_then(|s| s.parse().ok()).unwrap_or(300);
    let rounds: usize = a.get(3).and_then(|s| s.parse().ok()).unwrap_or(3);
    // SAFETY: unshare(2) of this (the main, only) thread's network
    // namespace; checked.
    let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "unshare: {}", std::io::Error::last_os_error());

    let items: Vec<Flush> = (0..pods)
        .flat_map(|j| {
            let p = addr([10, 244], j);
            [Flush::To(p), Flush::RepliedBy(p)]
        })
        .collect();
    // The entries the flush deletes, to put back between runs.
    let doomed: Vec<usize> = (0..n).filter(|i| (i / 2) % 1000 < pods).collect();
    let t = Instant::now();
    (0..n).for_each(insert);
    println!(
        "{} entries inserted in {:.1} s; {} items ({pods} pods: To + RepliedBy) match {}",
        count(),
        t.elapsed().as_secs_f64(),
        items.len(),
        doomed.len()
    );
    println!("round  way                    wall ms   cpu ms   left");
    for r in 1..=rounds {
        let (c0, w0) = (cpu(libc::RUSAGE_THREAD), Instant::now());
        let f = conntrack::flush_now(&items).expect("flush");
        let (wall, cpu_in) = (w0.elapsed(), cpu(libc::RUSAGE_THREAD) - c0);
        let left = count();
        println!(
            "{r:5}  in process (netlink)  {:8.1} {:8.1} {left:6}   ({} read, {} deleted)",
            wall.as_secs_f64() * 1e3,
            cpu_in.as_secs_f64() * 1e3,
            f.entries,
            f.deleted
        );
        // Again, nothing left to match: the dump alone.
        let (c0, w0) = (cpu(libc::RUSAGE_THREAD), Instant::now());
        let f = conntrack::flush_now(&items).expect("flush");
        println!(
            "{r:5}  same, dump only       {:8.1} {:8.1} {:6}   ({} read, {} deleted)",
            w0.elapsed().as_secs_f64() * 1e3,
            (cpu(libc::RUSAGE_THREAD) - c0).as_secs_f64() * 1e3,
            count(),
            f.entries,
            f.deleted
        );
        doomed.iter().copied().for_each(insert);

        let (c0, k0, w0) = (
            cpu(libc::RUSAGE_THREAD),
            cpu(libc::RUSAGE_CHILDREN),
            Instant::now(),
        );
        for f in &items {
            let args: Vec<String> = match f {
                Flush::To(ip) => vec!["-D".into(), "-d".into(), ip.to_string()],
                Flush::RepliedBy(ip) => vec!["-D".into(), "-r".into(), ip.to_string()],
                Flush::UdpVia { .. } => unreachable!(),
            };
            let _ = ct(&args);
        }
        let wall = w0.elapsed();
        let own = cpu(libc::RUSAGE_THREAD) - c0;
        let children = cpu(libc::RUSAGE_CHILDREN) - k0;
        let left = count();
        println!(
            "{r:5}  {} conntrack -D     {:8.1} {:8.1} {left:6}   (children {:.1} + this thread {:.1})",
            items.len(),
            wall.as_secs_f64() * 1e3,
            (own + children).as_secs_f64() * 1e3,
            children.as_secs_f64() * 1e3,
            own.as_secs_f64() * 1e3
        );
        doomed.iter().copied().for_each(insert);
    }
}
