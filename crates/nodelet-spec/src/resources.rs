//! A pod's compute resources as Kubernetes reasons about them: its QoS
//! class (`ComputePodQOS`, pkg/apis/core/helper/qos) and its total
//! requests (`PodRequests`, component-helpers/resource), which the node
//! compares with its allocatable capacity to admit a pod or a resize.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::env::Nanos;

/// The quality-of-service classes.
pub const GUARANTEED: &str = "Guaranteed";
pub const BURSTABLE: &str = "Burstable";
pub const BEST_EFFORT: &str = "BestEffort";

fn positive(q: &Quantity) -> Option<Nanos> {
    Nanos::parse(&q.0).ok().filter(|n| n.0 > 0)
}

fn all_containers(spec: &PodSpec) -> impl Iterator<Item = &Container> {
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
}

/// `ComputePodQOS`: BestEffort without cpu/memory requests or limits,
/// Guaranteed when every container limits both and requests equal limits,
/// else Burstable.
pub fn pod_qos(spec: &PodSpec) -> &'static str {
    let mut requests: BTreeMap<&str, Nanos> = BTreeMap::new();
    let mut limits: BTreeMap<&str, Nanos> = BTreeMap::new();
    let mut guaranteed = true;
    let add = |m: &mut BTreeMap<&'static str, Nanos>, name: &'static str, n: Nanos| {
        let e = m.entry(name).or_insert(Nanos(0));
        e.0 += n.0;
    };
    for c in all_containers(spec) {
        let r = c.resources.as_ref();
        let mut limited = (false, false);
        for name in ["cpu", "memory"] {
            if let Some(n) = r
                .and_then(|r| r.requests.as_ref())
                .and_then(|m| m.get(name))
                .and_then(positive)
            {
                add(&mut requests, name, n);
            }
            if let Some(n) = r
                .and_then(|r| r.limits.as_ref())
                .and_then(|m| m.get(name))
                .and_then(positive)
            {
                add(&mut limits, name, n);
                if name == "cpu" {
                    limited.0 = true;
                } else {
                    limited.1 = true;
                }
            }
        }
        if limited != (true, true) {
            guaranteed = false;
        }
    }
    if requests.is_empty() && limits.is_empty() {
        return BEST_EFFORT;
    }
    if guaranteed {
        for (name, req) in &requests {
            if limits.get(name) != Some(req) {
                guaranteed = false;
                break;
            }
        }
    }
    if guaranteed && requests.len() == limits.len() {
        GUARANTEED
    } else {
        BURSTABLE
    }
}

/// A container's request of `resource`, in nano-units.
pub fn request(r: Option<&ResourceRequirements>, resource: &str) -> Nanos {
    r.and_then(|r| r.requests.as_ref())
        .and_then(|m| m.get(resource))
        .and_then(|q| Nanos::parse(&q.0).ok())
        .unwrap_or(Nanos(0))
}

/// `PodRequests` for one resource: the regular containers and sidecars
/// summed, or a classic init container's request plus the sidecars started
/// before it if that is larger (init containers run one at a time).
pub fn pod_request(spec: &PodSpec, resource: &str) -> Nanos {
    let mut sidecars = 0i128;
    let mut init_peak = 0i128;
    for c in spec.init_containers.iter().flatten() {
        let r = request(c.resources.as_ref(), resource).0;
        if c.restart_policy.as_deref() == Some("Always") {
            sidecars += r;
            init_peak = init_peak.max(sidecars);
        } else {
            init_peak = init_peak.max(sidecars + r);
        }
    }
    let regular: i128 = spec
        .containers
        .iter()
        .map(|c| request(c.resources.as_ref(), resource).0)
        .sum();
    let overhead = spec
        .overhead
        .as_ref()
        .and_then(|m| m.get(resource))
        .and_then(|q| Nanos::parse(&q.0).ok())
        .map_or(0, |n| n.0);
    Nanos((regular + sidecars).max(init_peak) + overhead)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(v: serde_json::Value) -> PodSpec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn qos_classes() {
        let be = spec(serde_json::json!({"containers": [{"name": "a"}]}));
        assert_eq!(pod_qos(&be), BEST_EFFORT);
        let g = spec(
            serde_json::json!({"containers": [{"name": "a", "resources": {
            "limits": {"cpu": "500m", "memory": "64Mi"},
            "requests": {"cpu": "0.5", "memory": "64Mi"}}}]}),
        );
        assert_eq!(pod_qos(&g), GUARANTEED);
        let b = spec(
            serde_json::json!({"containers": [{"name": "a", "resources": {
            "limits": {"memory": "64Mi"}, "requests": {"memory": "32Mi"}}}]}),
        );
        assert_eq!(pod_qos(&b), BURSTABLE);
        // A second container without limits makes the pod Burstable.
        let b2 = spec(serde_json::json!({"containers": [
            {"name": "a", "resources": {"limits": {"cpu": "1", "memory": "1Gi"},
                                         "requests": {"cpu": "1", "memory": "1Gi"}}},
            {"name": "b"}]}));
        assert_eq!(pod_qos(&b2), BURSTABLE);
    }

    #[test]
    fn pod_requests_take_the_init_peak() {
        let s = spec(serde_json::json!({
            "initContainers": [
                {"name": "side", "restartPolicy": "Always", "resources": {"requests": {"cpu": "100m"}}},
                {"name": "init", "resources": {"requests": {"cpu": "2"}}}],
            "containers": [{"name": "a", "resources": {"requests": {"cpu": "500m"}}}]}));
        assert_eq!(pod_request(&s, "cpu").milli_value(), 2100);
        let s = spec(serde_json::json!({"containers": [
            {"name": "a", "resources": {"requests": {"memory": "64Mi"}}},
            {"name": "b", "resources": {"requests": {"memory": "64Mi"}}}]}));
        assert_eq!(pod_request(&s, "memory").value(), 128 << 20);
    }
}
