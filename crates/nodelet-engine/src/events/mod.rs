//! Kubernetes events: what the kubelet tells users about a pod's lifecycle
//! (Pulled, Started, Killing, BackOff, hook failures...).

pub mod types;

pub use types::EventType;
