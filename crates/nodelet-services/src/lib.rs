//! nodelet-services: Services on one node, for standalone mode — what
//! kube-proxy, CoreDNS and the endpoint controllers do in a cluster.
//!
//! The [`controller`] subscribes to the engine's pod changes and to writes
//! of Service objects, computes each Service's Endpoints and EndpointSlices
//! ([`endpoints`]), programs the nftables data plane ([`nft`]) and the DNS
//! records ([`dns`]) from them, and stores the objects through the store.
//! It never touches the runtime. In node mode the cluster's kube-proxy and
//! DNS do this job and this crate is not used.

pub mod builtin;
pub mod config;
pub mod controller;
pub mod dns;
pub mod endpoints;
pub mod nft;
pub mod view;

pub use config::ServicesConfig;
pub use controller::Services;
