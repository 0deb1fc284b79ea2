//! Service checks: the API server's `ValidateService`
//! (`pkg/apis/core/validation/validation.go`) with its messages, in its
//! order. Input is a defaulted Service (see [`crate::defaults`]); the
//! allocation of cluster IPs and node ports (which can also refuse a
//! Service) happens after this, where the allocated ranges are known.

use std::collections::HashSet;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::container::one_of;
use super::handler::port_num_or_name;
use super::meta::validate_meta;
use super::ports::protocol;
use super::service_ips::validate_cluster_ips;
use super::{names, push_msgs};
use crate::field_error::Raw;
use crate::{FieldError, FieldErrors, FieldPath};

const TYPES: &[&str] = &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
const AFFINITIES: &[&str] = &["ClientIP", "None"];
const TRAFFIC_POLICIES: &[&str] = &["Cluster", "Local"];
/// `core.MaxClientIPServiceAffinitySeconds`.
pub const MAX_AFFINITY_SECONDS: i32 = 86400;

/// `clusterIP: None`.
pub fn is_headless(spec: &ServiceSpec) -> bool {
    spec.cluster_ip.as_deref() == Some("None")
}

pub fn validate_service(svc: &Service) -> FieldErrors {
    let mut errs = validate_meta(&svc.metadata, names::dns1035_label, true);
    let path = FieldPath::new("spec");
    let default_spec = ServiceSpec::default();
    let spec = svc.spec.as_ref().unwrap_or(&default_spec);
    let svc_type = spec.type_.as_deref().unwrap_or("");
    let headless = is_headless(spec);
    let ports = spec.ports.as_deref().unwrap_or(&[]);
    let cluster_ips = spec.cluster_ips.as_deref().unwrap_or(&[]);

    if ports.is_empty() && !headless && svc_type != "ExternalName" {
        errs.push(FieldError::required(path.child("ports"), ""));
    }
    match svc_type {
        "LoadBalancer" | "NodePort" if headless => {
            let first = cluster_ips.first().map(String::as_str).unwrap_or("None");
            errs.push(FieldError::invalid(
                path.child("clusterIPs").index(0),
                first,
                format!("may not be set to 'None' for {svc_type} services"),
            ));
        }
        "ExternalName" => errs.extend(validate_external_name(spec, &path)),
        _ => {}
    }

    let mut names_seen = HashSet::new();
    for (i, port) in ports.iter().enumerate() {
        errs.extend(validate_port(
            port,
            ports.len() > 1,
            &mut names_seen,
            &path.child("ports").index(i),
        ));
    }

    if let Some(selector) = &spec.selector {
        let p = path.child("selector");
        for (k, v) in selector {
            push_msgs(&mut errs, p.clone(), k.as_str(), names::qualified_name(k));
            push_msgs(&mut errs, p.clone(), v.as_str(), names::label_value(v));
        }
    }

    let affinity = spec.session_affinity.as_deref().unwrap_or("");
    errs.extend(one_of(affinity, AFFINITIES, &path.child("sessionAffinity")));
    let config_path = path.child("sessionAffinityConfig");
    match affinity {
        "ClientIP" => errs.extend(validate_client_ip_affinity(spec, &config_path)),
        "None" if spec.session_affinity_config.is_some() => errs.push(FieldError::forbidden(
            config_path,
            "must not be set when session affinity is None",
        )),
        _ => {}
    }

    errs.extend(validate_cluster_ips(spec));

    for (i, ip) in spec.external_ips.iter().flatten().enumerate() {
        if ip.parse::<std::net::IpAddr>().is_err() {
            errs.push(FieldError::invalid(
                path.child("externalIPs").index(i),
                ip.as_str(),
                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
            ));
        }
    }

    errs.extend(one_of(svc_type, TYPES, &path.child("type")));

    if svc_type == "ClusterIP" {
        for (i, port) in ports.iter().enumerate() {
            if port.node_port.unwrap_or(0) != 0 {
                errs.push(FieldError::forbidden(
                    path.child("ports").index(i).child("nodePort"),
                    "may not be used when `type` is 'ClusterIP'",
                ));
            }
        }
    }
    let mut node_ports = HashSet::new();
    for (i, port) in ports.iter().enumerate() {
        let Some(np) = port.node_port.filter(|n| *n != 0) else {
            continue;
        };
        if !node_ports.insert((port.protocol.as_deref().unwrap_or(""), np)) {
            errs.push(FieldError::duplicate(
                path.child("ports").index(i).child("nodePort"),
                np,
            ));
        }
    }
    let mut port_keys = HashSet::new();
    for (i, port) in ports.iter().enumerate() {
        let proto = port.protocol.as_deref().unwrap_or("");
        if !port_keys.insert((proto, port.port)) {
            errs.push(FieldError::duplicate(
                path.child("ports").index(i),
                Raw(go_service_port_key(proto, port.port)),
            ));
        }
    }

    if spec
        .load_balancer_source_ranges
        .as_ref()
        .is_some_and(|r| !r.is_empty())
        && svc_type != "LoadBalancer"
    {
        errs.push(FieldError::forbidden(
            path.child("LoadBalancerSourceRanges"),
            "may only be used when `type` is 'LoadBalancer'",
        ));
    }
    if spec.allocate_load_balancer_node_ports.is_some() && svc_type != "LoadBalancer" {
        errs.push(FieldError::forbidden(
            path.child("allocateLoadBalancerNodePorts"),
            "may only be used when `type` is 'LoadBalancer'",
        ));
    }
    errs.extend(validate_external_traffic_policy(spec, &path));
    errs.extend(validate_internal_traffic_policy(spec, &path));
    if let Some(td) = spec.traffic_distribution.as_deref()
        && td != "PreferClose"
    {
        errs.push(FieldError::not_supported(
            path.child("trafficDistribution"),
            td,
            &["PreferClose"],
        ));
    }
    errs
}

/// `%#v` of the `core.ServicePort{Protocol, Port}` key the API server uses
/// to report a duplicate port.
fn go_service_port_key(protocol: &str, port: i32) -> String {
    format!(
        "core.ServicePort{{Name:\"\", Protocol:\"{protocol}\", AppProtocol:(*string)(nil), Port:{port}, TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:\"\"}}, NodePort:0}}"
    )
}

fn validate_external_name(spec: &ServiceSpec, path: &FieldPath) -> FieldErrors {
    let mut errs = FieldErrors::default();
    if spec.cluster_ips.as_ref().is_some_and(|v| !v.is_empty()) {
        errs.push(FieldError::forbidden(
            path.child("clusterIPs"),
            "may not be set for ExternalName services",
        ));
    }
    if spec.ip_families.as_ref().is_some_and(|v| !v.is_empty()) {
        errs.push(FieldError::forbidden(
            path.child("ipFamilies"),
            "may not be set for ExternalName services",
        ));
    }
    if spec.ip_family_policy.is_some() {
        errs.push(FieldError::forbidden(
            path.child("ipFamilyPolicy"),
            "may not be set for ExternalName services",
        ));
    }
    // A trailing dot marks the CNAME as fully qualified.
    let name = spec.external_name.as_deref().unwrap_or("");
    let cname = name.strip_suffix('.').unwrap_or(name);
    if cname.is_empty() {
        errs.push(FieldError::required(path.child("externalName"), ""));
    } else {
        push_msgs(
            &mut errs,
            path.child("externalName"),
            cname,
            names::dns1123_subdomain(cname),
        );
    }
    errs
}

fn validate_port(
    port: &ServicePort,
    require_name: bool,
    seen: &mut HashSet<String>,
    path: &FieldPath,
) -> FieldErrors {
    let mut errs = FieldErrors::default();
    match port.name.as_deref().unwrap_or("") {
        "" if require_name => errs.push(FieldError::required(path.child("name"), "")),
        "" => {}
        name => {
            push_msgs(
                &mut errs,
                path.child("name"),
                name,
                names::dns1123_label(name),
            );
            if !seen.insert(name.to_owned()) {
                errs.push(FieldError::duplicate(path.child("name"), name));
            }
        }
    }
    push_msgs(
        &mut errs,
        path.child("port"),
        port.port,
        names::port_num(port.port.into()),
    );
    errs.extend(protocol(port.protocol.as_deref(), &path.child("protocol")));
    let target = port.target_port.clone().unwrap_or(IntOrString::Int(0));
    errs.extend(port_num_or_name(&target, &path.child("targetPort")));
    if let Some(app) = port.app_protocol.as_deref() {
        push_msgs(
            &mut errs,
            path.child("appProtocol"),
            app,
            names::qualified_name(app),
        );
    }
    errs
}

fn validate_client_ip_affinity(spec: &ServiceSpec, path: &FieldPath) -> FieldErrors {
    let mut errs = FieldErrors::default();
    let why = "when session affinity type is ClientIP";
    let Some(config) = &spec.session_affinity_config else {
        errs.push(FieldError::required(path.clone(), why));
        return errs;
    };
    let Some(client_ip) = &config.client_ip else {
        errs.push(FieldError::required(path.child("clientIP"), why));
        return errs;
    };
    let timeout_path = path.child("clientIP").child("timeoutSeconds");
    match client_ip.timeout_seconds {
        None => errs.push(FieldError::required(timeout_path, why)),
        Some(t) if t <= 0 || t > MAX_AFFINITY_SECONDS => errs.push(FieldError::invalid(
            timeout_path,
            t,
            format!("must be greater than 0 and less than {MAX_AFFINITY_SECONDS}"),
        )),
        Some(_) => {}
    }
    errs
}

/// `apiservice.ExternallyAccessible`: NodePort, LoadBalancer, or a
/// ClusterIP service with external IPs.
pub fn externally_accessible(spec: &ServiceSpec) -> bool {
    match spec.type_.as_deref() {
        Some("NodePort" | "LoadBalancer") => true,
        Some("ClusterIP") => spec.external_ips.as_ref().is_some_and(|v| !v.is_empty()),
        _ => false,
    }
}

fn validate_external_traffic_policy(spec: &ServiceSpec, path: &FieldPath) -> FieldErrors {
    let mut errs = FieldErrors::default();
    let policy = spec.external_traffic_policy.as_deref().unwrap_or("");
    let p = path.child("externalTrafficPolicy");
    if !externally_accessible(spec) {
        if !policy.is_empty() {
            errs.push(FieldError::invalid(
                p,
                policy,
                "may only be set for externally-accessible services",
            ));
        }
    } else {
        errs.extend(one_of(policy, TRAFFIC_POLICIES, &p));
    }
    let needs_health_check = spec.type_.as_deref() == Some("LoadBalancer") && policy == "Local";
    let hc = spec.health_check_node_port.unwrap_or(0);
    let hc_path = path.child("healthCheckNodePort");
    if !needs_health_check {
        if hc != 0 {
            errs.push(FieldError::invalid(
                hc_path,
                hc,
                "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
            ));
        }
    } else if hc == 0 {
        errs.push(FieldError::required(hc_path, ""));
    } else {
        push_msgs(&mut errs, hc_path, hc, names::port_num(hc.into()));
    }
    errs
}

fn validate_internal_traffic_policy(spec: &ServiceSpec, path: &FieldPath) -> FieldErrors {
    let mut errs = FieldErrors::default();
    let p = path.child("internalTrafficPolicy");
    match spec.internal_traffic_policy.as_deref() {
        None if matches!(
            spec.type_.as_deref(),
            Some("NodePort" | "LoadBalancer" | "ClusterIP")
        ) =>
        {
            errs.push(FieldError::required(p, ""))
        }
        Some(v) if !TRAFFIC_POLICIES.contains(&v) => {
            errs.push(FieldError::not_supported(p, v, TRAFFIC_POLICIES))
        }
        _ => {}
    }
    errs
}
