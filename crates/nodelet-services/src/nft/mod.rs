//! The nftables data plane: the rules as text ([`plan`]) and as typed
//! operations ([`ops`]), how they are applied ([`exec`], [`netlink`]);
//! stale connection-tracking entries ([`conntrack`]).

pub mod conntrack;
pub mod exec;
pub mod netlink;
pub mod ops;
pub mod plan;
