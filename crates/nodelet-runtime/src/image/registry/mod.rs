//! Pulling images from registries over the OCI distribution API, as a
//! Kubernetes node does: references normalised as containerd does,
//! registry configuration in containerd's `hosts.toml` layout
//! ([`hosts`]), credentials from pull secrets and the node's docker
//! `config.json` ([`keyring`]), manifests and indexes resolved to
//! linux/<arch> ([`manifest`]), blobs verified into the ingest area and
//! committed through the same import plan as `load` ([`pull`]).
//!
//! The HTTP side is oci-client (see docs/architecture.md for why).

pub mod bounded;
pub mod client;
pub mod hosts;
pub mod keyring;
pub mod manifest;
pub mod pull;

pub use hosts::{DEFAULT_CONFIG_DIR, Endpoint, RegistryConfig};
pub use pull::{DEFAULT_CONCURRENT_DOWNLOADS, LOCAL_REGISTRY, PullLimits, Pulled, Puller};
