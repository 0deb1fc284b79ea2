//! Service checks (`ValidateService`), the subset a single node uses.

use std::collections::HashSet;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{Service, ServicePort};

use super::container::one_of;
use super::handler::port_num_or_name;
use super::meta::validate_meta;
use super::ports::protocol;
use super::{names, push_msgs};
use crate::{FieldError, FieldErrors, FieldPath};

pub fn validate_service(svc: &Service) -> FieldErrors {
    let mut errs = validate_meta(&svc.metadata, names::dns1035_label, true);
    let path = FieldPath::new("spec");
    let default_spec = Default::default();
    let spec = svc.spec.as_ref().unwrap_or(&default_spec);
    let svc_type = spec.type_.as_deref().unwrap_or("");
    let cluster_ip = spec.cluster_ip.as_deref().unwrap_or("");
    let headless = cluster_ip == "None";
    let ports = spec.ports.as_deref().unwrap_or(&[]);
    if ports.is_empty() && !headless && svc_type != "ExternalName" {
        errs.push(FieldError::required(path.child("ports"), ""));
    }
    let mut seen = HashSet::new();
    for (i, port) in ports.iter().enumerate() {
        errs.extend(validate_port(
            port,
            ports.len() > 1,
            &mut seen,
            &path.child("ports").index(i),
        ));
    }
    errs.extend(one_of(
        svc_type,
        &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
        &path.child("type"),
    ));
    errs.extend(one_of(
        spec.session_affinity.as_deref().unwrap_or(""),
        &["ClientIP", "None"],
        &path.child("sessionAffinity"),
    ));
    if !cluster_ip.is_empty() && !headless && cluster_ip.parse::<IpAddr>().is_err() {
        errs.push(FieldError::invalid(
            path.child("clusterIP"),
            cluster_ip,
            "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
        ));
    }
    errs
}

fn validate_port<'a>(
    port: &'a ServicePort,
    require_name: bool,
    seen: &mut HashSet<&'a str>,
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
            if !seen.insert(name) {
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
    if let Some(target) = &port.target_port {
        errs.extend(port_num_or_name(target, &path.child("targetPort")));
    }
    errs
}
