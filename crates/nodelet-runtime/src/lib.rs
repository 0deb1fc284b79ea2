//! nodelet-runtime: how nodelet makes real Linux containers.
//!
//! The lifecycle engine sees only the [`Runtime`] trait. The real
//! implementation ([`oci::OciRuntime`]) drives an OCI runtime binary (runc by
//! default, crun or youki on request) over its command-line interface, with
//! bundles generated from the pod spec, rootfs from our content-addressed
//! image store on overlayfs, pod networking through CNI plugins, and a small
//! monitor process per container that outlives the agent.
//!
//! This crate knows containers, not pods semantics: restart policy, hooks and
//! grace periods live in the engine.

pub mod error;
pub mod image;
pub mod mountpoint;
pub mod oci;
pub mod rootfs;
pub mod rootfs_idmap;
pub mod runtime;
pub mod sandbox;
mod tmpname;
pub mod topdir;
pub mod types;
pub mod volume;

pub use error::RuntimeError;
pub use runtime::{CreateStartError, Runtime};
pub use types::*;

#[cfg(any(test, feature = "fake"))]
pub mod fake;
#[cfg(any(test, feature = "fake"))]
pub mod fake_volumes;
