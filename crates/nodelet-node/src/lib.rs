//! nodelet-node: node mode, the second front door of the engine. nodelet
//! joins a real Kubernetes cluster as its kubelet: it registers a Node,
//! renews its Lease, runs the pods the scheduler binds to it through the
//! same engine as standalone mode, reports their status and events, looks
//! up ConfigMaps, Secrets and Services in the API server, and serves the
//! kubelet API on :10250 (logs, exec, attach, metrics, stats) for the API
//! server.
//!
//! It knows the engine only through its public seam (`apply`,
//! `delete_pod`, `subscribe`, `Sources`) and the embedded API only through
//! its pod streams (`nodelet_api::streams`).

pub mod bootstrap;
pub mod client;
pub mod client_metrics;
pub mod config;
pub mod error;
pub mod events;
pub mod eviction;
pub mod host;
pub mod lease;
pub mod node;
pub mod pods;
pub mod run;
pub mod server;
pub mod sources;
pub mod static_pods;

pub use config::NodeConfig;
pub use error::{NodeError, Result};
pub use run::{NodeMode, ServingTls};
pub use sources::NodeSources;
