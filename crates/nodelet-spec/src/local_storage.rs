//! `ephemeral-storage` limits as the kubelet's eviction manager reads them
//! (`localStorageEviction`): each container's own limit, and the pod's
//! total (`PodLimits`: the app containers' and sidecars' limits summed, or
//! the largest init container's when that is more). A container over its
//! limit, or a pod over its total, is evicted; the messages carry the
//! limits as the API server prints quantities.

use k8s_openapi::api::core::v1::{Container, PodSpec};

use crate::env::Nanos;

const RESOURCE: &str = "ephemeral-storage";

/// One container's limit: its name, the bytes, the quantity as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    pub container: String,
    pub bytes: u64,
    pub written: String,
}

fn limit_of(c: &Container) -> Option<Limit> {
    let q = c.resources.as_ref()?.limits.as_ref()?.get(RESOURCE)?;
    let bytes = Nanos::parse(&q.0).ok()?.value();
    Some(Limit {
        container: c.name.clone(),
        bytes: u64::try_from(bytes).ok().filter(|b| *b > 0)?,
        written: q.0.clone(),
    })
}

fn is_sidecar(c: &Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

/// Every container's (init containers included) positive limit.
pub fn container_limits(spec: &PodSpec) -> Vec<Limit> {
    spec.init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter())
        .filter_map(limit_of)
        .collect()
}

/// The pod's total limit, when any container has one: bytes and the
/// quantity as the API server would print the sum.
pub fn pod_limit(spec: &PodSpec) -> Option<(u64, String)> {
    let running: Vec<Limit> = spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| is_sidecar(c))
        .chain(spec.containers.iter())
        .filter_map(limit_of)
        .collect();
    let init_max = spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| !is_sidecar(c))
        .filter_map(limit_of)
        .max_by_key(|l| l.bytes);
    let sum: u64 = running.iter().map(|l| l.bytes).sum();
    match (running.as_slice(), init_max) {
        ([], None) => None,
        (_, Some(i)) if i.bytes > sum => Some((i.bytes, i.written)),
        ([one], _) => Some((one.bytes, one.written.clone())),
        (many, _) => {
            let decimal = many.iter().all(|l| !l.written.contains('i'));
            Some((sum, format_bytes(sum, decimal)))
        }
    }
}

/// A byte count as a canonical quantity: the largest suffix that divides
/// it exactly (binary `Ki`…`Ei`, or decimal `k`…`E`), else plain bytes.
pub fn format_bytes(bytes: u64, decimal: bool) -> String {
    let (base, suffixes): (u64, [&str; 6]) = if decimal {
        (1000, ["k", "M", "G", "T", "P", "E"])
    } else {
        (1024, ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"])
    };
    if bytes == 0 {
        return "0".to_owned();
    }
    let (mut n, mut used) = (bytes, None);
    for s in suffixes {
        if n % base != 0 {
            break;
        }
        n /= base;
        used = Some(s);
    }
    format!("{n}{}", used.unwrap_or(""))
}

/// `containerEphemeralStorageMessageFmt` (the trailing space is upstream's).
pub fn container_message(container: &str, limit: &str) -> String {
    format!("Container {container} exceeded its local ephemeral storage limit {limit:?}. ")
}

/// `podEphemeralStorageMessageFmt` (the trailing space is upstream's).
pub fn pod_message(limit: &str) -> String {
    format!("Pod ephemeral local storage usage exceeds the total limit of containers {limit}. ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: serde_json::Value) -> PodSpec {
        serde_json::from_value(v).unwrap()
    }

    fn c(name: &str, limit: Option<&str>) -> serde_json::Value {
        match limit {
            Some(l) => json!({"name": name, "resources": {"limits": {"ephemeral-storage": l}}}),
            None => json!({"name": name}),
        }
    }

    #[test]
    fn the_pod_total_is_the_sum_of_app_containers_or_the_largest_init() {
        let s = spec(json!({"containers": [c("bar", Some("5Mi"))]}));
        assert_eq!(pod_limit(&s), Some((5 << 20, "5Mi".to_owned())));
        assert_eq!(
            container_limits(&s),
            vec![Limit {
                container: "bar".into(),
                bytes: 5 << 20,
                written: "5Mi".into()
            }]
        );
        let s =
            spec(json!({"containers": [c("a", Some("5Mi")), c("b", Some("1Gi")), c("n", None)]}));
        assert_eq!(
            pod_limit(&s),
            Some(((5 << 20) + (1 << 30), "1029Mi".to_owned()))
        );
        let s = spec(json!({"containers": [c("a", Some("5M")), c("b", Some("5M"))]}));
        assert_eq!(pod_limit(&s), Some((10_000_000, "10M".to_owned())));
        let s = spec(json!({
            "initContainers": [c("i", Some("1Gi")),
                               {"name": "side", "restartPolicy": "Always",
                                "resources": {"limits": {"ephemeral-storage": "1Mi"}}}],
            "containers": [c("a", Some("1Mi"))]}));
        assert_eq!(pod_limit(&s), Some((1 << 30, "1Gi".to_owned())));
        assert_eq!(container_limits(&s).len(), 3);
        assert_eq!(
            pod_limit(&spec(json!({"containers": [c("n", None)]}))),
            None
        );
    }

    #[test]
    fn messages_are_the_kubelets() {
        assert_eq!(
            container_message("bar", "5Mi"),
            "Container bar exceeded its local ephemeral storage limit \"5Mi\". "
        );
        assert_eq!(
            pod_message("5Mi"),
            "Pod ephemeral local storage usage exceeds the total limit of containers 5Mi. "
        );
        assert_eq!(format_bytes(1536, false), "1536");
        assert_eq!(format_bytes(3 << 30, false), "3Gi");
    }
}
