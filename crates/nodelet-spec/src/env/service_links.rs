//! Docker-link style service environment variables (`FOO_SERVICE_HOST`...).
//!
//! Mirrors upstream `pkg/kubelet/envvars` (`FromServices`) and the
//! kubelet's `getServiceEnvVarMap`, which decides *which* services a pod
//! sees: the `kubernetes` service of namespace `default` always, and the
//! services of the pod's own namespace only when `enableServiceLinks`
//! (default true). Services without a usable cluster IP (unset, empty or
//! `None`, i.e. headless) produce nothing.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Service;

use super::{EnvContext, EnvVar, namespace_of};

/// The services the kubelet always links, from namespace `default`.
const MASTER_SERVICES: &[&str] = &["kubernetes"];
const NAMESPACE_DEFAULT: &str = "default";

/// The service variables a container of `ctx.pod` gets, sorted by name.
///
/// Later duplicates of the same name overwrite earlier ones except that a
/// `kubernetes` service from `default` never replaces one already chosen,
/// and a same-named service of the pod's namespace replaces it (upstream
/// `getServiceEnvVarMap`).
pub fn service_env(ctx: &EnvContext) -> Vec<EnvVar> {
    service_env_map(ctx)
        .into_iter()
        .map(|(name, value)| EnvVar { name, value })
        .collect()
}

/// Same as [`service_env`], keyed by variable name.
pub(crate) fn service_env_map(ctx: &EnvContext) -> BTreeMap<String, String> {
    let pod_namespace = namespace_of(&ctx.pod.metadata);
    let enable_links = ctx
        .pod
        .spec
        .as_ref()
        .and_then(|s| s.enable_service_links)
        .unwrap_or(true);

    let mut chosen: BTreeMap<&str, &Service> = BTreeMap::new();
    for service in ctx.services {
        if cluster_ip(service).is_none() {
            continue;
        }
        let Some(name) = service.metadata.name.as_deref() else {
            continue;
        };
        let namespace = namespace_of(&service.metadata);
        if namespace == NAMESPACE_DEFAULT && MASTER_SERVICES.contains(&name) {
            chosen.entry(name).or_insert(service);
        } else if namespace == pod_namespace && enable_links {
            chosen.insert(name, service);
        }
    }

    let mut vars = BTreeMap::new();
    for service in chosen.values() {
        for var in vars_for_service(service) {
            vars.insert(var.name, var.value);
        }
    }
    vars
}

/// The cluster IP when it is set and not `None` (upstream `IsServiceIPSet`).
fn cluster_ip(service: &Service) -> Option<&str> {
    let ip = service.spec.as_ref()?.cluster_ip.as_deref()?;
    (!ip.is_empty() && ip != "None").then_some(ip)
}

/// All variables for one service, in upstream's order.
///
/// Upstream indexes `Ports[0]` unconditionally (validation guarantees a
/// port for services with a cluster IP); a port-less service here yields
/// only `_SERVICE_HOST` instead of crashing.
pub fn vars_for_service(service: &Service) -> Vec<EnvVar> {
    let Some(ip) = cluster_ip(service) else {
        return Vec::new();
    };
    let prefix = env_name(service.metadata.name.as_deref().unwrap_or_default());
    let ports = service
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_deref())
        .unwrap_or_default();
    let var = |name: String, value: String| EnvVar { name, value };

    let mut out = vec![var(format!("{prefix}_SERVICE_HOST"), ip.to_owned())];
    if let Some(first) = ports.first() {
        out.push(var(
            format!("{prefix}_SERVICE_PORT"),
            first.port.to_string(),
        ));
    }
    for port in ports {
        if let Some(port_name) = port.name.as_deref().filter(|n| !n.is_empty()) {
            out.push(var(
                format!("{prefix}_SERVICE_PORT_{}", env_name(port_name)),
                port.port.to_string(),
            ));
        }
    }
    for (i, port) in ports.iter().enumerate() {
        let protocol = port
            .protocol
            .as_deref()
            .filter(|p| !p.is_empty())
            .unwrap_or("TCP");
        let lower = protocol.to_lowercase();
        let url = format!("{lower}://{}", join_host_port(ip, port.port));
        if i == 0 {
            out.push(var(format!("{prefix}_PORT"), url.clone()));
        }
        let port_prefix = format!("{prefix}_PORT_{}_{}", port.port, protocol.to_uppercase());
        out.push(var(format!("{port_prefix}_PROTO"), lower.clone()));
        out.push(var(format!("{port_prefix}_PORT"), port.port.to_string()));
        out.push(var(format!("{port_prefix}_ADDR"), ip.to_owned()));
        out.push(var(port_prefix, url));
    }
    out
}

/// Upstream `makeEnvVariableName`: upper case, `-` becomes `_`.
pub fn env_name(name: &str) -> String {
    name.replace('-', "_").to_uppercase()
}

/// Go's `net.JoinHostPort`: IPv6 literals are bracketed in URLs.
fn join_host_port(host: &str, port: i32) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}
