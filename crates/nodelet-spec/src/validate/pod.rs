//! Pod checks (`ValidatePodCreate`/`ValidatePodSpec`), all errors together.

use std::collections::HashSet;

use k8s_openapi::api::core::v1::{Pod, PodSpec};

use super::container::{
    ContainerView, PodContext, one_of, validate_common, validate_ephemeral, validate_init,
    validate_regular,
};
use super::meta::validate_meta;
use super::names;
use super::ports::host_port_conflicts;
use super::security::validate_pod_security_context;
use super::volumes::validate_volumes;
use crate::{FieldError, FieldErrors, FieldPath};

/// Validates a defaulted pod being created (`ValidatePodCreate`): as
/// [`validate_pod`], and ephemeral containers only come later, through the
/// `ephemeralcontainers` subresource.
pub fn validate_pod_create(pod: &Pod) -> FieldErrors {
    let mut errs = validate_pod(pod);
    if pod
        .spec
        .as_ref()
        .and_then(|s| s.ephemeral_containers.as_ref())
        .is_some_and(|e| !e.is_empty())
    {
        errs.push(FieldError::forbidden(
            FieldPath::new("spec").child("ephemeralContainers"),
            "cannot be set on create",
        ));
    }
    errs
}

/// Validates a defaulted pod.
pub fn validate_pod(pod: &Pod) -> FieldErrors {
    let mut errs = validate_meta(&pod.metadata, names::dns1123_subdomain, true);
    let path = FieldPath::new("spec");
    match &pod.spec {
        Some(spec) => errs.extend(validate_spec(spec, &path)),
        None => errs.push(FieldError::required(path.child("containers"), "")),
    }
    // nodelet's own annotations (hooks.nodelet.dev/*): refused when wrong.
    errs.extend(crate::annotations::parse(pod).1);
    errs
}

fn validate_spec(spec: &PodSpec, path: &FieldPath) -> FieldErrors {
    let (mut errs, volumes) = validate_volumes(
        spec.volumes.as_deref().unwrap_or(&[]),
        &path.child("volumes"),
    );
    let ctx = PodContext {
        volumes,
        // Validation runs after defaulting; 30 is the default if a caller
        // skipped it, so sleep hooks are still bounded.
        grace: Some(spec.termination_grace_period_seconds.unwrap_or(30)),
        os: spec.os.as_ref().map(|os| os.name.as_str()),
        restart_policy: spec.restart_policy.as_deref(),
        host_users: spec.host_users != Some(false),
    };
    let mut names: HashSet<&str> = HashSet::new();
    errs.extend(containers(spec, &ctx, &mut names, path));
    errs.extend(init_containers(spec, &ctx, &mut names, path));
    errs.extend(ephemeral_containers(spec, &ctx, &mut names, path));
    errs.extend(one_of(
        spec.restart_policy.as_deref().unwrap_or(""),
        &["Always", "OnFailure", "Never"],
        &path.child("restartPolicy"),
    ));
    errs.extend(one_of(
        spec.dns_policy.as_deref().unwrap_or(""),
        &["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"],
        &path.child("dnsPolicy"),
    ));
    if let Some(g) = spec.termination_grace_period_seconds
        && g < 0
    {
        errs.push(FieldError::invalid(
            path.child("terminationGracePeriodSeconds"),
            g,
            "must be greater than or equal to 0",
        ));
    }
    errs.extend(validate_pod_security_context(spec, path));
    errs.extend(validate_host_name(spec, path));
    if let Some(d) = spec.active_deadline_seconds
        && !(1..=i64::from(i32::MAX)).contains(&d)
    {
        errs.push(FieldError::invalid(
            path.child("activeDeadlineSeconds"),
            d,
            names::inclusive_range_error(1, i32::MAX.into()),
        ));
    }
    if let Some(os) = &spec.os
        && !matches!(os.name.as_str(), "linux" | "windows")
    {
        errs.push(FieldError::not_supported(
            path.child("os").child("name"),
            os.name.as_str(),
            &["linux", "windows"],
        ));
    }
    errs
}

/// `spec.hostname`, `spec.subdomain` (DNS labels) and `validatePodHostName`
/// for `spec.hostnameOverride`.
fn validate_host_name(spec: &PodSpec, path: &FieldPath) -> FieldErrors {
    let mut errs = FieldErrors::default();
    for (field, value) in [("hostname", &spec.hostname), ("subdomain", &spec.subdomain)] {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            for m in names::dns1123_label(v) {
                errs.push(FieldError::invalid(path.child(field), v, m));
            }
        }
    }
    let Some(o) = spec.hostname_override.as_deref() else {
        return errs;
    };
    let field = path.child("hostnameOverride");
    if spec.set_hostname_as_fqdn == Some(true) {
        errs.push(FieldError::forbidden(
            field.clone(),
            "may not be specified when setHostnameAsFQDN is true",
        ));
    }
    if spec.host_network == Some(true) {
        errs.push(FieldError::forbidden(
            field.clone(),
            "may not be specified when hostNetwork is true",
        ));
    }
    if o.len() > 64 {
        errs.push(FieldError::too_long(field.clone(), 64));
    }
    for m in names::dns1123_subdomain(o) {
        errs.push(FieldError::invalid(field.clone(), o, m));
    }
    errs
}

fn containers<'a>(
    spec: &'a PodSpec,
    ctx: &PodContext<'_>,
    seen: &mut HashSet<&'a str>,
    path: &FieldPath,
) -> FieldErrors {
    let mut errs = FieldErrors::default();
    let cpath = path.child("containers");
    if spec.containers.is_empty() {
        errs.push(FieldError::required(cpath, ""));
        return errs;
    }
    for (i, c) in spec.containers.iter().enumerate() {
        let p = cpath.index(i);
        let view = ContainerView::from(c);
        errs.extend(validate_common(&view, ctx, &p));
        if !seen.insert(c.name.as_str()) {
            errs.push(FieldError::duplicate(p.child("name"), c.name.as_str()));
        }
        errs.extend(validate_regular(&view, ctx, &p));
    }
    errs.extend(host_port_conflicts(
        spec.containers
            .iter()
            .enumerate()
            .map(|(i, c)| (cpath.index(i), c.ports.as_deref().unwrap_or(&[]))),
    ));
    errs
}

fn init_containers<'a>(
    spec: &'a PodSpec,
    ctx: &PodContext<'_>,
    seen: &mut HashSet<&'a str>,
    path: &FieldPath,
) -> FieldErrors {
    let mut errs = FieldErrors::default();
    let ipath = path.child("initContainers");
    for (i, c) in spec.init_containers.iter().flatten().enumerate() {
        let p = ipath.index(i);
        let view = ContainerView::from(c);
        errs.extend(validate_common(&view, ctx, &p));
        if seen.contains(c.name.as_str()) {
            errs.push(FieldError::duplicate(p.child("name"), c.name.as_str()));
        } else if !c.name.is_empty() {
            seen.insert(c.name.as_str());
        }
        // Init containers run one at a time, so only conflicts within one count.
        errs.extend(host_port_conflicts([(
            p.clone(),
            c.ports.as_deref().unwrap_or(&[]),
        )]));
        errs.extend(validate_init(&view, ctx, &p));
    }
    errs
}

fn ephemeral_containers<'a>(
    spec: &'a PodSpec,
    ctx: &PodContext<'_>,
    seen: &mut HashSet<&'a str>,
    path: &FieldPath,
) -> FieldErrors {
    let mut errs = FieldErrors::default();
    let epath = path.child("ephemeralContainers");
    // A target is a regular or init container, never another debugger.
    let others: HashSet<&str> = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .map(|c| c.name.as_str())
        .collect();
    for (i, c) in spec.ephemeral_containers.iter().flatten().enumerate() {
        let p = epath.index(i);
        let view = ContainerView::from(c);
        errs.extend(validate_common(&view, ctx, &p));
        if !seen.insert(c.name.as_str()) {
            errs.push(FieldError::duplicate(p.child("name"), c.name.as_str()));
        }
        if let Some(t) = crate::ephemeral::target(c)
            && !others.contains(t)
        {
            errs.push(FieldError::not_found(p.child("targetContainerName"), t));
        }
        errs.extend(validate_ephemeral(c, &p));
    }
    errs
}
