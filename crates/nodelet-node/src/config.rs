//! What `nodelet node` is told on its command line: the node's identity,
//! how to reach the API server, the kubelet port's TLS material, and the
//! kubelet's timing defaults (`nodeStatusUpdateFrequency` 10 s,
//! `nodeStatusReportFrequency` 5 min, `nodeLeaseDurationSeconds` 40).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// The version nodelet reports as `nodeInfo.kubeletVersion`: the kubelet
/// API level it implements (Kubernetes v1.37.2, what the local cluster
/// runs), marked so that `kubectl get nodes` tells it is nodelet.
pub const KUBELET_VERSION: &str = "v1.37.2-nodelet";

/// Features the node declares in `status.declaredFeatures`. Only what
/// nodelet really does: the API server then passes exec/attach/port-forward
/// WebSockets through to the kubelet port instead of translating them to
/// SPDY; the scheduler places pods with a `RestartAllContainers` restart
/// rule only on nodes declaring `RestartAllContainersOnContainerExits`
/// (the kubelet declares it while the gate is on, the default since 1.36).
pub const DECLARED_FEATURES: [&str; 2] = [
    "ExtendWebSocketsToKubelet",
    "RestartAllContainersOnContainerExits",
];

#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub node_name: String,
    /// The InternalIP the API server dials the kubelet port on.
    pub node_ip: IpAddr,
    /// The kubelet server's address (`--listen`); its port is the Node's
    /// `daemonEndpoints.kubeletEndpoint.port`.
    pub listen: SocketAddr,
    /// The kubeconfig with the node's credentials (written by the TLS
    /// bootstrap when `bootstrap_kubeconfig` is set and it is missing).
    pub kubeconfig: PathBuf,
    pub bootstrap_kubeconfig: Option<PathBuf>,
    /// Where the bootstrap keeps the issued client certificate
    /// (`<root>/pki`, as the kubelet's `--cert-dir`).
    pub cert_dir: PathBuf,
    /// The kubelet port's serving certificate and key (PEM); when absent a
    /// `kubernetes.io/kubelet-serving` CSR obtains them.
    pub serving_cert: Option<PathBuf>,
    pub serving_key: Option<PathBuf>,
    /// CA bundle that signs the client certificates accepted on the
    /// kubelet port (the API server's kubelet client certificate).
    pub client_ca: Option<PathBuf>,
    /// Static pod manifests (`--pod-manifest-path`).
    pub pod_manifest_path: Option<PathBuf>,
    /// Labels the node registers with (`--node-labels`).
    pub node_labels: BTreeMap<String, String>,
    pub max_pods: u32,
    /// The sysctl allowlist pods are admitted against (`SysctlForbidden`).
    pub sysctls: nodelet_spec::sysctl::Allowlist,
    /// How often node status is computed (and sent if it changed).
    pub status_update_frequency: Duration,
    /// Node status is sent at least this often even when unchanged.
    pub status_report_frequency: Duration,
    /// The Lease's `leaseDurationSeconds`; it is renewed every quarter.
    pub lease_duration: Duration,
    /// `<runtime>://<version>` for `nodeInfo.containerRuntimeVersion`.
    pub runtime_version: String,
    /// The state directory (its file system is the node's
    /// ephemeral-storage).
    pub root: PathBuf,
    /// Hard eviction thresholds (`--eviction-hard`).
    pub eviction: crate::eviction::Eviction,
}

impl NodeConfig {
    /// The kubelet's defaults for everything but identity and paths.
    pub fn new(node_name: impl Into<String>, node_ip: IpAddr, root: PathBuf) -> Self {
        NodeConfig {
            node_name: node_name.into(),
            node_ip,
            listen: SocketAddr::new(node_ip, 10250),
            kubeconfig: root.join("kubeconfig"),
            bootstrap_kubeconfig: None,
            cert_dir: root.join("pki"),
            serving_cert: None,
            serving_key: None,
            client_ca: None,
            pod_manifest_path: None,
            node_labels: BTreeMap::new(),
            max_pods: 110,
            sysctls: nodelet_spec::sysctl::Allowlist::for_node::<&str>(None, &[])
                .unwrap_or_default(),
            status_update_frequency: Duration::from_secs(10),
            status_report_frequency: Duration::from_secs(300),
            lease_duration: Duration::from_secs(40),
            runtime_version: "runc://unknown".into(),
            root,
            eviction: crate::eviction::Eviction::default(),
        }
    }

    /// The kubelet renews its lease every quarter of the duration (10 s).
    pub fn lease_renew_interval(&self) -> Duration {
        self.lease_duration / 4
    }
}
