//! The native pod network: what the CNI plugins loopback, bridge (with
//! host-local IPAM) and, for pods with hostPorts, portmap do for
//! nodelet's own default conflist, done in-process over rtnetlink.
//!
//! Why: through CNI every pod start runs four plugin processes (loopback,
//! bridge, host-local, portmap) and the bridge plugin's `ipMasq` runs
//! iptables three times under the xtables lock; every stop runs them again.
//! Here a pod's network is a dozen netlink requests and a few file
//! operations, and the masquerade is one rule for the whole subnet
//! installed once (see [`masq`]).
//!
//! What it does, matching the bridge plugin (containernetworking-plugins
//! 1.1) for `isGateway`, `ipMasq`, `hairpinMode` and no `mtu`:
//! - the bridge is created if missing (kernel defaults), set up, given
//!   the gateway as its address (another IPv4 address on it is an error,
//!   as the plugin's) and its MAC pinned to itself when that address is
//!   added;
//! - a veth pair `veth<8 hex>` / `eth0`, the pod end created directly in
//!   the pod's namespace (`IFLA_NET_NS_FD`); the host end attached to the
//!   bridge, up, in hairpin mode; kernel default MTUs (the plugin sets none
//!   without `mtu`);
//! - inside the namespace, on a dedicated thread that joined it (a netlink
//!   socket belongs to its creator's namespace; tokio's threads never
//!   change namespace): `lo` up, `arp_notify=1` (a gratuitous ARP when eth0
//!   comes up, where the plugin sends one itself) and IPv6 `accept_dad=0`
//!   (hairpin echoes duplicate-address probes) on eth0, the address, eth0
//!   up, the default route via the gateway;
//! - the lease is host-local's (see [`ipam`]), so either path can release
//!   what the other leased; the ADD result is shaped exactly like the
//!   plugin's (bridge, host veth, pod interface with `sandbox`; the pod IP
//!   on interface 2 with the gateway; route `0.0.0.0/0`), so pod IPs,
//!   portmap's `prevResult` and a later CNI DEL read it the same.
//!
//! IPv4 pod subnets only; an IPv6 or modified config goes through CNI.

pub mod ipam;
pub mod masq;
pub mod rtnl;

use std::fs::File;
use std::io::Read;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use nix::sched::CloneFlags;
use serde_json::{Value, json};

use super::cni::config::{CniOptions, NetworkConfigList, default_conflist};
use crate::error::{Result, RuntimeError};
use ipam::{Leases, Range};
use rtnl::{Link, Rtnl, format_mac};

/// Which way pod networks are made (`--pod-network`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PodNetwork {
    /// Native when the conflist in use is nodelet's own unmodified default
    /// with an IPv4 subnet, CNI otherwise.
    #[default]
    Auto,
    /// Always the CNI plugins of the conflist.
    Cni,
    /// Always native; refused at start unless the conflist is the default.
    Native,
}

impl PodNetwork {
    pub fn as_str(self) -> &'static str {
        match self {
            PodNetwork::Auto => "auto",
            PodNetwork::Cni => "cni",
            PodNetwork::Native => "native",
        }
    }
}

/// The native attachment of pods to nodelet's default bridge network.
#[derive(Debug)]
pub struct NativeNetwork {
    network_name: String,
    bridge: String,
    range: Range,
    leases: Leases,
    cni_version: String,
    masq_table: String,
    /// `CniOptions::bridge_routes`, parsed.
    routes: Vec<Range>,
    /// Whether this agent installed the masquerade table yet.
    masq_installed: Mutex<bool>,
}

impl NativeNetwork {
    /// The native network for `list` under `mode`, `None` when pods go
    /// through CNI. Forcing native on a config it cannot serve is an error
    /// naming the way out.
    pub fn choose(
        mode: PodNetwork,
        opts: &CniOptions,
        list: &NetworkConfigList,
    ) -> Result<Option<NativeNetwork>> {
        if mode == PodNetwork::Cni {
            return Ok(None);
        }
        let unmodified = default_conflist(opts).is_ok_and(|d| d == list.raw);
        let range = Range::from_cidr(&opts.subnet);
        let mut routes = Vec::new();
        for r in &opts.bridge_routes {
            routes.push(Range::from_cidr(r).ok_or_else(|| {
                RuntimeError::Host(format!(
                    "the route {r:?} onto the pod bridge is not an IPv4 CIDR"
                ))
            })?);
        }
        match (unmodified, range) {
            (true, Some(range)) => Ok(Some(NativeNetwork {
                routes,
                network_name: opts.network_name.clone(),
                bridge: opts.bridge.clone(),
                range,
                leases: Leases::new(&opts.ipam_data_dir(), &opts.network_name),
                cni_version: list.cni_version.clone(),
                masq_table: masq::table_name(&opts.network_name),
                masq_installed: Mutex::new(false),
            })),
            _ if mode == PodNetwork::Auto => Ok(None),
            (false, _) => Err(RuntimeError::Host(format!(
                "--pod-network native serves only nodelet's own default CNI config, and the conflist in use ({:?} in {}) is another or was modified: use --pod-network cni",
                list.name,
                opts.conf_dir.display()
            ))),
            (true, None) => Err(RuntimeError::Host(format!(
                "--pod-network native supports IPv4 pod subnets only, not {}: use --pod-network cni",
                opts.subnet
            ))),
        }
    }

    /// What keeps the native path from working on this host.
    pub fn host_problems(&self) -> Vec<String> {
        if masq::nft_available() {
            Vec::new()
        } else {
            vec![
                "nft not found: the native pod network masquerades pod egress with it; install the Debian package nftables (or use --pod-network cni)"
                    .to_string(),
            ]
        }
    }

    /// The node-wide masquerade, installed by the first pod of this agent
    /// (replacing what an earlier agent left, which is the same rule).
    pub fn ensure_masquerade(&self) -> Result<()> {
        let mut installed = self
            .masq_installed
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if !*installed {
            masq::install(&self.masq_table, &self.range)?;
            *installed = true;
        }
        Ok(())
    }

    /// Removes the node-wide masquerade and the routes onto the bridge
    /// (uninstalling).
    pub fn remove_masquerade(&self) -> Result<()> {
        let mut installed = self
            .masq_installed
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        masq::remove(&self.masq_table)?;
        *installed = false;
        if !self.routes.is_empty() {
            let mut host = Rtnl::open().map_err(net("opening a netlink socket"))?;
            if let Some(link) = host
                .link_by_name(&self.bridge)
                .map_err(net(&format!("reading {}", self.bridge)))?
            {
                for r in &self.routes {
                    host.del_route(r.network, r.prefix_len, link.index)
                        .map_err(net(&format!("removing the route of {}", r.cidr())))?;
                }
            }
        }
        Ok(())
    }

    pub fn masq_table(&self) -> &str {
        &self.masq_table
    }

    /// ADD: leases an address and attaches the namespace at `netns`
    /// (pinned) as `ifname`. Returns the CNI-shaped result. On failure
    /// nothing is left behind. Blocking.
    pub fn add(&self, id: &str, netns: &Path, ifname: &str) -> Result<Value> {
        self.ensure_masquerade()?;
        let ip = self.leases.allocate(&self.range, id, ifname)?;
        self.attach(netns, ifname, ip).inspect_err(|_| {
            if let Err(e) = self.leases.release(id, ifname) {
                tracing::warn!(container_id = %id, error = %e, "releasing the lease of a failed attachment");
            }
        })
    }

    fn attach(&self, netns: &Path, ifname: &str, ip: Ipv4Addr) -> Result<Value> {
        let mut host = Rtnl::open().map_err(net("opening a netlink socket"))?;
        let bridge = self.ensure_bridge(&mut host)?;
        let ns_file = File::open(netns).map_err(|e| RuntimeError::io(netns, e))?;
        let random = random_bytes()?;
        let host_mac = local_mac(&random[0..6]);
        let pod_mac = local_mac(&random[6..12]);
        let host_name = format!("veth{}", hex::encode(&random[12..16]));
        host.add_veth(&host_name, host_mac, ifname, pod_mac, ns_file.as_raw_fd())
            .map_err(net(&format!("creating veth {host_name} / {ifname}")))?;
        drop(ns_file);

        let configured = self.configure(&mut host, &host_name, bridge.index, netns, ifname, ip);
        let bridge = match configured {
            Ok(b) => b,
            Err(e) => {
                if let Err(d) = host.del_link(&host_name) {
                    tracing::warn!(veth = %host_name, error = %d, "removing the veth of a failed attachment");
                }
                return Err(e);
            }
        };
        Ok(json!({
            "cniVersion": self.cni_version,
            "interfaces": [
                {"name": self.bridge, "mac": format_mac(&bridge.mac)},
                {"name": host_name, "mac": format_mac(&host_mac)},
                {"name": ifname, "mac": format_mac(&pod_mac), "sandbox": netns},
            ],
            "ips": [{
                "interface": 2,
                "address": format!("{ip}/{}", self.range.prefix_len),
                "gateway": self.range.gateway.to_string(),
            }],
            "routes": [{"dst": "0.0.0.0/0"}],
            "dns": {},
        }))
    }

    /// Everything after the veth exists: the host end on the bridge, the
    /// pod end inside. Returns the bridge as it is now (the plugin reads it
    /// again: its MAC may have changed with the first port).
    fn configure(
        &self,
        host: &mut Rtnl,
        host_name: &str,
        bridge_index: u32,
        netns: &Path,
        ifname: &str,
        ip: Ipv4Addr,
    ) -> Result<Link> {
        let veth = host
            .link_by_name(host_name)
            .map_err(net(&format!("reading {host_name}")))?
            .ok_or_else(|| RuntimeError::Network(format!("{host_name} vanished")))?;
        host.set_up(veth.index, Some(bridge_index))
            .map_err(net(&format!("attaching {host_name} to {}", self.bridge)))?;
        host.set_hairpin(veth.index)
            .map_err(net(&format!("hairpin mode on {host_name}")))?;
        let range = self.range;
        let pod_if = ifname.to_string();
        in_netns(netns, move || configure_pod(&pod_if, ip, &range))?;
        host.link_by_name(&self.bridge)
            .map_err(net(&format!("reading {}", self.bridge)))?
            .ok_or_else(|| RuntimeError::Network(format!("{} vanished", self.bridge)))
    }

    /// The bridge, made and addressed as the plugin's `isGateway` does.
    fn ensure_bridge(&self, host: &mut Rtnl) -> Result<Link> {
        let name = &self.bridge;
        let link = match host
            .link_by_name(name)
            .map_err(net(&format!("reading {name}")))?
        {
            Some(l) => l,
            None => {
                host.add_bridge(name)
                    .map_err(net(&format!("creating bridge {name}")))?;
                host.link_by_name(name)
                    .map_err(net(&format!("reading {name}")))?
                    .ok_or_else(|| RuntimeError::Network(format!("bridge {name} vanished")))?
            }
        };
        if link.kind.as_deref() != Some("bridge") {
            return Err(RuntimeError::Network(format!(
                "{name:?} already exists but is not a bridge"
            )));
        }
        if !link.up {
            host.set_up(link.index, None)
                .map_err(net(&format!("setting {name} up")))?;
        }
        let gateway = (self.range.gateway, self.range.prefix_len);
        let addrs = host
            .ipv4_addresses(link.index)
            .map_err(net(&format!("reading the addresses of {name}")))?;
        if !addrs.contains(&gateway) {
            if !addrs.is_empty() {
                return Err(RuntimeError::Network(format!(
                    "{name:?} already has an IP address different from {}/{}",
                    gateway.0, gateway.1
                )));
            }
            host.add_ipv4_address(link.index, gateway.0, gateway.1, self.range.broadcast())
                .map_err(net(&format!(
                    "adding {}/{} to {name}",
                    gateway.0, gateway.1
                )))?;
            host.set_mac(link.index, &link.mac)
                .map_err(net(&format!("pinning the MAC of {name}")))?;
        }
        // Replaced on every attachment: one round trip, and a route lost
        // with a re-made bridge comes back with its next pod.
        for r in &self.routes {
            host.replace_route(r.network, r.prefix_len, link.index, gateway.0)
                .map_err(net(&format!("routing {} onto {name}", r.cidr())))?;
        }
        Ok(link)
    }

    /// DEL: removes the veth pair and releases the lease; idempotent. The
    /// veth is found by the host name in `result` (either end removes
    /// both), else as `ifname` inside `netns`; without either the
    /// namespace is gone and the pair with it. `plugin_made`: the bridge
    /// plugin made this attachment, so its per-pod masquerade chain goes
    /// too. Every step runs; the first error is returned. Blocking.
    pub fn del(
        &self,
        id: &str,
        netns: Option<&Path>,
        ifname: &str,
        result: Option<&Value>,
        plugin_made: bool,
    ) -> Result<()> {
        let mut first_err: Option<RuntimeError> = None;
        let mut note = |r: Result<()>| {
            if let Err(e) = r {
                tracing::warn!(container_id = %id, error = %e, "native network DEL");
                first_err.get_or_insert(e);
            }
        };
        match (result.and_then(|r| host_veth(r, &self.bridge)), netns) {
            (Some(veth), _) => note(del_link(&veth)),
            (None, Some(ns)) => {
                let pod_if = ifname.to_string();
                note(in_netns(ns, move || del_link(&pod_if)));
            }
            (None, None) => {}
        }
        note(self.leases.release(id, ifname).map(drop));
        if plugin_made && let Some(r) = result {
            for ip in result_ipv4s(r) {
                note(masq::remove_plugin_chain(
                    &self.network_name,
                    id,
                    &ip.to_string(),
                ));
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// CHECK: the lease, the pod interface with its address, and the host
    /// veth on the bridge are all still there. Blocking.
    pub fn check(&self, id: &str, netns: &Path, ifname: &str, result: &Value) -> Result<()> {
        let ips = result_ipv4s(result);
        let Some(&ip) = ips.first() else {
            return Err(RuntimeError::Network(
                "the ADD result has no IPv4 address".into(),
            ));
        };
        if !self.leases.held_by(id, ifname)?.contains(&ip) {
            return Err(RuntimeError::Network(format!(
                "no IPAM lease of {ip} for {id}/{ifname}"
            )));
        }
        let prefix = self.range.prefix_len;
        let pod_if = ifname.to_string();
        in_netns(netns, move || {
            let mut pod = Rtnl::open().map_err(net("opening a netlink socket"))?;
            let link = pod
                .link_by_name(&pod_if)
                .map_err(net(&format!("reading {pod_if}")))?
                .ok_or_else(|| RuntimeError::Network(format!("{pod_if} is missing in the pod")))?;
            let addrs = pod
                .ipv4_addresses(link.index)
                .map_err(net(&format!("reading the addresses of {pod_if}")))?;
            if !addrs.contains(&(ip, prefix)) {
                return Err(RuntimeError::Network(format!(
                    "{pod_if} lost its address {ip}/{prefix}"
                )));
            }
            Ok(())
        })?;
        let veth = host_veth(result, &self.bridge)
            .ok_or_else(|| RuntimeError::Network("the ADD result names no host veth".into()))?;
        let mut host = Rtnl::open().map_err(net("opening a netlink socket"))?;
        let bridge = host
            .link_by_name(&self.bridge)
            .map_err(net(&format!("reading {}", self.bridge)))?
            .ok_or_else(|| RuntimeError::Network(format!("bridge {} is missing", self.bridge)))?;
        let port = host
            .link_by_name(&veth)
            .map_err(net(&format!("reading {veth}")))?
            .ok_or_else(|| RuntimeError::Network(format!("{veth} is missing")))?;
        if port.master != Some(bridge.index) {
            return Err(RuntimeError::Network(format!(
                "{veth} is not attached to {}",
                self.bridge
            )));
        }
        Ok(())
    }
}

/// The pod side, run inside the pod's network namespace.
fn configure_pod(ifname: &str, ip: Ipv4Addr, range: &Range) -> Result<()> {
    let mut pod = Rtnl::open().map_err(net("opening a netlink socket in the pod"))?;
    let lo = pod
        .link_by_name("lo")
        .map_err(net("reading lo"))?
        .ok_or_else(|| RuntimeError::Network("the pod has no lo".into()))?;
    pod.set_up(lo.index, None).map_err(net("setting lo up"))?;
    let eth = pod
        .link_by_name(ifname)
        .map_err(net(&format!("reading {ifname}")))?
        .ok_or_else(|| RuntimeError::Network(format!("{ifname} did not appear in the pod")))?;
    // Before the link is up, so they apply to its first packets.
    write_sysctl(&format!("/proc/sys/net/ipv4/conf/{ifname}/arp_notify"), "1")?;
    let dad = format!("/proc/sys/net/ipv6/conf/{ifname}/accept_dad");
    if Path::new(&dad).exists() {
        write_sysctl(&dad, "0")?;
    }
    pod.add_ipv4_address(eth.index, ip, range.prefix_len, range.broadcast())
        .map_err(net(&format!(
            "adding {ip}/{} to {ifname}",
            range.prefix_len
        )))?;
    pod.set_up(eth.index, None)
        .map_err(net(&format!("setting {ifname} up")))?;
    pod.add_default_route(eth.index, range.gateway)
        .map_err(net(&format!(
            "adding the default route via {}",
            range.gateway
        )))?;
    Ok(())
}

/// Deletes a link of the calling thread's namespace; gone already is fine.
fn del_link(name: &str) -> Result<()> {
    let mut rtnl = Rtnl::open().map_err(net("opening a netlink socket"))?;
    rtnl.del_link(name)
        .map(drop)
        .map_err(net(&format!("deleting {name}")))
}

fn write_sysctl(path: &str, value: &str) -> Result<()> {
    std::fs::write(path, value).map_err(|e| RuntimeError::io(path, e))
}

/// Runs `f` on a new OS thread that joined the network namespace pinned at
/// `netns` and dies afterwards, so no other code ever runs in the pod's
/// namespace by mistake.
pub fn in_netns<T: Send + 'static>(
    netns: &Path,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let file = File::open(netns).map_err(|e| RuntimeError::io(netns, e))?;
    let path: PathBuf = netns.to_path_buf();
    std::thread::Builder::new()
        .name("nodelet-podnet".into())
        .spawn(move || {
            nix::sched::setns(&file, CloneFlags::CLONE_NEWNET).map_err(|e| {
                RuntimeError::Network(format!(
                    "joining the pod network namespace {}: {e}",
                    path.display()
                ))
            })?;
            drop(file);
            f()
        })
        .map_err(|e| RuntimeError::Other(format!("spawning the pod network thread: {e}")))?
        .join()
        .map_err(|_| RuntimeError::Other("the pod network thread panicked".into()))?
}

/// The host veth named in an ADD result: the interface without `sandbox`
/// that is not the bridge.
pub fn host_veth(result: &Value, bridge: &str) -> Option<String> {
    result
        .get("interfaces")?
        .as_array()?
        .iter()
        .filter(|i| {
            i.get("sandbox")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
        })
        .filter_map(|i| i.get("name").and_then(Value::as_str))
        .find(|n| *n != bridge)
        .map(str::to_string)
}

/// The IPv4 addresses of an ADD result.
fn result_ipv4s(result: &Value) -> Vec<Ipv4Addr> {
    result
        .get("ips")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("address").and_then(Value::as_str))
        .filter_map(|a| a.split('/').next()?.parse().ok())
        .collect()
}

fn random_bytes() -> Result<[u8; 16]> {
    let mut bytes = [0u8; 16];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| RuntimeError::io("/dev/urandom", e))?;
    Ok(bytes)
}

/// A random locally administered unicast MAC (what the kernel would pick).
fn local_mac(random: &[u8]) -> [u8; 6] {
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&random[..6]);
    mac[0] = (mac[0] & 0xfe) | 0x02;
    mac
}

/// Maps a netlink error to a network error saying what was being done.
fn net(what: &str) -> impl Fn(std::io::Error) -> RuntimeError + '_ {
    move |e| RuntimeError::Network(format!("{what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(dir: &Path) -> CniOptions {
        CniOptions {
            conf_dir: dir.join("conf"),
            cache_dir: dir.join("cache"),
            ..CniOptions::default()
        }
    }

    fn list(raw: Value) -> NetworkConfigList {
        NetworkConfigList::from_value(raw).unwrap()
    }

    #[test]
    fn auto_is_native_only_for_the_unmodified_default() {
        let dir = tempfile::tempdir().unwrap();
        let o = opts(dir.path());
        let default = default_conflist(&o).unwrap();
        let native = NativeNetwork::choose(PodNetwork::Auto, &o, &list(default.clone())).unwrap();
        let native = native.unwrap();
        assert_eq!(native.masq_table(), "nodelet-pods-nodelet");
        assert!(
            NativeNetwork::choose(PodNetwork::Cni, &o, &list(default.clone()))
                .unwrap()
                .is_none()
        );
        let mut edited = default.clone();
        edited["plugins"][0]["hairpinMode"] = json!(false);
        assert!(
            NativeNetwork::choose(PodNetwork::Auto, &o, &list(edited.clone()))
                .unwrap()
                .is_none()
        );
        let e = NativeNetwork::choose(PodNetwork::Native, &o, &list(edited)).unwrap_err();
        assert!(e.to_string().contains("use --pod-network cni"), "{e}");
        let v6 = CniOptions {
            subnet: "fd00:10::/64".into(),
            ..o.clone()
        };
        let v6_default = default_conflist(&v6).unwrap();
        assert!(
            NativeNetwork::choose(PodNetwork::Auto, &v6, &list(v6_default.clone()))
                .unwrap()
                .is_none()
        );
        let e = NativeNetwork::choose(PodNetwork::Native, &v6, &list(v6_default)).unwrap_err();
        assert!(e.to_string().contains("IPv4 pod subnets only"), "{e}");
    }

    #[test]
    fn results_name_the_host_veth_and_addresses() {
        let r = json!({
            "interfaces": [
                {"name": "nodelet0", "mac": "aa"},
                {"name": "veth0011aabb", "mac": "bb"},
                {"name": "eth0", "mac": "cc", "sandbox": "/run/x/net"}
            ],
            "ips": [{"interface": 2, "address": "10.244.0.9/24", "gateway": "10.244.0.1"}]
        });
        assert_eq!(host_veth(&r, "nodelet0").as_deref(), Some("veth0011aabb"));
        assert_eq!(result_ipv4s(&r), vec![Ipv4Addr::new(10, 244, 0, 9)]);
        assert_eq!(host_veth(&json!({}), "nodelet0"), None);
    }

    #[test]
    fn macs_are_local_unicast() {
        let mac = local_mac(&[0xff; 6]);
        assert_eq!(mac[0] & 0x01, 0);
        assert_eq!(mac[0] & 0x02, 0x02);
    }
}
