//! Which entries each kind of [`Flush`] removes: the meaning of the
//! `conntrack -D` filters it replaced.

use super::*;

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn t(proto: u8, src: &str, dst: &str, sport: u16, dport: u16) -> Tuple {
    Tuple {
        proto,
        src: ip(src),
        dst: ip(dst),
        sport: Some(sport),
        dport: Some(dport),
    }
}

/// A client's flow to `dst:dport`, DNAT'd to `backend:bport`.
fn flow(proto: u8, dst: &str, dport: u16, backend: &str, bport: u16) -> (Tuple, Tuple) {
    (
        t(proto, "10.1.0.1", dst, 40000, dport),
        t(proto, backend, "10.1.0.1", bport, 40000),
    )
}

fn hit(items: &[Flush], (o, r): &(Tuple, Tuple)) -> bool {
    Matcher::new(items).matches(o, r)
}

#[test]
fn to_matches_the_original_destination_only() {
    let items = [Flush::To(ip("10.96.0.10"))];
    assert!(hit(&items, &flow(6, "10.96.0.10", 80, "10.244.0.5", 8080)));
    assert!(hit(&items, &flow(17, "10.96.0.10", 53, "10.244.0.6", 53)));
    // The address as a source or as the reply's source is not the filter.
    assert!(!hit(&items, &flow(6, "10.96.0.11", 80, "10.96.0.10", 80)));
    let (mut o, r) = flow(6, "10.2.0.1", 80, "10.2.0.1", 80);
    o.src = ip("10.96.0.10");
    assert!(!hit(&items, &(o, r)));
}

#[test]
fn replied_by_matches_the_reply_source_only() {
    let items = [Flush::RepliedBy(ip("10.244.0.5"))];
    assert!(hit(&items, &flow(6, "10.96.0.10", 80, "10.244.0.5", 8080)));
    // Connections from the pod (it is the reply's destination) and to it
    // before DNAT (original destination) are other filters.
    let from_pod = (
        t(6, "10.244.0.5", "10.1.0.9", 5000, 80),
        t(6, "10.1.0.9", "10.244.0.5", 80, 5000),
    );
    assert!(!hit(&items, &from_pod));
    assert!(!hit(&items, &flow(6, "10.244.0.5", 80, "10.244.0.6", 80)));
}

#[test]
fn udp_via_needs_protocol_cluster_ip_port_and_endpoint() {
    let items = [Flush::UdpVia {
        cluster_ip: ip("10.96.0.10"),
        port: 53,
        endpoint: ip("10.244.0.7"),
    }];
    assert!(hit(&items, &flow(17, "10.96.0.10", 53, "10.244.0.7", 5353)));
    assert!(!hit(&items, &flow(6, "10.96.0.10", 53, "10.244.0.7", 5353)));
    assert!(!hit(
        &items,
        &flow(17, "10.96.0.11", 53, "10.244.0.7", 5353)
    ));
    assert!(!hit(
        &items,
        &flow(17, "10.96.0.10", 54, "10.244.0.7", 5353)
    ));
    assert!(!hit(
        &items,
        &flow(17, "10.96.0.10", 53, "10.244.0.8", 5353)
    ));
    let (mut o, r) = flow(17, "10.96.0.10", 53, "10.244.0.7", 5353);
    o.dport = None;
    assert!(!hit(&items, &(o, r)));
}

#[test]
fn any_item_of_a_flush_matches_and_an_empty_one_matches_nothing() {
    let items = [
        Flush::To(ip("10.96.0.20")),
        Flush::RepliedBy(ip("10.244.0.9")),
        Flush::UdpVia {
            cluster_ip: ip("10.96.0.10"),
            port: 53,
            endpoint: ip("10.244.0.7"),
        },
    ];
    assert!(hit(&items, &flow(6, "10.96.0.20", 80, "10.244.0.1", 80)));
    assert!(hit(&items, &flow(6, "10.96.0.30", 80, "10.244.0.9", 80)));
    assert!(hit(&items, &flow(17, "10.96.0.10", 53, "10.244.0.7", 53)));
    assert!(!hit(&items, &flow(6, "10.96.0.30", 80, "10.244.0.1", 80)));
    assert!(Matcher::new(&[]).is_empty());
    assert!(!hit(&[], &flow(6, "10.96.0.20", 80, "10.244.0.9", 80)));
}

#[tokio::test]
async fn an_empty_flush_touches_nothing() {
    assert_eq!(flush_now(&[]).unwrap(), Flushed::default());
    flush(Vec::new()).await;
}
