//! Translates a container's `securityContext` and `resources` (with the
//! pod-level security context as fallback, as Kubernetes merges them) into
//! the runtime's plain settings, so cgroup limits, user/group, supplementary
//! groups, capabilities, privileged, read-only rootfs, seccomp, AppArmor and
//! procMount reach the OCI bundle.

use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};
use nodelet_runtime::{AppArmorProfile, Resources, SeccompProfile, SecurityConfig};
use nodelet_spec::env::Nanos;
use nodelet_spec::securitycontext;

pub fn security(pod: &Pod, c: &Container) -> SecurityConfig {
    let pod_sc = pod
        .spec
        .as_ref()
        .and_then(|p: &PodSpec| p.security_context.as_ref());
    let sc = c.security_context.as_ref();
    let caps = sc.and_then(|s| s.capabilities.as_ref());
    let seccomp = match securitycontext::seccomp_profile(pod, c) {
        Some(p) if p.type_ == "RuntimeDefault" => SeccompProfile::RuntimeDefault,
        Some(p) if p.type_ == "Localhost" => {
            SeccompProfile::Localhost(p.localhost_profile.clone().unwrap_or_default())
        }
        _ => SeccompProfile::Unconfined,
    };
    let apparmor = securitycontext::apparmor_profile(pod, c).map(|p| match p.type_.as_str() {
        "RuntimeDefault" => AppArmorProfile::RuntimeDefault,
        "Localhost" => AppArmorProfile::Localhost(p.localhost_profile.unwrap_or_default()),
        _ => AppArmorProfile::Unconfined,
    });
    // The kubelet passes supplementalGroups, then fsGroup, to the runtime.
    let supplemental_groups = pod_sc
        .and_then(|p| p.supplemental_groups.clone())
        .unwrap_or_default()
        .into_iter()
        .chain(pod_sc.and_then(|p| p.fs_group))
        .collect();
    SecurityConfig {
        sysctls: nodelet_spec::sysctl::pod_sysctls(pod),
        seccomp,
        apparmor,
        proc_mount_unmasked: sc.and_then(|s| s.proc_mount.as_deref()) == Some("Unmasked"),
        supplemental_groups,
        supplemental_groups_strict: pod_sc.and_then(|p| p.supplemental_groups_policy.as_deref())
            == Some("Strict"),
        run_as_user: sc
            .and_then(|s| s.run_as_user)
            .or_else(|| pod_sc.and_then(|p| p.run_as_user)),
        run_as_group: sc
            .and_then(|s| s.run_as_group)
            .or_else(|| pod_sc.and_then(|p| p.run_as_group)),
        privileged: sc.and_then(|s| s.privileged).unwrap_or(false),
        read_only_root_filesystem: sc
            .and_then(|s| s.read_only_root_filesystem)
            .unwrap_or(false),
        capabilities_add: caps.and_then(|c| c.add.clone()).unwrap_or_default(),
        capabilities_drop: caps.and_then(|c| c.drop.clone()).unwrap_or_default(),
        no_new_privileges: sc.and_then(|s| s.allow_privilege_escalation) == Some(false),
    }
}

/// Limits and requests in bytes and millicores. Quantities were validated
/// when the pod was admitted; one that still fails to parse is left unset
/// rather than guessed.
pub fn resources(c: &Container) -> Resources {
    resources_of(c.resources.as_ref())
}

/// [`resources`] of a container's `resources` block.
pub fn resources_of(r: Option<&k8s_openapi::api::core::v1::ResourceRequirements>) -> Resources {
    let Some(r) = r else {
        return Resources::default();
    };
    let get = |map: &Option<
        std::collections::BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
    >,
               key: &str|
     -> Option<Nanos> {
        map.as_ref()
            .and_then(|m| m.get(key))
            .and_then(|q| Nanos::parse(&q.0).ok())
    };
    let bytes = |n: Nanos| i64::try_from(n.value()).ok();
    let millis = |n: Nanos| i64::try_from(n.milli_value()).ok();
    Resources {
        memory_limit_bytes: get(&r.limits, "memory").and_then(bytes),
        memory_request_bytes: get(&r.requests, "memory").and_then(bytes),
        cpu_limit_millis: get(&r.limits, "cpu").and_then(millis),
        cpu_request_millis: get(&r.requests, "cpu").and_then(millis),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(yaml: serde_json::Value) -> Container {
        serde_json::from_value(yaml).unwrap()
    }

    #[test]
    fn quantities_become_bytes_and_millicores() {
        let c = container(serde_json::json!({
            "name": "c",
            "resources": {
                "limits": {"memory": "64Mi", "cpu": "500m"},
                "requests": {"memory": "1G", "cpu": "0.1"}
            }
        }));
        let r = resources(&c);
        assert_eq!(r.memory_limit_bytes, Some(64 * 1024 * 1024));
        assert_eq!(r.memory_request_bytes, Some(1_000_000_000));
        assert_eq!(r.cpu_limit_millis, Some(500));
        assert_eq!(r.cpu_request_millis, Some(100));
        assert_eq!(
            resources(&container(serde_json::json!({"name": "c"}))),
            Resources::default()
        );
    }

    #[test]
    fn container_security_context_overrides_the_pod_one() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {
                "containers": [],
                "securityContext": {
                    "runAsUser": 1000, "runAsGroup": 2000,
                    "supplementalGroups": [4000], "fsGroup": 5000,
                    "supplementalGroupsPolicy": "Strict",
                    "seccompProfile": {"type": "RuntimeDefault"}
                }
            }
        }))
        .unwrap();
        let c = container(serde_json::json!({
            "name": "c",
            "securityContext": {
                "runAsUser": 0,
                "readOnlyRootFilesystem": true,
                "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]}
            }
        }));
        let s = security(&pod, &c);
        assert_eq!(s.supplemental_groups, vec![4000, 5000]);
        assert!(s.supplemental_groups_strict);
        assert_eq!(s.seccomp, SeccompProfile::RuntimeDefault);
        assert_eq!(s.apparmor, None);
        assert!(!s.proc_mount_unmasked);
        assert_eq!(s.run_as_user, Some(0));
        assert_eq!(s.run_as_group, Some(2000));
        assert!(s.read_only_root_filesystem);
        assert!(!s.privileged);
        assert_eq!(s.capabilities_add, vec!["NET_ADMIN"]);
        assert_eq!(s.capabilities_drop, vec!["ALL"]);
    }
}
