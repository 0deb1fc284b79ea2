//! The real [`crate::Runtime`]: OCI bundles run by an OCI runtime binary
//! (runc by default, crun where the host allows) under a per-container
//! `nodelet-monitor` that outlives the agent.

pub mod bundle;
pub mod cgroups;
pub mod host_check;
pub mod process;
pub mod runc;
pub mod wait;
