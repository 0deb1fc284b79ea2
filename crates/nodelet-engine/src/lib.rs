//! nodelet-engine: the container lifecycle as Kubernetes defines it.
//!
//! One async worker per pod drives its containers through the runtime
//! ([`nodelet_runtime::Runtime`]), runs lifecycle hooks, applies restart
//! policy and back-off, terminates with grace, records events and keeps
//! status. Time comes only from [`clock::Clock`], containers only from the
//! `Runtime` trait, persistence only from `nodelet-store`, so every timing
//! rule is unit-testable against the fake runtime under a paused clock.

pub mod clock;
pub mod events;
pub mod hooks;
