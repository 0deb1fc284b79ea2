//! Authorization as the API server's RBAC authorizer does it: Roles,
//! ClusterRoles and their bindings served as rbac.authorization.k8s.io/v1
//! objects and enforced on every request, the bootstrap roles, access
//! reviews for `kubectl auth can-i`, and the 403 wording of the API server.
//! `system:masters` passes unconditionally, as upstream.

pub mod attributes;
pub mod bootstrap;
pub mod identity;
pub mod objects;
pub mod policy;
pub mod reviews;
pub mod rules;

pub use attributes::Attributes;
pub use identity::{CertUser, UserInfo};
pub use policy::{Decision, Policy};
