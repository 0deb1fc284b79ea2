//! Per-container checks (`validateContainerCommon` and the per-kind rules
//! for regular, init and ephemeral containers).

use std::collections::HashSet;

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, ContainerResizePolicy, ContainerRestartRule, EnvFromSource, EnvVar,
    EphemeralContainer, Lifecycle, Probe, ResourceRequirements, SecurityContext, VolumeMount,
};

use super::envvars::{validate_env, validate_env_from};
use super::lifecycle::{validate_lifecycle, validate_stop_signal};
use super::ports::validate_ports;
use super::probe::{ProbeKind, validate_probe};
use super::resources::{validate_requirements, validate_resize_policy};
use super::security::validate_container_security_context;
use super::{names, push_msgs};
use crate::{FieldError, FieldErrors, FieldPath};

/// The fields validation reads, borrowed from either container type.
pub struct ContainerView<'a> {
    pub name: &'a str,
    pub image: &'a str,
    pub image_pull_policy: &'a str,
    pub termination_message_policy: &'a str,
    pub ports: &'a [ContainerPort],
    pub env: &'a [EnvVar],
    pub env_from: &'a [EnvFromSource],
    pub volume_mounts: &'a [VolumeMount],
    pub lifecycle: Option<&'a Lifecycle>,
    pub liveness_probe: Option<&'a Probe>,
    pub readiness_probe: Option<&'a Probe>,
    pub startup_probe: Option<&'a Probe>,
    pub restart_policy: Option<&'a str>,
    /// `restartPolicyRules` (`None` when absent: an empty list is set).
    pub restart_policy_rules: Option<&'a [ContainerRestartRule]>,
    pub resources: Option<&'a ResourceRequirements>,
    pub resize_policy: &'a [ContainerResizePolicy],
    /// `securityContext` (its `privileged` also gates Bidirectional mount
    /// propagation).
    pub security_context: Option<&'a SecurityContext>,
}

macro_rules! view_of {
    ($c:expr) => {
        ContainerView {
            name: &$c.name,
            image: $c.image.as_deref().unwrap_or(""),
            image_pull_policy: $c.image_pull_policy.as_deref().unwrap_or(""),
            termination_message_policy: $c.termination_message_policy.as_deref().unwrap_or(""),
            ports: $c.ports.as_deref().unwrap_or(&[]),
            env: $c.env.as_deref().unwrap_or(&[]),
            env_from: $c.env_from.as_deref().unwrap_or(&[]),
            volume_mounts: $c.volume_mounts.as_deref().unwrap_or(&[]),
            lifecycle: $c.lifecycle.as_ref(),
            liveness_probe: $c.liveness_probe.as_ref(),
            readiness_probe: $c.readiness_probe.as_ref(),
            startup_probe: $c.startup_probe.as_ref(),
            restart_policy: $c.restart_policy.as_deref(),
            restart_policy_rules: $c.restart_policy_rules.as_deref(),
            resources: $c.resources.as_ref(),
            resize_policy: $c.resize_policy.as_deref().unwrap_or(&[]),
            security_context: $c.security_context.as_ref(),
        }
    };
}

impl<'a> From<&'a Container> for ContainerView<'a> {
    fn from(c: &'a Container) -> Self {
        view_of!(c)
    }
}

impl<'a> From<&'a EphemeralContainer> for ContainerView<'a> {
    fn from(c: &'a EphemeralContainer) -> Self {
        view_of!(c)
    }
}

/// What a container's checks need from the pod.
pub struct PodContext<'a> {
    /// Names of the pod's valid volumes.
    pub volumes: HashSet<&'a str>,
    pub grace: Option<i64>,
    pub os: Option<&'a str>,
    /// The pod's `restartPolicy` (resize policies depend on it).
    pub restart_policy: Option<&'a str>,
    /// `spec.securityContext.hostUsers` (true unless set to false).
    pub host_users: bool,
}

/// Checks every container type shares.
pub fn validate_common(
    c: &ContainerView<'_>,
    ctx: &PodContext<'_>,
    path: &FieldPath,
) -> FieldErrors {
    let mut errs = FieldErrors::default();
    if c.name.is_empty() {
        errs.push(FieldError::required(path.child("name"), ""));
    } else {
        push_msgs(
            &mut errs,
            path.child("name"),
            c.name,
            names::dns1123_label(c.name),
        );
    }
    if c.image.is_empty() {
        errs.push(FieldError::required(path.child("image"), ""));
    }
    errs.extend(one_of(
        c.termination_message_policy,
        &["File", "FallbackToLogsOnError"],
        &path.child("terminationMessagePolicy"),
    ));
    errs.extend(validate_ports(c.ports, &path.child("ports")));
    errs.extend(validate_env(c.env, &path.child("env")));
    errs.extend(validate_env_from(c.env_from, &path.child("envFrom")));
    errs.extend(super::volume_mounts::validate_mounts(
        c.volume_mounts,
        &ctx.volumes,
        c.security_context
            .and_then(|s| s.privileged)
            .unwrap_or(false),
        &path.child("volumeMounts"),
    ));
    errs.extend(one_of(
        c.image_pull_policy,
        &["Always", "IfNotPresent", "Never"],
        &path.child("imagePullPolicy"),
    ));
    errs.extend(validate_requirements(c.resources, &path.child("resources")));
    errs.extend(validate_resize_policy(
        c.resize_policy,
        ctx.restart_policy,
        &path.child("resizePolicy"),
    ));
    errs.extend(validate_container_security_context(
        c.security_context,
        ctx.host_users,
        &path.child("securityContext"),
    ));
    errs
}

/// `Required` when empty, `Unsupported value` when not in `supported`.
pub fn one_of(value: &str, supported: &[&str], path: &FieldPath) -> FieldErrors {
    let mut errs = FieldErrors::default();
    if value.is_empty() {
        errs.push(FieldError::required(path.clone(), ""));
    } else if !supported.contains(&value) {
        errs.push(FieldError::not_supported(path.clone(), value, supported));
    }
    errs
}

/// Lifecycle, stop signal and probes of a container that may have them
/// (regular containers and sidecars).
pub fn validate_hooks_and_probes(
    c: &ContainerView<'_>,
    ctx: &PodContext<'_>,
    path: &FieldPath,
) -> FieldErrors {
    let mut errs = FieldErrors::default();
    if let Some(lc) = c.lifecycle {
        errs.extend(validate_lifecycle(lc, ctx.grace, &path.child("lifecycle")));
        if let Some(sig) = lc.stop_signal.as_deref() {
            errs.extend(validate_stop_signal(
                sig,
                ctx.os,
                &path.child("lifecycle").child("stopSignal"),
            ));
        }
    }
    let probes = [
        (c.liveness_probe, ProbeKind::Liveness, "livenessProbe"),
        (c.readiness_probe, ProbeKind::Readiness, "readinessProbe"),
        (c.startup_probe, ProbeKind::Startup, "startupProbe"),
    ];
    for (probe, kind, name) in probes {
        if let Some(p) = probe {
            errs.extend(validate_probe(p, kind, ctx.grace, &path.child(name)));
        }
    }
    errs
}

/// Regular containers: hooks and probes allowed; `restartPolicy` and
/// `restartPolicyRules` as ContainerRestartRules (on by default) allows.
pub fn validate_regular(
    c: &ContainerView<'_>,
    ctx: &PodContext<'_>,
    path: &FieldPath,
) -> FieldErrors {
    let mut errs = validate_hooks_and_probes(c, ctx, path);
    errs.extend(super::restart_rules::validate_container_restart_policy(
        c.restart_policy,
        c.restart_policy_rules,
        path,
    ));
    errs
}

/// Init containers: hooks and probes only for sidecars (`restartPolicy: Always`).
pub fn validate_init(c: &ContainerView<'_>, ctx: &PodContext<'_>, path: &FieldPath) -> FieldErrors {
    let mut errs = super::restart_rules::validate_init_restart_policy(
        c.restart_policy,
        c.restart_policy_rules,
        path,
    );
    if c.restart_policy == Some("Always") {
        errs.extend(validate_hooks_and_probes(c, ctx, path));
        return errs;
    }
    const MSG: &str = "may not be set for init containers without restartPolicy=Always";
    let present = [
        ("lifecycle", c.lifecycle.is_some()),
        ("livenessProbe", c.liveness_probe.is_some()),
        ("readinessProbe", c.readiness_probe.is_some()),
        ("startupProbe", c.startup_probe.is_some()),
    ];
    for (field, set) in present {
        if set {
            errs.push(FieldError::forbidden(path.child(field), MSG));
        }
    }
    errs
}

/// Ephemeral (debug) containers (`validateEphemeralContainers` after the
/// common checks): they must not be relied on for the pod's service, so
/// only an allow-list of fields may be set — the others are refused in the
/// order of the API type's fields; "set" as upstream's reflection sees it:
/// a pointer or list present, a struct not zero — and no volume mount may use a subPath
/// (a bind mount that would outlive the container).
pub fn validate_ephemeral(c: &EphemeralContainer, path: &FieldPath) -> FieldErrors {
    let mut errs = FieldErrors::default();
    const MSG: &str = "cannot be set for an Ephemeral Container";
    let present = [
        ("ports", c.ports.is_some()),
        // A struct, not a pointer, upstream: only a non-zero one counts
        // (`kubectl debug` sends `resources: {}`).
        (
            "resources",
            c.resources
                .as_ref()
                .is_some_and(|r| *r != Default::default()),
        ),
        ("resizePolicy", c.resize_policy.is_some()),
        ("restartPolicy", c.restart_policy.is_some()),
        ("restartPolicyRules", c.restart_policy_rules.is_some()),
        ("livenessProbe", c.liveness_probe.is_some()),
        ("readinessProbe", c.readiness_probe.is_some()),
        ("startupProbe", c.startup_probe.is_some()),
        ("lifecycle", c.lifecycle.is_some()),
    ];
    for (field, set) in present {
        if set {
            errs.push(FieldError::forbidden(path.child(field), MSG));
        }
    }
    for (i, m) in c.volume_mounts.iter().flatten().enumerate() {
        let mp = path.child("volumeMounts").index(i);
        if m.sub_path.as_deref().is_some_and(|s| !s.is_empty()) {
            errs.push(FieldError::forbidden(mp.child("subPath"), MSG));
        }
        if m.sub_path_expr.as_deref().is_some_and(|s| !s.is_empty()) {
            errs.push(FieldError::forbidden(mp.child("subPathExpr"), MSG));
        }
    }
    errs
}
