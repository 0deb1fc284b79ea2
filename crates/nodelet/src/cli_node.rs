//! The grammar of `nodelet node` (node mode: a node of a real Kubernetes
//! cluster). Flag names follow the kubelet's where it has the same one
//! (`--kubeconfig`, `--bootstrap-kubeconfig`, `--node-ip`,
//! `--pod-manifest-path`, `--node-labels`, `--max-pods`, `--cert-dir`,
//! `--node-status-update-frequency`, …).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::cli::AgentOpts;

#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_long_help = "\
Joins the cluster of --kubeconfig as node --node-name, like a kubelet: registers the Node \
(Ready, capacity, nodeInfo, declaredFeatures), renews its Lease in kube-node-lease every 10 s, \
runs the pods the scheduler binds to it, reports their status and events (as `kubelet`), and \
serves the kubelet API on --listen (logs, exec, attach, /metrics, /stats/summary) with TLS, \
authenticating the API server by its client certificate (--client-ca) and authorising every \
request with a SubjectAccessReview.

Credentials: --kubeconfig with a client certificate CN=system:node:<name>, O=system:nodes \
(Node authorizer + NodeRestriction), or --bootstrap-kubeconfig with a bootstrap token: nodelet \
then requests its certificate through the CSR API (signer \
kubernetes.io/kube-apiserver-client-kubelet), stores it under --cert-dir and writes --kubeconfig. \
Without --kubelet-cert/--kubelet-key the serving certificate is requested the same way \
(kubernetes.io/kubelet-serving; someone must approve it).

SIGTERM/Ctrl-C stops the agent only: containers keep running and the next `nodelet node` with \
the same --root adopts them, deleting those the API server no longer has."
)]
pub struct NodeArgs {
    #[command(subcommand)]
    pub command: Option<NodeCommand>,
    #[command(flatten)]
    pub run: NodeRunArgs,
}

#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// Stop every pod of a node's --root (grace 0) and release what they hold (mounts, pod
    /// networks, cgroups), without talking to the API server. For tearing a node down.
    Cleanup(CleanupArgs),
}

#[derive(Debug, Args)]
pub struct CleanupArgs {
    #[command(flatten)]
    pub agent: AgentOpts,
}

#[derive(Debug, Args)]
pub struct NodeRunArgs {
    /// Kubeconfig with the node's credentials (written by the TLS bootstrap when
    /// --bootstrap-kubeconfig is given and it is missing or expired).
    #[arg(long, env = "NODELET_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig with a bootstrap token, for the TLS bootstrap.
    #[arg(long)]
    pub bootstrap_kubeconfig: Option<PathBuf>,
    /// Where bootstrapped certificates are kept (default <root>/pki).
    #[arg(long)]
    pub cert_dir: Option<PathBuf>,
    /// The kubelet API's HTTPS address; its port is the Node's kubelet port.
    #[arg(long, default_value = "0.0.0.0:10250")]
    pub listen: SocketAddr,
    /// The node's InternalIP, which the API server dials (default: the --listen address
    /// when it is a specific one, else the host's default-route address).
    #[arg(long)]
    pub node_ip: Option<IpAddr>,
    /// The cluster DNS servers pods with dnsPolicy ClusterFirst use (the kubelet's
    /// --cluster-dns, comma-separated; none: such pods fall back to the host's
    /// resolver with a MissingClusterDNS event, as the kubelet does).
    #[arg(long, value_delimiter = ',')]
    pub cluster_dns: Vec<IpAddr>,
    /// The kubelet API's serving certificate (PEM).
    #[arg(long, requires = "kubelet_key")]
    pub kubelet_cert: Option<PathBuf>,
    /// Its key (PEM).
    #[arg(long, requires = "kubelet_cert")]
    pub kubelet_key: Option<PathBuf>,
    /// CA bundle of the client certificates accepted on the kubelet API (the API server's
    /// --kubelet-client-certificate is signed by it).
    #[arg(long)]
    pub client_ca: Option<PathBuf>,
    /// Directory of static pod manifests (mirror pods appear in the API server).
    #[arg(long)]
    pub pod_manifest_path: Option<PathBuf>,
    /// Labels to register the node with: key=value,...
    #[arg(long, value_delimiter = ',', value_parser = parse_label)]
    pub node_labels: Vec<(String, String)>,
    /// Hard eviction thresholds over the kubelet's defaults
    /// (memory.available<100Mi,nodefs.available<10%,nodefs.inodesFree<5%,imagefs.available<15%,
    /// imagefs.inodesFree<5%); below one the node reports MemoryPressure/DiskPressure. `0%`
    /// disables a signal.
    #[arg(long, default_value = "", value_parser = nodelet_node::eviction::Eviction::parse)]
    pub eviction_hard: nodelet_node::eviction::Eviction,
    /// The node's pod capacity.
    #[arg(long, default_value_t = 110)]
    pub max_pods: u32,
    /// How often node status is computed (sent when it changed).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub node_status_update_frequency: std::time::Duration,
    /// Node status is sent at least this often when nothing changed.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub node_status_report_frequency: std::time::Duration,
    /// The node Lease's duration; it is renewed every quarter of it.
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u64).range(4..))]
    pub node_lease_duration_seconds: u64,
    #[command(flatten)]
    pub agent: AgentOpts,
}

fn parse_label(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("{s:?}: expected key=value")),
    }
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let d: jiff::SignedDuration = s
        .parse()
        .map_err(|e| format!("not a duration like 10s or 5m: {e}"))?;
    match std::time::Duration::try_from(d) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err("must be greater than zero".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cli::{Cli, Command};

    #[test]
    fn the_cluster_scripts_interface_parses() {
        let cli = Cli::try_parse_from([
            "nodelet",
            "node",
            "--kubeconfig",
            "/c/node-1.kubeconfig",
            "--node-name",
            "node-1",
            "--root",
            "/c/node/root",
            "--run-root",
            "/c/node/run",
            "--kubelet-cert",
            "/c/pki/node-1-kubelet.crt",
            "--kubelet-key",
            "/c/pki/node-1-kubelet.key",
            "--client-ca",
            "/c/pki/ca.crt",
            "--listen",
            "127.0.0.1:10250",
            "--node-labels",
            "a=b,c=d",
        ])
        .unwrap();
        let Command::Node(args) = cli.command else {
            panic!("not node");
        };
        assert!(args.command.is_none());
        let r = args.run;
        assert_eq!(r.agent.node_name, "node-1");
        assert_eq!(r.listen.port(), 10250);
        assert_eq!(
            r.node_labels,
            [("a".into(), "b".into()), ("c".into(), "d".into())]
        );
        assert_eq!(r.node_status_report_frequency.as_secs(), 300);
        assert_eq!(r.node_lease_duration_seconds, 40);

        let cli = Cli::try_parse_from(["nodelet", "node", "cleanup", "--root", "/r"]).unwrap();
        let Command::Node(args) = cli.command else {
            panic!("not node");
        };
        assert!(matches!(args.command, Some(super::NodeCommand::Cleanup(_))));
        assert!(Cli::try_parse_from(["nodelet", "node", "--kubelet-cert", "c"]).is_err());
    }
}
