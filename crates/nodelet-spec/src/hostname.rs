//! The hostname (and DNS domain) a pod's containers see.
//!
//! Kubelet `GeneratePodHostNameAndDomain`: `spec.hostname` when set, else
//! the pod name; cut to 63 bytes (a hostname is at most 64 bytes with its
//! NUL) and, only when cut, trailing `-` and `.` removed so the result is
//! still a valid DNS label. `spec.hostnameOverride` (GA in 1.37) wins over
//! both, and gives no domain: `hostname -f` shows the override too.
//! Validity of `spec.hostname`/`spec.subdomain`/`spec.hostnameOverride` is
//! checked by validation, not here.

use k8s_openapi::api::core::v1::Pod;

/// Longest hostname the kernel accepts.
pub const HOSTNAME_MAX_LEN: usize = 63;

/// The pod's hostname.
pub fn pod_hostname(pod: &Pod) -> String {
    if let Some(o) = hostname_override(pod) {
        return truncate_hostname(o);
    }
    let hostname = pod
        .spec
        .as_ref()
        .and_then(|s| s.hostname.as_deref())
        .filter(|h| !h.is_empty())
        .or(pod.metadata.name.as_deref())
        .unwrap_or_default();
    truncate_hostname(hostname)
}

/// The pod's hostname and, when `spec.subdomain` is set, its domain
/// `<subdomain>.<namespace>.svc.<cluster_domain>`.
pub fn pod_hostname_and_domain(pod: &Pod, cluster_domain: &str) -> (String, Option<String>) {
    if hostname_override(pod).is_some() {
        return (pod_hostname(pod), None);
    }
    let domain = pod
        .spec
        .as_ref()
        .and_then(|s| s.subdomain.as_deref())
        .filter(|s| !s.is_empty())
        .map(|subdomain| {
            let namespace = pod
                .metadata
                .namespace
                .as_deref()
                .filter(|n| !n.is_empty())
                .unwrap_or("default");
            format!("{subdomain}.{namespace}.svc.{cluster_domain}")
        });
    (pod_hostname(pod), domain)
}

fn hostname_override(pod: &Pod) -> Option<&str> {
    pod.spec.as_ref()?.hostname_override.as_deref()
}

/// Upstream `truncatePodHostnameIfNeeded`.
pub fn truncate_hostname(hostname: &str) -> String {
    if hostname.len() <= HOSTNAME_MAX_LEN {
        return hostname.to_owned();
    }
    // Valid names are ASCII; step back to a char boundary for anything else.
    let mut end = HOSTNAME_MAX_LEN;
    while !hostname.is_char_boundary(end) {
        end -= 1;
    }
    hostname[..end].trim_end_matches(['-', '.']).to_owned()
}
