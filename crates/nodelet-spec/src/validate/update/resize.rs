//! `ValidatePodResize` (Kubernetes 1.35+): what the `pods/resize`
//! subresource accepts. Only CPU and memory of regular containers and
//! sidecars may change, the QoS class must stay, requests and limits cannot
//! be removed. (Memory limits may decrease since 1.34: the node checks the
//! usage before applying.)

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::meta::{MIRROR_POD_ANNOTATION, validate_meta_update};
use crate::resources::pod_qos;
use crate::validate::validate_pod;
use crate::{ErrorType, FieldError, FieldErrors, FieldPath};

type ResourceList = BTreeMap<String, Quantity>;

/// Every error of resizing `old` into `new` (`new` from
/// [`super::prepare_resize`]).
pub fn validate_pod_resize(new: &Pod, old: &Pod) -> FieldErrors {
    let mut errs = validate_meta_update(&new.metadata, &old.metadata);
    errs.extend(validate_pod(new));
    let empty = PodSpec::default();
    let new_spec = new.spec.as_ref().unwrap_or(&empty);
    let old_spec = old.spec.as_ref().unwrap_or(&empty);
    let whole = |msg: &str| {
        let mut e = FieldErrors::default();
        e.push(FieldError::forbidden(FieldPath::new(""), msg));
        e
    };
    let pod_level = |s: &PodSpec| {
        s.resources.as_ref().is_some_and(|r| {
            r.requests.as_ref().is_some_and(|m| !m.is_empty())
                || r.limits.as_ref().is_some_and(|m| !m.is_empty())
        })
    };
    if pod_level(old_spec) || pod_level(new_spec) {
        return whole("pods with pod-level resources cannot be resized");
    }
    if old
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(MIRROR_POD_ANNOTATION))
    {
        return whole("static pods cannot be resized");
    }
    if old_spec.os.as_ref().is_some_and(|os| os.name == "windows") {
        return whole("windows pods cannot be resized");
    }

    let path = FieldPath::new("spec");
    let old_qos = old
        .status
        .as_ref()
        .and_then(|s| s.qos_class.clone())
        .unwrap_or_else(|| pod_qos(old_spec).to_owned());
    if old_qos != pod_qos(new_spec) {
        let shown = new
            .status
            .as_ref()
            .and_then(|s| s.qos_class.clone())
            .unwrap_or_default();
        errs.push(FieldError::invalid(
            path.clone(),
            shown,
            "Pod QOS Class may not change as a result of resizing",
        ));
    }
    if !resize_supported(old) {
        errs.push(FieldError::forbidden(
            path.clone(),
            "Pod running on node without support for resize",
        ));
    }

    let new_init = new_spec.init_containers.as_deref().unwrap_or(&[]);
    for (i, o) in old_spec.init_containers.iter().flatten().enumerate() {
        if o.restart_policy.as_deref() != Some("Always") {
            continue;
        }
        if let Some(n) = new_init.get(i) {
            errs.extend(container_resize(
                &n.resources,
                &o.resources,
                &path.child("initContainers").index(i).child("resources"),
            ));
        }
    }
    for (i, o) in old_spec.containers.iter().enumerate() {
        if let Some(n) = new_spec.containers.get(i) {
            errs.extend(container_resize(
                &n.resources,
                &o.resources,
                &path.child("containers").index(i).child("resources"),
            ));
        }
    }

    let mut munged = new_spec.clone();
    for (i, c) in munged.containers.iter_mut().enumerate() {
        let Some(o) = old_spec.containers.get(i) else {
            continue;
        };
        drop_cpu_memory_changes(c, o);
        if c != o {
            errs.push(FieldError::forbidden(
                path.clone(),
                "only cpu and memory resources are mutable",
            ));
        }
    }
    if let Some(init) = munged.init_containers.as_mut() {
        for (i, c) in init.iter_mut().enumerate() {
            let Some(o) = old_spec.init_containers.as_ref().and_then(|v| v.get(i)) else {
                continue;
            };
            if c.restart_policy.as_deref() == Some("Always") {
                drop_cpu_memory_changes(c, o);
                if c != o {
                    errs.push(FieldError::forbidden(
                        path.clone(),
                        "only cpu and memory resources for sidecar containers are mutable",
                    ));
                }
            } else if c != o {
                errs.push(FieldError::forbidden(
                    path.clone(),
                    "resources for non-sidecar init containers are immutable",
                ));
            }
        }
    }
    if !errs.is_empty() {
        return errs;
    }
    if &munged != old_spec {
        errs.push(FieldError::forbidden(
            path,
            "only cpu and memory resources are mutable",
        ));
    }
    errs
}

/// `isPodResizeRequestSupported`: the first running container reports its
/// resources (the node understands resizes).
fn resize_supported(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.state.as_ref().is_some_and(|st| st.running.is_some()))
        })
        .is_none_or(|c| c.resources.is_some())
}

/// `validateContainerResize`: requests and limits cannot be removed.
fn container_resize(
    new: &Option<ResourceRequirements>,
    old: &Option<ResourceRequirements>,
    path: &FieldPath,
) -> FieldErrors {
    let mut errs = FieldErrors::default();
    let get = |r: &Option<ResourceRequirements>, limits: bool| -> ResourceList {
        r.as_ref()
            .and_then(|r| {
                if limits {
                    r.limits.clone()
                } else {
                    r.requests.clone()
                }
            })
            .unwrap_or_default()
    };
    let removed = |n: &ResourceList, o: &ResourceList| o.keys().any(|k| !n.contains_key(k));
    if removed(&get(new, false), &get(old, false)) {
        errs.push(FieldError::new(
            ErrorType::Forbidden,
            path.child("requests"),
            None,
            "resource requests cannot be removed",
        ));
    }
    if removed(&get(new, true), &get(old, true)) {
        errs.push(FieldError::new(
            ErrorType::Forbidden,
            path.child("limits"),
            None,
            "resource limits cannot be removed",
        ));
    }
    errs
}

/// `dropCPUMemoryResourcesFromContainer`: the container's cpu and memory
/// requests/limits set back to the old ones (other resources kept).
fn drop_cpu_memory_changes(c: &mut Container, old: &Container) {
    let munge = |new: Option<ResourceList>, old: Option<&ResourceList>| -> Option<ResourceList> {
        let old = old?;
        let mut m = new.unwrap_or_default();
        m.remove("cpu");
        m.remove("memory");
        for k in ["cpu", "memory"] {
            if let Some(q) = old.get(k) {
                m.insert(k.to_owned(), q.clone());
            }
        }
        Some(m)
    };
    let new_r = c.resources.clone().unwrap_or_default();
    let old_r = old.resources.clone().unwrap_or_default();
    let limits = munge(new_r.limits, old_r.limits.as_ref());
    let requests = munge(new_r.requests, old_r.requests.as_ref());
    c.resources = if limits.is_none() && requests.is_none() && old.resources.is_none() {
        None
    } else {
        Some(ResourceRequirements {
            limits,
            requests,
            ..old_r
        })
    };
}
