//! Cluster IPs and node ports for Services, allocated as the API server's
//! service REST storage does (`pkg/registry/core/service/ipallocator`,
//! `portallocator`, `alloc.go`): a requested address or port is honoured
//! or refused with the API server's message, a missing one is picked at
//! random from the free ones (cluster IPs from the upper part of the range
//! first, leaving the lower band for static picks). What is allocated is
//! what the stored Services hold: there is no separate bitmap to drift, a
//! deletion releases at once, and the caller serialises allocations.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::Service;
use nodelet_spec::field_error::Raw;
use nodelet_spec::validate::go_string_slice;
use nodelet_spec::{FieldError, FieldErrors, FieldPath};

/// `--service-cidr` and `--service-node-port-range`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceRanges {
    pub network: Ipv4Addr,
    pub prefix: u8,
    pub node_ports: (u16, u16),
}

impl ServiceRanges {
    fn size(&self) -> u64 {
        1u64 << (32 - u32::from(self.prefix))
    }

    fn base(&self) -> u32 {
        u32::from(self.network)
    }

    /// Usable offsets: all but the network and broadcast addresses.
    fn contains(&self, ip: Ipv4Addr) -> bool {
        let off = u64::from(u32::from(ip).wrapping_sub(self.base()));
        u32::from(ip) >= self.base() && off > 0 && off < self.size() - 1
    }

    fn cidr(&self) -> String {
        format!("{}/{}", self.network, self.prefix)
    }
}

fn is_headless(svc: &Service) -> bool {
    svc.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None")
}

fn cluster_ip_of(svc: &Service) -> Option<Ipv4Addr> {
    svc.spec.as_ref()?.cluster_ip.as_deref()?.parse().ok()
}

fn key(svc: &Service) -> (String, String) {
    (
        svc.metadata.namespace.clone().unwrap_or_default(),
        svc.metadata.name.clone().unwrap_or_default(),
    )
}

/// Fills `svc`'s cluster IP, families and node ports; `old` is the stored
/// version on an update; `existing` every stored Service (`svc` itself
/// included or not). `random` seeds the picks.
pub fn allocate(
    svc: &mut Service,
    old: Option<&Service>,
    existing: &[Service],
    ranges: &ServiceRanges,
    mut random: impl FnMut() -> u64,
) -> Result<(), FieldErrors> {
    let me = key(svc);
    let others: Vec<&Service> = existing.iter().filter(|s| key(s) != me).collect();
    let mut errs = FieldErrors::default();
    let spec = svc.spec.get_or_insert_with(Default::default);
    let path = FieldPath::new("spec");
    let ty = spec.type_.clone().unwrap_or_default();
    if ty == "ExternalName" {
        spec.cluster_ip = None;
        spec.cluster_ips = None;
        spec.ip_families = None;
        spec.ip_family_policy = None;
        return Ok(());
    }
    // Single-stack IPv4 node.
    if spec.ip_family_policy.as_deref() == Some("RequireDualStack") {
        errs.push(FieldError::invalid(
            path.child("ipFamilyPolicy"),
            "RequireDualStack",
            "this cluster is not configured for dual-stack services",
        ));
    }
    for (i, f) in spec.ip_families.iter().flatten().enumerate() {
        if f != "IPv4" {
            errs.push(FieldError::invalid(
                path.child("ipFamilies").index(i),
                f.as_str(),
                "not configured on this cluster",
            ));
        }
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    spec.ip_families = Some(vec!["IPv4".into()]);
    if spec.ip_family_policy.is_none() {
        spec.ip_family_policy = Some("SingleStack".into());
    }

    // Cluster IP: kept on update, requested or picked on create.
    let old_ip = old
        .and_then(|o| o.spec.as_ref()?.cluster_ip.clone())
        .filter(|s| !s.is_empty());
    let requested = spec.cluster_ip.clone().filter(|s| !s.is_empty());
    match (old_ip, requested) {
        (Some(o), None) => {
            spec.cluster_ip = Some(o.clone());
            spec.cluster_ips = Some(vec![o]);
        }
        (Some(o), Some(r)) if o != r => {
            errs.push(FieldError::invalid(
                path.child("clusterIPs").index(0),
                Raw(go_string_slice(&[r])),
                "may not change once set",
            ));
            return Err(errs);
        }
        (Some(_), Some(_)) => {}
        (None, Some(r)) if r == "None" => {}
        (None, Some(r)) => {
            let taken = others
                .iter()
                .any(|s| cluster_ip_of(s).map(|ip| ip.to_string()) == Some(r.clone()));
            let why = match r.parse::<Ipv4Addr>() {
                Ok(ip) if !ranges.contains(ip) => Some(format!(
                    "provided IP is not in the valid range. The range of valid IPs is {}",
                    ranges.cidr()
                )),
                Ok(_) if taken => Some("provided IP is already allocated".to_owned()),
                Ok(_) => None,
                Err(_) => Some(format!(
                    "provided IP is not in the valid range. The range of valid IPs is {}",
                    ranges.cidr()
                )),
            };
            if let Some(why) = why {
                let shown = spec.cluster_ips.clone().unwrap_or_else(|| vec![r.clone()]);
                errs.push(FieldError::invalid(
                    path.child("clusterIPs"),
                    Raw(go_string_slice(&shown)),
                    format!("failed to allocate IP {r}: {why}"),
                ));
                return Err(errs);
            }
            spec.cluster_ips = Some(vec![r]);
        }
        (None, None) => {
            let used: HashSet<Ipv4Addr> = others.iter().filter_map(|s| cluster_ip_of(s)).collect();
            let Some(ip) = pick_ip(ranges, &used, &mut random) else {
                errs.push(FieldError::new(
                    nodelet_spec::ErrorType::Internal,
                    path.child("clusterIPs"),
                    None,
                    "failed to allocate a serviceIP: range is full".to_owned(),
                ));
                return Err(errs);
            };
            spec.cluster_ip = Some(ip.to_string());
            spec.cluster_ips = Some(vec![ip.to_string()]);
        }
    }
    if is_headless_spec(spec) {
        spec.cluster_ips = Some(vec!["None".into()]);
    }

    // Node ports.
    let wants_node_ports = ty == "NodePort"
        || (ty == "LoadBalancer" && spec.allocate_load_balancer_node_ports != Some(false));
    if !wants_node_ports {
        return Ok(());
    }
    let used: HashSet<(String, i32)> = others
        .iter()
        .flat_map(|s| s.spec.iter().flat_map(|sp| sp.ports.iter().flatten()))
        .filter_map(|p| {
            Some((
                p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                p.node_port.filter(|n| *n != 0)?,
            ))
        })
        .collect();
    let old_ports: Vec<(String, i32, i32)> = old
        .into_iter()
        .flat_map(|o| o.spec.iter().flat_map(|sp| sp.ports.iter().flatten()))
        .filter_map(|p| {
            Some((
                p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                p.port,
                p.node_port.filter(|n| *n != 0)?,
            ))
        })
        .collect();
    let (lo, hi) = (
        i32::from(ranges.node_ports.0),
        i32::from(ranges.node_ports.1),
    );
    let mut mine: HashSet<(String, i32)> = HashSet::new();
    for (i, p) in spec.ports.iter_mut().flatten().enumerate() {
        let proto = p.protocol.clone().unwrap_or_else(|| "TCP".into());
        let np_path = path.child("ports").index(i).child("nodePort");
        let requested = p.node_port.filter(|n| *n != 0).or_else(|| {
            old_ports
                .iter()
                .find(|(pr, port, _)| *pr == proto && *port == p.port)
                .map(|(_, _, np)| *np)
        });
        match requested {
            Some(np) => {
                let why = if np < lo || np > hi {
                    Some(format!(
                        "provided port is not in the valid range. The range of valid ports is {lo}-{hi}"
                    ))
                } else if used.contains(&(proto.clone(), np)) || mine.contains(&(proto.clone(), np))
                {
                    Some("provided port is already allocated".to_owned())
                } else {
                    None
                };
                if let Some(why) = why {
                    errs.push(FieldError::invalid(np_path, np, why));
                    continue;
                }
                p.node_port = Some(np);
                mine.insert((proto, np));
            }
            None => {
                let span = (hi - lo + 1) as u64;
                let start = (random() % span) as i32;
                let free = (0..hi - lo + 1)
                    .map(|k| lo + (start + k) % (hi - lo + 1))
                    .find(|n| {
                        !used.contains(&(proto.clone(), *n)) && !mine.contains(&(proto.clone(), *n))
                    });
                match free {
                    Some(np) => {
                        p.node_port = Some(np);
                        mine.insert((proto, np));
                    }
                    None => errs.push(FieldError::new(
                        nodelet_spec::ErrorType::Internal,
                        np_path,
                        None,
                        "failed to allocate a nodePort: range is full".to_owned(),
                    )),
                }
            }
        }
    }
    if errs.is_empty() { Ok(()) } else { Err(errs) }
}

fn is_headless_spec(spec: &k8s_openapi::api::core::v1::ServiceSpec) -> bool {
    spec.cluster_ip.as_deref() == Some("None")
}

/// A free address: random in the dynamic (upper) band first, then the
/// static band (`ipallocator` with ServiceIPStaticSubrange).
fn pick_ip(
    ranges: &ServiceRanges,
    used: &HashSet<Ipv4Addr>,
    random: &mut impl FnMut() -> u64,
) -> Option<Ipv4Addr> {
    let usable = ranges.size().saturating_sub(2);
    if usable == 0 {
        return None;
    }
    let band = (usable / 16).clamp(16, 256).min(usable);
    let try_span = |lo: u64, hi: u64, r: u64| -> Option<Ipv4Addr> {
        if hi <= lo {
            return None;
        }
        let span = hi - lo;
        let start = r % span;
        (0..span)
            .map(|k| lo + (start + k) % span)
            .map(|off| Ipv4Addr::from(ranges.base() + 1 + off as u32))
            .find(|ip| !used.contains(ip))
    };
    try_span(band, usable, random()).or_else(|| try_span(0, band, random()))
}

/// Whether `svc` is headless (no cluster IP to allocate).
pub fn headless(svc: &Service) -> bool {
    is_headless(svc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(name: &str, spec: serde_json::Value) -> Service {
        let mut s: Service = serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "default"}, "spec": spec}))
        .unwrap();
        nodelet_spec::defaults::default_service(&mut s);
        s
    }

    fn ranges() -> ServiceRanges {
        ServiceRanges {
            network: "10.96.0.0".parse().unwrap(),
            prefix: 12,
            node_ports: (30000, 32767),
        }
    }

    #[test]
    fn picks_free_addresses_and_refuses_taken_or_foreign_ones() {
        let mut n = 0u64;
        let mut rnd = || {
            n += 7;
            n
        };
        let mut a = svc("a", json!({"ports": [{"port": 80}]}));
        allocate(&mut a, None, &[], &ranges(), &mut rnd).unwrap();
        let ip = a.spec.as_ref().unwrap().cluster_ip.clone().unwrap();
        assert!(ip.starts_with("10."), "{ip}");
        assert_eq!(a.spec.as_ref().unwrap().cluster_ips, Some(vec![ip.clone()]));
        assert_eq!(
            a.spec.as_ref().unwrap().ip_family_policy.as_deref(),
            Some("SingleStack")
        );

        let mut b = svc("b", json!({"clusterIP": ip, "ports": [{"port": 80}]}));
        let e = allocate(&mut b, None, std::slice::from_ref(&a), &ranges(), &mut rnd).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "spec.clusterIPs: Invalid value: []string{{\"{ip}\"}}: failed to allocate IP {ip}: provided IP is already allocated"
            )
        );
        let mut c = svc(
            "c",
            json!({"clusterIP": "10.0.0.1", "ports": [{"port": 80}]}),
        );
        let e = allocate(&mut c, None, &[], &ranges(), &mut rnd).unwrap_err();
        assert_eq!(
            e.to_string(),
            "spec.clusterIPs: Invalid value: []string{\"10.0.0.1\"}: failed to allocate IP 10.0.0.1: provided IP is not in the valid range. The range of valid IPs is 10.96.0.0/12"
        );
        // An update keeps the address and may not change it.
        let mut a2 = svc("a", json!({"ports": [{"port": 81}]}));
        allocate(
            &mut a2,
            Some(&a),
            std::slice::from_ref(&a),
            &ranges(),
            &mut rnd,
        )
        .unwrap();
        assert_eq!(
            a2.spec.as_ref().unwrap().cluster_ip.as_deref(),
            Some(ip.as_str())
        );
    }

    #[test]
    fn node_ports_in_range_and_not_twice() {
        let mut rnd = || 5u64;
        let mut a = svc(
            "a",
            json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}, {"name": "b", "port": 81}]}),
        );
        allocate(&mut a, None, &[], &ranges(), &mut rnd).unwrap();
        let ports = a.spec.as_ref().unwrap().ports.clone().unwrap();
        assert_eq!(ports[0].node_port, Some(30080));
        assert!(ports[1].node_port.unwrap() >= 30000);
        let mut b = svc(
            "b",
            json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]}),
        );
        let e = allocate(&mut b, None, std::slice::from_ref(&a), &ranges(), &mut rnd).unwrap_err();
        assert_eq!(
            e.to_string(),
            "spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated"
        );
        let mut c = svc(
            "c",
            json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 80}]}),
        );
        let e = allocate(&mut c, None, &[], &ranges(), &mut rnd).unwrap_err();
        assert_eq!(
            e.to_string(),
            "spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767"
        );
    }
}
