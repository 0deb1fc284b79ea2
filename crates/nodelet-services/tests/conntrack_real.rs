//! Stale connection-tracking entries deleted over ctnetlink, against the
//! real kernel: in a network namespace of the test's own (a thread
//! unshares one; it goes with the thread), entries are inserted with the
//! `conntrack` tool, a flush runs in that namespace, and `conntrack -L`
//! must list exactly the entries no item matches. Needs root and the
//! `conntrack` tool, for inserting and listing only (`NODELET_SKIP_REAL=1`
//! skips); run under the shared real-test lock.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::process::Command;

use nodelet_services::nft::conntrack::{self, Flush, netlink};
use nodelet_testsupport::Needs;

fn require(test: &str) -> bool {
    Needs::root(test, "network namespaces and the conntrack table need it")
        .tool("conntrack", "conntrack")
        .check()
}

/// Runs `f` on a thread of its own in a new, empty network namespace.
fn in_new_netns<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(move || {
        // SAFETY: unshare(2) moves only this thread (which nothing else
        // uses) into a new network namespace; the result is checked.
        let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
        assert_eq!(
            rc,
            0,
            "unshare(CLONE_NEWNET): {}",
            std::io::Error::last_os_error()
        );
        f()
    })
    .join()
    .unwrap_or_else(|e| std::panic::resume_unwind(e))
}

fn ct(args: &[&str]) -> String {
    let out = Command::new("conntrack")
        .args(args)
        .output()
        .expect("running conntrack");
    assert!(
        out.status.success(),
        "conntrack {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One connection, DNAT'd when `reply_src` is not `dst`; `key` is its
/// original source port (ICMP: its id), unique per test, naming it in
/// `conntrack -L`.
struct Conn {
    proto: &'static str,
    src: &'static str,
    dst: &'static str,
    dport: u16,
    reply_src: &'static str,
    reply_sport: u16,
    zone: u16,
    key: u16,
}

fn insert(c: &Conn) {
    let key = c.key.to_string();
    let (dport, rsport) = (c.dport.to_string(), c.reply_sport.to_string());
    let zone = c.zone.to_string();
    let mut args = vec!["-I", "-p", c.proto, "-s", c.src, "-d", c.dst, "-t", "300"];
    if c.proto == "icmp" {
        args.extend(["--icmp-type", "8", "--icmp-code", "0", "--icmp-id", &key]);
    } else {
        args.extend(["--sport", &key, "--dport", &dport]);
        args.extend(["-r", c.reply_src, "-q", c.src]);
        args.extend(["--reply-port-src", &rsport, "--reply-port-dst", &key]);
        if c.proto == "tcp" {
            args.extend(["--state", "ESTABLISHED"]);
        }
    }
    if c.zone != 0 {
        args.extend(["-w", &zone]);
    }
    ct(&args);
}

/// The keys of the entries `conntrack -L` lists (every zone).
fn listed() -> BTreeSet<u16> {
    ct(&["-L"])
        .lines()
        .filter_map(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix("sport=").or(w.strip_prefix("id=")))
                .and_then(|k| k.parse().ok())
        })
        .collect()
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn conn(proto: &'static str, dst: &'static str, dport: u16, reply_src: &'static str) -> Conn {
    Conn {
        proto,
        src: "10.1.0.1",
        dst,
        dport,
        reply_src,
        reply_sport: dport,
        zone: 0,
        key: 0,
    }
}

#[test]
fn a_flush_deletes_exactly_the_matching_entries_in_every_zone() {
    if !require("a_flush_deletes_exactly_the_matching_entries_in_every_zone") {
        return;
    }
    in_new_netns(|| {
        // (connection, deleted?)
        let conns = [
            // To(10.2.0.5): direct, ICMP, and in zone 5.
            (conn("tcp", "10.2.0.5", 80, "10.2.0.5"), true),
            (conn("icmp", "10.2.0.5", 0, "10.2.0.5"), true),
            (
                Conn {
                    zone: 5,
                    ..conn("tcp", "10.2.0.5", 443, "10.2.0.5")
                },
                true,
            ),
            // RepliedBy(10.244.0.9): DNAT'd to it through a cluster IP.
            (conn("tcp", "10.96.0.1", 443, "10.244.0.9"), true),
            // UdpVia(10.96.0.10:53 → 10.244.0.7), in zone 7.
            (
                Conn {
                    zone: 7,
                    reply_sport: 5353,
                    ..conn("udp", "10.96.0.10", 53, "10.244.0.7")
                },
                true,
            ),
            // Not matched: another endpoint, TCP, another port, another
            // cluster IP, from (not to) 10.2.0.5, to (not from) 10.244.0.9.
            (conn("udp", "10.96.0.10", 53, "10.244.0.8"), false),
            (conn("tcp", "10.96.0.10", 53, "10.244.0.7"), false),
            (conn("udp", "10.96.0.10", 54, "10.244.0.7"), false),
            (conn("udp", "10.96.0.11", 53, "10.244.0.7"), false),
            (
                Conn {
                    src: "10.2.0.5",
                    ..conn("tcp", "10.1.0.7", 80, "10.1.0.7")
                },
                false,
            ),
            (conn("tcp", "10.244.0.9", 80, "10.244.0.10"), false),
        ];
        let mut all = BTreeSet::new();
        let mut kept = BTreeSet::new();
        for (i, (c, deleted)) in conns.into_iter().enumerate() {
            let c = Conn {
                key: 1000 + i as u16,
                ..c
            };
            insert(&c);
            all.insert(c.key);
            if !deleted {
                kept.insert(c.key);
            }
        }
        assert_eq!(listed(), all, "the inserted entries");

        let items = [
            Flush::To(ip("10.2.0.5")),
            Flush::RepliedBy(ip("10.244.0.9")),
            Flush::UdpVia {
                cluster_ip: ip("10.96.0.10"),
                port: 53,
                endpoint: ip("10.244.0.7"),
            },
        ];
        let f = conntrack::flush_now(&items).expect("flush");
        assert_eq!(listed(), kept, "entries left after the flush ({f:?})");
        assert_eq!(
            (
                f.entries,
                f.matched,
                f.deleted,
                f.vanished,
                f.failed,
                f.malformed
            ),
            (
                all.len(),
                all.len() - kept.len(),
                all.len() - kept.len(),
                0,
                0,
                0
            ),
            "{f:?}"
        );
        // Nothing more to delete: a second flush finds nothing.
        let again = conntrack::flush_now(&items).expect("second flush");
        assert_eq!((again.entries, again.matched), (kept.len(), 0));
    });
}

#[test]
fn a_large_table_is_read_in_many_datagrams_and_gone_entries_are_not_errors() {
    if !require("a_large_table_is_read_in_many_datagrams_and_gone_entries_are_not_errors") {
        return;
    }
    in_new_netns(|| {
        // 400 entries: more than one dump datagram (≈ 32 KiB each) and
        // more than one send of deletes (64 each); 300 of them to pods
        // 10.244.0.1-3 through cluster IPs.
        for i in 0..400u16 {
            let reply_src =
                ["10.244.0.1", "10.244.0.2", "10.244.0.3", "10.244.0.4"][usize::from(i % 4)];
            insert(&Conn {
                key: 2000 + i,
                ..conn("udp", "10.96.0.10", 53, reply_src)
            });
        }
        assert_eq!(listed().len(), 400);
        let items: Vec<Flush> = ["10.244.0.1", "10.244.0.2", "10.244.0.3"]
            .into_iter()
            .map(|a| Flush::RepliedBy(ip(a)))
            .collect();
        let matcher = conntrack::Matcher::new(&items);
        let sock = nodelet_services::nft::netlink::Socket::open().expect("socket");
        let dump = netlink::dump(&sock, 1, |e| matcher.matches(&e.orig, &e.reply)).expect("dump");
        assert_eq!(
            (dump.entries, dump.doomed.len(), dump.malformed),
            (400, 300, 0)
        );
        let d = netlink::delete(&sock, 2, &dump.doomed).expect("delete");
        assert_eq!((d.deleted, d.vanished, d.failed), (300, 0, 0));
        // Deleting them again: every one is gone, which is no error.
        let d = netlink::delete(&sock, 1000, &dump.doomed).expect("delete again");
        assert_eq!((d.deleted, d.vanished, d.failed), (0, 300, 0));
        assert_eq!(listed().len(), 100);

        // The async entry point does the same on a blocking thread (in
        // this namespace: threads start in their creator's).
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        rt.block_on(conntrack::flush(vec![Flush::To(ip("10.96.0.10"))]));
        assert_eq!(listed().len(), 0);
    });
}
