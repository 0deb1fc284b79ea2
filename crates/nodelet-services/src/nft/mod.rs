//! The nftables data plane: the rules as text ([`plan`]) and how they are
//! applied ([`exec`]); stale connection-tracking entries ([`conntrack`]).

pub mod conntrack;
pub mod exec;
pub mod plan;
