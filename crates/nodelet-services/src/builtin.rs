//! The Services a cluster always has, and their endpoints: `kubernetes` in
//! `default` (the API server's bootstrap controller makes it, with the API
//! server's address as its only endpoint) and `kube-dns` in `kube-system`
//! (kubeadm's CoreDNS add-on). Here both endpoints are the agent itself on
//! the pod bridge's address, where it serves the API and DNS for pods.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::config::ServicesConfig;
use crate::endpoints::compute::SliceDraft;

fn labels(pairs: &[(&str, &str)]) -> Option<BTreeMap<String, String>> {
    Some(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    )
}

fn port(name: &str, protocol: &str, port: i32, target: i32) -> ServicePort {
    ServicePort {
        name: Some(name.into()),
        protocol: Some(protocol.into()),
        port,
        target_port: Some(IntOrString::Int(target)),
        ..Default::default()
    }
}

fn service(
    namespace: &str,
    name: &str,
    ip: String,
    lbls: &[(&str, &str)],
    ports: Vec<ServicePort>,
) -> Service {
    Service {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(namespace.into()),
            labels: labels(lbls),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            cluster_ip: Some(ip.clone()),
            cluster_ips: Some(vec![ip]),
            ip_families: Some(vec!["IPv4".into()]),
            ip_family_policy: Some("SingleStack".into()),
            internal_traffic_policy: Some("Cluster".into()),
            session_affinity: Some("None".into()),
            ports: Some(ports),
            ..Default::default()
        }),
        status: None,
    }
}

/// `default/kubernetes` and `kube-system/kube-dns`.
pub fn services(cfg: &ServicesConfig) -> Vec<Service> {
    let api = i32::from(cfg.api_port);
    let dns = i32::from(cfg.dns_port);
    vec![
        service(
            "default",
            "kubernetes",
            cfg.kubernetes_ip().to_string(),
            &[("component", "apiserver"), ("provider", "kubernetes")],
            vec![port("https", "TCP", 443, api)],
        ),
        service(
            "kube-system",
            "kube-dns",
            cfg.dns_ip().to_string(),
            &[
                ("k8s-app", "kube-dns"),
                ("kubernetes.io/cluster-service", "true"),
                ("kubernetes.io/name", "CoreDNS"),
            ],
            vec![port("dns", "UDP", 53, dns), port("dns-tcp", "TCP", 53, dns)],
        ),
    ]
}

/// Whether `namespace/name` is one of [`services`].
pub fn is_builtin(namespace: &str, name: &str) -> bool {
    matches!(
        (namespace, name),
        ("default", "kubernetes") | ("kube-system", "kube-dns")
    )
}

/// The endpoints of a built-in service: the gateway address.
pub fn endpoints(cfg: &ServicesConfig, svc: &Service) -> Vec<SliceDraft> {
    let ports = svc
        .spec
        .iter()
        .flat_map(|s| s.ports.iter().flatten())
        .map(|p| EndpointPort {
            name: p.name.clone(),
            protocol: p.protocol.clone(),
            port: match p.target_port {
                Some(IntOrString::Int(n)) => Some(n),
                _ => Some(p.port),
            },
            app_protocol: None,
        })
        .collect();
    vec![SliceDraft {
        endpoints: vec![Endpoint {
            addresses: vec![cfg.gateway.to_string()],
            conditions: Some(EndpointConditions {
                ready: Some(true),
                serving: Some(true),
                terminating: Some(false),
            }),
            node_name: Some(cfg.node_name.clone()),
            ..Default::default()
        }],
        ports: Some(ports),
    }]
}
