//! Host facts and fixes pod networking depends on: the node's IP, IP
//! forwarding, bridge netfilter, and the binaries CNI plugins call.
//!
//! Problems are reported as sentences an operator can act on (naming the
//! Debian package to install), because a CNI plugin's own error for a
//! missing iptables or a disabled sysctl is cryptic.

use std::net::{IpAddr, UdpSocket};
use std::path::Path;

use super::cni::NetworkConfigList;
use super::cni::invoke::{CniInvoker, find_in_plugin_path};
use crate::error::{Result, RuntimeError};

const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";
const BRIDGE_NF: &str = "/proc/sys/net/bridge/bridge-nf-call-iptables";

/// The node's primary addresses (IPv4 first): the source address the kernel
/// picks for the default route. Found by `connect()`ing a UDP socket, which
/// only does a route lookup and sends nothing.
pub fn host_ips() -> Vec<IpAddr> {
    let mut ips = Vec::new();
    for (bind, probe) in [
        ("0.0.0.0:0", "1.1.1.1:53"),
        ("[::]:0", "[2606:4700:4700::1111]:53"),
    ] {
        // Any address outside the local subnets works: it is reached through
        // the default route. Nothing is sent to it.
        if let Ok(sock) = UdpSocket::bind(bind)
            && sock.connect(probe).is_ok()
            && let Ok(local) = sock.local_addr()
            && !local.ip().is_unspecified()
            && !local.ip().is_loopback()
        {
            ips.push(local.ip());
        }
    }
    ips
}

/// Problems that prevent the CNI network from working at all, each
/// described with its fix. Empty when the host is ready.
pub fn network_problems(list: &NetworkConfigList, invoker: &CniInvoker) -> Vec<String> {
    let mut problems = Vec::new();
    let mut types: Vec<&str> = list.plugin_types();
    types.push("loopback");
    for t in types {
        if let Err(e) = invoker.find_plugin(t) {
            problems.push(e.to_string());
        }
    }
    if list.needs_iptables() && find_in_plugin_path("iptables").is_none() {
        problems.push(
            "iptables not found: the CNI bridge (ipMasq) and portmap plugins run it; install the Debian package iptables"
                .to_string(),
        );
    }
    problems
}

/// Warnings that degrade networking without breaking it.
pub fn network_warnings() -> Vec<String> {
    let mut warnings = Vec::new();
    if !Path::new(BRIDGE_NF).exists() {
        warnings.push(
            "bridge netfilter (br_netfilter) is not loaded: a pod reaching another pod on the same bridge through a hostPort gets no reply; run `modprobe br_netfilter`"
                .to_string(),
        );
    }
    warnings
}

/// Makes sure the host forwards IPv4 packets, which a gateway bridge needs
/// to route pod traffic. Returns whether it had to be switched on (every
/// CNI bridge setup does this; the bridge plugin would too with isGateway).
pub fn ensure_ip_forward() -> Result<bool> {
    ensure_sysctl_on(IP_FORWARD, "net.ipv4.ip_forward")
}

/// Turns on bridge-nf-call-iptables when br_netfilter is loaded but it is
/// off (kubelet requires it for the same hairpin reason as above).
pub fn ensure_bridge_nf() -> Result<bool> {
    if !Path::new(BRIDGE_NF).exists() {
        return Ok(false);
    }
    ensure_sysctl_on(BRIDGE_NF, "net.bridge.bridge-nf-call-iptables")
}

fn ensure_sysctl_on(path: &str, name: &str) -> Result<bool> {
    let current = std::fs::read_to_string(path).map_err(|e| RuntimeError::io(path, e))?;
    if current.trim() == "1" {
        return Ok(false);
    }
    std::fs::write(path, b"1").map_err(|e| {
        RuntimeError::Host(format!(
            "{name} is off and could not be enabled ({e}): pod traffic cannot leave the bridge; set {name}=1"
        ))
    })?;
    tracing::warn!("enabled {name}=1 for the pod bridge network (as CNI bridge setups require)");
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_ips_are_not_loopback() {
        for ip in host_ips() {
            assert!(!ip.is_loopback() && !ip.is_unspecified(), "{ip}");
        }
    }
}
