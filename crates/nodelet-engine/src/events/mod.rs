//! Kubernetes events: what the kubelet tells users about a pod's lifecycle
//! (Pulled, Started, Killing, BackOff, hook failures...).

pub mod aggregate;
pub mod expiry;
pub mod recorder;
pub mod retention;
pub mod types;

pub use recorder::{EventTarget, Recorder};
pub use types::EventType;
