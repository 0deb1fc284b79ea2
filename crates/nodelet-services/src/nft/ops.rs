//! The incremental data-plane changes as typed operations on nodelet's own
//! table, so one plan has two renderers that cannot drift apart: nft text
//! ([`render`], for libnftables and `nft -f -`) and nf_tables netlink
//! messages (`netlink::encode`, the fast path). Only what [`super::plan`]'s
//! incremental updates use is here; the fixed part of the table (base
//! chains, hooks, maps) is only ever written as text.

use std::fmt::Write;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

/// A verdict map of the table, keyed as its name says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Map {
    /// `service-ips`: `clusterIP . protocol . port`.
    ServiceIps,
    /// `service-nodeports`: `protocol . nodePort`.
    ServiceNodePorts,
    /// `no-endpoint-services`: as `service-ips`, to the reject chain.
    NoEndpointServices,
    /// `no-endpoint-nodeports`: as `service-nodeports`.
    NoEndpointNodePorts,
}

impl Map {
    pub fn name(self) -> &'static str {
        match self {
            Map::ServiceIps => "service-ips",
            Map::ServiceNodePorts => "service-nodeports",
            Map::NoEndpointServices => "no-endpoint-services",
            Map::NoEndpointNodePorts => "no-endpoint-nodeports",
        }
    }
}

/// A map element's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    Service {
        ip: Ipv4Addr,
        protocol: String,
        port: u16,
    },
    NodePort {
        protocol: String,
        port: u16,
    },
}

/// One rule of a per-service or per-endpoint chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// `jump <chain>`
    Jump(String),
    /// `goto <chain>`
    Goto(String),
    /// `ip saddr <addr> jump <chain>`
    SaddrJump(Ipv4Addr, String),
    /// `ip daddr <addr> ip saddr != <net> jump <chain>`
    DaddrNotFromJump(Ipv4Addr, Ipv4Net, String),
    /// `update @<set> { ip saddr }`
    UpdateSaddr(String),
    /// `ip saddr @<set> goto <chain>`
    SaddrInSetGoto(String, String),
    /// `meta l4proto <protocol> dnat to <addr>:<port>`
    Dnat(String, Ipv4Addr, u16),
    /// `numgen random mod <n> vmap { 0 : goto <chain0>, … }`
    NumgenGoto(Vec<String>),
}

/// One command of a transaction on nodelet's table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `add set`: a dynamic set of client addresses with a timeout
    /// (ClientIP session affinity).
    AddAffinitySet {
        name: String,
        timeout_s: u32,
    },
    DeleteSet(String),
    AddChain(String),
    FlushChain(String),
    DeleteChain(String),
    AddRule(String, Rule),
    /// `add element … { key : goto <chain> }`
    AddElement(Map, Key, String),
    DeleteElement(Map, Key),
}

/// The ops as nft text, one command a line (one transaction with
/// `nft -f`).
pub fn render(table: &str, ops: &[Op]) -> String {
    let mut s = String::new();
    for op in ops {
        render_op(&mut s, table, op);
    }
    s
}

fn key_text(k: &Key) -> String {
    match k {
        Key::Service { ip, protocol, port } => format!("{ip} . {protocol} . {port}"),
        Key::NodePort { protocol, port } => format!("{protocol} . {port}"),
    }
}

fn rule_text(r: &Rule) -> String {
    match r {
        Rule::Jump(c) => format!("jump {c}"),
        Rule::Goto(c) => format!("goto {c}"),
        Rule::SaddrJump(a, c) => format!("ip saddr {a} jump {c}"),
        Rule::DaddrNotFromJump(d, net, c) => format!("ip daddr {d} ip saddr != {net} jump {c}"),
        Rule::UpdateSaddr(set) => format!("update @{set} {{ ip saddr }}"),
        Rule::SaddrInSetGoto(set, c) => format!("ip saddr @{set} goto {c}"),
        Rule::Dnat(p, a, port) => format!("meta l4proto {p} dnat to {a}:{port}"),
        Rule::NumgenGoto(chains) => {
            let arms: Vec<String> = chains
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{i} : goto {c}"))
                .collect();
            format!(
                "numgen random mod {} vmap {{ {} }}",
                chains.len(),
                arms.join(", ")
            )
        }
    }
}

fn render_op(s: &mut String, t: &str, op: &Op) {
    let _ = match op {
        Op::AddAffinitySet { name, timeout_s } => writeln!(
            s,
            "add set ip {t} {name} {{ type ipv4_addr; flags dynamic,timeout; timeout {timeout_s}s; }}"
        ),
        Op::DeleteSet(name) => writeln!(s, "delete set ip {t} {name}"),
        Op::AddChain(c) => writeln!(s, "add chain ip {t} {c}"),
        Op::FlushChain(c) => writeln!(s, "flush chain ip {t} {c}"),
        Op::DeleteChain(c) => writeln!(s, "delete chain ip {t} {c}"),
        Op::AddRule(c, r) => writeln!(s, "add rule ip {t} {c} {}", rule_text(r)),
        Op::AddElement(m, k, c) => writeln!(
            s,
            "add element ip {t} {} {{ {} : goto {c} }}",
            m.name(),
            key_text(k)
        ),
        Op::DeleteElement(m, k) => writeln!(
            s,
            "delete element ip {t} {} {{ {} }}",
            m.name(),
            key_text(k)
        ),
    };
}
