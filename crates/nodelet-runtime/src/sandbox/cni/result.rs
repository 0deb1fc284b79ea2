//! Reading a CNI 1.0.0 ADD result: which addresses the pod got.
//!
//! Results list every interface a plugin touched (the bridge, the host veth,
//! the pod's eth0); only addresses on interfaces inside the sandbox are pod
//! IPs. Kubernetes wants IPv4 first.

use std::net::IpAddr;

use serde_json::Value;

/// Pod IPs from an ADD result, IPv4 first, each once.
pub fn pod_ips(result: &Value) -> Vec<IpAddr> {
    let interfaces = result
        .get("interfaces")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let in_sandbox = |idx: Option<u64>| -> bool {
        match idx {
            // No interface index: the plugin did not say; take it.
            None => true,
            Some(i) => interfaces
                .get(i as usize)
                .and_then(|iface| iface.get("sandbox"))
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty()),
        }
    };
    let mut ips: Vec<IpAddr> = Vec::new();
    for entry in result
        .get("ips")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if !in_sandbox(entry.get("interface").and_then(Value::as_u64)) {
            continue;
        }
        let Some(addr) = entry.get("address").and_then(Value::as_str) else {
            continue;
        };
        let host = addr.split('/').next().unwrap_or(addr);
        if let Ok(ip) = host.parse::<IpAddr>()
            && !ips.contains(&ip)
        {
            ips.push(ip);
        }
    }
    // Stable: keeps the plugin's order within each family.
    ips.sort_by_key(|ip| ip.is_ipv6());
    ips
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn takes_sandbox_interface_addresses_ipv4_first() {
        let r = json!({
            "cniVersion": "1.0.0",
            "interfaces": [
                {"name": "nodelet0", "mac": "aa"},
                {"name": "veth1", "mac": "bb"},
                {"name": "eth0", "mac": "cc", "sandbox": "/run/nodelet/ns/x/net"}
            ],
            "ips": [
                {"interface": 2, "address": "fd00::5/64"},
                {"interface": 0, "address": "10.244.0.1/24"},
                {"interface": 2, "address": "10.244.0.5/24", "gateway": "10.244.0.1"}
            ]
        });
        let ips = pod_ips(&r);
        assert_eq!(
            ips,
            vec![
                "10.244.0.5".parse::<IpAddr>().unwrap(),
                "fd00::5".parse().unwrap()
            ]
        );
    }

    #[test]
    fn empty_result_has_no_ips() {
        assert!(pod_ips(&json!({"cniVersion": "1.0.0"})).is_empty());
    }
}
