//! Pod sysctls (`spec.securityContext.sysctls`) as the kubelet treats
//! them: name normalisation (slashes or dots as separator), the kernel
//! namespace a sysctl lives in, the "safe" set (gated by the host's kernel
//! version), and the allowlist admission (`SysctlForbidden`) that refuses
//! anything else unless `--allowed-unsafe-sysctls` names it. Pure: the
//! kernel version is the caller's to read.
//!
//! Facts from k8s.io/kubernetes `pkg/kubelet/sysctl` and
//! k8s.io/component-helpers `node/util/sysctl` (v1.37).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;

/// The reason of a pod refused for its sysctls (`ForbiddenReason`).
pub const FORBIDDEN_REASON: &str = "SysctlForbidden";

/// The longest sysctl name or pattern the API accepts (`SysctlMaxLength`).
pub const MAX_LENGTH: usize = 253;

/// The name regex the API server quotes when it refuses a name.
pub const NAME_REGEX: &str =
    r"^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$";

/// The pattern regex quoted when an `--allowed-unsafe-sysctls` entry is bad.
pub const PATTERN_REGEX: &str =
    r"([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\./])*([a-z0-9][-_a-z0-9]*)?[a-z0-9*]";

/// The kernel namespace a sysctl is isolated by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Namespace {
    Ipc,
    Net,
    Uts,
    User,
    /// Not known to be namespaced: it would change the whole host.
    Unknown,
}

impl std::fmt::Display for Namespace {
    /// Upstream's spelling, as it appears in admission messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Namespace::Ipc => "IPC",
            Namespace::Net => "Net",
            Namespace::Uts => "UTS",
            Namespace::User => "User",
            Namespace::Unknown => "",
        })
    }
}

/// `NormalizeName` / `ConvertSysctlVariableToDotsSeparator`: when the
/// first separator is '/', '.' and '/' swap (`kernel/shm_rmid_forced` →
/// `kernel.shm_rmid_forced`, `net/ipv4/conf/eno2.100/rp_filter` →
/// `net.ipv4.conf.eno2/100.rp_filter`); otherwise the name is unchanged.
pub fn normalize_name(name: &str) -> String {
    match name.find(['.', '/']) {
        Some(i) if name.as_bytes()[i] == b'/' => name
            .chars()
            .map(|c| match c {
                '.' => '/',
                '/' => '.',
                c => c,
            })
            .collect(),
        _ => name.to_string(),
    }
}

/// The namespace of a normalised name or pattern prefix (`namespaceOf`).
fn namespace_of(name: &str) -> Namespace {
    match name {
        "kernel.hostname" | "kernel.domainname" => return Namespace::Uts,
        "kernel.sem"
        | "kernel.shmall"
        | "kernel.shmmax"
        | "kernel.shmmni"
        | "kernel.shm_rmid_forced"
        | "kernel.shm"
        | "kernel.msgmax"
        | "kernel.msgmnb"
        | "kernel.msgmni"
        | "kernel.msg" => return Namespace::Ipc,
        _ => {}
    }
    for (prefix, ns) in [
        ("net.", Namespace::Net),
        ("fs.mqueue.", Namespace::Ipc),
        ("user.", Namespace::User),
    ] {
        if name.starts_with(prefix) {
            return ns;
        }
    }
    Namespace::Unknown
}

/// `GetNamespace`: the namespace of a sysctl or pattern, the normalised
/// name (or, for a pattern, the part before its first `*`), and whether it
/// was a pattern.
pub fn namespace(sysctl: &str) -> (Namespace, String, bool) {
    let mut name = normalize_name(sysctl);
    let prefixed = match name.find('*') {
        Some(i) => {
            name.truncate(i);
            true
        }
        None => false,
    };
    (namespace_of(&name), name, prefixed)
}

/// A dotted/slashed name segment: `[a-z0-9]([-_a-z0-9]*[a-z0-9])?`.
fn segment_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let edge = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let inner = |c: &u8| edge(c) || *c == b'-' || *c == b'_';
    match (b.first(), b.last()) {
        (Some(f), Some(l)) => edge(f) && edge(l) && b.iter().all(inner),
        _ => false,
    }
}

/// `IsValidSysctlName`: at most 253 characters matching [`NAME_REGEX`].
pub fn is_valid_name(name: &str) -> bool {
    name.len() <= MAX_LENGTH && name.split(['.', '/']).all(segment_ok)
}

/// `IsValidSysctlPattern`: a name whose last segment may end in `*`
/// (`([a-z0-9][-_a-z0-9]*)?[a-z0-9*]`).
pub fn is_valid_pattern(pattern: &str) -> bool {
    if pattern.len() > MAX_LENGTH {
        return false;
    }
    let mut segs: Vec<&str> = pattern.split(['.', '/']).collect();
    let Some(last) = segs.pop() else {
        return false;
    };
    if !segs.into_iter().all(segment_ok) {
        return false;
    }
    let b = last.as_bytes();
    let edge = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let inner = |c: &u8| edge(c) || *c == b'-' || *c == b'_';
    match b.split_last() {
        None => false,
        Some((l, [])) => edge(l) || *l == b'*',
        Some((l, rest)) => (edge(l) || *l == b'*') && edge(&rest[0]) && rest.iter().all(inner),
    }
}

/// The safe sysctls and the kernel (major, minor) each became namespaced
/// in (`safe_sysctls.go`); `None`: always safe.
const SAFE: &[(&str, Option<(u32, u32)>)] = &[
    ("kernel.shm_rmid_forced", None),
    ("net.ipv4.ip_local_port_range", None),
    ("net.ipv4.tcp_syncookies", None),
    ("net.ipv4.ping_group_range", None),
    ("net.ipv4.ip_unprivileged_port_start", None),
    ("net.ipv4.ip_local_reserved_ports", Some((3, 16))),
    ("net.ipv4.tcp_keepalive_time", Some((4, 5))),
    ("net.ipv4.tcp_fin_timeout", Some((4, 6))),
    ("net.ipv4.tcp_keepalive_intvl", Some((4, 5))),
    ("net.ipv4.tcp_keepalive_probes", Some((4, 5))),
    ("net.ipv4.tcp_rmem", Some((4, 15))),
    ("net.ipv4.tcp_wmem", Some((4, 15))),
    ("net.ipv4.tcp_slow_start_after_idle", Some((4, 15))),
    ("net.ipv4.tcp_notsent_lowat", Some((4, 6))),
];

/// The (major, minor) of a kernel release such as `6.8.0-45-generic`
/// (`/proc/sys/kernel/osrelease`); `None` when it does not start so.
pub fn parse_kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut it = release.trim().split(['.', '-', '+']);
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    Some((major, minor))
}

/// `SafeSysctlAllowlist`: the safe sysctls namespaced on this kernel. An
/// unknown kernel version keeps only the ungated ones, as upstream.
pub fn safe_sysctls(kernel: Option<(u32, u32)>) -> Vec<&'static str> {
    SAFE.iter()
        .filter(|(_, gate)| match gate {
            None => true,
            Some(g) => kernel.is_some_and(|k| k >= *g),
        })
        .map(|(n, _)| *n)
        .collect()
}

/// A bad `--allowed-unsafe-sysctls` entry (`NewAllowlist`'s errors).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AllowlistError {
    #[error(
        "sysctl {0:?} must have at most {MAX_LENGTH} characters and match regex {PATTERN_REGEX}"
    )]
    Invalid(String),
    #[error("the sysctls {0:?} are not known to be namespaced")]
    NotNamespaced(String),
}

/// The kubelet's `patternAllowlist`: exact names and `*` prefixes, each
/// with its namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist {
    sysctls: BTreeMap<String, Namespace>,
    prefixes: BTreeMap<String, Namespace>,
}

impl Allowlist {
    /// `NewAllowlist`: every pattern valid and namespaced, or an error
    /// naming the first that is not.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Self, AllowlistError> {
        let mut w = Allowlist::default();
        for p in patterns {
            let p = p.as_ref();
            if !is_valid_pattern(p) {
                return Err(AllowlistError::Invalid(p.to_string()));
            }
            let (ns, name, prefixed) = namespace(p);
            if ns == Namespace::Unknown {
                return Err(AllowlistError::NotNamespaced(name));
            }
            if prefixed {
                w.prefixes.insert(name, ns);
            } else {
                w.sysctls.insert(name, ns);
            }
        }
        Ok(w)
    }

    /// The kubelet's list: the safe sysctls of this kernel plus the
    /// `--allowed-unsafe-sysctls` patterns.
    pub fn for_node<S: AsRef<str>>(
        kernel: Option<(u32, u32)>,
        unsafe_allowed: &[S],
    ) -> Result<Self, AllowlistError> {
        let mut all: Vec<String> = safe_sysctls(kernel).into_iter().map(String::from).collect();
        all.extend(unsafe_allowed.iter().map(|s| s.as_ref().to_string()));
        Self::new(&all)
    }

    /// `validateSysctl`: `Err` with the message after `forbidden sysctl: `.
    fn check(
        &self,
        sysctl: &str,
        host_net: bool,
        host_ipc: bool,
        host_users: bool,
    ) -> Result<(), String> {
        let sysctl = normalize_name(sysctl);
        let ns = self.sysctls.get(&sysctl).copied().or_else(|| {
            self.prefixes
                .iter()
                .find(|(p, _)| sysctl.starts_with(p.as_str()))
                .map(|(_, ns)| *ns)
        });
        let Some(ns) = ns else {
            return Err(format!("{sysctl:?} not allowlisted"));
        };
        let host = match ns {
            Namespace::Ipc => host_ipc,
            Namespace::Net => host_net,
            Namespace::User => host_users,
            Namespace::Uts | Namespace::Unknown => false,
        };
        if host {
            return Err(format!("{sysctl:?} not allowed with host {ns} enabled"));
        }
        Ok(())
    }

    /// The admit handler: `Err(message)` (reason [`FORBIDDEN_REASON`])
    /// for the first sysctl of the pod that is not allowed.
    pub fn admit(&self, pod: &Pod) -> Result<(), String> {
        let Some(spec) = pod.spec.as_ref() else {
            return Ok(());
        };
        let sysctls = spec
            .security_context
            .as_ref()
            .and_then(|s| s.sysctls.as_deref())
            .unwrap_or_default();
        let host_users = spec.host_users.unwrap_or(true);
        for s in sysctls {
            self.check(
                &s.name,
                spec.host_network.unwrap_or(false),
                spec.host_ipc.unwrap_or(false),
                host_users,
            )
            .map_err(|e| format!("forbidden sysctl: {e}"))?;
        }
        Ok(())
    }
}

/// The pod's sysctls, names normalised to dots, as the runtime sets them
/// (`ConvertPodSysctlsVariableToDotsSeparator`).
pub fn pod_sysctls(pod: &Pod) -> BTreeMap<String, String> {
    pod.spec
        .as_ref()
        .and_then(|s| s.security_context.as_ref())
        .and_then(|s| s.sysctls.as_ref())
        .into_iter()
        .flatten()
        .map(|s| (normalize_name(&s.name), s.value.clone()))
        .collect()
}

#[cfg(test)]
mod tests;
