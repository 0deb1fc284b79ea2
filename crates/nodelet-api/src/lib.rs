//! nodelet-api: the Kubernetes REST subset kubectl needs, over HTTPS with
//! client-certificate or token authentication, and over a local unix socket.
//!
//! The HTTP side (discovery, OpenAPI, selectors, Tables, patches, watch
//! framing, logs, exec streams, errors) lives here; objects come from a
//! [`Backend`] (the lifecycle engine in `nodelet serve`).

pub mod admission;
pub mod adopting;
pub mod age;
pub mod audit;
mod auth;
mod authz;
pub mod backend;
pub mod discovery;
pub mod engine_backend;
pub mod error;
mod events_v1;
mod exec;
pub mod fuzzing;
pub mod kind;
pub mod kubeconfig;
pub mod limits;
mod logs;
pub mod namespace_defaults;
pub mod node;
mod objects;
mod openapi;
mod openapi_pb;
mod patch;
pub mod pki;
mod pod_update;
mod podstatus;
pub mod portforward;
mod protobuf;
mod protobuf_rbac;
mod query;
pub mod rbac;
mod routes;
pub mod selectors;
pub mod serve;
pub mod service_alloc;
mod spec_subresources;
mod status_write;
pub mod streams;
mod table;
mod table_endpoints;
pub mod tokens;
mod ui;
mod watch;

pub use auth::ConnAuth;
pub use backend::{Backend, WatchEvent, WatchEventType};
pub use engine_backend::EngineBackend;
pub use error::ApiError;
pub use kind::Kind;
pub use kubeconfig::{kubeconfig, write_kubeconfig};
pub use rbac::{CertUser, UserInfo};
pub use routes::{ApiOptions, router, router_full, router_with};
pub use serve::{ServeConfig, install_crypto_provider, serve};
pub use streams::{EngineStreams, PodStreams};
