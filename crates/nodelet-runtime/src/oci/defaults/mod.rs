//! What a container gets by default, as containerd's CRI plugin gives it,
//! and how `securityContext` changes it: capabilities, masked and read-only
//! `/proc`/`/sys` paths, seccomp and AppArmor profiles. Tables live in one
//! file each so `bundle.rs` only wires them into the spec.

pub mod apparmor;
pub mod capabilities;
pub mod masked_paths;
pub mod seccomp;
pub mod userns;
