//! Plain data exchanged between the lifecycle engine and a [`crate::Runtime`].
//!
//! These types describe containers, not pods: the engine translates the pod
//! spec (after `nodelet-spec` has computed environment and command) into
//! them. They are serde-serialisable so the store can keep them for recovery.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

pub use nodelet_spec::signal::Signal;

/// When to pull an image (Kubernetes `imagePullPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PullPolicy {
    Always,
    IfNotPresent,
    Never,
}

/// What the engine asks of [`crate::Runtime::ensure_image`]: an image as
/// the pod names it, the pull policy, and the pod's pull credentials (as
/// containerd's `PullImage` takes them with each pull).
#[derive(Debug, Clone)]
pub struct ImageRequest {
    /// The reference as written in the pod (`nginx`, `host:5000/a/b:1`).
    pub image: String,
    pub policy: PullPolicy,
    pub credentials: PullCredentials,
    /// Told when a registry pull starts (kubelet's `Pulling` event) and how
    /// it progresses; `None` when nobody listens.
    pub progress: Option<tokio::sync::mpsc::UnboundedSender<PullEvent>>,
}

impl ImageRequest {
    pub fn new(image: &str, policy: PullPolicy) -> ImageRequest {
        ImageRequest {
            image: image.to_string(),
            policy,
            credentials: PullCredentials::default(),
            progress: None,
        }
    }
}

/// The docker configs of a pod's `imagePullSecrets` (only secrets of type
/// `kubernetes.io/dockerconfigjson` or `kubernetes.io/dockercfg`, as the
/// kubelet uses them). The node's own `config.json` is the runtime's.
/// `Debug` never shows the data.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct PullCredentials {
    pub secrets: Vec<PullSecret>,
}

impl std::fmt::Debug for PullCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self
            .secrets
            .iter()
            .map(|s| format!("{}/{}", s.namespace, s.name))
            .collect();
        f.debug_struct("PullCredentials")
            .field("secrets", &names)
            .finish()
    }
}

/// One pull secret's docker config.
#[derive(Clone, PartialEq, Eq)]
pub struct PullSecret {
    pub namespace: String,
    pub name: String,
    pub kind: PullSecretKind,
    /// `.dockerconfigjson` or `.dockercfg` bytes.
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullSecretKind {
    /// `kubernetes.io/dockerconfigjson`: `{"auths": {...}}`.
    DockerConfigJson,
    /// `kubernetes.io/dockercfg`: the legacy map without `auths`.
    DockerCfg,
}

/// What a pull reports while it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullEvent {
    /// A registry pull begins (or this request joins one already running).
    Started,
    /// The manifest is known: its layers (digest, size), bottom first.
    Resolved { layers: Vec<(String, u64)> },
    /// Bytes of a layer fetched so far (`done == total` when complete;
    /// `cached` when it was already on the node).
    Layer {
        digest: String,
        done: u64,
        total: u64,
        cached: bool,
    },
}

/// What the engine learns about an image it is about to use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageInfo {
    /// The reference as the user wrote it (`nodelet.local/busybox:latest`).
    pub reference: String,
    /// `sha256:<hex>` of the image config.
    pub id: String,
    /// What a container status's `imageID` reports: the repo digest
    /// (`docker.io/library/nginx@sha256:...`), or `id` when it has none.
    pub image_ref: String,
    /// Total compressed size of the layers, in bytes.
    pub size: u64,
    /// `STOPSIGNAL` from the image config, if any (unparsed).
    pub stop_signal: Option<String>,
    /// Whether this call pulled it (true) or it was already present.
    pub pulled: bool,
    /// How long a pull took, when `pulled`.
    pub pull_duration: Option<Duration>,
    /// `USER` of the image config (`uid`, `name`, `uid:gid`...), for the
    /// kubelet's runAsNonRoot check.
    #[serde(default)]
    pub user: Option<String>,
}

/// A `hostPort` mapping for the pod sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    pub container_port: u16,
    pub host_port: u16,
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
    pub host_ip: Option<String>,
}

/// The pod-level environment every container of a pod shares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxConfig {
    pub pod_uid: String,
    pub pod_name: String,
    pub pod_namespace: String,
    /// UTS hostname (already cut to 63 characters by `nodelet-spec`).
    pub hostname: String,
    pub host_network: bool,
    pub host_pid: bool,
    pub host_ipc: bool,
    pub port_mappings: Vec<PortMapping>,
    /// The pod's resolver files (`/etc/resolv.conf`, `/etc/hosts` extras),
    /// as the kubelet computes them (`nodelet_spec::dns`). `None`: the
    /// host's resolv.conf is copied and hosts has only the pod's own line.
    pub dns: Option<DnsConfig>,
    pub labels: BTreeMap<String, String>,
    /// `hostUsers: false`: the pod gets a user namespace of its own (a
    /// private range of host ids, root inside mapped to an unprivileged id
    /// outside).
    #[serde(default)]
    pub user_namespace: bool,
    /// `shareProcessNamespace: true`: every container of the pod joins one
    /// process namespace whose PID 1 is the sandbox's pause process (see
    /// `sandbox::pause`). Never together with `host_pid`.
    #[serde(default)]
    pub share_process_namespace: bool,
}

/// CRI `DNSConfig` (resolv.conf lines) plus what the kubelet adds to the
/// pod's managed `/etc/hosts`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DnsConfig {
    pub servers: Vec<String>,
    pub searches: Vec<String>,
    pub options: Vec<String>,
    /// `<subdomain>.<namespace>.svc.<cluster-domain>` for a pod with a
    /// `subdomain`: its hosts line is `<ip> <hostname>.<domain> <hostname>`.
    #[serde(default)]
    pub hosts_domain: Option<String>,
    /// `hostAliases`: (ip, hostnames) lines after the managed entries.
    #[serde(default)]
    pub host_aliases: Vec<(String, Vec<String>)>,
}

/// Both directions of a port-forward connection into a pod.
pub trait PortIo: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> PortIo for T {}
pub type PortStream = Box<dyn PortIo>;

/// A sandbox that exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxInfo {
    pub id: String,
    pub pod_uid: String,
    /// Pod IPs, IPv4 first. Empty with host networking resolves to the host's.
    pub ips: Vec<IpAddr>,
    /// The node's IP as seen by the pod (for `status.hostIP`).
    pub host_ip: Option<IpAddr>,
    /// Paths of the pod's pinned namespaces (bind-mounted nsfs files) that
    /// every container of the pod joins.
    pub namespaces: SandboxNamespaces,
    /// The pod's parent cgroup, relative to the cgroup root
    /// (`nodelet/pod<uid>`); containers get a child of it.
    pub cgroup_parent: String,
    /// With a user namespace: the host ids the pod's ids 0.. map to.
    #[serde(default)]
    pub id_mapping: Option<IdMapping>,
}

/// A pod's user-namespace mapping: container ids `0..size` are host ids
/// `host_id..host_id+size`, for users and groups alike (as the kubelet
/// allocates them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdMapping {
    pub host_id: u32,
    pub size: u32,
}

/// Pinned namespaces of a sandbox; `None` means the host's (hostNetwork,
/// hostIPC) or not shared.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SandboxNamespaces {
    pub net: Option<PathBuf>,
    pub ipc: Option<PathBuf>,
    pub uts: Option<PathBuf>,
    /// The pod's user namespace (`hostUsers: false`), owner of the others.
    #[serde(default)]
    pub user: Option<PathBuf>,
    /// The pod's process namespace (`shareProcessNamespace: true`), kept
    /// alive by the sandbox's pause process, its PID 1.
    #[serde(default)]
    pub pid: Option<PathBuf>,
}

/// Memory and CPU resources of one container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Resources {
    pub memory_limit_bytes: Option<i64>,
    pub memory_request_bytes: Option<i64>,
    pub cpu_limit_millis: Option<i64>,
    pub cpu_request_millis: Option<i64>,
}

/// A bind mount into the container (a pod volume, or a subPath of one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountSpec {
    pub host_path: PathBuf,
    pub container_path: String,
    pub read_only: bool,
    /// `volumeMounts[].mountPropagation`.
    #[serde(default)]
    pub propagation: MountPropagation,
    /// Extra bind options (`nosuid`, `nodev`, `noexec`).
    #[serde(default)]
    pub options: Vec<String>,
}

/// CRI's mount propagation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum MountPropagation {
    /// `None`: no mount events cross in either direction (`rprivate`).
    #[default]
    Private,
    /// Mounts made on the host later appear in the container (`rslave`).
    HostToContainer,
    /// Both ways (`rshared`); privileged containers only.
    Bidirectional,
}

/// Security settings of one container (`securityContext`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SecurityConfig {
    pub run_as_user: Option<i64>,
    pub run_as_group: Option<i64>,
    pub privileged: bool,
    pub read_only_root_filesystem: bool,
    /// Capability names without `CAP_` (`NET_ADMIN`), as in the pod spec.
    pub capabilities_add: Vec<String>,
    pub capabilities_drop: Vec<String>,
    /// `allowPrivilegeEscalation: false`: the process runs with
    /// `no_new_privs` (setuid binaries and file caps gain nothing).
    /// Kubernetes' default is to allow escalation, hence `false` here.
    #[serde(default)]
    pub no_new_privileges: bool,
    /// `seccompProfile` (the container's over the pod's). Unset means
    /// Unconfined, as with the kubelet's default `--seccomp-default=false`.
    #[serde(default)]
    pub seccomp: SeccompProfile,
    /// `appArmorProfile` (the container's over the pod's); `None` when unset.
    #[serde(default)]
    pub apparmor: Option<AppArmorProfile>,
    /// `procMount: Unmasked`: no masked or read-only `/proc` paths.
    #[serde(default)]
    pub proc_mount_unmasked: bool,
    /// The pod's `supplementalGroups` followed by its `fsGroup`, as the
    /// kubelet passes them to the runtime.
    #[serde(default)]
    pub supplemental_groups: Vec<i64>,
    /// `supplementalGroupsPolicy: Strict`: the groups of the image's
    /// `/etc/group` are not added (Merge, the default, adds them).
    #[serde(default)]
    pub supplemental_groups_strict: bool,
    /// The pod's `securityContext.sysctls`, names with dots. Set in each
    /// container's OCI spec: the container joins the pod's namespaces, so
    /// the values land there (the kubelet sets them on the sandbox).
    #[serde(default)]
    pub sysctls: BTreeMap<String, String>,
}

/// A seccomp profile choice (`securityContext.seccompProfile`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum SeccompProfile {
    #[default]
    Unconfined,
    /// containerd's default profile.
    RuntimeDefault,
    /// A profile file relative to `<root>/seccomp/` (the kubelet's
    /// `<root-dir>/seccomp/`).
    Localhost(String),
}

/// An AppArmor profile choice (`securityContext.appArmorProfile`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AppArmorProfile {
    Unconfined,
    RuntimeDefault,
    /// The name of a profile loaded on the host.
    Localhost(String),
}

/// Everything needed to create one container in a sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerConfig {
    pub pod_uid: String,
    /// The container's name in the pod spec.
    pub name: String,
    /// Restart count: a new container id per attempt.
    pub attempt: u32,
    pub image: String,
    /// `command` and `args` from the pod spec, `$(VAR)`-expanded. `None`
    /// means "not set" (use the image's ENTRYPOINT / CMD as Kubernetes does).
    pub command: Option<Vec<String>>,
    pub args: Option<Vec<String>>,
    /// Final environment, in order (from `nodelet_spec::env`). Image ENV
    /// entries not overridden here are kept by the runtime.
    pub env: Vec<(String, String)>,
    pub working_dir: Option<String>,
    pub security: SecurityConfig,
    pub resources: Resources,
    pub mounts: Vec<MountSpec>,
    pub stdin: bool,
    pub stdin_once: bool,
    pub tty: bool,
    pub labels: BTreeMap<String, String>,
    /// `terminationMessagePath` / `terminationMessagePolicy`: a file the
    /// container may write its last words to, read when it exits.
    #[serde(default)]
    pub termination_message: Option<TerminationMessage>,
    /// The id of a running container of the same pod whose process
    /// namespace this one joins (an ephemeral container's
    /// `targetContainerName`, the CRI's `NamespaceMode_TARGET`); `None`:
    /// a namespace of its own (or the host's with hostPID).
    #[serde(default)]
    pub pid_namespace_of: Option<String>,
}

/// Where a container writes its termination message, and whether its
/// log's tail stands in when it wrote none and failed
/// (`FallbackToLogsOnError`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminationMessage {
    pub path: String,
    pub fallback_to_logs: bool,
}

/// Result of starting a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartedContainer {
    pub pid: u32,
    pub started_at: Timestamp,
}

/// How a container's process ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitStatus {
    pub exit_code: i32,
    /// The signal that killed it, if it was killed.
    pub signal: Option<Signal>,
    pub oom_killed: bool,
    pub started_at: Option<Timestamp>,
    pub finished_at: Timestamp,
    /// `state.terminated.message`: what the container wrote to its
    /// termination message file (or its log's tail, per its policy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl ExitStatus {
    /// Kubernetes' `reason` for a terminated container.
    pub fn reason(&self) -> &'static str {
        if self.oom_killed {
            "OOMKilled"
        } else if self.exit_code == 0 {
            "Completed"
        } else {
            "Error"
        }
    }
}

/// The runtime's view of a container's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContainerState {
    Created,
    Running { pid: u32, started_at: Timestamp },
    Exited(ExitStatus),
    Unknown,
}

/// One container the runtime knows about (for recovery after a restart).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub id: String,
    pub sandbox_id: String,
    pub pod_uid: String,
    pub name: String,
    pub attempt: u32,
    pub image_id: String,
    pub state: ContainerState,
    pub log_path: PathBuf,
    pub labels: BTreeMap<String, String>,
}

/// A command to run inside a running container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecRequest {
    pub command: Vec<String>,
    /// Extra environment on top of the container's own.
    pub env: Vec<(String, String)>,
    /// `None`: no timeout (kubelet's behaviour for hooks).
    pub timeout: Option<Duration>,
}

/// Which of a container's output streams (CRI log `stdout`/`stderr`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LogStream {
    Stdout,
    Stderr,
}

/// Receives an exec's output as it is produced (see
/// [`crate::Runtime::exec_streaming`]).
pub type OutputSink = std::sync::Arc<dyn Fn(LogStream, &[u8]) + Send + Sync>;

/// What an exec produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecOutput {
    pub exit_code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// An interactive exec (or attach): byte streams, optionally on a TTY.
pub struct InteractiveExec {
    pub stdin: Option<Box<dyn tokio::io::AsyncWrite + Send + Unpin>>,
    pub stdout: Option<Box<dyn tokio::io::AsyncRead + Send + Unpin>>,
    /// `None` on a TTY (stderr is merged into stdout there).
    pub stderr: Option<Box<dyn tokio::io::AsyncRead + Send + Unpin>>,
    /// Send terminal size changes (columns, rows); `None` without a TTY.
    pub resize: Option<tokio::sync::mpsc::Sender<(u16, u16)>>,
    /// Resolves to the exit code when the process ends.
    pub exit: tokio::sync::oneshot::Receiver<i32>,
}

/// Options for an interactive exec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InteractiveExecRequest {
    pub command: Vec<String>,
    pub tty: bool,
    pub stdin: bool,
    pub initial_size: Option<(u16, u16)>,
}

/// Which streams an attach to a container's main process wants
/// (`pods/attach`, CRI's `AttachRequest`). Whether it is a TTY is the
/// container's choice (`tty: true` at creation), not the request's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AttachRequest {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

/// Resource usage of one container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ContainerStats {
    pub memory_usage_bytes: u64,
    pub cpu_usage_nanos: u64,
    pub pids: u64,
}
