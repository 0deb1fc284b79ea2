use super::*;
use crate::nft::ops::Map;

/// (type, flags, seq) of every netlink message in a batch.
fn messages(buf: &[u8]) -> Vec<(u16, u16, u32)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        let len = u32::from_ne_bytes(buf[at..at + 4].try_into().unwrap()) as usize;
        assert!(
            len >= 20 && len.is_multiple_of(4),
            "message length {len} at {at}"
        );
        let ty = u16::from_ne_bytes(buf[at + 4..at + 6].try_into().unwrap());
        let flags = u16::from_ne_bytes(buf[at + 6..at + 8].try_into().unwrap());
        let seq = u32::from_ne_bytes(buf[at + 8..at + 12].try_into().unwrap());
        out.push((ty, flags, seq));
        at += len;
    }
    assert_eq!(at, buf.len());
    out
}

fn svc_key() -> Key {
    Key::Service {
        ip: "10.96.0.5".parse().unwrap(),
        protocol: "tcp".into(),
        port: 80,
    }
}

#[test]
fn keys_are_padded_fields_as_nft_sends_them() {
    // `10.96.0.5 . tcp . 80` as captured from `nft --debug=mnl`.
    assert_eq!(
        key_bytes(&svc_key()).unwrap(),
        [10, 96, 0, 5, 6, 0, 0, 0, 0, 80, 0, 0]
    );
    let np = Key::NodePort {
        protocol: "udp".into(),
        port: 30080,
    };
    assert_eq!(key_bytes(&np).unwrap(), [17, 0, 0, 0, 0x75, 0x80, 0, 0]);
    let bad = Key::NodePort {
        protocol: "icmp".into(),
        port: 1,
    };
    assert!(key_bytes(&bad).unwrap_err().0.contains("icmp"));
}

#[test]
fn a_batch_is_begin_commands_end_and_only_the_last_command_is_acknowledged() {
    let ops = vec![
        Op::AddChain("ep-a".into()),
        Op::AddRule(
            "ep-a".into(),
            Rule::Dnat("tcp".into(), "10.0.0.2".parse().unwrap(), 80),
        ),
        Op::AddChain("svc-a".into()),
        Op::FlushChain("svc-a".into()),
        Op::AddRule(
            "svc-a".into(),
            Rule::NumgenGoto(vec!["ep-a".into(), "ep-a".into()]),
        ),
        Op::AddElement(Map::ServiceIps, svc_key(), "svc-a".into()),
    ];
    let b = Batch::encode("t", &ops, 41).unwrap();
    let m = messages(&b.buf);
    let types: Vec<u16> = m.iter().map(|(t, _, _)| *t).collect();
    let nft = |msg: u16| (NFNL_SUBSYS_NFTABLES << 8) | msg;
    assert_eq!(
        types,
        [
            NFNL_MSG_BATCH_BEGIN,
            nft(NFT_MSG_NEWCHAIN),
            nft(NFT_MSG_NEWRULE),
            nft(NFT_MSG_NEWCHAIN),
            nft(NFT_MSG_DELRULE),
            // The anonymous map and its elements precede the rule.
            nft(NFT_MSG_NEWSET),
            nft(NFT_MSG_NEWSETELEM),
            nft(NFT_MSG_NEWRULE),
            nft(NFT_MSG_NEWSETELEM),
            NFNL_MSG_BATCH_END,
        ]
    );
    let cmds = &m[1..m.len() - 1];
    let seqs: Vec<u32> = cmds.iter().map(|(_, _, s)| *s).collect();
    assert_eq!(seqs, (42..=49).collect::<Vec<_>>());
    assert_eq!((b.first_seq, b.last_seq), (42, 49));
    for (_, flags, seq) in cmds {
        assert_eq!(flags & NLM_F_ACK != 0, *seq == 49, "seq {seq}");
    }
    // Rules append; the map's three messages all come from op 4.
    assert_eq!(
        cmds[1].1 & (NLM_F_CREATE | NLM_F_APPEND),
        NLM_F_CREATE | NLM_F_APPEND
    );
    assert_eq!(b.origin[&46], 4);
    assert_eq!(b.origin[&48], 4);
    assert_eq!(b.origin[&49], 5);
}

#[test]
fn a_bad_protocol_fails_the_whole_encoding() {
    let ops = vec![
        Op::AddChain("ep-a".into()),
        Op::AddRule(
            "ep-a".into(),
            Rule::Dnat("icmp".into(), "10.0.0.2".parse().unwrap(), 80),
        ),
    ];
    assert!(Batch::encode("t", &ops, 0).is_err());
}

#[test]
fn affinity_sets_created_in_the_batch_are_referred_to_by_id() {
    let ops = vec![
        Op::AddAffinitySet {
            name: "aff-a".into(),
            timeout_s: 10800,
        },
        Op::AddRule("ep-a".into(), Rule::UpdateSaddr("aff-a".into())),
    ];
    let with = Batch::encode("t", &ops, 0).unwrap();
    let without = Batch::encode("t", &ops[1..], 0).unwrap();
    // The rule message carries an 8-byte NFTA_DYNSET_SET_ID only when the
    // set is new in this batch.
    let rule_len = |b: &Batch| {
        let m = messages(&b.buf);
        let mut at = 0;
        for (i, (ty, _, _)) in m.iter().enumerate() {
            let len = u32::from_ne_bytes(b.buf[at..at + 4].try_into().unwrap()) as usize;
            if *ty == (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWRULE {
                return (i, len);
            }
            at += len;
        }
        unreachable!()
    };
    assert_eq!(rule_len(&with).1, rule_len(&without).1 + 8);
    // 10800 s as milliseconds, big endian, in the set message.
    let ms = 10_800_000u64.to_be_bytes();
    assert!(with.buf.windows(8).any(|w| w == ms));
}
