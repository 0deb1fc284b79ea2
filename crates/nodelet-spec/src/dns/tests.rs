use k8s_openapi::api::core::v1::Pod;
use serde_json::json;

use super::*;

fn pod(spec: serde_json::Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "shop", "uid": "u1"},
        "spec": spec,
    }))
    .unwrap()
}

fn node() -> ClusterDns {
    ClusterDns {
        servers: vec!["10.96.0.10".into()],
        domain: "cluster.local".into(),
        host: ResolvConf::parse(
            "# comment\nnameserver 192.168.1.1\nnameserver 8.8.8.8\nsearch corp.example. lab.example\noptions edns0 timeout:2\n",
        ),
    }
}

#[test]
fn parses_the_host_file_like_the_kubelet() {
    let r = node().host;
    assert_eq!(r.nameservers, ["192.168.1.1", "8.8.8.8"]);
    assert_eq!(r.searches, ["corp.example", "lab.example"]);
    assert_eq!(r.options, ["edns0", "timeout:2"]);
}

#[test]
fn cluster_first_uses_the_cluster_server_and_search_path() {
    let (dns, events) = pod_dns(
        &pod(json!({"containers": [], "dnsPolicy": "ClusterFirst"})),
        &node(),
    );
    assert!(events.is_empty());
    assert_eq!(
        resolv_conf_content(&dns),
        "search shop.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example\nnameserver 10.96.0.10\noptions ndots:5\n"
    );
}

#[test]
fn host_network_cluster_first_falls_back_to_default() {
    let p = pod(json!({"containers": [], "dnsPolicy": "ClusterFirst", "hostNetwork": true}));
    let (dns, _) = pod_dns(&p, &node());
    assert_eq!(dns.servers, ["192.168.1.1", "8.8.8.8"]);
    assert_eq!(dns.options, ["edns0", "timeout:2"]);
    let p =
        pod(json!({"containers": [], "dnsPolicy": "ClusterFirstWithHostNet", "hostNetwork": true}));
    assert_eq!(pod_dns(&p, &node()).0.servers, ["10.96.0.10"]);
}

#[test]
fn default_is_the_host_config() {
    let (dns, _) = pod_dns(
        &pod(json!({"containers": [], "dnsPolicy": "Default"})),
        &node(),
    );
    assert_eq!(
        resolv_conf_content(&dns),
        "search corp.example lab.example\nnameserver 192.168.1.1\nnameserver 8.8.8.8\noptions edns0 timeout:2\n"
    );
}

#[test]
fn none_takes_only_dns_config() {
    let p = pod(json!({"containers": [], "dnsPolicy": "None", "dnsConfig": {
        "nameservers": ["1.1.1.1"], "searches": ["a.example", "a.example"],
        "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]}}));
    let (dns, events) = pod_dns(&p, &node());
    assert!(events.is_empty());
    assert_eq!(
        resolv_conf_content(&dns),
        "search a.example\nnameserver 1.1.1.1\noptions ndots:2 edns0\n"
    );
}

#[test]
fn dns_config_merges_into_cluster_first() {
    let p = pod(json!({"containers": [], "dnsConfig": {
        "nameservers": ["10.96.0.10", "1.1.1.1"], "searches": ["extra.example"],
        "options": [{"name": "ndots", "value": "1"}]}}));
    let (dns, _) = pod_dns(&p, &node());
    assert_eq!(dns.servers, ["10.96.0.10", "1.1.1.1"]);
    assert_eq!(dns.searches.last().unwrap(), "extra.example");
    assert_eq!(dns.options, ["ndots:1"]);
}

#[test]
fn limits_are_enforced_with_the_kubelet_events() {
    let p = pod(json!({"containers": [], "dnsPolicy": "None", "dnsConfig": {
        "nameservers": ["1.1.1.1", "1.1.1.2", "1.1.1.3", "1.1.1.4"],
        "searches": (0..40).map(|i| format!("d{i}.example")).collect::<Vec<_>>()}}));
    let (dns, events) = pod_dns(&p, &node());
    assert_eq!(dns.servers.len(), 3);
    assert_eq!(dns.searches.len(), 32);
    assert_eq!(events.len(), 2);
    assert_eq!(
        events[0].message,
        "Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: 1.1.1.1 1.1.1.2 1.1.1.3"
    );
    assert!(events[1].message.starts_with(
        "Search Line limits were exceeded, some search paths have been omitted, the applied search line is: d0.example d1.example"
    ));
}

#[test]
fn missing_cluster_dns_falls_back_with_an_event() {
    let mut n = node();
    n.servers.clear();
    let (dns, events) = pod_dns(&pod(json!({"containers": []})), &n);
    assert_eq!(dns.servers, ["192.168.1.1", "8.8.8.8"]);
    assert_eq!(events[0].reason, "MissingClusterDNS");
    assert_eq!(
        events[0].message,
        "pod: \"web_shop(u1)\". kubelet does not have ClusterDNS IP configured and cannot create Pod using \"ClusterFirst\" policy. Falling back to \"Default\" policy."
    );
}

#[test]
fn hosts_file_as_the_kubelet_writes_it() {
    let aliases = vec![(
        "1.2.3.4".to_owned(),
        vec!["foo.local".into(), "bar.local".into()],
    )];
    let h = managed_hosts_file(
        &["10.244.0.5".into()],
        "web-0",
        Some("web.shop.svc.cluster.local"),
        &aliases,
    );
    assert_eq!(
        h,
        "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n10.244.0.5\tweb-0.web.shop.svc.cluster.local\tweb-0\n\n# Entries added by HostAliases.\n1.2.3.4\tfoo.local\tbar.local\n"
    );
    assert!(managed_hosts_file(&["10.0.0.1".into()], "p", None, &[]).ends_with("10.0.0.1\tp\n"));
    assert_eq!(
        node_hosts_file("127.0.0.1 localhost\n", &[]),
        "# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost\n"
    );
}
