//! Baseline checks on what a pod shares with the node: host namespaces,
//! hostPath volumes, host ports, and (v1.34+) probe and lifecycle-handler
//! `host` fields (KEP-4940: a probe aimed elsewhere is an SSRF vector).

use k8s_openapi::api::core::v1::{LifecycleHandler, PodSpec, Probe};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{Check, CheckResult, Versioned, containers, join_quote, pluralize, sorted_set};
use crate::podsecurity::api::Level;

pub static HOST_NAMESPACES: Check = Check {
    id: "hostNamespaces",
    level: Level::Baseline,
    versions: &[Versioned {
        min_minor: 0,
        check: host_namespaces,
        overrides: &[],
    }],
};

fn host_namespaces(_: &ObjectMeta, spec: &PodSpec) -> CheckResult {
    let mut on = Vec::new();
    for (set, name) in [
        (spec.host_network, "hostNetwork=true"),
        (spec.host_pid, "hostPID=true"),
        (spec.host_ipc, "hostIPC=true"),
    ] {
        if set == Some(true) {
            on.push(name);
        }
    }
    if on.is_empty() {
        return CheckResult::allowed();
    }
    CheckResult::forbidden("host namespaces", on.join(", "))
}

pub static HOST_PATH_VOLUMES: Check = Check {
    id: "hostPathVolumes",
    level: Level::Baseline,
    versions: &[Versioned {
        min_minor: 0,
        check: host_path_volumes,
        overrides: &[],
    }],
};

fn host_path_volumes(_: &ObjectMeta, spec: &PodSpec) -> CheckResult {
    let vols: Vec<&str> = spec
        .volumes
        .iter()
        .flatten()
        .filter(|v| v.host_path.is_some())
        .map(|v| v.name.as_str())
        .collect();
    if vols.is_empty() {
        return CheckResult::allowed();
    }
    CheckResult::forbidden(
        "hostPath volumes",
        format!(
            "{} {}",
            pluralize("volume", "volumes", vols.len()),
            join_quote(&vols)
        ),
    )
}

pub static HOST_PORTS: Check = Check {
    id: "hostPorts",
    level: Level::Baseline,
    versions: &[Versioned {
        min_minor: 0,
        check: host_ports,
        overrides: &[],
    }],
};

fn host_ports(_: &ObjectMeta, spec: &PodSpec) -> CheckResult {
    let mut bad = Vec::new();
    let mut ports = Vec::new();
    for c in containers(spec) {
        let mut valid = true;
        for p in c.ports {
            if let Some(hp) = p.host_port.filter(|hp| *hp != 0) {
                valid = false;
                ports.push(hp.to_string());
            }
        }
        if !valid {
            bad.push(c.name.to_string());
        }
    }
    if bad.is_empty() {
        return CheckResult::allowed();
    }
    // Go's sets sort strings, so "8080" comes before "80" only as text.
    let ports = sorted_set(ports);
    CheckResult::forbidden(
        "hostPort",
        format!(
            "{} {} {} {} {}",
            pluralize("container", "containers", bad.len()),
            join_quote(&bad),
            pluralize("uses", "use", bad.len()),
            pluralize("hostPort", "hostPorts", ports.len()),
            ports.join(", ")
        ),
    )
}

pub static HOST_PROBES_AND_HOST_LIFECYCLE: Check = Check {
    id: "hostProbesAndHostLifecycle",
    level: Level::Baseline,
    versions: &[Versioned {
        min_minor: 34,
        check: host_probes_and_lifecycle,
        overrides: &[],
    }],
};

fn probe_hosts(p: Option<&Probe>) -> Vec<String> {
    let Some(p) = p else { return Vec::new() };
    let mut v = Vec::new();
    if let Some(h) = p
        .http_get
        .as_ref()
        .and_then(|h| h.host.clone())
        .filter(|h| !h.is_empty())
    {
        v.push(h);
    }
    if let Some(h) = p
        .tcp_socket
        .as_ref()
        .and_then(|t| t.host.clone())
        .filter(|h| !h.is_empty())
    {
        v.push(h);
    }
    v
}

fn handler_hosts(h: Option<&LifecycleHandler>) -> Vec<String> {
    let Some(h) = h else { return Vec::new() };
    let mut v = Vec::new();
    if let Some(x) = h
        .http_get
        .as_ref()
        .and_then(|g| g.host.clone())
        .filter(|x| !x.is_empty())
    {
        v.push(x);
    }
    if let Some(x) = h
        .tcp_socket
        .as_ref()
        .and_then(|t| t.host.clone())
        .filter(|x| !x.is_empty())
    {
        v.push(x);
    }
    v
}

fn host_probes_and_lifecycle(_: &ObjectMeta, spec: &PodSpec) -> CheckResult {
    let mut bad = Vec::new();
    let mut hosts = Vec::new();
    for c in containers(spec) {
        let mut found = probe_hosts(c.liveness);
        found.extend(probe_hosts(c.readiness));
        found.extend(probe_hosts(c.startup));
        if let Some(l) = c.lifecycle {
            found.extend(handler_hosts(l.post_start.as_ref()));
            found.extend(handler_hosts(l.pre_stop.as_ref()));
        }
        if !found.is_empty() {
            bad.push(c.name.to_string());
            hosts.extend(found);
        }
    }
    if bad.is_empty() {
        return CheckResult::allowed();
    }
    let bad = sorted_set(bad);
    let hosts = sorted_set(hosts);
    CheckResult::forbidden(
        "probe or lifecycle host",
        format!(
            "{} {} {} {} {}",
            pluralize("container", "containers", bad.len()),
            join_quote(&bad),
            pluralize("uses", "use", bad.len()),
            pluralize(
                "probe or lifecycle host",
                "probe or lifecycle hosts",
                hosts.len()
            ),
            join_quote(&hosts)
        ),
    )
}
