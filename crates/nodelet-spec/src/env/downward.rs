//! Downward API values for env vars: `fieldRef` and `resourceFieldRef`.
//!
//! Follows the kubelet's `podFieldSelectorRuntimeValue` (with
//! `ConvertDownwardAPIFieldLabel` and `fieldpath.ExtractFieldPathAsString`)
//! and `resource.ExtractContainerResourceValue`, including their error
//! texts, so a pod that fails upstream fails here the same way.

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{Container, ObjectFieldSelector, ResourceFieldSelector};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::quantity::{Nanos, div_ceil};
use super::{Allocatable, EnvContext, EnvError, namespace_of};

/// The value of a `fieldRef`.
///
/// An unset `apiVersion` is taken as `v1` (the API server defaults it so);
/// any other version is rejected as upstream does.
pub fn field_ref_value(
    ctx: &EnvContext,
    selector: &ObjectFieldSelector,
) -> Result<String, EnvError> {
    let version = selector.api_version.as_deref().unwrap_or("v1");
    if !version.is_empty() && version != "v1" {
        return Err(EnvError::UnsupportedPodVersion(version.to_owned()));
    }
    let path = convert_field_label(&selector.field_path)?;
    let pod = ctx.pod;
    let spec = pod.spec.as_ref();
    Ok(match path {
        "spec.nodeName" => spec
            .and_then(|s| s.node_name.clone())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| ctx.node_name.to_owned()),
        "spec.serviceAccountName" => spec
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_default(),
        "status.hostIP" => ctx
            .host_ips
            .first()
            .cloned()
            .ok_or(EnvError::HostIpUnknown)?,
        "status.hostIPs" => {
            if ctx.host_ips.is_empty() {
                return Err(EnvError::HostIpUnknown);
            }
            ctx.host_ips.join(",")
        }
        "status.podIP" => sort_pod_ips(ctx.pod_ips, ctx.host_ips)
            .into_iter()
            .next()
            .unwrap_or_default(),
        "status.podIPs" => sort_pod_ips(ctx.pod_ips, ctx.host_ips).join(","),
        other => extract_metadata(ctx, other)?,
    })
}

/// `ConvertDownwardAPIFieldLabel` for pods: the set of paths the API knows.
fn convert_field_label(label: &str) -> Result<&str, EnvError> {
    if let Some((path, _)) = split_subscript(label) {
        return match path {
            "metadata.annotations" | "metadata.labels" => Ok(label),
            _ => Err(EnvError::FieldLabelNoSubscript(label.to_owned())),
        };
    }
    match label {
        "metadata.annotations"
        | "metadata.labels"
        | "metadata.name"
        | "metadata.namespace"
        | "metadata.uid"
        | "spec.nodeName"
        | "spec.restartPolicy"
        | "spec.serviceAccountName"
        | "spec.schedulerName"
        | "status.phase"
        | "status.hostIP"
        | "status.hostIPs"
        | "status.podIP"
        | "status.podIPs" => Ok(label),
        // Old v1 clients sent `spec.host`.
        "spec.host" => Ok("spec.nodeName"),
        _ => Err(EnvError::FieldLabelNotSupported(label.to_owned())),
    }
}

/// `fieldpath.ExtractFieldPathAsString`: metadata fields only (so
/// `spec.restartPolicy` passes conversion but fails here, as upstream).
fn extract_metadata(ctx: &EnvContext, path: &str) -> Result<String, EnvError> {
    let meta = &ctx.pod.metadata;
    if let Some((field, key)) = split_subscript(path) {
        let map = match field {
            "metadata.annotations" => {
                check_qualified_name(path, &key.to_lowercase())?;
                &meta.annotations
            }
            "metadata.labels" => {
                check_qualified_name(path, key)?;
                &meta.labels
            }
            _ => return Err(EnvError::UnsupportedFieldPath(path.to_owned())),
        };
        return Ok(map
            .as_ref()
            .and_then(|m| m.get(key))
            .cloned()
            .unwrap_or_default());
    }
    Ok(match path {
        "metadata.annotations" => format_map(meta.annotations.as_ref()),
        "metadata.labels" => format_map(meta.labels.as_ref()),
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => namespace_of(meta).to_owned(),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        _ => return Err(EnvError::UnsupportedFieldPath(path.to_owned())),
    })
}

/// `metadata.labels['key']` → (`metadata.labels`, `key`).
fn split_subscript(path: &str) -> Option<(&str, &str)> {
    let inner = path.strip_suffix("']")?;
    let (field, key) = inner.split_once("['")?;
    (!field.is_empty()).then_some((field, key))
}

/// `FormatMap`: `key="value"` lines in key order, values Go-quoted.
fn format_map(map: Option<&BTreeMap<String, String>>) -> String {
    map.into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", go_quote(v)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Close enough to Go's `%q` for label and annotation values.
fn go_quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `validation.IsQualifiedName`: `[prefix/]name`, name ≤ 63 chars of
/// alphanumerics, `-`, `_`, `.` starting and ending alphanumeric; prefix a
/// DNS subdomain.
fn check_qualified_name(path: &str, key: &str) -> Result<(), EnvError> {
    let invalid = |reason: &str| EnvError::InvalidSubscript {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if prefix.is_empty() || prefix.len() > 253 || !prefix.split('.').all(label_ok) {
            return Err(invalid("prefix part must be a valid DNS subdomain"));
        }
    }
    if name.is_empty() {
        return Err(invalid("name part must be non-empty"));
    }
    if name.len() > 63 {
        return Err(invalid("name part must be no more than 63 characters"));
    }
    let ends_ok = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_alphanumeric());
    let bytes = name.as_bytes();
    if !ends_ok(bytes.first().copied())
        || !ends_ok(bytes.last().copied())
        || !bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(invalid(
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
        ));
    }
    Ok(())
}

/// The kubelet's `sortPodIPs`: at most one IP per family, the node's
/// primary family (that of the first host IP, IPv4 when unknown) first.
/// Strings that are not IPs are dropped.
fn sort_pod_ips(pod_ips: &[String], host_ips: &[String]) -> Vec<String> {
    let primary_v6 = host_ips
        .first()
        .and_then(|ip| ip.parse::<IpAddr>().ok())
        .is_some_and(|ip| ip.is_ipv6());
    let first_of = |v6: bool| {
        pod_ips
            .iter()
            .find(|ip| ip.parse::<IpAddr>().is_ok_and(|ip| ip.is_ipv6() == v6))
            .cloned()
    };
    [first_of(primary_v6), first_of(!primary_v6)]
        .into_iter()
        .flatten()
        .collect()
}

/// The value of a `resourceFieldRef`, divided by its divisor and rounded up.
///
/// Limits that are unset (or zero) are defaulted as the kubelet's
/// `defaultPodLimitsForDownwardAPI` does, see [`default_limit`]; with no
/// default they read as 0, which is what upstream yields for a resource the
/// node does not report. Requests are never defaulted here (the API server
/// already copies limits into unset requests).
pub fn resource_field_value(
    ctx: &EnvContext,
    container: &Container,
    selector: &ResourceFieldSelector,
    node_allocatable: Option<&Allocatable>,
) -> Result<String, EnvError> {
    let container = match selector.container_name.as_deref().filter(|n| !n.is_empty()) {
        None => container,
        Some(name) => {
            find_container(ctx, name).ok_or_else(|| EnvError::ContainerNotFound(name.to_owned()))?
        }
    };
    let divisor = match &selector.divisor {
        Some(q) => parse(q)?,
        None => Nanos(0),
    };
    let divisor = if divisor.is_zero() {
        Nanos(1_000_000_000)
    } else {
        divisor
    };

    let resource = selector.resource.as_str();
    let (is_limit, name) = if let Some(name) = resource.strip_prefix("limits.") {
        (true, name)
    } else if let Some(name) = resource.strip_prefix("requests.") {
        (false, name)
    } else {
        return Err(EnvError::UnsupportedResource(resource.to_owned()));
    };
    let supported =
        matches!(name, "cpu" | "memory" | "ephemeral-storage") || name.starts_with("hugepages-");
    if !supported {
        return Err(EnvError::UnsupportedResource(resource.to_owned()));
    }

    let resources = container.resources.as_ref();
    let mut amount = if is_limit {
        resources.and_then(|r| r.limits.as_ref())
    } else {
        resources.and_then(|r| r.requests.as_ref())
    }
    .and_then(|m| m.get(name))
    .map(parse)
    .transpose()?
    .unwrap_or(Nanos(0));
    // Hugepages are never overcommitted, so upstream does not default them.
    if is_limit
        && amount.is_zero()
        && let Some(q) = default_limit(ctx, node_allocatable, name)
    {
        amount = parse(q)?;
    }

    let value = if name == "cpu" {
        let d = divisor.milli_value();
        if d <= 0 {
            return Err(EnvError::InvalidDivisor(resource.to_owned()));
        }
        div_ceil(amount.milli_value(), d)
    } else {
        let d = divisor.value();
        if d <= 0 {
            return Err(EnvError::InvalidDivisor(resource.to_owned()));
        }
        div_ceil(amount.value(), d)
    };
    Ok(value.to_string())
}

/// The limit used when a container sets none: the pod-level limit
/// (`spec.resources`, cpu and memory only, the resources pod-level
/// resources support) when set, else node allocatable (cpu, memory,
/// ephemeral-storage). Hugepages are never defaulted: they are not
/// overcommitted. Upstream only substitutes the pod-level value for a
/// resource allocatable reports, which a real node always does for cpu and
/// memory, so the pod-level limit is used here even without allocatable.
fn default_limit<'p>(
    ctx: &EnvContext<'p>,
    node_allocatable: Option<&'p Allocatable>,
    name: &str,
) -> Option<&'p Quantity> {
    if !matches!(name, "cpu" | "memory" | "ephemeral-storage") {
        return None;
    }
    let pod_level = ctx
        .pod
        .spec
        .as_ref()
        .and_then(|s| s.resources.as_ref())
        .and_then(|r| r.limits.as_ref())
        .and_then(|l| l.get(name))
        .filter(|q| name != "ephemeral-storage" && Nanos::parse(&q.0).is_ok_and(|n| !n.is_zero()));
    pod_level.or_else(|| node_allocatable.and_then(|a| a.get(name)))
}

fn find_container<'p>(ctx: &EnvContext<'p>, name: &str) -> Option<&'p Container> {
    let spec = ctx.pod.spec.as_ref()?;
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .find(|c| c.name == name)
}

fn parse(q: &Quantity) -> Result<Nanos, EnvError> {
    Nanos::parse(&q.0).map_err(|e| EnvError::InvalidQuantity {
        value: q.0.clone(),
        reason: e.to_string(),
    })
}
