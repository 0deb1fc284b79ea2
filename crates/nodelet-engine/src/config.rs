//! What the engine needs to know about the node it runs on.

/// Node identity used in status (`hostIP`), events (`source.host`) and the
/// downward API (`spec.nodeName`, `status.hostIP`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    pub node_name: String,
    /// Node IPs, primary first. Used when the sandbox does not report one.
    pub host_ips: Vec<String>,
    /// Events not updated for this long are deleted (kube-apiserver's
    /// `--event-ttl`; default 1 h).
    pub event_ttl: std::time::Duration,
    /// Count bounds on events and on the records of deleted pods, which
    /// keep the store's size bounded (see [`crate::events::retention`]).
    pub retention: crate::events::retention::Retention,
    /// Opt-in departures from the kubelet's hook behaviour (all off by
    /// default).
    pub hooks: crate::hooks::HookOptions,
    /// The node's allocatable cpu and memory (`status.allocatable`), which
    /// in-place resizes must fit in. `None`: not known, every resize fits.
    pub allocatable: Option<crate::allocations::Requests>,
    /// The node's DNS settings (`--cluster-dns`, `--cluster-domain`, the
    /// host's resolv.conf): each pod's resolv.conf and hosts file are
    /// computed from them as the kubelet does. `None`: pods get a copy of
    /// the host's resolv.conf (no cluster DNS at all).
    pub dns: Option<nodelet_spec::dns::ClusterDns>,
    /// `--hook-timeout-default`: a limit for hooks of pods without a
    /// timeout annotation. `None` (the default) is the kubelet's: no limit.
    pub hook_timeout_default: Option<std::time::Duration>,
    /// `--crashloop-backoff-max` (the kubelet's `maxContainerRestartPeriod`,
    /// 1 s–300 s, default 300 s).
    pub crashloop_backoff_max: std::time::Duration,
    /// `--max-pods` of a standalone agent: a pod created while this many
    /// non-terminal pods exist is kept but not run (phase `Failed`, reason
    /// `OutOfpods`, as the kubelet rejects it). `None`: no bound here (node
    /// mode admits before the engine sees a pod).
    pub max_pods: Option<u32>,
    /// The kubelet's sysctl admission: the safe sysctls of the host's
    /// kernel plus `--allowed-unsafe-sysctls`. A pod asking for another is
    /// ended before its sandbox is made (`SysctlForbidden`). The default
    /// (kernel unknown, no unsafe ones) allows only the ungated safe set.
    pub sysctls: nodelet_spec::sysctl::Allowlist,
}

impl EngineConfig {
    pub fn new(node_name: impl Into<String>) -> Self {
        EngineConfig {
            node_name: node_name.into(),
            host_ips: Vec::new(),
            event_ttl: crate::events::expiry::DEFAULT_EVENT_TTL,
            retention: Default::default(),
            hooks: crate::hooks::HookOptions::default(),
            allocatable: None,
            dns: None,
            hook_timeout_default: None,
            crashloop_backoff_max: crate::backoff::MAX,
            max_pods: None,
            sysctls: nodelet_spec::sysctl::Allowlist::for_node::<&str>(None, &[])
                .unwrap_or_default(),
        }
    }
}
