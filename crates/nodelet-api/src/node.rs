//! The Node object for this machine: capacity from /proc, addresses,
//! nodeInfo, and a Ready condition (the agent answering is the evidence).

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, NodeAddress, NodeCondition, NodeStatus, NodeSystemInfo};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

use crate::discovery::{GIT_VERSION, node_arch};

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// The machine's hostname (the node name).
pub fn hostname() -> String {
    read("/proc/sys/kernel/hostname").unwrap_or_else(|| "localhost".into())
}

fn mem_total_kib() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn os_image() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
        })
        .unwrap_or_else(|| "Linux".into())
}

/// The address other hosts would reach us on: the source address of the
/// default route (no packet is sent by a UDP connect).
fn internal_ip() -> String {
    std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| {
            s.connect("192.0.2.1:9")?;
            s.local_addr()
        })
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|_| "127.0.0.1".into())
}

/// A uid that stays the same for the same node name across restarts.
pub fn stable_uid(name: &str) -> String {
    let mut h: u128 = 0x6c62272e07bb014262b821756295c58d;
    for b in name.bytes() {
        h ^= u128::from(b);
        h = h.wrapping_mul(0x0000000001000000000000000000013B);
    }
    uuid::Builder::from_random_bytes(h.to_be_bytes())
        .into_uuid()
        .to_string()
}

/// The node's allocatable cpu (millicores) and memory (bytes): the whole
/// machine, as `status.allocatable` reports it (no reservations).
pub fn allocatable() -> (i64, i64) {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let memory = mem_total_kib().unwrap_or(0).saturating_mul(1024);
    (
        i64::try_from(cpus).unwrap_or(i64::MAX).saturating_mul(1000),
        i64::try_from(memory).unwrap_or(i64::MAX),
    )
}

/// Builds the node object; `started` is when the agent started, `runtime`
/// the container runtime version string (`runc://1.1.5`).
pub fn this_node(started: Timestamp, runtime: &str, max_pods: u32) -> Node {
    let name = hostname();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut capacity = BTreeMap::new();
    capacity.insert("cpu".to_string(), Quantity(cpus.to_string()));
    capacity.insert(
        "memory".to_string(),
        Quantity(format!("{}Ki", mem_total_kib().unwrap_or(0))),
    );
    capacity.insert("pods".to_string(), Quantity(max_pods.to_string()));
    capacity.insert("ephemeral-storage".to_string(), Quantity("0".into()));
    let now = Time(Timestamp::now());
    let cond = |ty: &str, status: &str, reason: &str, message: &str| NodeCondition {
        type_: ty.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_heartbeat_time: Some(now.clone()),
        last_transition_time: Some(Time(started)),
    };
    let mut labels = BTreeMap::new();
    labels.insert("kubernetes.io/hostname".to_string(), name.clone());
    labels.insert("kubernetes.io/os".to_string(), "linux".to_string());
    labels.insert("kubernetes.io/arch".to_string(), node_arch().to_string());
    let machine_id = read("/etc/machine-id").unwrap_or_default();
    Node {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            labels: Some(labels),
            creation_timestamp: Some(Time(started)),
            uid: Some(stable_uid(&name)),
            resource_version: Some("1".into()),
            ..Default::default()
        },
        spec: None,
        status: Some(NodeStatus {
            allocatable: Some(capacity.clone()),
            capacity: Some(capacity),
            conditions: Some(vec![
                cond(
                    "MemoryPressure",
                    "False",
                    "KubeletHasSufficientMemory",
                    "kubelet has sufficient memory available",
                ),
                cond(
                    "DiskPressure",
                    "False",
                    "KubeletHasNoDiskPressure",
                    "kubelet has no disk pressure",
                ),
                cond(
                    "PIDPressure",
                    "False",
                    "KubeletHasSufficientPID",
                    "kubelet has sufficient PID available",
                ),
                cond(
                    "Ready",
                    "True",
                    "KubeletReady",
                    "nodelet is posting ready status",
                ),
            ]),
            addresses: Some(vec![
                NodeAddress {
                    type_: "InternalIP".into(),
                    address: internal_ip(),
                },
                NodeAddress {
                    type_: "Hostname".into(),
                    address: name,
                },
            ]),
            node_info: Some(NodeSystemInfo {
                architecture: node_arch().into(),
                boot_id: read("/proc/sys/kernel/random/boot_id").unwrap_or_default(),
                container_runtime_version: runtime.into(),
                kernel_version: read("/proc/sys/kernel/osrelease").unwrap_or_default(),
                kube_proxy_version: String::new(),
                kubelet_version: GIT_VERSION.into(),
                machine_id: machine_id.clone(),
                operating_system: "linux".into(),
                os_image: os_image(),
                system_uuid: machine_id,
                ..Default::default()
            }),
            ..Default::default()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_has_capacity_and_ready() {
        let n = this_node(Timestamp::now(), "runc://1.1.5", 110);
        let st = n.status.unwrap();
        let cap = st.capacity.unwrap();
        assert!(cap["memory"].0.ends_with("Ki"));
        assert_ne!(cap["memory"].0, "0Ki");
        assert_eq!(cap["pods"].0, "110");
        assert!(
            st.conditions
                .unwrap()
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        );
    }
}
