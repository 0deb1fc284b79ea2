//! The Node object: its status as the kubelet computes it
//! ([`status`], pure) and the registration and status loop ([`sync`]).

pub mod status;
pub mod sync;
