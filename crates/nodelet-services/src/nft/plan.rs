//! The data plane as nftables text: one `table ip <name>` that nodelet owns,
//! shaped after kube-proxy's nftables mode (`pkg/proxy/nftables/proxier.go`):
//! verdict maps from `clusterIP . protocol . port` (and `protocol .
//! nodePort` for local destinations) to a chain per service port, which
//! picks an endpoint chain with `numgen random` and DNATs there. Traffic
//! from outside the pod network, to a NodePort, or from an endpoint to
//! itself (hairpin) is marked and masqueraded on the way out. A service
//! port without endpoints is rejected (ICMP port unreachable) before DNAT.
//!
//! [`full`] builds the whole table in one transaction (start-up, resync);
//! [`delta`] changes only the service ports whose state changed, so a
//! readiness change is one small transaction.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::ops::{Key, Map, Op, Rule, render};

/// One service port as the data plane implements it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRule {
    pub cluster_ip: Ipv4Addr,
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
    pub port: u16,
    pub node_port: Option<u16>,
    /// The endpoints traffic goes to (address, target port), sorted.
    pub backends: Vec<(Ipv4Addr, u16)>,
    /// `sessionAffinity: ClientIP` timeout in seconds.
    pub affinity: Option<u32>,
}

/// Every service port, by `<namespace>/<name>/<protocol>/<port>`.
pub type Desired = BTreeMap<String, PortRule>;

/// What the table's fixed part depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableConfig {
    pub table: String,
    pub pod_cidr: Ipv4Net,
    /// Masquerade every connection to a cluster IP (when bridged traffic
    /// does not pass netfilter, replies from a pod on the same bridge
    /// would otherwise bypass the reverse NAT).
    pub masquerade_all: bool,
    /// The pod bridge, its address and the ports the agent serves pods on
    /// there (API, DNS): reachable only from the bridge and the host.
    pub bridge: String,
    pub gateway: Ipv4Addr,
    pub gateway_tcp_ports: Vec<u16>,
    pub gateway_udp_ports: Vec<u16>,
}

/// kube-proxy's masquerade mark bit.
const MASQ_MARK: &str = "0x4000";
/// The chain that sets it.
const MASQ_CHAIN: &str = "mark-for-masquerade";

fn svc_chain(key: &str) -> String {
    format!("svc-{key}")
}
fn ext_chain(key: &str) -> String {
    format!("ext-{key}")
}
fn ep_chain(key: &str, b: &(Ipv4Addr, u16)) -> String {
    format!("ep-{key}__{}/{}", b.0, b.1)
}
fn aff_set(key: &str, b: &(Ipv4Addr, u16)) -> String {
    format!("aff-{key}__{}/{}", b.0, b.1)
}

/// Deletes the table if it exists (the `add` makes the delete never fail).
pub fn teardown(table: &str) -> String {
    format!("add table ip {table}\ndelete table ip {table}\n")
}

fn ports_set(ports: &[u16]) -> String {
    let v: Vec<String> = ports.iter().map(u16::to_string).collect();
    format!("{{ {} }}", v.join(", "))
}

/// The whole table, replacing any previous one atomically.
pub fn full(cfg: &TableConfig, desired: &Desired) -> String {
    let t = &cfg.table;
    let mut s = teardown(t);
    let _ = writeln!(s, "table ip {t} {{");
    s.push_str("  map service-ips { type ipv4_addr . inet_proto . inet_service : verdict; }\n");
    s.push_str("  map service-nodeports { type inet_proto . inet_service : verdict; }\n");
    s.push_str(
        "  map no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict; }\n",
    );
    s.push_str("  map no-endpoint-nodeports { type inet_proto . inet_service : verdict; }\n");
    let _ = writeln!(
        s,
        "  chain mark-for-masquerade {{ meta mark set meta mark | {MASQ_MARK}; }}"
    );
    let _ = writeln!(
        s,
        "  chain masquerading {{ meta mark & {MASQ_MARK} == 0 return; meta mark set meta mark ^ {MASQ_MARK}; masquerade fully-random; }}"
    );
    s.push_str("  chain services { ip daddr . meta l4proto . th dport vmap @service-ips; fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports; }\n");
    s.push_str("  chain nat-prerouting { type nat hook prerouting priority dstnat; policy accept; jump services; }\n");
    s.push_str(
        "  chain nat-output { type nat hook output priority -100; policy accept; jump services; }\n",
    );
    s.push_str("  chain nat-postrouting { type nat hook postrouting priority srcnat; policy accept; jump masquerading; }\n");
    s.push_str("  chain reject-chain { reject; }\n");
    s.push_str("  chain endpoints-check { ip daddr . meta l4proto . th dport vmap @no-endpoint-services; fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @no-endpoint-nodeports; }\n");
    s.push_str("  chain filter-prerouting { type filter hook prerouting priority dstnat - 10; policy accept; ct state new jump endpoints-check; }\n");
    s.push_str("  chain filter-output { type filter hook output priority -110; policy accept; ct state new jump endpoints-check; }\n");
    let _ = write!(
        s,
        "  chain filter-input {{ type filter hook input priority filter; policy accept;"
    );
    let allowed = format!("{{ \"{}\", \"lo\" }}", cfg.bridge);
    if !cfg.gateway_tcp_ports.is_empty() {
        let _ = write!(
            s,
            " ip daddr {} tcp dport {} iifname != {allowed} drop;",
            cfg.gateway,
            ports_set(&cfg.gateway_tcp_ports)
        );
    }
    if !cfg.gateway_udp_ports.is_empty() {
        let _ = write!(
            s,
            " ip daddr {} udp dport {} iifname != {allowed} drop;",
            cfg.gateway,
            ports_set(&cfg.gateway_udp_ports)
        );
    }
    s.push_str(" }\n}\n");
    let mut ops = Vec::new();
    for (key, rule) in desired {
        add_port(&mut ops, cfg, key, rule);
    }
    s.push_str(&render(t, &ops));
    s
}

/// The transaction that turns `old` into `new`, touching only the service
/// ports that differ. Empty when nothing changed.
pub fn delta(cfg: &TableConfig, old: &Desired, new: &Desired) -> String {
    render(&cfg.table, &delta_ops(cfg, old, new))
}

/// [`delta`] as operations (for the netlink path).
pub fn delta_ops(cfg: &TableConfig, old: &Desired, new: &Desired) -> Vec<Op> {
    let mut s = Vec::new();
    for (key, o) in old {
        match new.get(key) {
            None => remove_port(&mut s, key, o),
            Some(n) if n == o => {}
            Some(n) if only_backends_differ(o, n) => change_backends(&mut s, cfg, key, o, n),
            Some(n) => {
                remove_port(&mut s, key, o);
                add_port(&mut s, cfg, key, n);
            }
        }
    }
    for (key, n) in new {
        if !old.contains_key(key) {
            add_port(&mut s, cfg, key, n);
        }
    }
    s
}

fn only_backends_differ(o: &PortRule, n: &PortRule) -> bool {
    o.cluster_ip == n.cluster_ip
        && o.protocol == n.protocol
        && o.port == n.port
        && o.node_port == n.node_port
        && o.affinity == n.affinity
}

/// The map elements of a service port: to its chains when it has
/// endpoints, to the reject chain when not.
fn elements(s: &mut Vec<Op>, key: &str, r: &PortRule, add: bool) {
    let has = !r.backends.is_empty();
    let (map, target) = if has {
        (Map::ServiceIps, svc_chain(key))
    } else {
        (Map::NoEndpointServices, "reject-chain".to_owned())
    };
    let k = Key::Service {
        ip: r.cluster_ip,
        protocol: r.protocol.clone(),
        port: r.port,
    };
    s.push(if add {
        Op::AddElement(map, k, target)
    } else {
        Op::DeleteElement(map, k)
    });
    if let Some(np) = r.node_port {
        let (map, target) = if has {
            (Map::ServiceNodePorts, ext_chain(key))
        } else {
            (Map::NoEndpointNodePorts, "reject-chain".to_owned())
        };
        let k = Key::NodePort {
            protocol: r.protocol.clone(),
            port: np,
        };
        s.push(if add {
            Op::AddElement(map, k, target)
        } else {
            Op::DeleteElement(map, k)
        });
    }
}

fn add_endpoint(s: &mut Vec<Op>, key: &str, r: &PortRule, b: &(Ipv4Addr, u16)) {
    let chain = ep_chain(key, b);
    if let Some(timeout_s) = r.affinity {
        s.push(Op::AddAffinitySet {
            name: aff_set(key, b),
            timeout_s,
        });
    }
    s.push(Op::AddChain(chain.clone()));
    s.push(Op::AddRule(
        chain.clone(),
        Rule::SaddrJump(b.0, MASQ_CHAIN.into()),
    ));
    if r.affinity.is_some() {
        s.push(Op::AddRule(
            chain.clone(),
            Rule::UpdateSaddr(aff_set(key, b)),
        ));
    }
    s.push(Op::AddRule(chain, Rule::Dnat(r.protocol.clone(), b.0, b.1)));
}

fn remove_endpoint(s: &mut Vec<Op>, key: &str, r: &PortRule, b: &(Ipv4Addr, u16)) {
    let chain = ep_chain(key, b);
    s.push(Op::FlushChain(chain.clone()));
    s.push(Op::DeleteChain(chain));
    if r.affinity.is_some() {
        s.push(Op::DeleteSet(aff_set(key, b)));
    }
}

/// (Re)writes the service port's chain: masquerade for off-network
/// clients, affinity lookups, then the random pick.
fn fill_service_chain(s: &mut Vec<Op>, cfg: &TableConfig, key: &str, r: &PortRule) {
    let chain = svc_chain(key);
    s.push(Op::AddChain(chain.clone()));
    s.push(Op::FlushChain(chain.clone()));
    let masq = if cfg.masquerade_all {
        Rule::Jump(MASQ_CHAIN.into())
    } else {
        Rule::DaddrNotFromJump(r.cluster_ip, cfg.pod_cidr, MASQ_CHAIN.into())
    };
    s.push(Op::AddRule(chain.clone(), masq));
    if r.backends.is_empty() {
        return;
    }
    if r.affinity.is_some() {
        for b in &r.backends {
            s.push(Op::AddRule(
                chain.clone(),
                Rule::SaddrInSetGoto(aff_set(key, b), ep_chain(key, b)),
            ));
        }
    }
    let arms = r.backends.iter().map(|b| ep_chain(key, b)).collect();
    s.push(Op::AddRule(chain, Rule::NumgenGoto(arms)));
}

fn add_port(s: &mut Vec<Op>, cfg: &TableConfig, key: &str, r: &PortRule) {
    for b in &r.backends {
        add_endpoint(s, key, r, b);
    }
    fill_service_chain(s, cfg, key, r);
    if r.node_port.is_some() {
        let ext = ext_chain(key);
        s.push(Op::AddChain(ext.clone()));
        s.push(Op::AddRule(ext.clone(), Rule::Jump(MASQ_CHAIN.into())));
        s.push(Op::AddRule(ext, Rule::Goto(svc_chain(key))));
    }
    elements(s, key, r, true);
}

fn remove_port(s: &mut Vec<Op>, key: &str, r: &PortRule) {
    elements(s, key, r, false);
    if r.node_port.is_some() {
        let ext = ext_chain(key);
        s.push(Op::FlushChain(ext.clone()));
        s.push(Op::DeleteChain(ext));
    }
    let chain = svc_chain(key);
    s.push(Op::FlushChain(chain.clone()));
    s.push(Op::DeleteChain(chain));
    for b in &r.backends {
        remove_endpoint(s, key, r, b);
    }
}

fn change_backends(s: &mut Vec<Op>, cfg: &TableConfig, key: &str, o: &PortRule, n: &PortRule) {
    let swap = o.backends.is_empty() != n.backends.is_empty();
    if swap {
        elements(s, key, o, false);
    }
    for b in n.backends.iter().filter(|b| !o.backends.contains(b)) {
        add_endpoint(s, key, n, b);
    }
    fill_service_chain(s, cfg, key, n);
    for b in o.backends.iter().filter(|b| !n.backends.contains(b)) {
        remove_endpoint(s, key, o, b);
    }
    if swap {
        elements(s, key, n, true);
    }
}

#[cfg(test)]
mod tests;
