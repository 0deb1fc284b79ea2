//! Where Services live on this node: the service range, the pod network
//! the data plane masquerades for, the addresses the API and cluster DNS
//! answer pods on, and the nftables table nodelet owns.
//!
//! The defaults are kubeadm's (`10.96.0.0/12`, the `kubernetes` service
//! on its first address, `kube-dns` on the tenth, `cluster.local`, node
//! ports 30000-32767).

use std::net::{Ipv4Addr, SocketAddr};

use ipnet::Ipv4Net;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicesConfig {
    /// `--service-cidr`.
    pub service_cidr: Ipv4Net,
    /// `--service-node-port-range`, inclusive.
    pub node_ports: (u16, u16),
    /// `--cluster-domain`.
    pub cluster_domain: String,
    /// The pod network (the CNI subnet): traffic from elsewhere to a
    /// cluster IP is masqueraded, as kube-proxy does with `--cluster-cidr`.
    pub pod_cidr: Ipv4Net,
    /// The pod bridge and its address (the pods' default gateway): the API
    /// and the DNS server are reached by pods there.
    pub bridge: String,
    pub gateway: Ipv4Addr,
    /// Port of the API on `gateway` (the `kubernetes` service's endpoint).
    pub api_port: u16,
    /// Port of the DNS server on `gateway` (`kube-dns`'s endpoint).
    pub dns_port: u16,
    /// The nftables table (family `ip`) nodelet owns; nothing else is
    /// touched.
    pub nft_table: String,
    /// Where names outside the cluster domain are forwarded (the host's
    /// resolv.conf nameservers).
    pub upstream: Vec<SocketAddr>,
    /// This node's name (endpoints' `nodeName`).
    pub node_name: String,
}

impl ServicesConfig {
    /// kubeadm's defaults around a pod subnet and its bridge.
    pub fn new(pod_cidr: Ipv4Net, bridge: impl Into<String>) -> Self {
        ServicesConfig {
            service_cidr: "10.96.0.0/12".parse().expect("a valid CIDR literal"),
            node_ports: (30000, 32767),
            cluster_domain: "cluster.local".into(),
            gateway: first_host(pod_cidr),
            pod_cidr,
            bridge: bridge.into(),
            api_port: 6443,
            dns_port: 53,
            nft_table: "nodelet".into(),
            upstream: Vec::new(),
            node_name: "localhost".into(),
        }
    }

    /// The `kubernetes` service's address: the range's first.
    pub fn kubernetes_ip(&self) -> Ipv4Addr {
        nth_host(self.service_cidr, 1)
    }

    /// The cluster DNS service's address: the range's tenth.
    pub fn dns_ip(&self) -> Ipv4Addr {
        nth_host(self.service_cidr, 10)
    }
}

/// The first usable address of a subnet: where the CNI bridge plugin puts
/// the gateway by default.
pub fn first_host(net: Ipv4Net) -> Ipv4Addr {
    nth_host(net, 1)
}

/// The `n`-th address after the network address.
pub fn nth_host(net: Ipv4Net, n: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net.network()).wrapping_add(n))
}

/// The `nameserver` lines of a resolv.conf as socket addresses on port
/// 53 (IPv6 ones too; unparsable ones are skipped).
pub fn upstream_servers(resolv: &nodelet_spec::dns::ResolvConf) -> Vec<SocketAddr> {
    resolv
        .nameservers
        .iter()
        .filter_map(|s| s.parse::<std::net::IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}
