//! `nodelet node`: the agent as a node of a real Kubernetes cluster (the
//! engine of `serve`, with node mode's front door from `nodelet-node`
//! instead of the embedded API), and `nodelet node cleanup`.

use std::net::IpAddr;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use nodelet_node::node::sync::NodeFacts;
use nodelet_node::{NodeConfig, NodeMode, NodeSources, ServingTls};
use nodelet_runtime::Runtime;
use nodelet_runtime::oci::OciRuntime;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

use crate::agent;
use crate::cli_node::{CleanupArgs, NodeArgs, NodeCommand, NodeRunArgs};

pub fn run(args: NodeArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    match args.command {
        Some(NodeCommand::Cleanup(c)) => rt.block_on(cleanup(c)),
        None => rt.block_on(node(args.run)),
    }
}

/// What the node status needs from the runtime.
struct RuntimeFacts(Arc<OciRuntime>);

impl NodeFacts for RuntimeFacts {
    fn not_ready(&self) -> Vec<String> {
        // Pod networking that cannot work makes the node NotReady, as the
        // kubelet's "network plugin not ready"; mere warnings do not.
        let warnings = nodelet_runtime::sandbox::host::network_warnings();
        self.0
            .sandboxes()
            .host_problems()
            .into_iter()
            .filter(|p| !warnings.contains(p))
            .map(|p| format!("container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:{p}"))
            .collect()
    }

    fn images(&self) -> Vec<(Vec<String>, i64)> {
        self.0
            .images()
            .list()
            .unwrap_or_default()
            .into_iter()
            .map(|i| {
                let mut names = i.references.clone();
                names.push(i.id.clone());
                (names, i64::try_from(i.size).unwrap_or(i64::MAX))
            })
            .collect()
    }
}

/// The InternalIP: `--node-ip`, else the `--listen` address when it is a
/// specific one, else the host's default-route address.
fn node_ip(args: &NodeRunArgs) -> IpAddr {
    if let Some(ip) = args.node_ip {
        return ip;
    }
    if !args.listen.ip().is_unspecified() {
        return args.listen.ip();
    }
    agent::host_ip()
        .and_then(|s| s.parse().ok())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

async fn node(args: NodeRunArgs) -> anyhow::Result<ExitCode> {
    nodelet_api::install_crypto_provider();
    let mut sigterm = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut sigint = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let opts = &args.agent;
    let root = opts.node.root.clone();
    let ip = node_ip(&args);
    let mut cfg = NodeConfig::new(opts.node_name.clone(), ip, root.clone());
    cfg.listen = args.listen;
    cfg.kubeconfig = match (&args.kubeconfig, &args.bootstrap_kubeconfig) {
        (Some(k), _) => k.clone(),
        (None, Some(_)) => root.join("kubeconfig"),
        (None, None) => anyhow::bail!(
            "nodelet node needs the node's credentials: --kubeconfig (a client certificate CN=system:node:<name>, O=system:nodes) or --bootstrap-kubeconfig (a bootstrap token)"
        ),
    };
    cfg.bootstrap_kubeconfig = args.bootstrap_kubeconfig.clone();
    if let Some(dir) = &args.cert_dir {
        cfg.cert_dir = dir.clone();
    }
    cfg.serving_cert = args.kubelet_cert.clone();
    cfg.serving_key = args.kubelet_key.clone();
    cfg.client_ca = args.client_ca.clone();
    cfg.pod_manifest_path = args.pod_manifest_path.clone();
    cfg.node_labels = args.node_labels.iter().cloned().collect();
    cfg.max_pods = args.max_pods;
    cfg.sysctls = agent::sysctl_allowlist(opts)?;
    cfg.eviction = args.eviction_hard;
    cfg.status_update_frequency = args.node_status_update_frequency;
    cfg.status_report_frequency = args.node_status_report_frequency;
    cfg.lease_duration = std::time::Duration::from_secs(args.node_lease_duration_seconds);

    // The kubelet port's TLS first: a bad certificate is a start-up error.
    let tls = match (&cfg.serving_cert, &cfg.serving_key) {
        (Some(c), Some(k)) => ServingTls::Ready(Box::new(
            nodelet_node::server::tls::server_config(c, k, cfg.client_ca.as_deref())
                .context("the kubelet server's certificate")?,
        )),
        _ => ServingTls::Csr {
            client_ca: cfg.client_ca.clone(),
        },
    };
    let requests = Arc::new(nodelet_node::client_metrics::RequestCounts::default());
    let client = nodelet_node::client::connect(&cfg, requests.clone())
        .await
        .context("connecting to the API server")?;
    let sources = NodeSources::new(client.clone());
    let wiring = agent::NodeWiring {
        sources: sources.clone(),
        host_ips: vec![ip.to_string()],
        dns: nodelet_spec::dns::ClusterDns {
            servers: args.cluster_dns.iter().map(ToString::to_string).collect(),
            domain: opts.services.cluster_domain.clone(),
            host: crate::services_opts::host_resolv(&opts.services),
        },
    };
    let agent = agent::start_with(opts, Some(wiring), None).await?;
    cfg.runtime_version = agent.runtime_version.clone();
    let runtime: Arc<dyn Runtime> = agent.runtime.clone();
    let mode = NodeMode {
        cfg: Arc::new(cfg),
        client,
        engine: agent.engine.clone(),
        runtime,
        sources,
        facts: Arc::new(RuntimeFacts(agent.runtime.clone())),
        tls,
        requests,
    };
    let stop = CancellationToken::new();
    let adopted = agent.engine.list_pods().len();
    eprintln!(
        "nodelet node {} (InternalIP {ip}, kubelet API https://{}), {adopted} pod(s) adopted",
        opts.node_name, args.listen
    );
    let mut running = tokio::spawn(mode.run(stop.clone()));
    let ended = tokio::select! {
        _ = sigterm.recv() => None,
        _ = sigint.recv() => None,
        r = &mut running => Some(r),
    };
    stop.cancel();
    let result = match ended {
        Some(r) => r,
        None => running.await,
    };
    // Pod workers stop; containers keep running under their monitors.
    agent.engine.shutdown().await;
    match result {
        Ok(Ok(())) => {
            eprintln!(
                "nodelet node stopped; containers keep running and are adopted by the next `nodelet node`"
            );
            Ok(ExitCode::SUCCESS)
        }
        Ok(Err(e)) => Err(anyhow::Error::new(e).context("node mode")),
        Err(e) => Err(anyhow::anyhow!("node mode task: {e}")),
    }
}

/// Deletes every pod of the root with grace 0 and waits until their
/// containers, sandboxes and mounts are released.
async fn cleanup(args: CleanupArgs) -> anyhow::Result<ExitCode> {
    let agent = agent::start(&args.agent).await?;
    agent.engine.adopted().await;
    let pods = agent.engine.list_pods();
    for p in &pods {
        let ns = p.metadata.namespace.clone().unwrap_or_default();
        let name = p.metadata.name.clone().unwrap_or_default();
        let _ = agent.engine.delete_pod(&ns, &name, Some(0));
    }
    for p in &pods {
        let ns = p.metadata.namespace.clone().unwrap_or_default();
        let name = p.metadata.name.clone().unwrap_or_default();
        agent.engine.wait_pod_gone(&ns, &name).await;
    }
    agent.engine.shutdown().await;
    // Every pod's network is released: the node-wide masquerade of the
    // native pod network goes too, as with `serve --drain`.
    if let Err(e) = agent.runtime.sandboxes().remove_node_rules().await {
        eprintln!("warning: removing the pod masquerade rule: {e}");
    }
    eprintln!(
        "nodelet node cleanup: {} pod(s) stopped and released",
        pods.len()
    );
    Ok(ExitCode::SUCCESS)
}
