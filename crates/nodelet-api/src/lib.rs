//! nodelet-api: the Kubernetes REST subset kubectl needs, over HTTPS with
//! client-certificate or token authentication, and over a local unix socket.
//!
//! The HTTP side (discovery, OpenAPI, selectors, Tables, patches, watch
//! framing, logs, exec streams, errors) lives here; objects come from a
//! [`Backend`] (the lifecycle engine in `nodelet serve`).

pub mod age;
mod auth;
pub mod backend;
pub mod discovery;
pub mod engine_backend;
pub mod error;
mod events_v1;
mod exec;
pub mod kind;
pub mod kubeconfig;
mod logs;
pub mod node;
mod objects;
mod openapi;
mod openapi_pb;
mod patch;
pub mod pki;
mod podstatus;
mod protobuf;
mod query;
mod routes;
pub mod selectors;
pub mod serve;
mod status_write;
mod table;
mod ui;
mod watch;

pub use auth::ConnAuth;
pub use backend::{Backend, WatchEvent, WatchEventType};
pub use engine_backend::EngineBackend;
pub use error::ApiError;
pub use kind::Kind;
pub use kubeconfig::{kubeconfig, write_kubeconfig};
pub use routes::router;
pub use serve::{ServeConfig, install_crypto_provider, serve};
