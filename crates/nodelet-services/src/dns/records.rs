//! The cluster's DNS records, as the Kubernetes DNS specification
//! (`kubernetes/dns` `docs/specification.md`, v1.1.0) and CoreDNS's
//! `kubernetes` plugin define them, computed from the services' views and
//! the pods' addresses. Pure: [`DnsIndex::lookup`] answers one question.
//!
//! - `<svc>.<ns>.svc.<zone>`: A with the cluster IP; for a headless
//!   service, one A per ready endpoint.
//! - `<hostname>.<svc>.<ns>.svc.<zone>` for each ready endpoint of a
//!   headless service (its pod's `hostname`, else the dashed IP).
//! - `_<port>._<proto>.<svc>.<ns>.svc.<zone>`: SRV per named port
//!   (priority 0, weight 100; a headless service's targets are its
//!   endpoints' names).
//! - ExternalName: a CNAME to `externalName`.
//! - `<a-b-c-d>.<ns>.pod.<zone>`: A, for a pod of that namespace with that
//!   IP (CoreDNS's `pods verified`).
//! - PTR for cluster IPs and for headless endpoints.
//! - `dns-version.<zone>`: TXT `1.1.0`.
//! - Other names under the zone: NXDOMAIN; existing names without the
//!   asked type: NOERROR with no answer (both with the zone's SOA).

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;

use hickory_proto::rr::rdata::{A, CNAME, PTR, SOA, SRV, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use ipnet::Ipv4Net;

use crate::view::ServiceView;

/// CoreDNS's default TTL for cluster records.
pub const TTL: u32 = 5;
/// The spec version served at `dns-version.<zone>`.
pub const SPEC_VERSION: &str = "1.1.0";

/// What the index says about one question.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    /// Records to answer with.
    Answer(Vec<Record>),
    /// A CNAME whose target lies outside the cluster: answer with it and
    /// the upstream's records for the target.
    Chase(Box<Record>, String),
    /// The name exists, not with this type.
    NoData,
    /// No such name in the zone.
    NxDomain,
    /// Not ours: ask the host's resolvers.
    Forward,
}

#[derive(Debug, Clone, Default)]
pub struct DnsIndex {
    zone: String,
    networks: Vec<Ipv4Net>,
    a: HashMap<String, Vec<Ipv4Addr>>,
    srv: HashMap<String, Vec<(u16, String)>>,
    cname: HashMap<String, String>,
    ptr: HashMap<Ipv4Addr, Vec<String>>,
    /// Every owner name and its ancestors up to the zone.
    names: HashSet<String>,
    /// Pod IPs per namespace.
    pods: HashMap<String, HashSet<Ipv4Addr>>,
}

fn fqdn(name: &str) -> Name {
    Name::from_ascii(format!("{name}.")).unwrap_or_else(|_| Name::root())
}

fn record(name: &str, rdata: RData) -> Record {
    Record::from_rdata(fqdn(name), TTL, rdata)
}

fn dashed(ip: Ipv4Addr) -> String {
    ip.to_string().replace('.', "-")
}

impl DnsIndex {
    /// `zone` is the cluster domain (`cluster.local`); `networks` are the
    /// ranges whose reverse lookups this server owns (service and pod
    /// networks).
    pub fn build(
        zone: &str,
        networks: Vec<Ipv4Net>,
        services: &[ServiceView],
        pods: &[(String, Ipv4Addr)],
    ) -> DnsIndex {
        let zone = zone.trim_end_matches('.').to_lowercase();
        let mut ix = DnsIndex {
            zone: zone.clone(),
            networks,
            ..Default::default()
        };
        ix.add_name(&format!("dns-version.{zone}"));
        for svc in services {
            let base = format!("{}.{}.svc.{zone}", svc.name, svc.namespace);
            ix.add_name(&base);
            if let Some(target) = &svc.external_name {
                ix.cname.insert(base.clone(), target.to_lowercase());
                continue;
            }
            if svc.headless {
                for e in svc.endpoints.iter().filter(|e| e.ready) {
                    let host = e.hostname.clone().unwrap_or_else(|| dashed(e.ip));
                    let name = format!("{host}.{base}");
                    ix.a.entry(base.clone()).or_default().push(e.ip);
                    ix.a.entry(name.clone()).or_default().push(e.ip);
                    ix.ptr.entry(e.ip).or_default().push(name.clone());
                    ix.add_name(&name);
                }
            } else if let Some(ip) = svc.cluster_ip {
                ix.a.entry(base.clone()).or_default().push(ip);
                ix.ptr.entry(ip).or_default().push(base.clone());
            }
            for p in svc.ports.iter().filter(|p| !p.name.is_empty()) {
                let name = format!("_{}._{}.{base}", p.name, p.protocol.to_lowercase());
                let targets: Vec<(u16, String)> = if svc.headless {
                    svc.endpoints
                        .iter()
                        .filter(|e| e.ready)
                        .filter_map(|e| {
                            let port = *e.ports.get(&p.name)?;
                            let host = e.hostname.clone().unwrap_or_else(|| dashed(e.ip));
                            Some((port, format!("{host}.{base}")))
                        })
                        .collect()
                } else {
                    vec![(p.port, base.clone())]
                };
                if !targets.is_empty() {
                    ix.srv.insert(name.clone(), targets);
                    ix.add_name(&name);
                }
            }
        }
        for (ns, ip) in pods {
            ix.pods.entry(ns.clone()).or_default().insert(*ip);
            ix.add_name(&format!("{}.{ns}.pod.{zone}", dashed(*ip)));
        }
        for list in ix.a.values_mut() {
            list.sort();
            list.dedup();
        }
        ix
    }

    fn add_name(&mut self, name: &str) {
        let mut n = name;
        loop {
            if !self.names.insert(n.to_owned()) || n == self.zone {
                return;
            }
            match n.split_once('.') {
                Some((_, rest)) => n = rest,
                None => return,
            }
        }
    }

    pub fn zone(&self) -> &str {
        &self.zone
    }

    /// The zone's SOA, for negative answers.
    pub fn soa(&self) -> Record {
        let zone = &self.zone;
        let mut r = record(
            zone,
            RData::SOA(SOA::new(
                fqdn(&format!("ns.dns.{zone}")),
                fqdn(&format!("hostmaster.{zone}")),
                1,
                7200,
                1800,
                86400,
                TTL,
            )),
        );
        r.ttl = TTL;
        r
    }

    fn in_zone(&self, name: &str) -> bool {
        name == self.zone || name.ends_with(&format!(".{}", self.zone))
    }

    /// Answers `name` (lower case, no trailing dot) for `qtype`.
    pub fn lookup(&self, name: &str, qtype: RecordType) -> Lookup {
        let name = name.trim_end_matches('.').to_lowercase();
        if let Some(rest) = name.strip_suffix(".in-addr.arpa") {
            return self.reverse(&name, rest, qtype);
        }
        if !self.in_zone(&name) {
            return Lookup::Forward;
        }
        if name == self.zone {
            return match qtype {
                RecordType::SOA => Lookup::Answer(vec![self.soa()]),
                _ => Lookup::NoData,
            };
        }
        if name == format!("dns-version.{}", self.zone) {
            return match qtype {
                RecordType::TXT => Lookup::Answer(vec![record(
                    &name,
                    RData::TXT(TXT::new(vec![SPEC_VERSION.into()])),
                )]),
                _ => Lookup::NoData,
            };
        }
        if let Some(target) = self.cname.get(&name) {
            let cname = record(&name, RData::CNAME(CNAME(fqdn(target))));
            if qtype == RecordType::CNAME {
                return Lookup::Answer(vec![cname]);
            }
            return match self.lookup(target, qtype) {
                Lookup::Answer(mut rs) => {
                    rs.insert(0, cname);
                    Lookup::Answer(rs)
                }
                Lookup::Forward | Lookup::Chase(..) => {
                    Lookup::Chase(Box::new(cname), target.clone())
                }
                Lookup::NoData | Lookup::NxDomain => Lookup::Answer(vec![cname]),
            };
        }
        if let Some(ip) = self.pod_record(&name) {
            return match qtype {
                RecordType::A => Lookup::Answer(vec![record(&name, RData::A(A(ip)))]),
                _ => Lookup::NoData,
            };
        }
        let answers: Vec<Record> = match qtype {
            RecordType::A => self
                .a
                .get(&name)
                .into_iter()
                .flatten()
                .map(|ip| record(&name, RData::A(A(*ip))))
                .collect(),
            RecordType::SRV => self
                .srv
                .get(&name)
                .into_iter()
                .flatten()
                .map(|(port, target)| {
                    record(&name, RData::SRV(SRV::new(0, 100, *port, fqdn(target))))
                })
                .collect(),
            _ => Vec::new(),
        };
        if !answers.is_empty() {
            Lookup::Answer(answers)
        } else if self.names.contains(&name) {
            Lookup::NoData
        } else {
            Lookup::NxDomain
        }
    }

    /// `a-b-c-d.<ns>.pod.<zone>` of an existing pod.
    fn pod_record(&self, name: &str) -> Option<Ipv4Addr> {
        let rest = name.strip_suffix(&format!(".pod.{}", self.zone))?;
        let (host, ns) = rest.split_once('.')?;
        let ip: Ipv4Addr = host.replace('-', ".").parse().ok()?;
        self.pods.get(ns)?.contains(&ip).then_some(ip)
    }

    fn reverse(&self, name: &str, rest: &str, qtype: RecordType) -> Lookup {
        let octets: Vec<&str> = rest.split('.').collect();
        let ip = (octets.len() == 4)
            .then(|| format!("{}.{}.{}.{}", octets[3], octets[2], octets[1], octets[0]))
            .and_then(|s| s.parse::<Ipv4Addr>().ok());
        let Some(ip) = ip else { return Lookup::Forward };
        if let Some(targets) = self.ptr.get(&ip) {
            return match qtype {
                RecordType::PTR => Lookup::Answer(
                    targets
                        .iter()
                        .map(|t| record(name, RData::PTR(PTR(fqdn(t)))))
                        .collect(),
                ),
                _ => Lookup::NoData,
            };
        }
        if self.networks.iter().any(|n| n.contains(&ip)) {
            Lookup::NxDomain
        } else {
            Lookup::Forward
        }
    }
}

#[cfg(test)]
mod tests;
