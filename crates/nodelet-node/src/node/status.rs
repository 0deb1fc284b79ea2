//! The Node object and its status as the kubelet's status setters compute
//! them (`pkg/kubelet/nodestatus/setters.go`, `kubelet_node_status.go`):
//! addresses, capacity and allocatable, nodeInfo, the daemon endpoint,
//! images, declared features and the four conditions with the kubelet's
//! reasons and messages. Pure: the inputs are the host facts, the pressure
//! signals, readiness errors and the previous status (transition times
//! move only on change), so it is tested without a cluster.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{
    ContainerImage, DaemonEndpoint, Node, NodeAddress, NodeCondition, NodeDaemonEndpoints,
    NodeSpec, NodeStatus, NodeSystemInfo,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

use crate::config::{DECLARED_FEATURES, KUBELET_VERSION, NodeConfig};
use crate::host::{HostInfo, Pressure};

/// Everything the status is computed from at one moment.
pub struct StatusInputs<'a> {
    pub cfg: &'a NodeConfig,
    pub host: &'a HostInfo,
    pub pressure: Pressure,
    /// Why the node is not ready (runtime, network); empty when it is.
    pub not_ready: Vec<String>,
    /// Images in the store: (names, size in bytes).
    pub images: Vec<(Vec<String>, i64)>,
    pub now: Timestamp,
}

/// The kubelet lists at most this many images (`nodeStatusMaxImages`).
const MAX_IMAGES: usize = 50;

/// A condition transition the kubelet records as a node event
/// (`Node <name> status is now: <event>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusEvent(pub &'static str);

/// The Node to register: name, the kubelet's default labels plus
/// `--node-labels`, and a full status.
pub fn initial_node(inp: &StatusInputs<'_>) -> (Node, Vec<StatusEvent>) {
    let cfg = inp.cfg;
    let mut labels = BTreeMap::new();
    labels.insert("kubernetes.io/hostname".into(), cfg.node_name.clone());
    labels.insert("kubernetes.io/os".into(), "linux".into());
    labels.insert("kubernetes.io/arch".into(), inp.host.architecture.into());
    labels.insert("beta.kubernetes.io/os".into(), "linux".into());
    labels.insert(
        "beta.kubernetes.io/arch".into(),
        inp.host.architecture.into(),
    );
    for (k, v) in &cfg.node_labels {
        labels.insert(k.clone(), v.clone());
    }
    let (status, events) = node_status(inp, None);
    let node = Node {
        metadata: ObjectMeta {
            name: Some(cfg.node_name.clone()),
            labels: Some(labels),
            ..Default::default()
        },
        spec: Some(NodeSpec::default()),
        status: Some(status),
    };
    (node, events)
}

fn q(s: impl Into<String>) -> Quantity {
    Quantity(s.into())
}

/// Capacity and allocatable: allocatable keeps the memory and nodefs hard
/// eviction thresholds back (no system/kube reserved by default), as the
/// kubelet's `GetNodeAllocatableReservation`.
fn resources(
    cfg: &NodeConfig,
    host: &HostInfo,
) -> (BTreeMap<String, Quantity>, BTreeMap<String, Quantity>) {
    let mut cap = BTreeMap::new();
    cap.insert("cpu".to_string(), q(host.cpus.to_string()));
    cap.insert(
        "memory".to_string(),
        q(format!("{}Ki", host.memory_bytes / 1024)),
    );
    cap.insert(
        "ephemeral-storage".to_string(),
        q(format!("{}Ki", host.ephemeral_storage_bytes / 1024)),
    );
    cap.insert("pods".to_string(), q(cfg.max_pods.to_string()));
    let mut alloc = cap.clone();
    let mem = host
        .memory_bytes
        .saturating_sub(cfg.eviction.memory_available.amount(host.memory_bytes));
    alloc.insert("memory".to_string(), q(format!("{}Ki", mem / 1024)));
    let storage = host.ephemeral_storage_bytes.saturating_sub(
        cfg.eviction
            .nodefs_available
            .amount(host.ephemeral_storage_bytes),
    );
    alloc.insert("ephemeral-storage".to_string(), q(storage.to_string()));
    (cap, alloc)
}

/// One pressure condition: `(type, event when true, reason/message when
/// true, event when false, reason/message when false)`.
struct PressureKind {
    type_: &'static str,
    on: (&'static str, &'static str, &'static str),
    off: (&'static str, &'static str, &'static str),
}

const PRESSURES: [PressureKind; 3] = [
    PressureKind {
        type_: "MemoryPressure",
        on: (
            "NodeHasInsufficientMemory",
            "KubeletHasInsufficientMemory",
            "kubelet has insufficient memory available",
        ),
        off: (
            "NodeHasSufficientMemory",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available",
        ),
    },
    PressureKind {
        type_: "DiskPressure",
        on: (
            "NodeHasDiskPressure",
            "KubeletHasDiskPressure",
            "kubelet has disk pressure",
        ),
        off: (
            "NodeHasNoDiskPressure",
            "KubeletHasNoDiskPressure",
            "kubelet has no disk pressure",
        ),
    },
    PressureKind {
        type_: "PIDPressure",
        on: (
            "NodeHasInsufficientPID",
            "KubeletHasInsufficientPID",
            "kubelet has insufficient PID available",
        ),
        off: (
            "NodeHasSufficientPID",
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available",
        ),
    },
];

/// The conditions, in the kubelet's order (Ready last), with transition
/// times kept from `prev` while the status stays the same.
fn conditions(
    inp: &StatusInputs<'_>,
    prev: &[NodeCondition],
) -> (Vec<NodeCondition>, Vec<StatusEvent>) {
    let now = Time(inp.now);
    let mut out = Vec::new();
    let mut events = Vec::new();
    let signals = [inp.pressure.memory, inp.pressure.disk, inp.pressure.pid];
    for (kind, on) in PRESSURES.iter().zip(signals) {
        let (event, reason, message) = if on { kind.on } else { kind.off };
        let status = if on { "True" } else { "False" };
        let old = prev.iter().find(|c| c.type_ == kind.type_);
        let transition = match old {
            Some(c) if c.status == status => c.last_transition_time.clone(),
            _ => {
                events.push(StatusEvent(event));
                Some(now.clone())
            }
        };
        out.push(NodeCondition {
            type_: kind.type_.into(),
            status: status.into(),
            reason: Some(reason.into()),
            message: Some(message.into()),
            last_heartbeat_time: Some(now.clone()),
            last_transition_time: transition,
        });
    }
    let (status, reason, message) = if inp.not_ready.is_empty() {
        (
            "True",
            "KubeletReady",
            "kubelet is posting ready status".to_string(),
        )
    } else {
        ("False", "KubeletNotReady", inp.not_ready.join(", "))
    };
    let old = prev.iter().find(|c| c.type_ == "Ready");
    let transition = match old {
        Some(c) if c.status == status => c.last_transition_time.clone(),
        _ => {
            // The kubelet records NodeReady/NodeNotReady only on a change
            // of an existing condition.
            if old.is_some() {
                events.push(StatusEvent(if status == "True" {
                    "NodeReady"
                } else {
                    "NodeNotReady"
                }));
            }
            Some(now.clone())
        }
    };
    out.push(NodeCondition {
        type_: "Ready".into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_heartbeat_time: Some(now),
        last_transition_time: transition,
    });
    (out, events)
}

/// The full status; `prev` is the status last reported (or the API
/// server's), whose condition transition times carry over.
pub fn node_status(
    inp: &StatusInputs<'_>,
    prev: Option<&NodeStatus>,
) -> (NodeStatus, Vec<StatusEvent>) {
    let cfg = inp.cfg;
    let host = inp.host;
    let (capacity, allocatable) = resources(cfg, host);
    let prev_conds = prev.and_then(|p| p.conditions.as_deref()).unwrap_or(&[]);
    let (conds, events) = conditions(inp, prev_conds);
    let mut images: Vec<ContainerImage> = inp
        .images
        .iter()
        .map(|(names, size)| ContainerImage {
            names: Some(names.clone()),
            size_bytes: Some(*size),
        })
        .collect();
    // The kubelet reports the largest images first.
    images.sort_by_key(|i| std::cmp::Reverse(i.size_bytes));
    images.truncate(MAX_IMAGES);
    let status = NodeStatus {
        addresses: Some(vec![
            NodeAddress {
                type_: "InternalIP".into(),
                address: cfg.node_ip.to_string(),
            },
            NodeAddress {
                type_: "Hostname".into(),
                address: host.hostname.clone(),
            },
        ]),
        allocatable: Some(allocatable),
        capacity: Some(capacity),
        conditions: Some(conds),
        daemon_endpoints: Some(NodeDaemonEndpoints {
            kubelet_endpoint: Some(DaemonEndpoint {
                port: i32::from(cfg.listen.port()),
            }),
        }),
        declared_features: Some(DECLARED_FEATURES.iter().map(|s| s.to_string()).collect()),
        images: (!images.is_empty()).then_some(images),
        node_info: Some(NodeSystemInfo {
            architecture: host.architecture.into(),
            boot_id: host.boot_id.clone(),
            container_runtime_version: cfg.runtime_version.clone(),
            kernel_version: host.kernel_version.clone(),
            kube_proxy_version: String::new(),
            kubelet_version: KUBELET_VERSION.into(),
            machine_id: host.machine_id.clone(),
            operating_system: "linux".into(),
            os_image: host.os_image.clone(),
            system_uuid: host.system_uuid.clone(),
            ..Default::default()
        }),
        ..Default::default()
    };
    (status, events)
}

/// `nodeStatusHasChanged`: anything but the conditions' heartbeat times.
pub fn status_changed(old: &NodeStatus, new: &NodeStatus) -> bool {
    let strip = |s: &NodeStatus| {
        let mut s = s.clone();
        if let Some(conds) = s.conditions.as_mut() {
            for c in conds.iter_mut() {
                c.last_heartbeat_time = None;
            }
            conds.sort_by(|a, b| a.type_.cmp(&b.type_));
        }
        s
    };
    strip(old) != strip(new)
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};
    use std::path::PathBuf;

    use super::*;

    fn host() -> HostInfo {
        HostInfo {
            cpus: 2,
            memory_bytes: 4 * 1024 * 1024 * 1024,
            ephemeral_storage_bytes: 100 * 1024 * 1024 * 1024,
            kernel_version: "6.1.0".into(),
            os_image: "Debian GNU/Linux 12 (bookworm)".into(),
            machine_id: "m".into(),
            system_uuid: "u".into(),
            boot_id: "b".into(),
            hostname: "host".into(),
            architecture: "amd64",
        }
    }

    fn cfg() -> NodeConfig {
        NodeConfig::new(
            "node-1",
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            PathBuf::from("/var/lib/nodelet"),
        )
    }

    fn inputs<'a>(cfg: &'a NodeConfig, host: &'a HostInfo, at: i64) -> StatusInputs<'a> {
        StatusInputs {
            cfg,
            host,
            pressure: Pressure::default(),
            not_ready: Vec::new(),
            images: Vec::new(),
            now: Timestamp::from_second(at).unwrap(),
        }
    }

    fn cond<'a>(s: &'a NodeStatus, t: &str) -> &'a NodeCondition {
        s.conditions
            .as_ref()
            .unwrap()
            .iter()
            .find(|c| c.type_ == t)
            .unwrap()
    }

    #[test]
    fn registers_what_the_api_server_needs() {
        let (cfg, host) = (cfg(), host());
        let (node, events) = initial_node(&inputs(&cfg, &host, 1000));
        assert_eq!(node.metadata.name.as_deref(), Some("node-1"));
        let labels = node.metadata.labels.unwrap();
        assert_eq!(labels["kubernetes.io/hostname"], "node-1");
        assert_eq!(labels["kubernetes.io/os"], "linux");
        let st = node.status.unwrap();
        let addrs = st.addresses.as_ref().unwrap();
        assert_eq!(addrs[0].type_, "InternalIP");
        assert_eq!(addrs[0].address, "127.0.0.1");
        assert_eq!(addrs[1].type_, "Hostname");
        let cap = st.capacity.as_ref().unwrap();
        assert_eq!(cap["cpu"].0, "2");
        assert_eq!(cap["memory"].0, "4194304Ki");
        assert_eq!(cap["pods"].0, "110");
        let alloc = st.allocatable.as_ref().unwrap();
        assert_eq!(alloc["memory"].0, format!("{}Ki", 4194304 - 102400));
        assert_eq!(
            st.daemon_endpoints
                .as_ref()
                .unwrap()
                .kubelet_endpoint
                .as_ref()
                .unwrap()
                .port,
            10250
        );
        assert_eq!(
            st.declared_features.as_deref().unwrap(),
            [
                "ExtendWebSocketsToKubelet".to_string(),
                "RestartAllContainersOnContainerExits".to_string()
            ]
        );
        assert_eq!(
            st.node_info.as_ref().unwrap().kubelet_version,
            KUBELET_VERSION
        );
        let ready = cond(&st, "Ready");
        assert_eq!(
            (
                ready.status.as_str(),
                ready.reason.as_deref(),
                ready.message.as_deref()
            ),
            (
                "True",
                Some("KubeletReady"),
                Some("kubelet is posting ready status")
            )
        );
        assert_eq!(
            cond(&st, "MemoryPressure").reason.as_deref(),
            Some("KubeletHasSufficientMemory")
        );
        assert_eq!(
            cond(&st, "PIDPressure").message.as_deref(),
            Some("kubelet has sufficient PID available")
        );
        assert_eq!(
            st.conditions.as_ref().unwrap().last().unwrap().type_,
            "Ready",
            "Ready is the last condition, as the kubelet keeps it"
        );
        assert_eq!(
            events,
            vec![
                StatusEvent("NodeHasSufficientMemory"),
                StatusEvent("NodeHasNoDiskPressure"),
                StatusEvent("NodeHasSufficientPID")
            ]
        );
    }

    #[test]
    fn only_heartbeats_moving_is_no_change() {
        let (cfg, host) = (cfg(), host());
        let (first, _) = node_status(&inputs(&cfg, &host, 1000), None);
        let (second, events) = node_status(&inputs(&cfg, &host, 1010), Some(&first));
        assert!(events.is_empty());
        assert!(!status_changed(&first, &second));
        assert_eq!(
            cond(&second, "Ready").last_transition_time,
            cond(&first, "Ready").last_transition_time
        );
        assert_ne!(
            cond(&second, "Ready").last_heartbeat_time,
            cond(&first, "Ready").last_heartbeat_time
        );
    }

    #[test]
    fn pressure_and_readiness_changes_are_changes_with_events() {
        let (cfg, host) = (cfg(), host());
        let (first, _) = node_status(&inputs(&cfg, &host, 1000), None);
        let mut inp = inputs(&cfg, &host, 1010);
        inp.pressure.memory = true;
        inp.not_ready = vec!["container runtime network not ready".into()];
        let (second, events) = node_status(&inp, Some(&first));
        assert!(status_changed(&first, &second));
        assert_eq!(
            events,
            vec![
                StatusEvent("NodeHasInsufficientMemory"),
                StatusEvent("NodeNotReady")
            ]
        );
        let mem = cond(&second, "MemoryPressure");
        assert_eq!(mem.status, "True");
        assert_eq!(mem.reason.as_deref(), Some("KubeletHasInsufficientMemory"));
        assert_eq!(mem.last_transition_time, Some(Time(inp.now)));
        let ready = cond(&second, "Ready");
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_deref()),
            ("False", Some("KubeletNotReady"))
        );
    }
}
