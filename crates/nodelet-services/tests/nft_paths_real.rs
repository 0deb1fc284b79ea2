//! The two ways an incremental update reaches the kernel — nf_tables
//! netlink batches (the fast path) and nft text through libnftables or
//! `nft -f -` (the fallback) — program the same rules: the same plan is
//! applied through each to its own table, and after every step
//! `nft list table` of the two is the same text. Needs root and nftables
//! (`NODELET_SKIP_REAL=1` skips); run under the shared real-test lock.

use std::process::Command;

use nodelet_services::nft::exec::Nft;
use nodelet_services::nft::ops::Op;
use nodelet_services::nft::plan::{self, Desired, PortRule, TableConfig};
use nodelet_testsupport::Needs;

fn require(test: &str) -> bool {
    Needs::root(test, "programming nftables needs it")
        .tool("nft", "nftables")
        .check()
}

/// Deletes the test's tables however the test ends.
struct Tables(Vec<String>);

impl Drop for Tables {
    fn drop(&mut self) {
        for t in &self.0 {
            let _ = Nft::text_only().run(&plan::teardown(t));
        }
    }
}

fn list(table: &str) -> String {
    let out = Command::new("nft")
        .args(["list", "table", "ip", table])
        .output()
        .expect("running nft");
    assert!(
        out.status.success(),
        "nft list table ip {table}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).replace(table, "TABLE")
}

/// The lines of `a` not in `b` (`-`) and of `b` not in `a` (`+`).
fn line_diff(a: &str, b: &str) -> String {
    let only = |x: &str, y: &str, sign: char| -> Vec<String> {
        let ys: Vec<&str> = y.lines().collect();
        x.lines()
            .filter(|l| !ys.contains(l))
            .map(|l| format!("{sign} {l}"))
            .collect()
    };
    let mut v = only(a, b, '-');
    v.extend(only(b, a, '+'));
    if v.is_empty() {
        format!("same lines, other order:\n{a}\n---\n{b}")
    } else {
        v.join("\n")
    }
}

/// A listing's chains, sets and maps, in name order.
/// (Map elements are compared as a set too: their order is the kernel's
/// hash order.)
fn blocks(listing: &str) -> Vec<String> {
    let body = listing
        .trim_end()
        .strip_suffix('}')
        .unwrap_or(listing)
        .replace("table ip TABLE {\n", "");
    let mut v: Vec<String> = body
        .split("\n\n")
        .map(|b| {
            let mut words: Vec<&str> = b
                .split(|c: char| c.is_whitespace() || c == ',' || c == '{' || c == '}')
                .filter(|w| !w.is_empty())
                .collect();
            if b.contains("elements = ") {
                words.sort();
            }
            words.join(" ")
        })
        .collect();
    v.sort();
    v
}

fn cfg(table: &str, pod_cidr: &str, masquerade_all: bool) -> TableConfig {
    TableConfig {
        table: table.into(),
        pod_cidr: pod_cidr.parse().unwrap(),
        masquerade_all,
        bridge: "nltest0".into(),
        gateway: "10.244.0.1".parse().unwrap(),
        gateway_tcp_ports: vec![6443, 53],
        gateway_udp_ports: vec![53],
    }
}

fn port(
    ip: &str,
    protocol: &str,
    port: u16,
    node_port: Option<u16>,
    backends: &[(&str, u16)],
    affinity: Option<u32>,
) -> PortRule {
    PortRule {
        cluster_ip: ip.parse().unwrap(),
        protocol: protocol.into(),
        port,
        node_port,
        backends: backends
            .iter()
            .map(|(a, p)| (a.parse().unwrap(), *p))
            .collect(),
        affinity,
    }
}

/// Service ports coming, changing endpoints (to none and back), changing
/// shape (affinity), going.
fn steps() -> Vec<Desired> {
    let a = "default/a/tcp/80";
    let b = "default/b/udp/53";
    let c = "other/c/sctp/9";
    let d = "default/d/tcp/443";
    let mut s1 = Desired::new();
    s1.insert(
        a.into(),
        port(
            "10.96.0.10",
            "tcp",
            80,
            Some(30080),
            &[("10.244.0.5", 8080), ("10.244.0.6", 8080)],
            None,
        ),
    );
    s1.insert(
        b.into(),
        port(
            "10.96.0.11",
            "udp",
            53,
            None,
            &[("10.244.0.7", 5353)],
            Some(10800),
        ),
    );
    s1.insert(
        c.into(),
        port("10.96.0.12", "sctp", 9, Some(30009), &[], None),
    );
    let mut s2 = s1.clone();
    s2.get_mut(a).unwrap().backends.pop();
    s2.get_mut(b)
        .unwrap()
        .backends
        .push(("10.244.0.8".parse().unwrap(), 5353));
    s2.get_mut(c)
        .unwrap()
        .backends
        .push(("10.244.0.9".parse().unwrap(), 9999));
    s2.insert(
        d.into(),
        port(
            "10.96.0.13",
            "tcp",
            443,
            None,
            &[("10.244.0.5", 8443)],
            Some(60),
        ),
    );
    let mut s3 = s2.clone();
    s3.get_mut(a).unwrap().backends.clear();
    s3.get_mut(b).unwrap().affinity = None;
    s3.remove(c);
    s3.get_mut(d).unwrap().backends.clear();
    let mut s4 = s3.clone();
    s4.get_mut(a)
        .unwrap()
        .backends
        .push(("10.244.0.6".parse().unwrap(), 8080));
    vec![s1, s2, s3, s4, Desired::new()]
}

#[test]
fn netlink_and_text_updates_program_identical_rules() {
    if !require("netlink_and_text_updates_program_identical_rules") {
        return;
    }
    let pid = std::process::id();
    let nl_table = format!("nodelet-nlt-{pid}-nl");
    let txt_table = format!("nodelet-nlt-{pid}-tx");
    let _cleanup = Tables(vec![nl_table.clone(), txt_table.clone()]);
    let netlink = Nft::open();
    assert_eq!(
        netlink.update_path(),
        "netlink",
        "the nf_tables netlink socket did not open"
    );
    let text = Nft::text_only();
    assert_ne!(text.update_path(), "netlink");
    // A whole-byte pod prefix, one that needs a mask, and masquerade-all.
    for (cidr, masq_all) in [
        ("10.244.0.0/24", false),
        ("10.240.0.0/12", false),
        ("10.244.0.0/16", true),
    ] {
        let nl_cfg = cfg(&nl_table, cidr, masq_all);
        let txt_cfg = cfg(&txt_table, cidr, masq_all);
        let mut old = Desired::new();
        text.run(&plan::full(&nl_cfg, &old)).unwrap();
        text.run(&plan::full(&txt_cfg, &old)).unwrap();
        for (i, new) in steps().into_iter().enumerate() {
            let ops = plan::delta_ops(&nl_cfg, &old, &new);
            netlink
                .apply(&nl_table, &ops)
                .unwrap_or_else(|e| panic!("{cidr} step {i} over netlink: {e}"));
            text.apply(&txt_table, &plan::delta_ops(&txt_cfg, &old, &new))
                .unwrap_or_else(|e| panic!("{cidr} step {i} as text: {e}"));
            let (a, b) = (list(&nl_table), list(&txt_table));
            // Rules in the same order in every chain; map elements (the
            // kernel's hash order) and chains compared as sets.
            assert!(
                blocks(&a) == blocks(&b),
                "{cidr} step {i}: netlink and text differ:\n{}",
                line_diff(&a, &b)
            );
            // What the step means is in the table (not only equal).
            for (key, rule) in &new {
                assert!(
                    a.contains(&format!("svc-{key}")),
                    "{cidr} step {i}: {key} missing:\n{a}"
                );
                for (ip, p) in &rule.backends {
                    assert!(
                        a.contains(&format!("dnat to {ip}:{p}")),
                        "{cidr} step {i}: {key} → {ip}:{p} missing:\n{a}"
                    );
                }
            }
            // From the same state the full table lists the same chains,
            // sets and maps (the incremental path converges on what a
            // resync writes; only the order of creation differs).
            text.run(&plan::full(&txt_cfg, &new)).unwrap();
            assert_eq!(
                blocks(&list(&txt_table)),
                blocks(&a),
                "{cidr} step {i}: incremental vs full"
            );
            old = new;
        }
    }
}

#[test]
fn a_refused_netlink_batch_changes_nothing_and_names_the_command() {
    if !require("a_refused_netlink_batch_changes_nothing_and_names_the_command") {
        return;
    }
    let table = format!("nodelet-nlt-{}-refused", std::process::id());
    let _cleanup = Tables(vec![table.clone()]);
    let c = cfg(&table, "10.244.0.0/24", false);
    let nft = Nft::open();
    assert_eq!(nft.update_path(), "netlink");
    nft.run(&plan::full(&c, &Desired::new())).unwrap();
    let before = list(&table);
    let ops = vec![
        Op::AddChain("svc-fresh".into()),
        Op::DeleteChain("no-such-chain".into()),
    ];
    let err = nft.apply(&table, &ops).unwrap_err().to_string();
    assert!(
        err.contains("delete chain ip") && err.contains("no-such-chain"),
        "{err}"
    );
    assert_eq!(list(&table), before, "a refused batch left changes");
    // The socket is usable after a refusal.
    nft.apply(&table, &ops[..1]).unwrap();
    assert!(list(&table).contains("chain svc-fresh"));
}
