//! Container port checks (`validateContainerPorts`, host port conflicts).

use std::collections::HashSet;

use k8s_openapi::api::core::v1::ContainerPort;

use super::{names, push_msgs};
use crate::{FieldError, FieldErrors, FieldPath};

pub const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];

pub fn validate_ports(ports: &[ContainerPort], path: &FieldPath) -> FieldErrors {
    let mut errs = FieldErrors::default();
    let mut seen_names = HashSet::new();
    for (i, port) in ports.iter().enumerate() {
        let p = path.index(i);
        if let Some(name) = port.name.as_deref().filter(|n| !n.is_empty()) {
            let msgs = names::port_name(name);
            if !msgs.is_empty() {
                push_msgs(&mut errs, p.child("name"), name, msgs);
            } else if !seen_names.insert(name) {
                errs.push(FieldError::duplicate(p.child("name"), name));
            }
        }
        if port.container_port == 0 {
            errs.push(FieldError::required(p.child("containerPort"), ""));
        } else {
            let n = port.container_port;
            push_msgs(
                &mut errs,
                p.child("containerPort"),
                n,
                names::port_num(n.into()),
            );
        }
        if let Some(h) = port.host_port.filter(|h| *h != 0) {
            push_msgs(&mut errs, p.child("hostPort"), h, names::port_num(h.into()));
        }
        errs.extend(protocol(port.protocol.as_deref(), &p.child("protocol")));
    }
    errs
}

pub fn protocol(proto: Option<&str>, path: &FieldPath) -> FieldErrors {
    let mut errs = FieldErrors::default();
    match proto.unwrap_or("") {
        "" => errs.push(FieldError::required(path.clone(), "")),
        p if !PROTOCOLS.contains(&p) => {
            errs.push(FieldError::not_supported(path.clone(), p, PROTOCOLS))
        }
        _ => {}
    }
    errs
}

/// Two ports of the pod may not claim the same host port/protocol/IP.
/// `containers` are (path of the container, its ports).
pub fn host_port_conflicts<'a>(
    containers: impl IntoIterator<Item = (FieldPath, &'a [ContainerPort])>,
) -> FieldErrors {
    let mut errs = FieldErrors::default();
    let mut seen = HashSet::new();
    for (cpath, ports) in containers {
        for (i, port) in ports.iter().enumerate() {
            let Some(host_port) = port.host_port.filter(|h| *h != 0) else {
                continue;
            };
            let key = format!(
                "{}/{}/{}",
                port.protocol.as_deref().unwrap_or(""),
                port.host_ip.as_deref().unwrap_or(""),
                host_port
            );
            if seen.contains(&key) {
                errs.push(FieldError::duplicate(
                    cpath.child("ports").index(i).child("hostPort"),
                    key,
                ));
            } else {
                seen.insert(key);
            }
        }
    }
    errs
}
