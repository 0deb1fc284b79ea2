//! What the data plane and the DNS server see of one Service: its
//! addresses and ports, and its endpoints with their conditions, read from
//! the Service and its EndpointSlices as kube-proxy and CoreDNS read them.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;

use crate::nft::plan::{Desired, PortRule};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePortView {
    pub name: String,
    pub protocol: String,
    pub port: u16,
    pub node_port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointView {
    pub ip: Ipv4Addr,
    pub hostname: Option<String>,
    pub ready: bool,
    pub serving: bool,
    pub terminating: bool,
    /// Resolved target ports by service port name.
    pub ports: BTreeMap<String, u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceView {
    pub namespace: String,
    pub name: String,
    /// `None` for headless and ExternalName services.
    pub cluster_ip: Option<Ipv4Addr>,
    pub headless: bool,
    pub external_name: Option<String>,
    pub ports: Vec<ServicePortView>,
    pub affinity: Option<u32>,
    pub endpoints: Vec<EndpointView>,
}

impl ServiceView {
    pub fn new(svc: &Service, slices: &[EndpointSlice]) -> ServiceView {
        let spec = svc.spec.clone().unwrap_or_default();
        let cip = spec.cluster_ip.as_deref().unwrap_or("");
        let external = spec.type_.as_deref() == Some("ExternalName");
        let ports = spec
            .ports
            .iter()
            .flatten()
            .filter_map(|p| {
                Some(ServicePortView {
                    name: p.name.clone().unwrap_or_default(),
                    protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                    port: u16::try_from(p.port).ok()?,
                    node_port: p
                        .node_port
                        .and_then(|n| u16::try_from(n).ok())
                        .filter(|n| *n != 0),
                })
            })
            .collect();
        let affinity = (spec.session_affinity.as_deref() == Some("ClientIP")).then(|| {
            spec.session_affinity_config
                .as_ref()
                .and_then(|c| c.client_ip.as_ref())
                .and_then(|c| c.timeout_seconds)
                .and_then(|t| u32::try_from(t).ok())
                .unwrap_or(10800)
        });
        let mut endpoints = Vec::new();
        for slice in slices {
            let ports: BTreeMap<String, u16> = slice
                .ports
                .iter()
                .flatten()
                .filter_map(|p| {
                    Some((
                        p.name.clone().unwrap_or_default(),
                        u16::try_from(p.port?).ok()?,
                    ))
                })
                .collect();
            for e in slice.endpoints.iter().flatten() {
                let Some(ip) = e.addresses.first().and_then(|a| a.parse().ok()) else {
                    continue;
                };
                let c = e.conditions.clone().unwrap_or_default();
                endpoints.push(EndpointView {
                    ip,
                    hostname: e.hostname.clone(),
                    ready: c.ready.unwrap_or(true),
                    serving: c.serving.or(c.ready).unwrap_or(true),
                    terminating: c.terminating.unwrap_or(false),
                    ports: ports.clone(),
                });
            }
        }
        endpoints.sort_by_key(|e| e.ip);
        ServiceView {
            namespace: svc
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into()),
            name: svc.metadata.name.clone().unwrap_or_default(),
            cluster_ip: if external { None } else { cip.parse().ok() },
            headless: cip == "None",
            external_name: external
                .then(|| spec.external_name.clone())
                .flatten()
                .map(|n| n.trim_end_matches('.').to_owned()),
            ports,
            affinity,
            endpoints,
        }
    }

    /// The endpoints traffic may go to: the ready ones; when none is
    /// ready, the serving terminating ones (kube-proxy's fallback for
    /// terminating endpoints).
    pub fn usable(&self) -> Vec<&EndpointView> {
        let ready: Vec<&EndpointView> = self.endpoints.iter().filter(|e| e.ready).collect();
        if !ready.is_empty() {
            return ready;
        }
        self.endpoints
            .iter()
            .filter(|e| e.serving && e.terminating)
            .collect()
    }

    /// This service's entries of the data plane.
    pub fn rules(&self, out: &mut Desired) {
        let Some(cip) = self.cluster_ip else { return };
        let usable = self.usable();
        for p in &self.ports {
            let proto = p.protocol.to_lowercase();
            let mut backends: Vec<(Ipv4Addr, u16)> = usable
                .iter()
                .filter_map(|e| e.ports.get(&p.name).map(|tp| (e.ip, *tp)))
                .collect();
            backends.sort();
            backends.dedup();
            out.insert(
                format!("{}/{}/{proto}/{}", self.namespace, self.name, p.port),
                PortRule {
                    cluster_ip: cip,
                    protocol: proto,
                    port: p.port,
                    node_port: p.node_port,
                    backends,
                    affinity: self.affinity,
                },
            );
        }
    }
}
