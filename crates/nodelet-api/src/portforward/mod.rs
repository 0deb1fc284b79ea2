//! Port forwarding as the kubelet serves it (`pods/portforward`): SPDY/3.1
//! sessions ([`spdy`]) whose streams come in pairs (`streamType: error` and
//! `data`, joined by `requestID`, for one `port`), each pair forwarded to a
//! TCP connection into the pod ([`streams`]).
//!
//! kubectl ≥ 1.31 tunnels the SPDY session through a WebSocket (subprotocol
//! `SPDY/3.1+portforward.k8s.io`, each binary message a piece of the SPDY
//! byte stream: client-go `tools/portforward/tunneling_dialer.go`) and falls
//! back to a plain HTTP upgrade to `SPDY/3.1` (`X-Stream-Protocol-Version:
//! portforward.k8s.io`) when the server refuses the WebSocket; both arrive
//! in [`route`]. Everything but `route` works on any byte stream and a
//! connect function, so node mode's kubelet server (`/portForward` on
//! :10250) reuses it unchanged.

pub mod client;
pub mod dict;
pub mod route;
pub mod spdy;
pub mod streams;
pub mod ws;

/// `portforward.k8s.io`, the only port-forward protocol version.
pub const PROTOCOL_V1: &str = "portforward.k8s.io";
/// The WebSocket subprotocol that tunnels a SPDY session.
pub const WS_TUNNEL_PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";
