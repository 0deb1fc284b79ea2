//! `--hook-host-policy`: where httpGet hooks and httpGet/tcpSocket probes
//! may connect. The kubelet connects wherever the pod's `host` field
//! points (default `any`, as the kubelet), which lets anyone who can create
//! a pod make the node's agent issue requests to the node itself, its
//! metadata service or other hosts (the SSRF concern of KEP-4940, which
//! Pod Security baseline answers since v1.34 by forbidding the field).
//! `pod-only` refuses any `host` other than the pod's own IP, so the agent
//! only ever connects to the pod it serves.

use std::net::IpAddr;

/// Which `host` values hooks and probes may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostPolicy {
    /// Any host, as the kubelet.
    #[default]
    Any,
    /// Only the pod's own IP (an empty `host`, or the pod IP itself).
    PodOnly,
}

impl std::str::FromStr for HostPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "any" => Ok(HostPolicy::Any),
            "pod-only" => Ok(HostPolicy::PodOnly),
            _ => Err(format!("{s:?}: must be \"any\" or \"pod-only\"")),
        }
    }
}

/// Whether `host` (the handler's, `None`/empty meaning the pod IP) may be
/// used; the error says why not.
pub fn check(policy: HostPolicy, host: Option<&str>, pod_ip: Option<IpAddr>) -> Result<(), String> {
    let Some(host) = host.filter(|h| !h.is_empty()) else {
        return Ok(());
    };
    if policy == HostPolicy::Any {
        return Ok(());
    }
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    match (literal.parse::<IpAddr>(), pod_ip) {
        (Ok(ip), Some(pod)) if ip == pod => Ok(()),
        _ => Err(format!(
            "host {host:?} refused by --hook-host-policy=pod-only: only the pod's own IP ({}) may be targeted",
            pod_ip.map_or_else(|| "none yet".to_string(), |ip| ip.to_string())
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_only_allows_the_pod_ip_only() {
        let pod: IpAddr = "10.244.0.7".parse().unwrap();
        assert!(check(HostPolicy::Any, Some("169.254.169.254"), Some(pod)).is_ok());
        assert!(check(HostPolicy::PodOnly, None, Some(pod)).is_ok());
        assert!(check(HostPolicy::PodOnly, Some(""), Some(pod)).is_ok());
        assert!(check(HostPolicy::PodOnly, Some("10.244.0.7"), Some(pod)).is_ok());
        let e = check(HostPolicy::PodOnly, Some("127.0.0.1"), Some(pod)).unwrap_err();
        assert_eq!(
            e,
            "host \"127.0.0.1\" refused by --hook-host-policy=pod-only: only the pod's own IP (10.244.0.7) may be targeted"
        );
        assert!(
            check(
                HostPolicy::PodOnly,
                Some("metadata.google.internal"),
                Some(pod)
            )
            .is_err()
        );
        assert!(check(HostPolicy::PodOnly, Some("10.244.0.7"), None).is_err());
        assert_eq!("pod-only".parse::<HostPolicy>(), Ok(HostPolicy::PodOnly));
        assert!("none".parse::<HostPolicy>().is_err());
    }
}
