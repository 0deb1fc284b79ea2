//! [`Op`]s as one nf_tables netlink batch (`NFNL_MSG_BATCH_BEGIN`, the
//! commands, `NFNL_MSG_BATCH_END`): one transaction, all or nothing, as
//! `nft -f` sends it. The messages are those nft 1.0.6 sends for the same
//! text (captured with `nft --debug=mnl`: expressions, registers, set
//! flags, the userdata nft reads back when listing), so `nft list table`
//! shows the same rules whichever path wrote them (tests/nft_paths_real.rs).
//! Only nodelet's table is named; nothing is read from the kernel.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::nft::exec::NftError;
use crate::nft::ops::{Key, Op, Rule};

// linux/netlink.h, linux/netfilter/nfnetlink.h, nf_tables.h.
pub(crate) const NLM_F_REQUEST: u16 = 0x1;
pub(crate) const NLM_F_ACK: u16 = 0x4;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_APPEND: u16 = 0x800;
pub(crate) const NLA_F_NESTED: u16 = 0x8000;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFPROTO_IPV4: u8 = 2;

const NFT_MSG_NEWCHAIN: u16 = 3;
const NFT_MSG_DELCHAIN: u16 = 5;
const NFT_MSG_NEWRULE: u16 = 6;
const NFT_MSG_DELRULE: u16 = 8;
const NFT_MSG_NEWSET: u16 = 9;
const NFT_MSG_DELSET: u16 = 11;
const NFT_MSG_NEWSETELEM: u16 = 12;
const NFT_MSG_DELSETELEM: u16 = 14;

const NFT_REG_VERDICT: u32 = 0;
const NFT_REG_1: u32 = 1;
const NFT_REG_2: u32 = 2;
const NFT_JUMP: i32 = -3;
const NFT_GOTO: i32 = -4;
/// `NFT_DATA_VERDICT`: a map's data type when its values are verdicts.
const NFT_DATA_VERDICT: u32 = 0xffff_ff00;

const NFT_SET_ANONYMOUS: u32 = 0x1;
const NFT_SET_CONSTANT: u32 = 0x2;
const NFT_SET_MAP: u32 = 0x8;
const NFT_SET_TIMEOUT: u32 = 0x10;
const NFT_SET_EVAL: u32 = 0x20;
/// nft's datatype numbers (src/datatype.h): `integer`, `ipv4_addr`.
const TYPE_INTEGER: u32 = 4;
const TYPE_IPADDR: u32 = 7;

/// The protocol number of a service port's protocol.
pub fn protocol_number(p: &str) -> Result<u8, NftError> {
    match p {
        "tcp" => Ok(6),
        "udp" => Ok(17),
        "sctp" => Ok(132),
        other => Err(NftError(format!(
            "netlink: protocol {other:?} is not tcp, udp or sctp"
        ))),
    }
}

/// A batch being built: the bytes and, per sequence number, the op it
/// carries (to name it in an error).
pub struct Batch {
    pub buf: Vec<u8>,
    /// Sequence numbers of the commands, first and last (acknowledged).
    pub first_seq: u32,
    pub last_seq: u32,
    /// Which op each command's sequence number came from.
    pub origin: HashMap<u32, usize>,
    seq: u32,
    last_msg_start: usize,
    next_set_id: u32,
    /// Sets created in this batch: their ids, for references by id.
    new_sets: HashMap<String, u32>,
}

impl Batch {
    /// Encodes `ops` for `table`; sequence numbers start at `seq`.
    pub fn encode(table: &str, ops: &[Op], seq: u32) -> Result<Batch, NftError> {
        let mut b = Batch {
            buf: Vec::with_capacity(256 * (ops.len() + 2)),
            first_seq: seq + 1,
            last_seq: seq,
            origin: HashMap::new(),
            seq,
            last_msg_start: 0,
            next_set_id: 1,
            new_sets: HashMap::new(),
        };
        let begin = b.start(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, 0, NFNL_SUBSYS_NFTABLES);
        b.finish(begin);
        for (i, op) in ops.iter().enumerate() {
            let before = b.seq;
            b.op(table, op)?;
            for s in before + 1..=b.seq {
                b.origin.insert(s, i);
            }
        }
        b.last_seq = b.seq;
        // Only the last command asks for an acknowledgement: the kernel
        // runs the batch inside the send and queues every error and that
        // acknowledgement before the send returns.
        if b.last_seq >= b.first_seq {
            let at = b.last_msg_start;
            let flags = u16::from_ne_bytes([b.buf[at + 6], b.buf[at + 7]]) | NLM_F_ACK;
            b.buf[at + 6..at + 8].copy_from_slice(&flags.to_ne_bytes());
        }
        let end = b.start(NFNL_MSG_BATCH_END, NLM_F_REQUEST, 0, NFNL_SUBSYS_NFTABLES);
        b.finish(end);
        Ok(b)
    }

    fn op(&mut self, t: &str, op: &Op) -> Result<(), NftError> {
        match op {
            Op::AddAffinitySet { name, timeout_s } => {
                let id = self.set_id();
                self.new_sets.insert(name.clone(), id);
                let m = self.cmd(NFT_MSG_NEWSET, NLM_F_CREATE);
                self.str_attr(1, t); // NFTA_SET_TABLE
                self.str_attr(2, name); // NFTA_SET_NAME
                self.u32_attr(3, NFT_SET_TIMEOUT | NFT_SET_EVAL); // FLAGS
                self.u32_attr(4, TYPE_IPADDR); // KEY_TYPE
                self.u32_attr(5, 4); // KEY_LEN
                self.u32_attr(10, id); // ID
                self.attr(11, &(u64::from(*timeout_s) * 1000).to_be_bytes()); // TIMEOUT (ms)
                // USERDATA: key byte order big endian (nft's udata TLV).
                let mut ud = vec![0u8, 4];
                ud.extend_from_slice(&2u32.to_ne_bytes());
                self.attr(13, &ud);
                self.finish(m);
            }
            Op::DeleteSet(name) => {
                let m = self.cmd(NFT_MSG_DELSET, 0);
                self.str_attr(1, t);
                self.str_attr(2, name);
                self.finish(m);
            }
            Op::AddChain(c) => {
                let m = self.cmd(NFT_MSG_NEWCHAIN, NLM_F_CREATE);
                self.str_attr(1, t); // NFTA_CHAIN_TABLE
                self.str_attr(3, c); // NFTA_CHAIN_NAME
                self.finish(m);
            }
            Op::FlushChain(c) => {
                let m = self.cmd(NFT_MSG_DELRULE, 0);
                self.str_attr(1, t); // NFTA_RULE_TABLE
                self.str_attr(2, c); // NFTA_RULE_CHAIN
                self.finish(m);
            }
            Op::DeleteChain(c) => {
                let m = self.cmd(NFT_MSG_DELCHAIN, 0);
                self.str_attr(1, t);
                self.str_attr(3, c);
                self.finish(m);
            }
            Op::AddRule(c, r) => self.rule(t, c, r)?,
            Op::AddElement(map, key, chain) => {
                let k = key_bytes(key)?;
                let m = self.cmd(NFT_MSG_NEWSETELEM, NLM_F_CREATE);
                self.str_attr(1, t); // NFTA_SET_ELEM_LIST_TABLE
                self.str_attr(2, map.name()); // NFTA_SET_ELEM_LIST_SET
                let list = self.nest(3); // NFTA_SET_ELEM_LIST_ELEMENTS
                self.verdict_element(&k, NFT_GOTO, chain);
                self.end_nest(list);
                self.finish(m);
            }
            Op::DeleteElement(map, key) => {
                let k = key_bytes(key)?;
                let m = self.cmd(NFT_MSG_DELSETELEM, 0);
                self.str_attr(1, t);
                self.str_attr(2, map.name());
                let list = self.nest(3);
                let e = self.nest(1); // NFTA_LIST_ELEM
                let key = self.nest(1); // NFTA_SET_ELEM_KEY
                self.attr(1, &k); // NFTA_DATA_VALUE
                self.end_nest(key);
                self.end_nest(e);
                self.end_nest(list);
                self.finish(m);
            }
        }
        Ok(())
    }

    fn rule(&mut self, t: &str, chain: &str, r: &Rule) -> Result<(), NftError> {
        // An anonymous map goes into the batch before the rule using it.
        let anon = match r {
            Rule::NumgenGoto(chains) => Some(self.anonymous_verdict_map(t, chains)),
            _ => None,
        };
        let m = self.cmd(NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND);
        self.str_attr(1, t); // NFTA_RULE_TABLE
        self.str_attr(2, chain); // NFTA_RULE_CHAIN
        let exprs = self.nest(4); // NFTA_RULE_EXPRESSIONS
        match r {
            Rule::Jump(c) => self.verdict(NFT_JUMP, c),
            Rule::Goto(c) => self.verdict(NFT_GOTO, c),
            Rule::SaddrJump(a, c) => {
                self.payload(12, 4);
                self.cmp(0, &a.octets());
                self.verdict(NFT_JUMP, c);
            }
            Rule::DaddrNotFromJump(d, net, c) => {
                self.payload(16, 4);
                self.cmp(0, &d.octets());
                self.not_in_prefix(net);
                self.verdict(NFT_JUMP, c);
            }
            Rule::UpdateSaddr(set) => {
                self.payload(12, 4);
                let e = self.expr("dynset");
                self.u32_attr(4, NFT_REG_1); // NFTA_DYNSET_SREG_KEY
                self.u32_attr(3, 1); // NFTA_DYNSET_OP: NFT_DYNSET_OP_UPDATE
                self.str_attr(1, set); // NFTA_DYNSET_SET_NAME
                if let Some(id) = self.new_sets.get(set).copied() {
                    self.u32_attr(2, id); // NFTA_DYNSET_SET_ID
                }
                self.end_expr(e);
            }
            Rule::SaddrInSetGoto(set, c) => {
                self.payload(12, 4);
                let e = self.expr("lookup");
                self.u32_attr(2, NFT_REG_1); // NFTA_LOOKUP_SREG
                self.str_attr(1, set); // NFTA_LOOKUP_SET
                if let Some(id) = self.new_sets.get(set).copied() {
                    self.u32_attr(4, id); // NFTA_LOOKUP_SET_ID
                }
                self.end_expr(e);
                self.verdict(NFT_GOTO, c);
            }
            Rule::Dnat(p, a, port) => {
                let e = self.expr("meta");
                self.u32_attr(2, 16); // NFTA_META_KEY: NFT_META_L4PROTO
                self.u32_attr(1, NFT_REG_1); // NFTA_META_DREG
                self.end_expr(e);
                self.cmp(0, &[protocol_number(p)?]);
                self.immediate(NFT_REG_1, &a.octets());
                self.immediate(NFT_REG_2, &port.to_be_bytes());
                let e = self.expr("nat");
                self.u32_attr(1, 1); // NFTA_NAT_TYPE: NF_NAT_DNAT
                self.u32_attr(2, u32::from(NFPROTO_IPV4)); // NFTA_NAT_FAMILY
                self.u32_attr(3, NFT_REG_1); // NFTA_NAT_REG_ADDR_MIN
                self.u32_attr(5, NFT_REG_2); // NFTA_NAT_REG_PROTO_MIN
                self.u32_attr(7, 0x2); // NFTA_NAT_FLAGS: NF_NAT_RANGE_PROTO_SPECIFIED
                self.end_expr(e);
            }
            Rule::NumgenGoto(chains) => {
                let e = self.expr("numgen");
                self.u32_attr(1, NFT_REG_1); // NFTA_NG_DREG
                self.u32_attr(2, chains.len() as u32); // NFTA_NG_MODULUS
                self.u32_attr(3, 1); // NFTA_NG_TYPE: NFT_NG_RANDOM
                self.u32_attr(4, 0); // NFTA_NG_OFFSET
                self.end_expr(e);
                let id = anon.unwrap_or_default();
                let e = self.expr("lookup");
                self.u32_attr(2, NFT_REG_1); // NFTA_LOOKUP_SREG
                self.u32_attr(3, NFT_REG_VERDICT); // NFTA_LOOKUP_DREG
                self.str_attr(1, "__map%d"); // NFTA_LOOKUP_SET
                self.u32_attr(4, id); // NFTA_LOOKUP_SET_ID
                self.end_expr(e);
            }
        }
        self.end_nest(exprs);
        self.finish(m);
        Ok(())
    }

    /// `{ 0 : goto c0, 1 : goto c1, … }` as nft creates it: an anonymous
    /// constant map from a host-order 32-bit integer to a verdict, named by
    /// the kernel (`__map%d`) and referred to by its id in this batch.
    fn anonymous_verdict_map(&mut self, t: &str, chains: &[String]) -> u32 {
        let id = self.set_id();
        let m = self.cmd(NFT_MSG_NEWSET, NLM_F_CREATE);
        self.str_attr(1, t);
        self.str_attr(2, "__map%d");
        self.u32_attr(3, NFT_SET_ANONYMOUS | NFT_SET_CONSTANT | NFT_SET_MAP);
        self.u32_attr(4, TYPE_INTEGER);
        self.u32_attr(5, 4);
        self.u32_attr(6, NFT_DATA_VERDICT); // NFTA_SET_DATA_TYPE
        self.u32_attr(7, 0); // NFTA_SET_DATA_LEN
        self.u32_attr(10, id);
        let desc = self.nest(9); // NFTA_SET_DESC
        self.u32_attr(1, chains.len() as u32); // NFTA_SET_DESC_SIZE
        self.end_nest(desc);
        // USERDATA as nft writes it for `numgen … vmap`: key in host byte
        // order, data byte order unset, the key's `typeof` (numgen), merge
        // flag off.
        let mut ud = vec![0u8, 4];
        ud.extend_from_slice(&1u32.to_ne_bytes());
        ud.extend_from_slice(&[1, 4]);
        ud.extend_from_slice(&0u32.to_ne_bytes());
        ud.extend_from_slice(&[4, 8, 0, 4]);
        ud.extend_from_slice(&1u32.to_ne_bytes());
        ud.extend_from_slice(&[1, 0]);
        ud.extend_from_slice(&[6, 4]);
        ud.extend_from_slice(&0u32.to_ne_bytes());
        self.attr(13, &ud);
        self.finish(m);
        let m = self.cmd(NFT_MSG_NEWSETELEM, NLM_F_CREATE);
        self.str_attr(1, t);
        self.str_attr(2, "__map%d");
        self.u32_attr(4, id); // NFTA_SET_ELEM_LIST_SET_ID
        let list = self.nest(3);
        for (i, c) in chains.iter().enumerate() {
            self.verdict_element(&(i as u32).to_ne_bytes(), NFT_GOTO, c);
        }
        self.end_nest(list);
        self.finish(m);
        id
    }

    /// `ip saddr != <net>`: a whole-byte prefix compares only its bytes,
    /// any other is masked first (as nft encodes it).
    fn not_in_prefix(&mut self, net: &Ipv4Net) {
        let len = net.prefix_len();
        let bytes = net.network().octets();
        if len > 0 && len.is_multiple_of(8) {
            let n = usize::from(len / 8);
            self.payload(12, n as u32);
            self.cmp(1, &bytes[..n]);
        } else {
            self.payload(12, 4);
            let e = self.expr("bitwise");
            self.u32_attr(1, NFT_REG_1); // NFTA_BITWISE_SREG
            self.u32_attr(2, NFT_REG_1); // NFTA_BITWISE_DREG
            self.u32_attr(3, 4); // NFTA_BITWISE_LEN
            let mask = self.nest(4); // NFTA_BITWISE_MASK
            self.attr(1, &net.netmask().octets());
            self.end_nest(mask);
            let xor = self.nest(5); // NFTA_BITWISE_XOR
            self.attr(1, &[0; 4]);
            self.end_nest(xor);
            self.end_expr(e);
            self.cmp(1, &bytes);
        }
    }

    fn payload(&mut self, offset: u32, len: u32) {
        let e = self.expr("payload");
        self.u32_attr(1, NFT_REG_1); // NFTA_PAYLOAD_DREG
        self.u32_attr(2, 1); // NFTA_PAYLOAD_BASE: network header
        self.u32_attr(3, offset); // NFTA_PAYLOAD_OFFSET
        self.u32_attr(4, len); // NFTA_PAYLOAD_LEN
        self.end_expr(e);
    }

    /// `cmp` of register 1 with `data`; `op` 0 is ==, 1 is !=.
    fn cmp(&mut self, op: u32, data: &[u8]) {
        let e = self.expr("cmp");
        self.u32_attr(1, NFT_REG_1); // NFTA_CMP_SREG
        self.u32_attr(2, op); // NFTA_CMP_OP
        let d = self.nest(3); // NFTA_CMP_DATA
        self.attr(1, data); // NFTA_DATA_VALUE
        self.end_nest(d);
        self.end_expr(e);
    }

    fn immediate(&mut self, reg: u32, data: &[u8]) {
        let e = self.expr("immediate");
        self.u32_attr(1, reg); // NFTA_IMMEDIATE_DREG
        let d = self.nest(2); // NFTA_IMMEDIATE_DATA
        self.attr(1, data);
        self.end_nest(d);
        self.end_expr(e);
    }

    fn verdict(&mut self, code: i32, chain: &str) {
        let e = self.expr("immediate");
        self.u32_attr(1, NFT_REG_VERDICT);
        let d = self.nest(2); // NFTA_IMMEDIATE_DATA
        self.verdict_data(code, chain);
        self.end_nest(d);
        self.end_expr(e);
    }

    fn verdict_data(&mut self, code: i32, chain: &str) {
        let v = self.nest(2); // NFTA_DATA_VERDICT
        self.attr(1, &code.to_be_bytes()); // NFTA_VERDICT_CODE
        self.str_attr(2, chain); // NFTA_VERDICT_CHAIN
        self.end_nest(v);
    }

    fn verdict_element(&mut self, key: &[u8], code: i32, chain: &str) {
        let e = self.nest(1); // NFTA_LIST_ELEM
        let k = self.nest(1); // NFTA_SET_ELEM_KEY
        self.attr(1, key);
        self.end_nest(k);
        let d = self.nest(2); // NFTA_SET_ELEM_DATA
        self.verdict_data(code, chain);
        self.end_nest(d);
        self.end_nest(e);
    }

    fn expr(&mut self, name: &str) -> (usize, usize) {
        let outer = self.nest(1); // NFTA_LIST_ELEM
        self.str_attr(1, name); // NFTA_EXPR_NAME
        let data = self.nest(2); // NFTA_EXPR_DATA
        (outer, data)
    }

    fn end_expr(&mut self, (outer, data): (usize, usize)) {
        self.end_nest(data);
        self.end_nest(outer);
    }

    fn set_id(&mut self) -> u32 {
        let id = self.next_set_id;
        self.next_set_id += 1;
        id
    }

    fn cmd(&mut self, msg: u16, flags: u16) -> usize {
        self.seq += 1;
        let at = self.start(
            (NFNL_SUBSYS_NFTABLES << 8) | msg,
            NLM_F_REQUEST | flags,
            NFPROTO_IPV4,
            0,
        );
        self.last_msg_start = at;
        at
    }

    /// `nlmsghdr` + `nfgenmsg`; the length is set by [`Batch::finish`].
    fn start(&mut self, ty: u16, flags: u16, family: u8, res_id: u16) -> usize {
        header(&mut self.buf, ty, flags, self.seq, family, res_id)
    }

    fn finish(&mut self, at: usize) {
        finish(&mut self.buf, at);
    }

    fn attr(&mut self, ty: u16, data: &[u8]) {
        attr(&mut self.buf, ty, data);
    }

    fn str_attr(&mut self, ty: u16, s: &str) {
        let mut v = Vec::with_capacity(s.len() + 1);
        v.extend_from_slice(s.as_bytes());
        v.push(0);
        self.attr(ty, &v);
    }

    fn u32_attr(&mut self, ty: u16, v: u32) {
        self.attr(ty, &v.to_be_bytes());
    }

    fn nest(&mut self, ty: u16) -> usize {
        nest(&mut self.buf, ty)
    }

    fn end_nest(&mut self, at: usize) {
        end_nest(&mut self.buf, at);
    }
}

// The framing shared with other nfnetlink subsystems (ctnetlink in
// `nft/conntrack`): messages and attributes appended to a buffer.

/// Appends an `nlmsghdr` (port id 0: the kernel) and an `nfgenmsg`
/// (`NFNETLINK_V0`) and returns where the message starts; its length is set
/// by [`finish`] once the attributes are in.
pub(crate) fn header(
    buf: &mut Vec<u8>,
    ty: u16,
    flags: u16,
    seq: u32,
    family: u8,
    res_id: u16,
) -> usize {
    let at = buf.len();
    buf.extend_from_slice(&0u32.to_ne_bytes());
    buf.extend_from_slice(&ty.to_ne_bytes());
    buf.extend_from_slice(&flags.to_ne_bytes());
    buf.extend_from_slice(&seq.to_ne_bytes());
    buf.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel
    buf.push(family);
    buf.push(0); // NFNETLINK_V0
    buf.extend_from_slice(&res_id.to_be_bytes());
    at
}

/// Sets the length of the message started at `at` to the end of `buf`.
pub(crate) fn finish(buf: &mut [u8], at: usize) {
    let len = (buf.len() - at) as u32;
    buf[at..at + 4].copy_from_slice(&len.to_ne_bytes());
}

/// Appends one attribute, padded to four bytes.
pub(crate) fn attr(buf: &mut Vec<u8>, ty: u16, data: &[u8]) {
    let len = 4 + data.len();
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&ty.to_ne_bytes());
    buf.extend_from_slice(data);
    pad(buf);
}

/// Opens a nested attribute; [`end_nest`] sets its length.
pub(crate) fn nest(buf: &mut Vec<u8>, ty: u16) -> usize {
    let at = buf.len();
    buf.extend_from_slice(&0u16.to_ne_bytes());
    buf.extend_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
    at
}

pub(crate) fn end_nest(buf: &mut [u8], at: usize) {
    let len = (buf.len() - at) as u16;
    buf[at..at + 2].copy_from_slice(&len.to_ne_bytes());
}

fn pad(buf: &mut Vec<u8>) {
    while !buf.len().is_multiple_of(4) {
        buf.push(0);
    }
}

/// A map key as the kernel stores it: concatenated fields, each padded to
/// four bytes (`ipv4_addr . inet_proto . inet_service`).
fn key_bytes(k: &Key) -> Result<Vec<u8>, NftError> {
    let mut v = Vec::with_capacity(12);
    let (ip, protocol, port): (Option<Ipv4Addr>, &str, u16) = match k {
        Key::Service { ip, protocol, port } => (Some(*ip), protocol, *port),
        Key::NodePort { protocol, port } => (None, protocol, *port),
    };
    if let Some(ip) = ip {
        v.extend_from_slice(&ip.octets());
    }
    v.extend_from_slice(&[protocol_number(protocol)?, 0, 0, 0]);
    v.extend_from_slice(&port.to_be_bytes());
    v.extend_from_slice(&[0, 0]);
    Ok(v)
}

#[cfg(test)]
mod tests;
