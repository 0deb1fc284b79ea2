//! Validation with the API server's exact field errors.
//!
//! Input is a defaulted object (see [`crate::defaults`]); every problem of
//! the object is reported, in the API server's order, so a user fixes a
//! manifest in one round. One file per area; each rule a small function.

mod config;
mod container;
mod envvars;
mod handler;
mod lifecycle;
mod meta;
pub mod names;
mod pod;
mod ports;
mod probe;
mod resources;
mod restart_rules;
mod security;
mod service;
mod service_ips;
pub mod update;
mod volume_mounts;
mod volume_sources;
mod volumes;
mod warnings;

pub use config::{
    MAX_DATA_SIZE, validate_config_map, validate_config_map_update, validate_secret,
    validate_secret_update,
};
pub use pod::{validate_pod, validate_pod_create};
pub use service::{externally_accessible, is_headless, validate_service};
pub use service_ips::go_string_slice;
pub use warnings::pod_warnings;

use crate::field_error::ValueRepr;
use crate::{FieldError, FieldErrors, FieldPath, Object};

/// Validates any supported object.
pub fn validate_object(obj: &Object) -> FieldErrors {
    match obj {
        Object::Pod(p) => validate_pod_create(p),
        Object::Service(s) => validate_service(s),
        Object::ConfigMap(c) => validate_config_map(c),
        Object::Secret(s) => validate_secret(s),
        Object::ServiceAccount(s) => {
            meta::validate_meta(&s.metadata, names::dns1123_subdomain, true)
        }
    }
}

/// One `Invalid value` per message from a format check.
fn push_msgs<V: ValueRepr + Clone>(
    errs: &mut FieldErrors,
    path: FieldPath,
    value: V,
    msgs: Vec<String>,
) {
    for m in msgs {
        errs.push(FieldError::invalid(path.clone(), value.clone(), m));
    }
}
