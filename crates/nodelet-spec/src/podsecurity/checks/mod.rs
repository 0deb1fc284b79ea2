//! The Pod Security checks (`k8s.io/pod-security-admission/policy`), one
//! file per area, each returning upstream's reason and detail texts, and
//! the registry that picks, per level and version, which revision of each
//! check applies (baseline checks first, then restricted ones, each group
//! sorted by check id; restricted checks may override baseline ones).

mod host;
mod privilege;
mod profiles;
mod restricted;
mod sysctls;

use k8s_openapi::api::core::v1::{ContainerPort, Lifecycle, PodSpec, Probe, SecurityContext};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::api::Level;

/// One check's verdict (`CheckResult`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    pub allowed: bool,
    pub reason: String,
    pub detail: String,
}

impl CheckResult {
    pub fn allowed() -> Self {
        CheckResult {
            allowed: true,
            reason: String::new(),
            detail: String::new(),
        }
    }

    pub fn forbidden(reason: impl Into<String>, detail: impl Into<String>) -> Self {
        CheckResult {
            allowed: false,
            reason: reason.into(),
            detail: detail.into(),
        }
    }
}

pub type CheckFn = fn(&ObjectMeta, &PodSpec) -> CheckResult;

/// One revision of a check, from `min_minor` (policy version v1.N) on.
pub struct Versioned {
    pub min_minor: u32,
    pub check: CheckFn,
    /// Baseline check ids this (restricted) revision replaces.
    pub overrides: &'static [&'static str],
}

pub struct Check {
    pub id: &'static str,
    pub level: Level,
    pub versions: &'static [Versioned],
}

/// The fields checks read, borrowed from any kind of container.
pub struct ContainerView<'a> {
    pub name: &'a str,
    pub sc: Option<&'a SecurityContext>,
    pub ports: &'a [ContainerPort],
    pub liveness: Option<&'a Probe>,
    pub readiness: Option<&'a Probe>,
    pub startup: Option<&'a Probe>,
    pub lifecycle: Option<&'a Lifecycle>,
}

macro_rules! view {
    ($c:expr) => {
        ContainerView {
            name: &$c.name,
            sc: $c.security_context.as_ref(),
            ports: $c.ports.as_deref().unwrap_or(&[]),
            liveness: $c.liveness_probe.as_ref(),
            readiness: $c.readiness_probe.as_ref(),
            startup: $c.startup_probe.as_ref(),
            lifecycle: $c.lifecycle.as_ref(),
        }
    };
}

/// Init containers, containers, then ephemeral containers (`visitContainers`).
pub fn containers(spec: &PodSpec) -> Vec<ContainerView<'_>> {
    let mut v: Vec<ContainerView<'_>> = Vec::new();
    for c in spec.init_containers.iter().flatten() {
        v.push(view!(c));
    }
    for c in &spec.containers {
        v.push(view!(c));
    }
    for c in spec.ephemeral_containers.iter().flatten() {
        v.push(view!(c));
    }
    v
}

/// `"a", "b"` (upstream's `joinQuote`).
pub fn join_quote<S: AsRef<str>>(items: &[S]) -> String {
    if items.is_empty() {
        return String::new();
    }
    let parts: Vec<&str> = items.iter().map(|s| s.as_ref()).collect();
    format!("\"{}\"", parts.join("\", \""))
}

pub fn pluralize<'a>(singular: &'a str, plural: &'a str, n: usize) -> &'a str {
    if n == 1 { singular } else { plural }
}

/// `container "a"` / `containers "a", "b"`.
pub fn containers_phrase(names: &[String]) -> String {
    format!(
        "{} {}",
        pluralize("container", "containers", names.len()),
        join_quote(names)
    )
}

/// Sorted, deduplicated (Go's `sets.NewString(...).List()`).
pub fn sorted_set(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}

/// Windows pods are exempt from some restricted checks since v1.25.
pub fn is_windows(spec: &PodSpec) -> bool {
    spec.os.as_ref().is_some_and(|o| o.name == "windows")
}

/// Every check, as upstream registers them.
pub fn all() -> Vec<&'static Check> {
    let mut v = vec![
        &host::HOST_NAMESPACES,
        &host::HOST_PATH_VOLUMES,
        &host::HOST_PORTS,
        &host::HOST_PROBES_AND_HOST_LIFECYCLE,
        &privilege::PRIVILEGED,
        &privilege::CAPABILITIES_BASELINE,
        &privilege::PROC_MOUNT,
        &privilege::WINDOWS_HOST_PROCESS,
        &profiles::APP_ARMOR_PROFILE,
        &profiles::SE_LINUX_OPTIONS,
        &profiles::SECCOMP_PROFILE_BASELINE,
        &sysctls::SYSCTLS,
    ];
    v.extend(restricted::ALL);
    v
}

/// The newest policy version any check knows (what `latest` means).
pub fn newest_minor() -> u32 {
    all()
        .iter()
        .flat_map(|c| c.versions.iter().map(|v| v.min_minor))
        .max()
        .unwrap_or(0)
}

/// The check functions that apply at `level` and policy minor version
/// `minor`, in upstream's order.
pub fn applicable(level: Level, minor: u32) -> Vec<(&'static str, CheckFn)> {
    if level == Level::Privileged {
        return Vec::new();
    }
    let pick = |c: &'static Check| {
        c.versions
            .iter()
            .rev()
            .find(|v| v.min_minor <= minor)
            .map(|v| (c.id, v))
    };
    let mut baseline: Vec<(&str, &Versioned)> = all()
        .into_iter()
        .filter(|c| c.level == Level::Baseline)
        .filter_map(pick)
        .collect();
    let mut restricted: Vec<(&str, &Versioned)> = if level == Level::Restricted {
        all()
            .into_iter()
            .filter(|c| c.level == Level::Restricted)
            .filter_map(pick)
            .collect()
    } else {
        Vec::new()
    };
    let overridden: Vec<&str> = restricted
        .iter()
        .flat_map(|(_, v)| v.overrides.iter().copied())
        .collect();
    baseline.retain(|(id, _)| !overridden.contains(id));
    // Go sorts ids bytewise, as Rust's str ordering does.
    baseline.sort_by_key(|(id, _)| *id);
    restricted.sort_by_key(|(id, _)| *id);
    baseline
        .into_iter()
        .chain(restricted)
        .map(|(id, v)| (id, v.check))
        .collect()
}
