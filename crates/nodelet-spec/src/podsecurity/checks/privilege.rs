//! Baseline checks on privilege: privileged containers, capabilities
//! beyond the default set, unmasked `/proc`, and Windows host processes.

use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{Check, CheckResult, Versioned, containers, containers_phrase, join_quote, sorted_set};
use crate::podsecurity::api::Level;

pub static PRIVILEGED: Check = Check {
    id: "privileged",
    level: Level::Baseline,
    versions: &[Versioned {
        min_minor: 0,
        check: privileged,
        overrides: &[],
    }],
};

fn privileged(_: &ObjectMeta, spec: &PodSpec) -> CheckResult {
    let bad: Vec<String> = containers(spec)
        .iter()
        .filter(|c| c.sc.and_then(|s| s.privileged) == Some(true))
        .map(|c| c.name.to_string())
        .collect();
    if bad.is_empty() {
        return CheckResult::allowed();
    }
    CheckResult::forbidden(
        "privileged",
        format!(
            "{} must not set securityContext.privileged=true",
            containers_phrase(&bad)
        ),
    )
}

/// Capabilities baseline allows adding (the default set without NET_RAW).
const BASELINE_CAPS: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

pub static CAPABILITIES_BASELINE: Check = Check {
    id: "capabilities_baseline",
    level: Level::Baseline,
    versions: &[Versioned {
        min_minor: 0,
        check: capabilities_baseline,
        overrides: &[],
    }],
};

fn capabilities_baseline(_: &ObjectMeta, spec: &PodSpec) -> CheckResult {
    let mut bad = Vec::new();
    let mut caps = Vec::new();
    for c in containers(spec) {
        let adds =
            c.sc.and_then(|s| s.capabilities.as_ref())
                .and_then(|c| c.add.as_ref());
        let mut valid = true;
        for a in adds.into_iter().flatten() {
            if !BASELINE_CAPS.contains(&a.as_str()) {
                valid = false;
                caps.push(a.clone());
            }
        }
        if !valid {
            bad.push(c.name.to_string());
        }
    }
    if bad.is_empty() {
        return CheckResult::allowed();
    }
    CheckResult::forbidden(
        "non-default capabilities",
        format!(
            "{} must not include {} in securityContext.capabilities.add",
            containers_phrase(&bad),
            join_quote(&sorted_set(caps))
        ),
    )
}

pub static PROC_MOUNT: Check = Check {
    id: "procMount",
    level: Level::Baseline,
    versions: &[Versioned {
        min_minor: 0,
        check: proc_mount,
        overrides: &[],
    }],
};

fn proc_mount(_: &ObjectMeta, spec: &PodSpec) -> CheckResult {
    let mut bad = Vec::new();
    let mut types = Vec::new();
    for c in containers(spec) {
        if let Some(pm) = c.sc.and_then(|s| s.proc_mount.as_deref())
            && pm != "Default"
        {
            bad.push(c.name.to_string());
            types.push(pm.to_string());
        }
    }
    if bad.is_empty() {
        return CheckResult::allowed();
    }
    CheckResult::forbidden(
        "procMount",
        format!(
            "{} must not set securityContext.procMount to {}",
            containers_phrase(&bad),
            join_quote(&sorted_set(types))
        ),
    )
}

pub static WINDOWS_HOST_PROCESS: Check = Check {
    id: "windowsHostProcess",
    level: Level::Baseline,
    versions: &[Versioned {
        min_minor: 0,
        check: windows_host_process,
        overrides: &[],
    }],
};

fn windows_host_process(_: &ObjectMeta, spec: &PodSpec) -> CheckResult {
    let host_process = |w: Option<&k8s_openapi::api::core::v1::WindowsSecurityContextOptions>| {
        w.and_then(|w| w.host_process) == Some(true)
    };
    let bad: Vec<String> = containers(spec)
        .iter()
        .filter(|c| host_process(c.sc.and_then(|s| s.windows_options.as_ref())))
        .map(|c| c.name.to_string())
        .collect();
    let mut setters = Vec::new();
    if host_process(
        spec.security_context
            .as_ref()
            .and_then(|s| s.windows_options.as_ref()),
    ) {
        setters.push("pod".to_string());
    }
    if !bad.is_empty() {
        setters.push(containers_phrase(&bad));
    }
    if setters.is_empty() {
        return CheckResult::allowed();
    }
    CheckResult::forbidden(
        "hostProcess",
        format!(
            "{} must not set securityContext.windowsOptions.hostProcess=true",
            setters.join(" and ")
        ),
    )
}
