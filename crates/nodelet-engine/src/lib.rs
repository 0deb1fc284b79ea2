//! nodelet-engine: the container lifecycle as Kubernetes defines it.
//!
//! One async worker per pod drives its containers through the runtime
//! ([`nodelet_runtime::Runtime`]), runs lifecycle hooks, applies restart
//! policy and back-off, terminates with grace, records events and keeps
//! status. Time comes only from [`clock::Clock`], containers only from the
//! `Runtime` trait, persistence only from `nodelet-store`, so every timing
//! rule is unit-testable against the fake runtime under a paused clock.

pub mod allocations;
pub mod backoff;
pub mod broadcast;
pub mod clock;
pub mod config;
pub mod engine;
pub mod error;
pub mod events;
pub mod failpoints;
pub mod godur;
pub mod hooks;
pub mod images;
pub mod metrics;
pub mod pod_conditions;
pub mod podkey;
pub mod probes;
pub mod recover;
pub mod sources;
pub mod status;
pub mod storage;
mod store_io;
pub mod teardown;
pub mod worker;

pub use broadcast::EngineEvent;
pub use config::EngineConfig;
pub use engine::{Applied, ApplyAction, Engine, EventFilter, REMOVED_KEPT};
pub use error::{EngineError, Result};
pub use podkey::PodKey;
