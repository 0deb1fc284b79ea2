//! The command-line grammar (clap derive). Each subcommand's behaviour lives
//! in `cmd/<name>.rs`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "nodelet",
    version,
    about = "A Kubernetes node agent: runs Pod manifests in real Linux containers with the Kubernetes container lifecycle",
    propagate_version = true
)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug, -vvv trace); NODELET_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

/// Where nodelet keeps its state and which OCI runtime it drives.
#[derive(Debug, Clone, Args)]
pub struct NodeOpts {
    /// State directory: images, containers, logs, the store.
    #[arg(long, env = "NODELET_ROOT", default_value = "/var/lib/nodelet", value_parser = absolute_path)]
    pub root: PathBuf,
    /// Runtime state directory (namespace pins, runtime state).
    #[arg(long, env = "NODELET_RUN_ROOT", default_value = "/run/nodelet", value_parser = absolute_path)]
    pub run_root: PathBuf,
    /// OCI runtime binary: runc, crun, youki or a path.
    #[arg(long, env = "NODELET_RUNTIME", default_value = "runc")]
    pub runtime: String,
    /// Registry configuration in containerd's hosts.toml layout:
    /// DIR/<host[:port]>/hosts.toml (mirrors, CAs, http endpoints), DIR/_default.
    #[arg(long, env = "NODELET_REGISTRY_CONFIG_DIR", default_value = "/etc/nodelet/certs.d", value_parser = absolute_path)]
    pub registry_config_dir: PathBuf,
    /// Layer blobs one image pull downloads at once (containerd's default
    /// is 3, CRI-O's 6).
    #[arg(long, env = "NODELET_MAX_CONCURRENT_DOWNLOADS", default_value_t = nodelet_runtime::image::registry::DEFAULT_CONCURRENT_DOWNLOADS,
          value_parser = clap::builder::TypedValueParser::map(clap::value_parser!(u16).range(1..=64), usize::from))]
    pub max_concurrent_downloads: usize,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load, default and validate manifests; print what would run, or every error.
    Validate(ValidateArgs),
    /// Manage images in nodelet's local store.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
    /// Run pods in the foreground, streaming their events and logs; Ctrl-C deletes them gracefully.
    Run(RunArgs),
    /// Run the node agent as a daemon with a Kubernetes API for kubectl (containers outlive it).
    Serve(ServeArgs),
    /// Print the admin kubeconfig `nodelet serve` wrote.
    Kubeconfig(KubeconfigArgs),
    /// Run as a node of a Kubernetes cluster, as its kubelet (see --help).
    Node(Box<crate::cli_node::NodeArgs>),
    #[command(flatten)]
    Client(crate::cli_client::ClientCommand),
}

/// What every command that runs the agent (`run`, `serve`) takes.
#[derive(Debug, Clone, Args)]
pub struct AgentOpts {
    #[command(flatten)]
    pub node: NodeOpts,
    /// Name of this node (events' source, `spec.nodeName`, the node object).
    #[arg(long, env = "NODELET_NODE_NAME", default_value_t = default_node_name())]
    pub node_name: String,
    /// Pod subnet of the generated CNI config (tests run agents side by side).
    #[arg(long, env = "NODELET_CNI_SUBNET", hide = true)]
    pub cni_subnet: Option<String>,
    /// Linux bridge of the generated CNI config.
    #[arg(long, env = "NODELET_CNI_BRIDGE", hide = true)]
    pub cni_bridge: Option<String>,
    /// CNI config directory (default /etc/nodelet/cni, or <root>/cni/conf
    /// when the subnet or bridge is overridden).
    #[arg(long, env = "NODELET_CNI_CONF_DIR", hide = true)]
    pub cni_conf_dir: Option<PathBuf>,
    /// How pod networks are made: `native` attaches pods to nodelet's
    /// default bridge network in-process (netlink, host-local-compatible
    /// leases, one masquerade rule per node; portmap runs only for pods
    /// with hostPorts); `cni` runs the conflist's CNI plugins for every
    /// pod; `auto` is native when the conflist in use is nodelet's own
    /// unmodified default (IPv4), CNI otherwise.
    #[arg(long, env = "NODELET_POD_NETWORK", value_enum, default_value_t = PodNetworkArg::Auto)]
    pub pod_network: PodNetworkArg,
    /// Rotate a container's log file when it reaches this many bytes (the
    /// kubelet's containerLogMaxSize, 10 MiB).
    #[arg(long, env = "NODELET_CONTAINER_LOG_MAX_SIZE", default_value_t = 10 * 1024 * 1024,
          value_parser = clap::value_parser!(u64).range(4096..))]
    pub container_log_max_size: u64,
    /// Log files kept per container, the current one included (the
    /// kubelet's containerLogMaxFiles, 5; at least 2).
    #[arg(long, env = "NODELET_CONTAINER_LOG_MAX_FILES", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(2..))]
    pub container_log_max_files: u32,
    /// Events not updated for this long are deleted (kube-apiserver's
    /// --event-ttl), e.g. `1h`, `30m`, `90s`.
    #[arg(long, env = "NODELET_EVENT_TTL", default_value = "1h", value_parser = parse_ttl)]
    pub event_ttl: std::time::Duration,
    /// Events kept in all, at most; the oldest go first (nodelet's bound
    /// on the store's size; kube-apiserver has the TTL only).
    #[arg(long, env = "NODELET_MAX_EVENTS", default_value_t = 2000,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_events: u32,
    /// Events kept per namespace, at most; the oldest go first.
    #[arg(long, env = "NODELET_MAX_EVENTS_PER_NAMESPACE", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_events_per_namespace: u32,
    /// HookDelivery records and PodTimelines of deleted pods kept (of
    /// each), at most; the oldest go first. Those of existing pods stay.
    #[arg(long, env = "NODELET_MAX_DELETED_POD_RECORDS", default_value_t = 200)]
    pub max_deleted_pod_records: u32,
    /// Fail an httpGet hook whose answer is not 2xx/3xx (opt-in; the kubelet
    /// accepts any HTTP answer as success).
    #[arg(long, env = "NODELET_HOOK_HTTP_STRICT_STATUS")]
    pub hook_http_strict_status: bool,
    /// Image garbage collection starts when the image filesystem is this
    /// full (percent; the kubelet's --image-gc-high-threshold).
    #[arg(long, env = "NODELET_IMAGE_GC_HIGH_THRESHOLD", default_value_t = 85,
          value_parser = clap::value_parser!(u8).range(0..=100))]
    pub image_gc_high_threshold: u8,
    /// ... and frees space down to this usage (percent; the kubelet's
    /// --image-gc-low-threshold).
    #[arg(long, env = "NODELET_IMAGE_GC_LOW_THRESHOLD", default_value_t = 80,
          value_parser = clap::value_parser!(u8).range(0..=100))]
    pub image_gc_low_threshold: u8,
    /// Unused images younger than this are never garbage collected (the
    /// kubelet's --minimum-image-ttl-duration), e.g. `2m`.
    #[arg(long, env = "NODELET_MINIMUM_IMAGE_TTL_DURATION", default_value = "2m", value_parser = parse_ttl)]
    pub minimum_image_ttl_duration: std::time::Duration,
    #[command(flatten)]
    pub services: crate::services_opts::ServicesOpts,
    /// Fail postStart/preStop hooks that run longer than this (Go duration,
    /// e.g. `30s`) in pods without a `hooks.nodelet.dev/*-timeout`
    /// annotation. Unset (the default) is the kubelet's: no limit.
    #[arg(long, env = "NODELET_HOOK_TIMEOUT_DEFAULT", value_parser = parse_go_duration)]
    pub hook_timeout_default: Option<std::time::Duration>,
    /// Unsafe sysctls (or `prefix*` patterns) pods may set besides the
    /// safe ones, comma-separated (the kubelet's --allowed-unsafe-sysctls),
    /// e.g. `kernel.msg*,net.core.somaxconn`. Each must be namespaced.
    #[arg(long, env = "NODELET_ALLOWED_UNSAFE_SYSCTLS", value_delimiter = ',')]
    pub allowed_unsafe_sysctls: Vec<String>,
    /// The longest crash-loop back-off between restarts (the kubelet's
    /// crashLoopBackOff.maxContainerRestartPeriod, 1s to 300s).
    #[arg(long, env = "NODELET_CRASHLOOP_BACKOFF_MAX", default_value = "300s",
          value_parser = parse_backoff_max)]
    pub crashloop_backoff_max: std::time::Duration,
    /// Where httpGet hooks and httpGet/tcpSocket probes may connect: `any`
    /// (the kubelet's behaviour) or `pod-only` (only the pod's own IP; a
    /// `host` naming the node or another machine is refused).
    #[arg(long, env = "NODELET_HOOK_HOST_POLICY", default_value = "any",
          value_parser = |s: &str| s.parse::<nodelet_engine::hooks::host_policy::HostPolicy>())]
    pub hook_host_policy: nodelet_engine::hooks::host_policy::HostPolicy,
    /// The PodSecurity level enforced, audited and warned about in
    /// namespaces without `pod-security.kubernetes.io/*` labels, for pods
    /// created through nodelet's API: `privileged` (the API server's
    /// default), `baseline` (nodelet's default: its credentials are root on
    /// this machine) or `restricted`.
    #[arg(long, env = "NODELET_POD_SECURITY_DEFAULT", default_value = "baseline",
          value_parser = parse_pod_security_level)]
    pub pod_security_default: nodelet_spec::podsecurity::Level,
}

fn parse_pod_security_level(s: &str) -> Result<nodelet_spec::podsecurity::Level, String> {
    nodelet_spec::podsecurity::Level::parse(s).map_err(|(_, why)| why)
}

/// A positive Go duration (`30s`, `1m30s`, `500ms`).
fn parse_go_duration(s: &str) -> Result<std::time::Duration, String> {
    match nodelet_spec::godur::parse(s) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err("must be greater than zero".to_string()),
        Err(e) => Err(format!("not a Go duration like 30s or 1m30s: {e}")),
    }
}

/// A Go duration from 1s to 300s, as the kubelet accepts for
/// maxContainerRestartPeriod.
fn parse_backoff_max(s: &str) -> Result<std::time::Duration, String> {
    let d = parse_go_duration(s)?;
    if d < std::time::Duration::from_secs(1) || d > std::time::Duration::from_secs(300) {
        return Err("must be between 1s and 300s".to_string());
    }
    Ok(d)
}

/// A positive duration in the friendly format (`1h`, `1h30m`, `90s`).
fn parse_ttl(s: &str) -> Result<std::time::Duration, String> {
    let d: jiff::SignedDuration = s
        .parse()
        .map_err(|e| format!("not a duration like 1h, 30m or 90s: {e}"))?;
    match std::time::Duration::try_from(d) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err("must be greater than zero".to_string()),
    }
}

#[derive(Debug, Args)]
#[command(after_long_help = "\
LIFETIME: the containers belong to this process. `run` stays in the foreground, streams events \
(LAST SEEN, TYPE, REASON, OBJECT, SUBOBJECT, MESSAGE) and container logs ([pod/container] line), \
and serves the local API on <run-root>/nodelet.sock so `nodelet get/describe/exec/logs` work \
meanwhile. On Ctrl-C or SIGTERM it deletes the pods as the API would (preStop hooks, grace \
period, stop signal, SIGKILL at expiry) and exits 0 once they are gone; a second Ctrl-C forces \
(grace period 0, as `kubectl delete --force`). When every pod finished on its own \
(restartPolicy Never/OnFailure) it exits 0 if all Succeeded, else 1. Use `nodelet serve` for \
containers that outlive the agent.

EXIT STATUS: 0 pods succeeded or were deleted on request; 1 invalid input (nothing is run), \
a host problem, or a pod failed.")]
pub struct RunArgs {
    /// Manifest files (YAML or JSON, multi-document, `kind: List`); `-` reads stdin.
    #[arg(short = 'f', long = "filename", required = true, num_args = 1..)]
    pub files: Vec<PathBuf>,
    /// Seconds each pod gets to stop on Ctrl-C/SIGTERM, instead of its terminationGracePeriodSeconds.
    #[arg(long, allow_negative_numbers = true)]
    pub grace_period: Option<i64>,
    #[command(flatten)]
    pub agent: AgentOpts,
}

#[derive(Debug, Args)]
#[command(after_long_help = "\
Writes <root>/kubeconfig (mode 0600, admin client certificate) for kubectl, and serves the same \
API without TLS on <run-root>/nodelet.sock (mode 0600) for nodelet's own client commands. \
SIGTERM/Ctrl-C stops the agent only: containers keep running and the next `nodelet serve` with \
the same --root adopts them again.")]
pub struct ServeArgs {
    /// HTTPS address of the Kubernetes API (loopback unless told otherwise).
    #[arg(long, env = "NODELET_LISTEN", default_value = "127.0.0.1:6443")]
    pub listen: std::net::SocketAddr,
    /// Record every mutating API request here as audit.k8s.io/v1 Event
    /// JSON lines (level Metadata; never request bodies). File mode 0600.
    #[arg(long, env = "NODELET_AUDIT_LOG")]
    pub audit_log: Option<PathBuf>,
    /// API requests per second one user may make (sustained and burst);
    /// beyond it the API answers 429 with Retry-After.
    #[arg(long, default_value_t = 1000.0)]
    pub max_requests_per_second: f64,
    /// Watches one user may hold open at once (429 beyond).
    #[arg(long, default_value_t = 1000)]
    pub max_watches_per_user: usize,
    /// Exec, attach and port-forward sessions one user may hold open at
    /// once (429 beyond).
    #[arg(long, default_value_t = 64)]
    pub max_sessions_per_user: usize,
    /// Exec, attach and port-forward sessions open at once, all users
    /// together (429 beyond).
    #[arg(long, default_value_t = 256)]
    pub max_sessions: usize,
    /// Pods that may be active (not Succeeded/Failed) at once, as the
    /// kubelet's --max-pods: a pod created beyond it is kept but not run
    /// (phase Failed, reason OutOfpods). The node reports it as
    /// capacity.pods.
    #[arg(long, env = "NODELET_MAX_PODS", default_value_t = 110)]
    pub max_pods: u32,
    /// On SIGTERM/Ctrl-C, delete every pod gracefully and remove the
    /// Service rules before exiting (for uninstalling), instead of leaving
    /// containers running for the next `serve`.
    #[arg(long)]
    pub drain: bool,
    #[command(flatten)]
    pub agent: AgentOpts,
}

/// `--pod-network` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PodNetworkArg {
    Auto,
    Cni,
    Native,
}

impl From<PodNetworkArg> for nodelet_runtime::sandbox::PodNetwork {
    fn from(a: PodNetworkArg) -> Self {
        match a {
            PodNetworkArg::Auto => Self::Auto,
            PodNetworkArg::Cni => Self::Cni,
            PodNetworkArg::Native => Self::Native,
        }
    }
}

#[derive(Debug, Args)]
pub struct KubeconfigArgs {
    /// State directory of the `nodelet serve` whose kubeconfig to print.
    #[arg(long, env = "NODELET_ROOT", default_value = "/var/lib/nodelet")]
    pub root: PathBuf,
    /// Issue a new client certificate for this user (its CN) instead of
    /// printing the admin kubeconfig; RBAC decides what it may do.
    #[arg(long)]
    pub user: Option<String>,
    /// Groups of `--user` (the certificate's O; repeatable).
    #[arg(long = "group", requires = "user")]
    pub groups: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Manifest files (YAML or JSON, multi-document, `kind: List`); `-` reads stdin.
    #[arg(short = 'f', long = "filename", required = true, num_args = 1..)]
    pub files: Vec<PathBuf>,
    /// Name of this node, for `spec.nodeName` / `fieldRef: spec.nodeName`.
    #[arg(long, default_value_t = default_node_name())]
    pub node_name: String,
    /// Print the result as JSON (the defaulted objects and computed environments).
    #[arg(short = 'o', long, value_parser = ["text", "json"], default_value = "text")]
    pub output: String,
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Load images from an OCI image layout (directory or tar) or a `docker save` archive.
    Load {
        #[command(flatten)]
        node: NodeOpts,
        /// Archive or layout directory.
        #[arg(short = 'i', long = "input", required = true, num_args = 1..)]
        inputs: Vec<PathBuf>,
    },
    /// List images.
    Ls {
        #[command(flatten)]
        node: NodeOpts,
    },
    /// Remove images.
    Rm {
        #[command(flatten)]
        node: NodeOpts,
        #[arg(required = true, num_args = 1..)]
        images: Vec<String>,
    },
    /// Show an image's configuration as JSON.
    Inspect {
        #[command(flatten)]
        node: NodeOpts,
        image: String,
    },
    /// Pull an image from its registry (credentials: <root>/config.json;
    /// mirrors and CAs: --registry-config-dir).
    #[command(after_long_help = "\
Progress bars per layer on a terminal, one line per step otherwise. The image becomes visible \
only when complete; an interrupted pull resumes where it stopped.")]
    Pull {
        #[command(flatten)]
        node: NodeOpts,
        /// Image reference (`nginx`, `host:5000/team/app:1`, `app@sha256:...`).
        image: String,
    },
    /// Remove every image no container uses (containers that exist, running
    /// or not, keep theirs), and downloads left by interrupted pulls.
    Prune {
        #[command(flatten)]
        node: NodeOpts,
    },
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// Shell to generate for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

pub fn default_node_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// State directories are made absolute once, here: bundles, overlay layer
/// paths and namespace pins must not depend on the agent's working directory.
fn absolute_path(s: &str) -> Result<PathBuf, String> {
    if s.is_empty() {
        return Err("must not be empty".to_string());
    }
    std::path::absolute(s).map_err(|e| format!("cannot make {s:?} absolute: {e}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn state_directories_become_absolute() {
        let p = super::absolute_path("rel/root").unwrap();
        assert!(p.is_absolute() && p.ends_with("rel/root"), "{p:?}");
        assert_eq!(
            super::absolute_path("/var/lib/nodelet").unwrap(),
            std::path::PathBuf::from("/var/lib/nodelet")
        );
        assert!(super::absolute_path("").is_err());
    }

    #[test]
    fn hook_timeout_and_backoff_max_parse_and_are_bounded() {
        use super::{Cli, Command};
        use clap::Parser;
        let args = Cli::try_parse_from([
            "nodelet",
            "serve",
            "--hook-timeout-default",
            "1m30s",
            "--crashloop-backoff-max",
            "20s",
        ])
        .unwrap();
        let Command::Serve(a) = args.command else {
            panic!("serve")
        };
        assert_eq!(a.agent.hook_timeout_default.unwrap().as_secs(), 90);
        assert_eq!(a.agent.crashloop_backoff_max.as_secs(), 20);
        let Command::Serve(a) = Cli::try_parse_from(["nodelet", "serve"]).unwrap().command else {
            panic!("serve")
        };
        assert_eq!(a.agent.hook_timeout_default, None);
        assert_eq!(a.agent.crashloop_backoff_max.as_secs(), 300);
        for bad in [
            "--crashloop-backoff-max=301s",
            "--crashloop-backoff-max=500ms",
            "--hook-timeout-default=0s",
            "--hook-timeout-default=soon",
        ] {
            let err = Cli::try_parse_from(["nodelet", "serve", bad])
                .unwrap_err()
                .to_string();
            let flag = bad.split('=').next().unwrap();
            assert!(err.contains(flag), "{bad}: {err}");
        }
    }

    #[test]
    fn event_ttl_and_strict_hook_status_reach_the_agent_options() {
        use clap::Parser;
        let cli = super::Cli::try_parse_from([
            "nodelet",
            "serve",
            "--event-ttl",
            "1h30m",
            "--hook-http-strict-status",
        ])
        .unwrap();
        let super::Command::Serve(args) = cli.command else {
            panic!("not serve: {cli:?}");
        };
        assert_eq!(args.agent.event_ttl.as_secs(), 5400);
        assert!(args.agent.hook_http_strict_status);
        assert_eq!(
            args.agent.hook_host_policy,
            nodelet_engine::hooks::host_policy::HostPolicy::Any,
            "the kubelet's behaviour by default"
        );
        let cli = super::Cli::try_parse_from([
            "nodelet",
            "run",
            "-f",
            "x",
            "--hook-host-policy=pod-only",
        ])
        .unwrap();
        let super::Command::Run(args) = cli.command else {
            panic!("not run");
        };
        assert_eq!(
            args.agent.hook_host_policy,
            nodelet_engine::hooks::host_policy::HostPolicy::PodOnly
        );
        assert!(
            super::Cli::try_parse_from(["nodelet", "serve", "--hook-host-policy=none"]).is_err()
        );

        let cli = super::Cli::try_parse_from(["nodelet", "serve"]).unwrap();
        let super::Command::Serve(args) = cli.command else {
            panic!("not serve");
        };
        assert_eq!(
            args.agent.event_ttl.as_secs(),
            3600,
            "kube-apiserver's default"
        );
        assert!(
            !args.agent.hook_http_strict_status,
            "kubelet's behaviour by default"
        );
        assert_eq!(
            (
                args.agent.max_events,
                args.agent.max_events_per_namespace,
                args.agent.max_deleted_pod_records
            ),
            (2000, 1000, 200)
        );

        for bad in ["0s", "soon", "-5m"] {
            let bad = format!("--event-ttl={bad}");
            let err = super::Cli::try_parse_from(["nodelet", "serve", bad.as_str()])
                .unwrap_err()
                .to_string();
            assert!(err.contains("--event-ttl"), "{bad}: {err}");
        }
    }
}
