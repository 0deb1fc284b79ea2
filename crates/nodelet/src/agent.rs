//! The node agent as `run` and `serve` start it: the real OCI runtime, the
//! durable store and the lifecycle engine on top, wired from the command
//! line. Host problems (not root, runc missing, crun on hybrid cgroups...)
//! surface here once, as one sentence with a hint, before any pod exists.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use nodelet_api::tokens::TokenAuthority;
use nodelet_engine::clock::SystemClock;
use nodelet_engine::hooks::HookOptions;
use nodelet_engine::sources::StoreSources;
use nodelet_engine::{Engine, EngineConfig};
use nodelet_runtime::image::ImageStore;
use nodelet_runtime::image::gc::{GcPolicy, ImageGc};
use nodelet_runtime::oci::{HostProblemKind, OciConfig, OciRuntime, host_check};
use nodelet_runtime::{Runtime, RuntimeError};
use nodelet_store::Store;

use crate::cli::AgentOpts;

/// A running agent: the engine and what it was built on.
pub struct Agent {
    pub engine: Arc<Engine>,
    pub runtime: Arc<OciRuntime>,
    pub store: Arc<Store>,
    /// `<runtime name>://<version>`, as the node object reports it.
    pub runtime_version: String,
    /// Where Services live (the controller starts once the API is up).
    pub services: nodelet_services::ServicesConfig,
    /// Issues and accepts service account tokens (the API serves it, the
    /// engine requests tokens from it through its Sources seam).
    pub tokens: Arc<TokenAuthority>,
}

impl Agent {
    /// The API backend over this agent, with the per-namespace defaults
    /// (`default` ServiceAccount, `kube-root-ca.crt`).
    pub fn backend(&self) -> nodelet_api::EngineBackend {
        let runtime: Arc<dyn Runtime> = self.runtime.clone();
        nodelet_api::EngineBackend::new(
            self.engine.clone(),
            self.store.clone(),
            runtime,
            self.runtime_version.clone(),
        )
        .with_namespace_defaults(self.tokens.ca_pem.clone())
    }
}

/// The unix socket the local API is served on (the client commands'
/// default).
pub fn socket_path(run_root: &Path) -> PathBuf {
    run_root.join("nodelet.sock")
}

/// The OCI runtime's configuration for these options.
pub fn oci_config(opts: &AgentOpts) -> OciConfig {
    let node = &opts.node;
    let mut cfg = OciConfig::with_roots(&node.root, &node.run_root);
    cfg.runtime = PathBuf::from(&node.runtime);
    cfg.monitor = monitor_binary();
    cfg.log_max_size = opts.container_log_max_size;
    cfg.log_max_files = opts.container_log_max_files;
    cfg.registry_config_dir = node.registry_config_dir.clone();
    cfg.max_concurrent_downloads = node.max_concurrent_downloads;
    cfg.cni.pod_network = opts.pod_network.into();
    if opts.services.service_route {
        cfg.cni.bridge_routes = vec![opts.services.service_cidr.to_string()];
    }
    let custom = opts.cni_subnet.is_some() || opts.cni_bridge.is_some();
    if let Some(subnet) = &opts.cni_subnet {
        cfg.cni.subnet = subnet.clone();
    }
    if let Some(bridge) = &opts.cni_bridge {
        cfg.cni.bridge = bridge.clone();
        // Leases and iptables comments are keyed by the network name: a
        // second network must not share them with the default one.
        cfg.cni.network_name = format!("nodelet-{bridge}");
    }
    match &opts.cni_conf_dir {
        Some(dir) => cfg.cni.conf_dir = dir.clone(),
        // An existing conflist in the shared default dir would win over
        // the overridden subnet/bridge; keep this agent's own.
        None if custom => cfg.cni.conf_dir = node.root.join("cni").join("conf"),
        None => {}
    }
    cfg
}

/// `nodelet-monitor` next to this executable (how release builds and
/// `cargo build -p nodelet -p nodelet-monitor` lay them out), else the
/// name, looked up on `$PATH` by the runtime.
fn monitor_binary() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("nodelet-monitor")))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("nodelet-monitor"))
}

/// The kubelet's sysctl allowlist: the safe sysctls of this host's kernel
/// (`/proc/sys/kernel/osrelease`) plus `--allowed-unsafe-sysctls`; a bad
/// or host-wide pattern is a start-up error naming it.
pub fn sysctl_allowlist(opts: &AgentOpts) -> anyhow::Result<nodelet_spec::sysctl::Allowlist> {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .and_then(|r| nodelet_spec::sysctl::parse_kernel_version(&r));
    nodelet_spec::sysctl::Allowlist::for_node(kernel, &opts.allowed_unsafe_sysctls)
        .context("--allowed-unsafe-sysctls")
}

/// Starts the agent: host checks, runtime, store, engine (which re-adopts
/// the pods and containers recorded under `--root`). Must run inside a
/// tokio runtime.
pub async fn start(opts: &AgentOpts) -> anyhow::Result<Agent> {
    start_with(opts, None, None).await
}

/// What node mode wires differently: the engine's lookups in the API
/// server (ConfigMaps, Secrets, tokens through TokenRequest) instead of
/// the local store, the node's addresses, and the kubelet's
/// `--cluster-dns` instead of nodelet's own DNS service.
pub struct NodeWiring {
    pub sources: Arc<dyn nodelet_engine::sources::Sources>,
    pub host_ips: Vec<String>,
    pub dns: nodelet_spec::dns::ClusterDns,
}

/// [`start`], or with node mode's [`NodeWiring`], and with the engine's
/// `--max-pods` admission (`nodelet serve`; node mode admits before the
/// engine).
pub async fn start_with(
    opts: &AgentOpts,
    node: Option<NodeWiring>,
    max_pods: Option<u32>,
) -> anyhow::Result<Agent> {
    let gc_policy = GcPolicy {
        high_threshold: opts.image_gc_high_threshold,
        low_threshold: opts.image_gc_low_threshold,
        min_age: opts.minimum_image_ttl_duration,
    };
    gc_policy
        .validate()
        .map_err(|e| anyhow::anyhow!("--image-gc-low-threshold/--image-gc-high-threshold: {e}"))?;
    let cfg = oci_config(opts);
    warn_minor_problems(&cfg.runtime);
    let runtime = match OciRuntime::new(cfg.clone()).await {
        Ok(rt) => Arc::new(rt),
        Err(RuntimeError::Host(msg)) => {
            anyhow::bail!(
                "this host cannot run containers: {msg}\nhint: {}",
                host_hint(&cfg.runtime, &msg)
            )
        }
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!(
                "starting the container runtime under {}",
                cfg.root.display()
            )));
        }
    };
    for p in runtime.sandboxes().host_problems() {
        eprintln!("warning: pod networking: {p}");
    }
    let store = Arc::new(Store::open_dir(&opts.node.root).with_context(|| {
        format!(
            "opening the state store under {} (is another nodelet using this --root?)",
            opts.node.root.display()
        )
    })?);
    // The root holds the store (Secrets), keys, tokens and the kubeconfig:
    // owner-only, as the kubelet's /var/lib/kubelet (containers reach what
    // they use of it through bind mounts, which the mode does not affect).
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&opts.node.root, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("making {} owner-only (0700)", opts.node.root.display()))?;
    }
    let services = services_config(opts)?;
    let config = EngineConfig {
        dns: Some(match &node {
            Some(n) => n.dns.clone(),
            None => crate::services_opts::cluster_dns(&opts.services, &services),
        }),
        host_ips: match &node {
            Some(n) => n.host_ips.clone(),
            None => host_ip().into_iter().collect(),
        },
        event_ttl: opts.event_ttl,
        retention: nodelet_engine::events::retention::Retention {
            max_events: opts.max_events as usize,
            max_events_per_namespace: opts.max_events_per_namespace as usize,
            max_gone_pod_records: opts.max_deleted_pod_records as usize,
        },
        hooks: HookOptions {
            strict_http_status: opts.hook_http_strict_status,
            host_policy: opts.hook_host_policy,
        },
        // What the Node reports as allocatable bounds in-place resizes.
        allocatable: {
            let (cpu_millis, memory_bytes) = nodelet_api::node::allocatable();
            Some(nodelet_engine::allocations::Requests {
                cpu_millis,
                memory_bytes,
            })
        },
        hook_timeout_default: opts.hook_timeout_default,
        crashloop_backoff_max: opts.crashloop_backoff_max,
        max_pods,
        sysctls: sysctl_allowlist(opts)?,
        ..EngineConfig::new(opts.node_name.clone())
    };
    // The API side issues tokens; the engine asks through its seam.
    nodelet_api::install_crypto_provider();
    let tokens = Arc::new(
        TokenAuthority::open(&opts.node.root, store.clone(), &opts.node_name)
            .map_err(|e| anyhow::anyhow!("service account tokens: {}", e.message))?,
    );
    let sources: Arc<dyn nodelet_engine::sources::Sources> = match node {
        Some(n) => n.sources,
        None => Arc::new(StoreSources::new(store.clone()).with_token_issuer(tokens.clone())),
    };
    let dyn_rt: Arc<dyn Runtime> = runtime.clone();
    let engine = Engine::with_sources(
        dyn_rt,
        store.clone(),
        Arc::new(SystemClock),
        sources,
        config,
    )
    .await
    .context("starting the lifecycle engine")?;
    let runtime_version = runtime_version(&runtime.cli().binary).await;
    spawn_image_gc(runtime.images_arc(), gc_policy);
    let engine = Arc::new(engine);
    crate::memtrim::spawn(engine.clone());
    Ok(Agent {
        engine,
        runtime,
        store,
        runtime_version,
        services,
        tokens,
    })
}

/// How often image garbage collection looks at the image filesystem (the
/// kubelet's `ImageGCPeriod`).
const IMAGE_GC_PERIOD: std::time::Duration = std::time::Duration::from_secs(300);

/// The kubelet's image garbage collection loop: now, then every 5 minutes;
/// a run that cannot free enough says so (the kubelet's
/// `FreeDiskSpaceFailed`) in the log.
fn spawn_image_gc(images: Arc<ImageStore>, policy: GcPolicy) {
    tokio::spawn(async move {
        let gc = Arc::new(std::sync::Mutex::new(ImageGc::new(policy)));
        let mut tick = tokio::time::interval(IMAGE_GC_PERIOD);
        loop {
            tick.tick().await;
            let (gc, images) = (gc.clone(), images.clone());
            let res = tokio::task::spawn_blocking(move || {
                gc.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .run(&images, std::time::SystemTime::now())
            })
            .await;
            match res {
                Ok(Ok(outcome)) => {
                    if let Some(msg) = outcome.failure() {
                        tracing::warn!(reason = "FreeDiskSpaceFailed", "{msg}");
                    } else if !outcome.removed.is_empty() {
                        tracing::info!(removed = ?outcome.removed, freed = outcome.freed, "image garbage collection");
                    }
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "image garbage collection failed"),
                Err(e) => tracing::warn!(error = %e, "image garbage collection task"),
            }
        }
    });
}

/// The Services configuration of this agent's pod network.
pub fn services_config(opts: &AgentOpts) -> anyhow::Result<nodelet_services::ServicesConfig> {
    let cni = oci_config(opts).cni;
    crate::services_opts::config(
        &opts.services,
        &cni.subnet,
        &cni.bridge,
        opts.cni_bridge.is_some(),
        &opts.node_name,
    )
}

/// Non-fatal host facts (a low nofile limit) are worth a line, not a stop.
fn warn_minor_problems(runtime: &Path) {
    if let Ok(problems) = host_check(runtime) {
        for p in problems.iter().filter(|p| !p.is_fatal()) {
            eprintln!("warning: {p}");
        }
    }
}

/// What to do about a fatal host problem, by what it says.
fn host_hint(runtime: &Path, msg: &str) -> String {
    let kinds: Vec<HostProblemKind> = host_check(runtime)
        .map(|ps| {
            ps.into_iter()
                .filter(|p| p.is_fatal())
                .map(|p| p.kind)
                .collect()
        })
        .unwrap_or_default();
    let mut hints = Vec::new();
    for k in kinds {
        hints.push(match k {
            HostProblemKind::NotRoot => "run nodelet as root (sudo): containers, cgroups and pod networking need it",
            HostProblemKind::RuntimeMissing => "install the OCI runtime (`apt-get install runc`, or `bash scripts/setup.sh`), or pick one with --runtime",
            HostProblemKind::CrunHybridCgroups => "crun refuses this host's hybrid cgroup layout: use --runtime runc (the default)",
            HostProblemKind::NoOverlayfs => "load the overlay module (`modprobe overlay`)",
            HostProblemKind::NoMemoryCgroup => "enable the memory cgroup controller (kernel command line cgroup_enable=memory)",
            HostProblemKind::LowNofileLimit => continue,
        });
    }
    if msg.contains("nodelet-monitor") {
        hints.push(
            "build it next to nodelet: `cargo build --release -p nodelet -p nodelet-monitor`",
        );
    }
    if hints.is_empty() {
        hints.push("`bash scripts/setup.sh` installs everything nodelet needs on Debian 12");
    }
    hints.join("; ")
}

/// The node's primary address: the source address of the default route (a
/// UDP connect sends nothing).
pub fn host_ip() -> Option<String> {
    let sock = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    sock.connect("192.0.2.1:9").ok()?;
    Some(sock.local_addr().ok()?.ip().to_string())
}

/// `runc://1.1.5` from `runc --version`'s first line.
async fn runtime_version(binary: &Path) -> String {
    let name = binary
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "runc".into());
    let out = tokio::process::Command::new(binary)
        .arg("--version")
        .output()
        .await;
    let version = out
        .ok()
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            let first = text.lines().next()?.to_owned();
            first.split_whitespace().last().map(str::to_owned)
        })
        .unwrap_or_else(|| "unknown".into());
    format!("{name}://{version}")
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cli::{Cli, Command};

    fn run_opts(args: &[&str]) -> Result<crate::cli::AgentOpts, clap::Error> {
        let mut argv = vec!["nodelet", "run", "-f", "pod.yaml"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv)?.command {
            Command::Run(run) => Ok(run.agent),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn log_rotation_flags_reach_the_runtime_config() {
        let defaults = super::oci_config(&run_opts(&[]).unwrap());
        assert_eq!(defaults.log_max_size, 10 * 1024 * 1024);
        assert_eq!(defaults.log_max_files, 5);
        let opts = run_opts(&[
            "--container-log-max-size",
            "65536",
            "--container-log-max-files",
            "3",
        ])
        .unwrap();
        let cfg = super::oci_config(&opts);
        assert_eq!((cfg.log_max_size, cfg.log_max_files), (65536, 3));
        assert!(run_opts(&["--container-log-max-files", "1"]).is_err());
        assert!(run_opts(&["--container-log-max-size", "10"]).is_err());
    }
}
