//! `describe service`, as kubectl's `describeService` renders it: the
//! spec, per port its target and endpoints (from the EndpointSlices, ready
//! endpoints only, at most three shown), then the events.

use k8s_openapi::api::core::v1::{Event, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::events::write_events_block;
use super::pod::{Ctx, write_map};
use super::tabwriter::TabWriter;

/// kubectl's `formatEndpointSlices` for one port name.
pub fn format_endpoint_slices(slices: &[EndpointSlice], port_name: &str) -> String {
    if slices.is_empty() {
        return "<none>".into();
    }
    const MAX: usize = 3;
    let mut list = Vec::new();
    let mut more = false;
    let mut count = 0;
    for s in slices {
        let endpoints = s.endpoints.as_deref().unwrap_or_default();
        let ports = s.ports.as_deref().unwrap_or_default();
        let ready = |e: &k8s_openapi::api::discovery::v1::Endpoint| {
            e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true)
        };
        if ports.is_empty() {
            for e in endpoints {
                if list.len() == MAX {
                    more = true;
                }
                if !ready(e) {
                    continue;
                }
                if !more && let Some(a) = e.addresses.first() {
                    list.push(a.clone());
                }
                count += 1;
            }
            continue;
        }
        for p in ports {
            if p.name.as_deref().unwrap_or("") != port_name {
                continue;
            }
            for e in endpoints {
                if list.len() == MAX {
                    more = true;
                }
                if !ready(e) {
                    continue;
                }
                if !more && let Some(a) = e.addresses.first() {
                    let port = p.port.unwrap_or(0);
                    list.push(if a.contains(':') {
                        format!("[{a}]:{port}")
                    } else {
                        format!("{a}:{port}")
                    });
                }
                count += 1;
            }
        }
    }
    let ret = list.join(",");
    if more {
        format!("{ret} + {} more...", count - MAX)
    } else {
        ret
    }
}

pub fn describe_service(
    svc: &Service,
    slices: &[EndpointSlice],
    events: &[Event],
    ctx: &Ctx,
) -> String {
    let mut w = TabWriter::describe();
    let meta = &svc.metadata;
    let spec = svc.spec.clone().unwrap_or_default();
    let o = |s: &Option<String>| s.clone().unwrap_or_default();
    w.write(&format!("Name:\t{}\n", o(&meta.name)));
    w.write(&format!("Namespace:\t{}\n", o(&meta.namespace)));
    write_map(&mut w, "Labels", meta.labels.as_ref(), "=");
    let mut annotations = meta.annotations.clone().unwrap_or_default();
    annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    write_map(&mut w, "Annotations", Some(&annotations), ": ");
    let selector: Vec<String> = spec
        .selector
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    w.write(&format!(
        "Selector:\t{}\n",
        if selector.is_empty() {
            "<none>".to_owned()
        } else {
            selector.join(",")
        }
    ));
    w.write(&format!("Type:\t{}\n", o(&spec.type_)));
    if let Some(p) = &spec.ip_family_policy {
        w.write(&format!("IP Family Policy:\t{p}\n"));
    }
    match spec.ip_families.as_deref() {
        Some(f) if !f.is_empty() => w.write(&format!("IP Families:\t{}\n", f.join(","))),
        _ => w.write("IP Families:\t<none>\n"),
    }
    w.write(&format!("IP:\t{}\n", o(&spec.cluster_ip)));
    match spec.cluster_ips.as_deref() {
        Some(ips) if !ips.is_empty() => w.write(&format!("IPs:\t{}\n", ips.join(","))),
        _ => w.write("IPs:\t<none>\n"),
    }
    if let Some(ext) = spec.external_ips.as_deref().filter(|e| !e.is_empty()) {
        w.write(&format!("External IPs:\t{}\n", ext.join(",")));
    }
    if spec.type_.as_deref() == Some("ExternalName") {
        w.write(&format!("External Name:\t{}\n", o(&spec.external_name)));
    }
    for p in spec.ports.iter().flatten() {
        let name = p
            .name
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "<unset>".into());
        let proto = p.protocol.clone().unwrap_or_else(|| "TCP".into());
        w.write(&format!("Port:\t{name}\t{}/{proto}\n", p.port));
        match &p.target_port {
            Some(IntOrString::String(s)) => w.write(&format!("TargetPort:\t{s}/{proto}\n")),
            Some(IntOrString::Int(n)) => w.write(&format!("TargetPort:\t{n}/{proto}\n")),
            None => w.write(&format!("TargetPort:\t0/{proto}\n")),
        }
        if let Some(np) = p.node_port.filter(|n| *n != 0) {
            w.write(&format!("NodePort:\t{name}\t{np}/{proto}\n"));
        }
        w.write(&format!(
            "Endpoints:\t{}\n",
            format_endpoint_slices(slices, p.name.as_deref().unwrap_or(""))
        ));
    }
    w.write(&format!(
        "Session Affinity:\t{}\n",
        o(&spec.session_affinity)
    ));
    if let Some(p) = spec
        .external_traffic_policy
        .as_ref()
        .filter(|s| !s.is_empty())
    {
        w.write(&format!("External Traffic Policy:\t{p}\n"));
    }
    if let Some(p) = &spec.internal_traffic_policy {
        w.write(&format!("Internal Traffic Policy:\t{p}\n"));
    }
    let mut events = events.to_vec();
    super::events::sort_events(&mut events);
    write_events_block(&mut w, &events, ctx.now);
    w.take()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn renders_like_kubectl() {
        let svc: Service = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"type": "ClusterIP", "selector": {"app": "web"}, "clusterIP": "10.96.0.20",
                "clusterIPs": ["10.96.0.20"], "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
                "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
                "sessionAffinity": "None", "internalTrafficPolicy": "Cluster"}})).unwrap();
        let slice: EndpointSlice = serde_json::from_value(json!({
            "metadata": {"name": "web-abcde"}, "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [{"addresses": ["10.244.0.5"], "conditions": {"ready": true}},
                          {"addresses": ["10.244.0.6"], "conditions": {"ready": false}}]}))
        .unwrap();
        let out = describe_service(&svc, &[slice], &[], &Ctx::local_now());
        assert!(out.contains("Selector:                 app=web\n"), "{out}");
        assert!(
            out.contains("Port:                     http  80/TCP\n"),
            "{out}"
        );
        assert!(
            out.contains("TargetPort:               8080/TCP\n"),
            "{out}"
        );
        assert!(
            out.contains("Endpoints:                10.244.0.5:8080\n"),
            "{out}"
        );
        assert!(out.ends_with("Events:                   <none>\n"), "{out}");
    }
}
