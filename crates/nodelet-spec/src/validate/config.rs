//! ConfigMap and Secret checks: names and data keys.

use k8s_openapi::api::core::v1::{ConfigMap, Secret};

use super::meta::validate_meta;
use super::{names, push_msgs};
use crate::{FieldError, FieldErrors, FieldPath};

pub fn validate_config_map(cm: &ConfigMap) -> FieldErrors {
    let mut errs = validate_meta(&cm.metadata, names::dns1123_subdomain, true);
    let data: Vec<&String> = cm.data.iter().flat_map(|d| d.keys()).collect();
    let binary: Vec<&String> = cm.binary_data.iter().flat_map(|d| d.keys()).collect();
    keys(&mut errs, "data", &data);
    keys(&mut errs, "binaryData", &binary);
    for k in &binary {
        if data.contains(k) {
            errs.push(FieldError::invalid(
                FieldPath::new("data").key(k),
                k.as_str(),
                "duplicate of key present in binaryData",
            ));
        }
    }
    errs
}

pub fn validate_secret(secret: &Secret) -> FieldErrors {
    let mut errs = validate_meta(&secret.metadata, names::dns1123_subdomain, true);
    let data: Vec<&String> = secret.data.iter().flat_map(|d| d.keys()).collect();
    let string_data: Vec<&String> = secret.string_data.iter().flat_map(|d| d.keys()).collect();
    keys(&mut errs, "data", &data);
    keys(&mut errs, "stringData", &string_data);
    errs
}

fn keys(errs: &mut FieldErrors, field: &str, keys: &[&String]) {
    let path = FieldPath::new(field);
    for k in keys {
        push_msgs(errs, path.key(k), k.as_str(), names::config_map_key(k));
    }
}
