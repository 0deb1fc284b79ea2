use std::collections::BTreeMap;

use hickory_proto::rr::{RData, RecordType};

use super::*;
use crate::view::{EndpointView, ServicePortView, ServiceView};

fn ep(ip: &str, hostname: Option<&str>, ready: bool) -> EndpointView {
    EndpointView {
        ip: ip.parse().unwrap(),
        hostname: hostname.map(str::to_owned),
        ready,
        serving: ready,
        terminating: false,
        ports: BTreeMap::from([("http".to_owned(), 8080)]),
    }
}

fn svc(name: &str, cip: Option<&str>, headless: bool, eps: Vec<EndpointView>) -> ServiceView {
    ServiceView {
        namespace: "default".into(),
        name: name.into(),
        cluster_ip: cip.map(|c| c.parse().unwrap()),
        headless,
        external_name: None,
        ports: vec![ServicePortView {
            name: "http".into(),
            protocol: "TCP".into(),
            port: 80,
            node_port: None,
        }],
        affinity: None,
        endpoints: eps,
    }
}

fn index() -> DnsIndex {
    let mut ext = svc("ext", None, false, vec![]);
    ext.external_name = Some("web.default.svc.cluster.local".into());
    let mut far = svc("far", None, false, vec![]);
    far.external_name = Some("example.org".into());
    DnsIndex::build(
        "cluster.local",
        vec![
            "10.96.0.0/12".parse().unwrap(),
            "10.244.0.0/24".parse().unwrap(),
        ],
        &[
            svc(
                "web",
                Some("10.96.0.20"),
                false,
                vec![ep("10.244.0.5", None, true)],
            ),
            svc(
                "db",
                None,
                true,
                vec![
                    ep("10.244.0.6", Some("db-0"), true),
                    ep("10.244.0.7", None, true),
                    ep("10.244.0.8", None, false),
                ],
            ),
            ext,
            far,
        ],
        &[("default".into(), "10.244.0.5".parse().unwrap())],
    )
}

fn answers(l: Lookup) -> Vec<String> {
    match l {
        Lookup::Answer(rs) => rs
            .iter()
            .map(|r| match &r.data {
                RData::A(a) => a.0.to_string(),
                RData::SRV(s) => format!("{} {}", s.port, s.target),
                RData::PTR(p) => p.0.to_string(),
                RData::CNAME(c) => format!("CNAME {}", c.0),
                RData::TXT(t) => t.to_string(),
                other => format!("{other:?}"),
            })
            .collect(),
        other => vec![format!("{other:?}")],
    }
}

#[test]
fn cluster_ip_service() {
    let ix = index();
    assert_eq!(
        answers(ix.lookup("web.default.svc.cluster.local.", RecordType::A)),
        ["10.96.0.20"]
    );
    assert_eq!(
        answers(ix.lookup("WEB.Default.svc.cluster.local", RecordType::A)),
        ["10.96.0.20"]
    );
    assert_eq!(
        ix.lookup("web.default.svc.cluster.local", RecordType::AAAA),
        Lookup::NoData
    );
    assert_eq!(
        answers(ix.lookup("_http._tcp.web.default.svc.cluster.local", RecordType::SRV)),
        ["80 web.default.svc.cluster.local."]
    );
    assert_eq!(
        answers(ix.lookup("20.0.96.10.in-addr.arpa", RecordType::PTR)),
        ["web.default.svc.cluster.local."]
    );
    assert_eq!(
        ix.lookup("nope.default.svc.cluster.local", RecordType::A),
        Lookup::NxDomain
    );
    assert_eq!(
        ix.lookup("default.svc.cluster.local", RecordType::A),
        Lookup::NoData
    );
}

#[test]
fn headless_service_lists_ready_endpoints() {
    let ix = index();
    assert_eq!(
        answers(ix.lookup("db.default.svc.cluster.local", RecordType::A)),
        ["10.244.0.6", "10.244.0.7"]
    );
    assert_eq!(
        answers(ix.lookup("db-0.db.default.svc.cluster.local", RecordType::A)),
        ["10.244.0.6"]
    );
    assert_eq!(
        answers(ix.lookup("_http._tcp.db.default.svc.cluster.local", RecordType::SRV)),
        [
            "8080 db-0.db.default.svc.cluster.local.",
            "8080 10-244-0-7.db.default.svc.cluster.local."
        ]
    );
    assert_eq!(
        answers(ix.lookup("6.0.244.10.in-addr.arpa", RecordType::PTR)),
        ["db-0.db.default.svc.cluster.local."]
    );
}

#[test]
fn external_names_pods_and_the_rest() {
    let ix = index();
    assert_eq!(
        answers(ix.lookup("ext.default.svc.cluster.local", RecordType::A)),
        ["CNAME web.default.svc.cluster.local.", "10.96.0.20"]
    );
    assert!(matches!(
        ix.lookup("far.default.svc.cluster.local", RecordType::A),
        Lookup::Chase(_, t) if t == "example.org"
    ));
    assert_eq!(
        answers(ix.lookup("10-244-0-5.default.pod.cluster.local", RecordType::A)),
        ["10.244.0.5"]
    );
    assert_eq!(
        ix.lookup("10-244-0-9.default.pod.cluster.local", RecordType::A),
        Lookup::NxDomain
    );
    assert_eq!(ix.lookup("example.org", RecordType::A), Lookup::Forward);
    assert_eq!(
        ix.lookup("4.3.2.1.in-addr.arpa", RecordType::PTR),
        Lookup::Forward
    );
    assert_eq!(
        ix.lookup("99.0.96.10.in-addr.arpa", RecordType::PTR),
        Lookup::NxDomain
    );
    assert_eq!(
        answers(ix.lookup("dns-version.cluster.local", RecordType::TXT)),
        ["1.1.0"]
    );
}
