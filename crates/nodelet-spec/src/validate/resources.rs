//! A container's `resources` and `resizePolicy`
//! (`ValidateContainerResourceRequirements`, `validateResizePolicy`): the
//! rules an in-place resize must keep satisfying — quantities not
//! negative, cpu/memory requests not above their limits — and the
//! per-resource restart policies.

use std::collections::HashSet;

use k8s_openapi::api::core::v1::{ContainerResizePolicy, ResourceRequirements};

use crate::env::Nanos;
use crate::{FieldError, FieldErrors, FieldPath};

/// cpu and memory requests at most their limits, nothing negative.
pub fn validate_requirements(r: Option<&ResourceRequirements>, path: &FieldPath) -> FieldErrors {
    let mut errs = FieldErrors::default();
    let Some(r) = r else { return errs };
    let limits = r.limits.clone().unwrap_or_default();
    let requests = r.requests.clone().unwrap_or_default();
    for (name, list, sub) in [(&limits, "limits"), (&requests, "requests")]
        .into_iter()
        .flat_map(|(m, sub)| m.keys().map(move |k| (k, m, sub)))
    {
        let q = &list[name];
        if let Ok(n) = Nanos::parse(&q.0)
            && n.0 < 0
        {
            errs.push(FieldError::invalid(
                path.child(sub).key(name),
                q.0.as_str(),
                "must be greater than or equal to 0",
            ));
        }
    }
    for (name, req) in &requests {
        let Some(lim) = limits.get(name) else {
            continue;
        };
        if let (Ok(r), Ok(l)) = (Nanos::parse(&req.0), Nanos::parse(&lim.0))
            && r > l
        {
            errs.push(FieldError::invalid(
                path.child("requests"),
                req.0.as_str(),
                format!("must be less than or equal to {name} limit of {}", lim.0),
            ));
        }
    }
    errs
}

/// `validateResizePolicy`: cpu and memory at most once each, a known
/// restart policy, and only `NotRequired` in a pod that never restarts.
pub fn validate_resize_policy(
    policies: &[ContainerResizePolicy],
    pod_restart_policy: Option<&str>,
    path: &FieldPath,
) -> FieldErrors {
    let mut errs = FieldErrors::default();
    let mut seen = HashSet::new();
    for (i, p) in policies.iter().enumerate() {
        if !seen.insert(p.resource_name.as_str()) {
            errs.push(FieldError::duplicate(
                path.index(i),
                p.resource_name.as_str(),
            ));
        }
        match p.resource_name.as_str() {
            "cpu" | "memory" => {}
            "" => errs.push(FieldError::required(path.clone(), "")),
            other => errs.push(FieldError::not_supported(
                path.clone(),
                other,
                &["cpu", "memory"],
            )),
        }
        match p.restart_policy.as_str() {
            "NotRequired" | "RestartContainer" => {}
            "" => errs.push(FieldError::required(path.clone(), "")),
            other => errs.push(FieldError::not_supported(
                path.clone(),
                other,
                &["NotRequired", "RestartContainer"],
            )),
        }
        if pod_restart_policy == Some("Never") && p.restart_policy != "NotRequired" {
            errs.push(FieldError::invalid(
                path.clone(),
                p.restart_policy.as_str(),
                "must be 'NotRequired' when `restartPolicy` is 'Never'",
            ));
        }
    }
    errs
}
