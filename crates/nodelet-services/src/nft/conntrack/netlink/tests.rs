//! The ctnetlink framing, byte by byte, against messages built here by
//! hand (not with the encoder under test); the real test
//! (tests/conntrack_real.rs) checks the kernel's reading of them.

use super::*;

fn ne16(v: u16) -> [u8; 2] {
    v.to_ne_bytes()
}

/// One attribute as the kernel lays it out: length, type, data, padding.
fn nla(ty: u16, data: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&ne16(4 + data.len() as u16));
    v.extend_from_slice(&ne16(ty));
    v.extend_from_slice(data);
    while v.len() % 4 != 0 {
        v.push(0);
    }
    v
}

fn nested(ty: u16, parts: &[Vec<u8>]) -> Vec<u8> {
    nla(ty | 0x8000, &parts.concat())
}

/// A tuple's content (`CTA_TUPLE_IP`, `CTA_TUPLE_PROTO`) with ports.
fn tuple_attrs(src: [u8; 4], dst: [u8; 4], proto: u8, sport: u16, dport: u16) -> Vec<u8> {
    [
        nested(1, &[nla(1, &src), nla(2, &dst)]),
        nested(
            2,
            &[
                nla(1, &[proto]),
                nla(2, &sport.to_be_bytes()),
                nla(3, &dport.to_be_bytes()),
            ],
        ),
    ]
    .concat()
}

/// A dump message for one entry, with the attributes the kernel sends
/// around the tuples (status, timeout, id, …) to be skipped.
fn entry_msg(seq: u32, orig: &[u8], reply: &[u8], zone: Option<u16>) -> Vec<u8> {
    let mut attrs = [
        nla(1 | 0x8000, orig),
        nla(2 | 0x8000, reply),
        nla(3, &0x18au32.to_be_bytes()),          // CTA_STATUS
        nla(7, &100u32.to_be_bytes()),            // CTA_TIMEOUT
        nested(4, &[nested(1, &[nla(1, &[3])])]), // CTA_PROTOINFO
        nla(12, &0xdead_beefu32.to_be_bytes()),   // CTA_ID
    ]
    .concat();
    if let Some(z) = zone {
        attrs.extend(nla(18, &z.to_be_bytes()));
    }
    msg(0x101, 0x2, seq, &[&[2, 0, 0, 0][..], &attrs].concat())
}

fn msg(ty: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&(16 + payload.len() as u32).to_ne_bytes());
    v.extend_from_slice(&ne16(ty));
    v.extend_from_slice(&ne16(flags));
    v.extend_from_slice(&seq.to_ne_bytes());
    v.extend_from_slice(&4242u32.to_ne_bytes());
    v.extend_from_slice(payload);
    v
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

#[test]
fn the_dump_request_asks_for_the_ipv4_table() {
    let mut want = Vec::new();
    want.extend_from_slice(&20u32.to_ne_bytes());
    want.extend_from_slice(&ne16(0x0101)); // CTNETLINK << 8 | IPCTNL_MSG_CT_GET
    want.extend_from_slice(&ne16(0x0301)); // NLM_F_REQUEST | NLM_F_DUMP
    want.extend_from_slice(&7u32.to_ne_bytes());
    want.extend_from_slice(&0u32.to_ne_bytes());
    want.extend_from_slice(&[2, 0, 0, 0]); // AF_INET, NFNETLINK_V0, res_id 0
    assert_eq!(dump_request(7), want);
}

#[test]
fn a_delete_carries_the_original_tuple_and_a_zone_only_when_not_default() {
    let orig = tuple_attrs([10, 1, 0, 1], [10, 2, 0, 5], 6, 1000, 80);
    let header = |len: u32, seq: u32| {
        let mut v = Vec::new();
        v.extend_from_slice(&len.to_ne_bytes());
        v.extend_from_slice(&ne16(0x0102)); // IPCTNL_MSG_CT_DELETE
        v.extend_from_slice(&ne16(0x0005)); // NLM_F_REQUEST | NLM_F_ACK
        v.extend_from_slice(&seq.to_ne_bytes());
        v.extend_from_slice(&0u32.to_ne_bytes());
        v.extend_from_slice(&[2, 0, 0, 0]);
        v
    };
    let mut buf = Vec::new();
    let d = Doomed {
        orig_raw: orig.clone(),
        zone: 0,
    };
    delete_message(&mut buf, 3, &d);
    let tuple = nla(0x8001, &orig);
    let want = [header(20 + tuple.len() as u32, 3), tuple.clone()].concat();
    assert_eq!(buf, want);

    // Appended after the first; the zone is a be16 padded to four bytes.
    let d = Doomed {
        orig_raw: orig.clone(),
        zone: 0x0107,
    };
    delete_message(&mut buf, 4, &d);
    let zone = [&ne16(6)[..], &ne16(18), &[0x01, 0x07, 0, 0]].concat();
    let second = [header(20 + tuple.len() as u32 + 8, 4), tuple, zone].concat();
    assert_eq!(&buf[want.len()..], &second[..]);
    let seen: Vec<_> = messages(&buf).map(|m| (m.ty, m.seq)).collect();
    assert_eq!(seen, [(0x0102, 3), (0x0102, 4)]);
}

#[test]
fn a_dump_datagram_is_read_into_tuples_and_zones() {
    let tcp_orig = tuple_attrs([10, 1, 0, 1], [10, 2, 0, 5], 6, 1000, 80);
    let tcp_reply = tuple_attrs([10, 3, 0, 9], [10, 1, 0, 1], 6, 8080, 1000);
    let udp_orig = tuple_attrs([10, 1, 0, 2], [10, 96, 0, 10], 17, 5000, 53);
    let udp_reply = tuple_attrs([10, 244, 0, 7], [10, 1, 0, 2], 17, 53, 5000);
    let mut dgram = entry_msg(9, &tcp_orig, &tcp_reply, None);
    dgram.extend(entry_msg(9, &udp_orig, &udp_reply, Some(7)));
    dgram.extend(msg(NLMSG_DONE, 0x2, 9, &0i32.to_ne_bytes()));

    let ms: Vec<_> = messages(&dgram).collect();
    assert_eq!(ms.len(), 3);
    assert!(is_entry(ms[0].ty) && is_entry(ms[1].ty) && !is_entry(ms[2].ty));
    let tcp = parse_entry(ms[0].payload).expect("the TCP entry");
    assert_eq!(
        tcp.orig,
        Tuple {
            proto: 6,
            src: ip("10.1.0.1"),
            dst: ip("10.2.0.5"),
            sport: Some(1000),
            dport: Some(80)
        }
    );
    assert_eq!(
        tcp.reply,
        Tuple {
            proto: 6,
            src: ip("10.3.0.9"),
            dst: ip("10.1.0.1"),
            sport: Some(8080),
            dport: Some(1000)
        }
    );
    assert_eq!(tcp.zone, 0);
    assert_eq!(tcp.orig_raw, &tcp_orig[..]);

    let udp = parse_entry(ms[1].payload).expect("the UDP entry");
    assert_eq!(
        (udp.orig.proto, udp.orig.dst, udp.orig.dport),
        (17, ip("10.96.0.10"), Some(53))
    );
    assert_eq!(udp.reply.src, ip("10.244.0.7"));
    assert_eq!(udp.zone, 7);
    assert_eq!(
        udp.doomed(),
        Doomed {
            orig_raw: udp_orig,
            zone: 7
        }
    );
}

#[test]
fn a_tuple_without_ports_is_read_without_them() {
    // ICMP: type, code and id instead of ports.
    let icmp = [
        nested(1, &[nla(1, &[10, 1, 0, 3]), nla(2, &[10, 2, 0, 5])]),
        nested(
            2,
            &[
                nla(1, &[1]),
                nla(4, &9u16.to_be_bytes()),
                nla(5, &[8]),
                nla(6, &[0]),
            ],
        ),
    ]
    .concat();
    let reply = [
        nested(1, &[nla(1, &[10, 2, 0, 5]), nla(2, &[10, 1, 0, 3])]),
        nested(2, &[nla(1, &[1])]),
    ]
    .concat();
    let m = entry_msg(1, &icmp, &reply, None);
    let e = parse_entry(&m[16..]).expect("the ICMP entry");
    assert_eq!((e.orig.proto, e.orig.sport, e.orig.dport), (1, None, None));
    assert_eq!(e.orig_raw, &icmp[..]);
}

#[test]
fn malformed_entries_are_skipped_without_panicking() {
    let orig = tuple_attrs([10, 1, 0, 1], [10, 2, 0, 5], 6, 1000, 80);
    let reply = tuple_attrs([10, 3, 0, 9], [10, 1, 0, 1], 6, 8080, 1000);
    let good = entry_msg(1, &orig, &reply, Some(3));
    assert!(parse_entry(&good[16..]).is_some());

    // Every truncation of a good entry, at every byte: no panic.
    for cut in 16..good.len() {
        let _ = parse_entry(&good[16..cut]);
    }
    // Every byte of every length field set to something absurd.
    for at in 16..good.len() {
        for v in [0u8, 1, 3, 0xff] {
            let mut bad = good.clone();
            bad[at] = v;
            let _ = parse_entry(&bad[16..]);
        }
    }

    // An address of three bytes.
    let short_ip = [
        nested(1, &[nla(1, &[10, 1, 0]), nla(2, &[10, 2, 0, 5])]),
        nested(2, &[nla(1, &[6])]),
    ]
    .concat();
    assert_eq!(
        parse_entry(&entry_msg(1, &short_ip, &reply, None)[16..]),
        None
    );
    // A port of one byte.
    let short_port = [
        nested(1, &[nla(1, &[10, 1, 0, 1]), nla(2, &[10, 2, 0, 5])]),
        nested(2, &[nla(1, &[6]), nla(3, &[80])]),
    ]
    .concat();
    assert_eq!(
        parse_entry(&entry_msg(1, &short_port, &reply, None)[16..]),
        None
    );
    // A nested attribute claiming more than its parent holds.
    let mut overlong = orig.clone();
    overlong[0..2].copy_from_slice(&ne16(200));
    assert_eq!(
        parse_entry(&entry_msg(1, &overlong, &reply, None)[16..]),
        None
    );
    // An attribute length below its own header.
    let mut tiny = orig.clone();
    tiny[0..2].copy_from_slice(&ne16(2));
    assert_eq!(parse_entry(&entry_msg(1, &tiny, &reply, None)[16..]), None);
    // A zone of one byte.
    let mut z = entry_msg(1, &orig, &reply, None);
    z.extend(nla(18, &[7]));
    assert_eq!(parse_entry(&z[16..]), None);
    // No reply tuple; not IPv4; nothing at all.
    let no_reply = msg(
        0x101,
        2,
        1,
        &[&[2, 0, 0, 0][..], &nla(0x8001, &orig)].concat(),
    );
    assert_eq!(parse_entry(&no_reply[16..]), None);
    let mut v6 = good.clone();
    v6[16] = 10;
    assert_eq!(parse_entry(&v6[16..]), None);
    assert_eq!(parse_entry(&[]), None);
    assert_eq!(parse_entry(&[2, 0]), None);

    // In a datagram, the malformed entry is skipped and the next is read.
    let mut dgram = entry_msg(1, &tiny, &reply, None);
    dgram.extend(good.clone());
    let parsed: Vec<_> = messages(&dgram).map(|m| parse_entry(m.payload)).collect();
    assert_eq!(parsed.len(), 2);
    assert!(parsed[0].is_none());
    assert_eq!(parsed[1].as_ref().map(|e| e.zone), Some(3));
}

#[test]
fn error_codes_become_errors_without_overflow() {
    assert_eq!(errno(-libc::ENOENT).raw_os_error(), Some(libc::ENOENT));
    assert_eq!(errno(i32::MIN).raw_os_error(), Some(libc::EINVAL));
}
