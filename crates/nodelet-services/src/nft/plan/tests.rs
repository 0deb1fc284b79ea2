use super::*;

fn cfg() -> TableConfig {
    TableConfig {
        table: "t".into(),
        pod_cidr: "10.244.0.0/24".parse().unwrap(),
        masquerade_all: false,
        bridge: "br0".into(),
        gateway: "10.244.0.1".parse().unwrap(),
        gateway_tcp_ports: vec![6443, 53],
        gateway_udp_ports: vec![53],
    }
}

fn rule(backends: &[(&str, u16)]) -> PortRule {
    PortRule {
        cluster_ip: "10.96.0.20".parse().unwrap(),
        protocol: "tcp".into(),
        port: 80,
        node_port: None,
        backends: backends
            .iter()
            .map(|(ip, p)| (ip.parse().unwrap(), *p))
            .collect(),
        affinity: None,
    }
}

#[test]
fn a_readiness_change_rewrites_one_service_chain_only() {
    let key = "default/web/tcp/80".to_owned();
    let mut old = Desired::new();
    old.insert(
        key.clone(),
        rule(&[("10.244.0.5", 8080), ("10.244.0.6", 8080)]),
    );
    old.insert("default/other/tcp/81".into(), rule(&[("10.244.0.9", 81)]));
    let mut new = old.clone();
    new.insert(key.clone(), rule(&[("10.244.0.5", 8080)]));
    let d = delta(&cfg(), &old, &new);
    assert!(
        d.contains("flush chain ip t svc-default/web/tcp/80\n"),
        "{d}"
    );
    assert!(
        d.contains("numgen random mod 1 vmap { 0 : goto ep-default/web/tcp/80__10.244.0.5/8080 }"),
        "{d}"
    );
    assert!(
        d.contains("delete chain ip t ep-default/web/tcp/80__10.244.0.6/8080\n"),
        "{d}"
    );
    assert!(!d.contains("other"), "{d}");
    assert!(!d.contains("element"), "{d}");
    assert_eq!(delta(&cfg(), &new, &new), "");
}

#[test]
fn losing_the_last_endpoint_moves_the_service_to_reject() {
    let key = "default/web/tcp/80".to_owned();
    let old = Desired::from([(key.clone(), rule(&[("10.244.0.5", 8080)]))]);
    let new = Desired::from([(key.clone(), rule(&[]))]);
    let d = delta(&cfg(), &old, &new);
    assert!(
        d.contains("delete element ip t service-ips { 10.96.0.20 . tcp . 80 }"),
        "{d}"
    );
    assert!(
        d.contains(
            "add element ip t no-endpoint-services { 10.96.0.20 . tcp . 80 : goto reject-chain }"
        ),
        "{d}"
    );
}

#[test]
fn full_table_has_the_fixed_chains() {
    let f = full(&cfg(), &Desired::new());
    assert!(f.starts_with("add table ip t\ndelete table ip t\ntable ip t {"));
    assert!(f.contains(
        "ip daddr 10.244.0.1 tcp dport { 6443, 53 } iifname != { \"br0\", \"lo\" } drop;"
    ));
}
