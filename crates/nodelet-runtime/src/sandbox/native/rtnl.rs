//! The few rtnetlink requests a bridge pod network needs, over one
//! synchronous `NETLINK_ROUTE` socket.
//!
//! A netlink socket talks to the network namespace of the thread that
//! created it, for its whole life. So a [`Rtnl`] made on an ordinary thread
//! configures the host, and the pod side is configured through a `Rtnl`
//! made on a dedicated thread that first joined the pod's namespace (see
//! `super::in_netns`). Messages are built and parsed with
//! `netlink-packet-route`; each request asks for an acknowledgement and
//! waits for it, so every kernel refusal comes back as the `io::Error` of
//! that request.

use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::RawFd;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST, NetlinkHeader,
    NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::address::{AddressAttribute, AddressHeader, AddressMessage};
use netlink_packet_route::link::{
    InfoBridgePort, InfoData, InfoKind, InfoPortData, InfoPortKind, InfoVeth, LinkAttribute,
    LinkFlags, LinkHeader, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

/// Receive buffer: an address dump of one family fits many times over.
const RECV_BUFFER: usize = 64 * 1024;
/// `struct nlmsghdr`.
const HEADER: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;

/// What nodelet needs to know about an existing link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub mac: Vec<u8>,
    /// `IFLA_INFO_KIND` (`"bridge"`, `"veth"`), when the link has one.
    pub kind: Option<String>,
    /// Index of the link's master (the bridge of a port).
    pub master: Option<u32>,
    /// `IFF_UP` is set.
    pub up: bool,
}

/// A `NETLINK_ROUTE` socket of the namespace it was opened in.
pub struct Rtnl {
    socket: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl Rtnl {
    /// Opens a socket in the calling thread's network namespace.
    pub fn open() -> io::Result<Rtnl> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        // Extended acks only add text to errors; an old kernel without
        // them still works.
        let _ = socket.set_ext_ack(true);
        Ok(Rtnl {
            socket,
            seq: 0,
            buf: Vec::with_capacity(RECV_BUFFER),
        })
    }

    /// Sends one request and collects its answers: the messages of a
    /// dump (`NLM_F_DUMP`) up to `NLMSG_DONE`, else the reply (if any) up
    /// to the acknowledgement. A negative acknowledgement is the error.
    fn request(
        &mut self,
        message: RouteNetlinkMessage,
        flags: u16,
    ) -> io::Result<Vec<RouteNetlinkMessage>> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let mut header = NetlinkHeader::default();
        // A dump ends with NLMSG_DONE; anything else is acknowledged.
        let ack = if dump { 0 } else { NLM_F_ACK };
        header.flags = NLM_F_REQUEST | ack | flags;
        header.sequence_number = seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(message));
        packet.finalize();
        let mut bytes = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut bytes);
        self.socket.send_to(&bytes, &SocketAddr::new(0, 0), 0)?;

        let mut replies = Vec::new();
        loop {
            self.buf.clear();
            self.buf.reserve(RECV_BUFFER);
            let n = self.socket.recv(&mut self.buf, 0)?;
            if n > self.buf.len() {
                return Err(io::Error::other("netlink answer truncated"));
            }
            let mut offset = 0;
            while offset + HEADER <= self.buf.len() {
                let start = offset;
                let buf = &self.buf;
                // A u32 field of this message (callers check its length).
                let field = |at: usize| -> u32 {
                    let mut b = [0u8; 4];
                    b.copy_from_slice(&buf[start + at..start + at + 4]);
                    u32::from_ne_bytes(b)
                };
                let len = field(0) as usize;
                if len < HEADER || offset + len > self.buf.len() {
                    return Err(io::Error::other("malformed netlink answer"));
                }
                let kind = (field(4) & 0xffff) as u16;
                let this_seq = field(8);
                let message = start..start + len;
                offset += (len + 3) & !3;
                if this_seq != seq {
                    // An answer to an earlier request given up on.
                    continue;
                }
                match kind {
                    NLMSG_DONE => return Ok(replies),
                    NLMSG_ERROR => {
                        if len < HEADER + 4 {
                            return Err(io::Error::other("short netlink error"));
                        }
                        // The errno, negative; 0 is the acknowledgement.
                        let code = field(HEADER) as i32;
                        return if code == 0 {
                            Ok(replies)
                        } else {
                            Err(io::Error::from_raw_os_error(-code))
                        };
                    }
                    _ => {
                        match NetlinkMessage::<RouteNetlinkMessage>::deserialize(&self.buf[message])
                        {
                            Ok(m) => {
                                if let NetlinkPayload::InnerMessage(m) = m.payload {
                                    replies.push(m);
                                }
                            }
                            // One entry of a dump this crate cannot read (an
                            // attribute of a newer kernel) is not the one we
                            // look for; an answer to a direct request is.
                            Err(e) if dump => {
                                tracing::debug!(error = %e, "skipping an unreadable netlink dump entry")
                            }
                            Err(e) => {
                                return Err(io::Error::other(format!(
                                    "parsing a netlink answer: {e}"
                                )));
                            }
                        }
                    }
                }
            }
        }
    }

    /// The link named `name`, `None` when there is none.
    pub fn link_by_name(&mut self, name: &str) -> io::Result<Option<Link>> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request(RouteNetlinkMessage::GetLink(msg), 0) {
            Ok(replies) => Ok(replies.into_iter().find_map(|r| match r {
                RouteNetlinkMessage::NewLink(l) => Some(link_of(&l)),
                _ => None,
            })),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates a bridge (kernel defaults: MTU, queue length, no STP, no
    /// VLAN filtering, as the bridge plugin's). An existing link of that
    /// name is fine; the caller checks what it is.
    pub fn add_bridge(&mut self, name: &str) -> io::Result<()> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        msg.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        ignore(
            self.request(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL),
            libc::EEXIST,
        )
    }

    /// A veth pair: `host` (with `host_mac`) stays here, its peer is made
    /// directly inside the namespace `peer_netns` (an open nsfs file) as
    /// `peer` with `peer_mac`. Fails with `EEXIST` if `host` is taken.
    pub fn add_veth(
        &mut self,
        host: &str,
        host_mac: [u8; 6],
        peer: &str,
        peer_mac: [u8; 6],
        peer_netns: RawFd,
    ) -> io::Result<()> {
        let mut peer_msg = LinkMessage::default();
        peer_msg
            .attributes
            .push(LinkAttribute::IfName(peer.to_string()));
        peer_msg
            .attributes
            .push(LinkAttribute::Address(peer_mac.to_vec()));
        peer_msg.attributes.push(LinkAttribute::NetNsFd(peer_netns));
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(host.to_string()));
        msg.attributes
            .push(LinkAttribute::Address(host_mac.to_vec()));
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_msg))),
        ]));
        self.request(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL)
            .map(drop)
    }

    /// Sets the link up, optionally attaching it to `master` in the same
    /// request.
    pub fn set_up(&mut self, index: u32, master: Option<u32>) -> io::Result<()> {
        let mut msg = LinkMessage::default();
        msg.header = up_header(index);
        if let Some(m) = master {
            msg.attributes.push(LinkAttribute::Controller(m));
        }
        self.request(RouteNetlinkMessage::SetLink(msg), 0).map(drop)
    }

    /// Sets a link's hardware address (the bridge plugin pins a bridge's
    /// MAC to the one it has, so it stops following its ports').
    pub fn set_mac(&mut self, index: u32, mac: &[u8]) -> io::Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.attributes.push(LinkAttribute::Address(mac.to_vec()));
        self.request(RouteNetlinkMessage::SetLink(msg), 0).map(drop)
    }

    /// Hairpin mode on a bridge port (`ip link set X type bridge_slave
    /// hairpin on`): frames may leave by the port they came in, so a pod
    /// reaches itself through a Service address.
    pub fn set_hairpin(&mut self, index: u32) -> io::Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::PortKind(InfoPortKind::Bridge),
            LinkInfo::PortData(InfoPortData::BridgePort(vec![InfoBridgePort::HairpinMode(
                true,
            )])),
        ]));
        self.request(RouteNetlinkMessage::NewLink(msg), 0).map(drop)
    }

    /// Deletes the link named `name`; `false` when there was none.
    pub fn del_link(&mut self, name: &str) -> io::Result<bool> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request(RouteNetlinkMessage::DelLink(msg), 0) {
            Ok(_) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The IPv4 addresses (with prefix lengths) of link `index`.
    pub fn ipv4_addresses(&mut self, index: u32) -> io::Result<Vec<(Ipv4Addr, u8)>> {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        let replies = self.request(RouteNetlinkMessage::GetAddress(msg), NLM_F_DUMP)?;
        let mut out = Vec::new();
        for r in replies {
            let RouteNetlinkMessage::NewAddress(a) = r else {
                continue;
            };
            if a.header.index != index {
                continue;
            }
            for attr in &a.attributes {
                if let AddressAttribute::Local(IpAddr::V4(ip)) = attr {
                    out.push((*ip, a.header.prefix_len));
                }
            }
        }
        Ok(out)
    }

    /// Adds `ip/prefix_len` (with its broadcast) to link `index`; already
    /// there is fine.
    pub fn add_ipv4_address(
        &mut self,
        index: u32,
        ip: Ipv4Addr,
        prefix_len: u8,
        broadcast: Ipv4Addr,
    ) -> io::Result<()> {
        let mut msg = AddressMessage::default();
        msg.header = AddressHeader {
            family: AddressFamily::Inet,
            prefix_len,
            index,
            ..AddressHeader::default()
        };
        msg.attributes.push(AddressAttribute::Local(IpAddr::V4(ip)));
        msg.attributes
            .push(AddressAttribute::Address(IpAddr::V4(ip)));
        msg.attributes.push(AddressAttribute::Broadcast(broadcast));
        ignore(
            self.request(
                RouteNetlinkMessage::NewAddress(msg),
                NLM_F_CREATE | NLM_F_EXCL,
            ),
            libc::EEXIST,
        )
    }

    /// `dst/len` straight out of link `index` with `src` as the preferred
    /// source (scope link, as `ip route replace dst/len dev DEV src SRC`);
    /// replaces a route to the same prefix.
    pub fn replace_route(
        &mut self,
        dst: Ipv4Addr,
        len: u8,
        index: u32,
        src: Ipv4Addr,
    ) -> io::Result<()> {
        let mut msg = main_route(len, RouteScope::Link, index);
        msg.attributes
            .push(RouteAttribute::Destination(RouteAddress::Inet(dst)));
        msg.attributes
            .push(RouteAttribute::PrefSource(RouteAddress::Inet(src)));
        self.request(
            RouteNetlinkMessage::NewRoute(msg),
            NLM_F_CREATE | NLM_F_REPLACE,
        )
        .map(drop)
    }

    /// Removes the route to `dst/len` out of link `index`; one that is not
    /// there is no error.
    pub fn del_route(&mut self, dst: Ipv4Addr, len: u8, index: u32) -> io::Result<()> {
        // "Any scope": the kernel matches a delete's scope exactly unless
        // it is RT_SCOPE_NOWHERE.
        let mut msg = main_route(len, RouteScope::NoWhere, index);
        msg.attributes
            .push(RouteAttribute::Destination(RouteAddress::Inet(dst)));
        ignore(
            self.request(RouteNetlinkMessage::DelRoute(msg), 0),
            libc::ESRCH,
        )
    }

    /// The default route via `gateway` out of link `index` (as `ip route
    /// add` and the CNI plugins make it).
    pub fn add_default_route(&mut self, index: u32, gateway: Ipv4Addr) -> io::Result<()> {
        let mut msg = main_route(0, RouteScope::Universe, index);
        msg.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(gateway)));
        ignore(
            self.request(
                RouteNetlinkMessage::NewRoute(msg),
                NLM_F_CREATE | NLM_F_EXCL,
            ),
            libc::EEXIST,
        )
    }
}

/// A unicast IPv4 route of the main table out of link `index` with a
/// `len`-bit destination, protocol `boot` (what `ip route` makes).
fn main_route(len: u8, scope: RouteScope, index: u32) -> RouteMessage {
    let mut msg = RouteMessage::default();
    msg.header = RouteHeader {
        address_family: AddressFamily::Inet,
        destination_prefix_length: len,
        table: RouteHeader::RT_TABLE_MAIN,
        protocol: RouteProtocol::Boot,
        scope,
        kind: RouteType::Unicast,
        ..RouteHeader::default()
    };
    msg.attributes.push(RouteAttribute::Oif(index));
    msg
}

/// A header that sets `IFF_UP` on link `index` and changes no other flag.
fn up_header(index: u32) -> LinkHeader {
    LinkHeader {
        index,
        flags: LinkFlags::Up,
        change_mask: LinkFlags::Up,
        ..LinkHeader::default()
    }
}

fn link_of(msg: &LinkMessage) -> Link {
    let mut link = Link {
        index: msg.header.index,
        mac: Vec::new(),
        kind: None,
        master: None,
        up: msg.header.flags.contains(LinkFlags::Up),
    };
    for attr in &msg.attributes {
        match attr {
            LinkAttribute::Address(mac) => link.mac = mac.clone(),
            LinkAttribute::Controller(m) => link.master = Some(*m),
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    if let LinkInfo::Kind(kind) = info {
                        link.kind = Some(kind.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    link
}

/// Turns the one expected errno into success.
fn ignore(result: io::Result<Vec<RouteNetlinkMessage>>, errno: i32) -> io::Result<()> {
    match result {
        Ok(_) => Ok(()),
        Err(e) if e.raw_os_error() == Some(errno) => Ok(()),
        Err(e) => Err(e),
    }
}

/// `aa:bb:cc:dd:ee:ff`, as CNI results write MACs.
pub fn format_mac(mac: &[u8]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_print_like_go() {
        assert_eq!(
            format_mac(&[0xda, 0xff, 0x0f, 0, 1, 0xc2]),
            "da:ff:0f:00:01:c2"
        );
    }
}
