//! nodelet-spec: the bottom layer of nodelet.
//!
//! Everything here is pure: it turns manifest bytes into typed Kubernetes
//! objects, fills in the API server's defaults, validates with API-server
//! shaped field errors, and computes what a container will see (hostname,
//! environment, expanded command) and how long termination may take.
//! No tokio, no files opened behind the caller's back (loading takes bytes
//! or reads the exact paths it is given), no processes.

pub mod admission;
pub mod annotations;
pub mod capacity;
pub mod defaults;
pub mod dns;
pub mod env;
pub mod ephemeral;
pub mod field_error;
pub mod godur;
pub mod grace;
pub mod hostname;
pub mod load;
pub mod local_storage;
pub mod object;
pub mod podsecurity;
pub mod resources;
pub mod restart;
pub mod securitycontext;
pub mod signal;
pub mod sysctl;
pub mod validate;
pub mod volume;

pub use field_error::{ErrorType, FieldError, FieldErrors, FieldPath};
pub use object::{Manifest, Object};
