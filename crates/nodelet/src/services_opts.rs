//! The command line of Services in standalone mode (`run`, `serve`): the
//! service range, node ports, cluster domain, the host resolv.conf, and
//! how the agent wires the services controller, the cluster DNS settings
//! of pods and the API's allocation from them.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use nodelet_services::{Services, ServicesConfig};

#[derive(Debug, Clone, Args)]
pub struct ServicesOpts {
    /// Range of Service cluster IPs (kube-apiserver's --service-cluster-ip-range).
    #[arg(long, env = "NODELET_SERVICE_CIDR", default_value = "10.96.0.0/12", value_parser = parse_cidr)]
    pub service_cidr: ipnet::Ipv4Net,
    /// Range of NodePorts, inclusive (kube-apiserver's --service-node-port-range).
    #[arg(long, env = "NODELET_SERVICE_NODE_PORT_RANGE", default_value = "30000-32767", value_parser = parse_port_range)]
    pub service_node_port_range: (u16, u16),
    /// DNS domain of the cluster (the kubelet's --cluster-domain).
    #[arg(long, env = "NODELET_CLUSTER_DOMAIN", default_value = "cluster.local")]
    pub cluster_domain: String,
    /// The host resolver file pods with dnsPolicy Default get, and where
    /// the cluster DNS forwards other names (the kubelet's --resolv-conf).
    #[arg(long, env = "NODELET_RESOLV_CONF", default_value = "/etc/resolv.conf")]
    pub resolv_conf: PathBuf,
    /// nftables table (family ip) for the Service data plane; default
    /// `nodelet`, or `nodelet-<bridge>` with a custom --cni-bridge.
    #[arg(long, env = "NODELET_NFT_TABLE", hide = true)]
    pub nft_table: Option<String>,
    /// Route the service range onto nodelet's pod bridge (native pod
    /// network), so the host reaches cluster IPs over the bridge their
    /// endpoints are behind rather than through its default route and a
    /// re-route after DNAT; `false` leaves the range to the host's routes,
    /// as kube-proxy does.
    #[arg(long, env = "NODELET_SERVICE_ROUTE", default_value_t = true, action = clap::ArgAction::Set)]
    pub service_route: bool,
}

fn parse_cidr(s: &str) -> Result<ipnet::Ipv4Net, String> {
    let net: ipnet::Ipv4Net = s
        .parse()
        .map_err(|e| format!("not an IPv4 CIDR like 10.96.0.0/12: {e}"))?;
    if net.prefix_len() > 28 {
        return Err("the range must be /28 or larger".into());
    }
    Ok(net.trunc())
}

fn parse_port_range(s: &str) -> Result<(u16, u16), String> {
    let (a, b) = s
        .split_once('-')
        .ok_or_else(|| "expected a range like 30000-32767".to_string())?;
    let a: u16 = a.trim().parse().map_err(|e| format!("{a}: {e}"))?;
    let b: u16 = b.trim().parse().map_err(|e| format!("{b}: {e}"))?;
    if a == 0 || b < a {
        return Err("expected LOW-HIGH with 0 < LOW <= HIGH".into());
    }
    Ok((a, b))
}

/// The host's resolver configuration (an unreadable file is an empty one,
/// as the kubelet treats a missing --resolv-conf).
pub fn host_resolv(opts: &ServicesOpts) -> nodelet_spec::dns::ResolvConf {
    let text = std::fs::read_to_string(&opts.resolv_conf).unwrap_or_default();
    nodelet_spec::dns::ResolvConf::parse(&text)
}

/// The services configuration for an agent on `subnet` / `bridge`.
pub fn config(
    opts: &ServicesOpts,
    subnet: &str,
    bridge: &str,
    custom_bridge: bool,
    node_name: &str,
) -> anyhow::Result<ServicesConfig> {
    let pod_cidr: ipnet::Ipv4Net = subnet
        .parse()
        .with_context(|| format!("the pod subnet {subnet:?} is not an IPv4 CIDR"))?;
    let mut cfg = ServicesConfig::new(pod_cidr.trunc(), bridge);
    cfg.service_cidr = opts.service_cidr;
    cfg.node_ports = opts.service_node_port_range;
    cfg.cluster_domain = opts.cluster_domain.trim_end_matches('.').to_owned();
    cfg.upstream = nodelet_services::config::upstream_servers(&host_resolv(opts));
    cfg.node_name = node_name.to_owned();
    cfg.nft_table = opts.nft_table.clone().unwrap_or_else(|| {
        if custom_bridge {
            format!("nodelet-{bridge}")
        } else {
            "nodelet".into()
        }
    });
    Ok(cfg)
}

/// What pods' resolv.conf is made from: the cluster DNS service address.
pub fn cluster_dns(opts: &ServicesOpts, cfg: &ServicesConfig) -> nodelet_spec::dns::ClusterDns {
    nodelet_spec::dns::ClusterDns {
        servers: vec![cfg.dns_ip().to_string()],
        domain: cfg.cluster_domain.clone(),
        host: host_resolv(opts),
    }
}

/// The API's allocation ranges.
pub fn ranges(cfg: &ServicesConfig) -> nodelet_api::service_alloc::ServiceRanges {
    nodelet_api::service_alloc::ServiceRanges {
        network: cfg.service_cidr.network(),
        prefix: cfg.service_cidr.prefix_len(),
        node_ports: cfg.node_ports,
    }
}

/// The names pods reach the API by, for its serving certificate:
/// kube-apiserver's `kubernetes`, `kubernetes.default`,
/// `kubernetes.default.svc`, `kubernetes.default.svc.<domain>`, the
/// service's cluster IP, and the bridge address behind it.
pub fn api_server_names(cfg: &ServicesConfig) -> nodelet_api::pki::ServerNames {
    nodelet_api::pki::ServerNames {
        dns: vec![
            "kubernetes".into(),
            "kubernetes.default".into(),
            "kubernetes.default.svc".into(),
            format!("kubernetes.default.svc.{}", cfg.cluster_domain),
        ],
        ips: vec![cfg.kubernetes_ip().into(), cfg.gateway.into()],
    }
}

/// Whether bridged pod-to-pod traffic passes the IPv4 netfilter hooks
/// (br_netfilter, `net.bridge.bridge-nf-call-iptables`); tries to turn it
/// on. Without it a reply from a pod on the same bridge would bypass the
/// reverse NAT, so all service traffic is masqueraded instead.
pub fn bridged_traffic_is_filtered() -> bool {
    let p = "/proc/sys/net/bridge/bridge-nf-call-iptables";
    if std::fs::read_to_string(p)
        .map(|s| s.trim() == "1")
        .unwrap_or(false)
    {
        return true;
    }
    let _ = std::fs::write(p, "1");
    std::fs::read_to_string(p)
        .map(|s| s.trim() == "1")
        .unwrap_or(false)
}

/// Starts the services controller for an agent.
pub async fn start(
    agent: &crate::agent::Agent,
    cfg: ServicesConfig,
    services_changed: Arc<tokio::sync::Notify>,
) -> anyhow::Result<Services> {
    let filtered = bridged_traffic_is_filtered();
    if !filtered {
        eprintln!(
            "warning: bridged traffic does not pass netfilter (br_netfilter off): Service traffic is masqueraded, pods see the bridge address as the client"
        );
    }
    let table = cfg.nft_table.clone();
    Services::start(
        agent.engine.clone(),
        agent.store.clone(),
        cfg,
        nodelet_services::controller::Wiring {
            services_changed,
            masquerade_all: !filtered,
            serve_dns: true,
        },
    )
    .await
    .with_context(|| {
        format!("starting Services (nftables table ip {table}; `apt-get install nftables`)")
    })
}

/// A TCP listener on `addr` that may bind before the address exists (the
/// pod bridge's address appears with the first pod).
pub fn freebind_listener(addr: std::net::SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    s.set_freebind_v4(true)?;
    s.set_reuse_address(true)?;
    s.bind(&addr.into())?;
    s.listen(1024)?;
    s.set_nonblocking(true)?;
    Ok(s.into())
}
