//! The size of a memory-backed emptyDir (the kubelet's
//! `calculateEmptyDirMemorySize`): its `sizeLimit` when smaller than the
//! pod's memory limit, else the pod's memory limit, else none (tmpfs'
//! default).

use k8s_openapi::api::core::v1::{EmptyDirVolumeSource, Pod};

use crate::env::Nanos;

/// The pod's memory limit in bytes (`resourcehelper.PodLimits`): the
/// pod-level limit when set, else the sum over regular containers (plus
/// sidecars) maxed with each init container's, and only when every regular
/// container has one.
pub fn pod_memory_limit(pod: &Pod) -> Option<i64> {
    let spec = pod.spec.as_ref()?;
    let bytes = |l: Option<
        &std::collections::BTreeMap<
            String,
            k8s_openapi::apimachinery::pkg::api::resource::Quantity,
        >,
    >|
     -> Option<i64> {
        let q = l?.get("memory")?;
        let v = Nanos::parse(&q.0).ok()?.value();
        i64::try_from(v).ok().filter(|v| *v > 0)
    };
    if let Some(v) = bytes(spec.resources.as_ref().and_then(|r| r.limits.as_ref())) {
        return Some(v);
    }
    let limit_of = |r: &Option<k8s_openapi::api::core::v1::ResourceRequirements>| {
        bytes(r.as_ref().and_then(|r| r.limits.as_ref()))
    };
    let mut sum: i64 = 0;
    for c in &spec.containers {
        sum = sum.checked_add(limit_of(&c.resources)?)?;
    }
    let mut sidecars: i64 = 0;
    let mut init_max: i64 = 0;
    for c in spec.init_containers.iter().flatten() {
        let l = limit_of(&c.resources);
        if c.restart_policy.as_deref() == Some("Always") {
            sidecars = sidecars.checked_add(l?)?;
        } else if let Some(l) = l {
            init_max = init_max.max(sidecars.saturating_add(l));
        }
    }
    Some(sum.saturating_add(sidecars).max(init_max))
}

/// An emptyDir's `sizeLimit` in bytes, `None` when unset or not positive
/// (the kubelet ignores those: `size.Sign() == 1`).
pub fn emptydir_size_limit(source: &EmptyDirVolumeSource) -> Option<i64> {
    source
        .size_limit
        .as_ref()
        .and_then(|q| Nanos::parse(&q.0).ok())
        .and_then(|n| i64::try_from(n.value()).ok())
        .filter(|v| *v > 0)
}

/// The tmpfs size for a `medium: Memory` emptyDir, `None` for tmpfs'
/// default.
pub fn emptydir_memory_size(source: &EmptyDirVolumeSource, pod: &Pod) -> Option<i64> {
    let pod_limit = pod_memory_limit(pod);
    let size_limit = emptydir_size_limit(source);
    match (size_limit, pod_limit) {
        (Some(s), Some(p)) => Some(s.min(p)),
        (Some(s), None) => Some(s),
        (None, p) => p,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, PodSpec, ResourceRequirements};
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

    fn c(mem: Option<&str>) -> Container {
        Container {
            resources: mem.map(|m| ResourceRequirements {
                limits: Some([("memory".to_string(), Quantity(m.into()))].into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn pod(cs: Vec<Container>) -> Pod {
        Pod {
            spec: Some(PodSpec {
                containers: cs,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn size_is_the_smaller_of_limit_and_pod_limit() {
        let p = pod(vec![c(Some("64Mi")), c(Some("64Mi"))]);
        assert_eq!(pod_memory_limit(&p), Some(128 << 20));
        let src = |s: Option<&str>| EmptyDirVolumeSource {
            medium: Some("Memory".into()),
            size_limit: s.map(|s| Quantity(s.into())),
            ..Default::default()
        };
        assert_eq!(emptydir_memory_size(&src(Some("1Mi")), &p), Some(1 << 20));
        assert_eq!(emptydir_memory_size(&src(Some("1Gi")), &p), Some(128 << 20));
        assert_eq!(emptydir_memory_size(&src(None), &p), Some(128 << 20));
        let unlimited = pod(vec![c(Some("64Mi")), c(None)]);
        assert_eq!(pod_memory_limit(&unlimited), None);
        assert_eq!(emptydir_memory_size(&src(None), &unlimited), None);
        assert_eq!(
            emptydir_memory_size(&src(Some("2Mi")), &unlimited),
            Some(2 << 20)
        );
        assert_eq!(emptydir_size_limit(&src(Some("0"))), None);
        assert_eq!(emptydir_size_limit(&src(Some("1M"))), Some(1_000_000));
    }
}
