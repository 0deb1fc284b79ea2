//! ConfigMap and Secret checks: names, data keys, the 1 MiB size limit,
//! and the update rules of `immutable` objects.

use k8s_openapi::api::core::v1::{ConfigMap, Secret};

use super::meta::validate_meta;
use super::{names, push_msgs};
use crate::{FieldError, FieldErrors, FieldPath};

/// `core.MaxSecretSize`, also the limit of a ConfigMap.
pub const MAX_DATA_SIZE: usize = 1024 * 1024;

/// apimachinery's `field.TooLong` detail.
fn too_long(path: FieldPath) -> FieldError {
    FieldError::new(
        crate::ErrorType::TooLong,
        path,
        None,
        format!("may not be more than {MAX_DATA_SIZE} bytes"),
    )
}

const IMMUTABLE: &str = "field is immutable when `immutable` is set";

pub fn validate_config_map(cm: &ConfigMap) -> FieldErrors {
    let mut errs = validate_meta(&cm.metadata, names::dns1123_subdomain, true);
    let size: usize = cm
        .data
        .iter()
        .flatten()
        .map(|(_, v)| v.len())
        .sum::<usize>()
        + cm.binary_data
            .iter()
            .flatten()
            .map(|(_, v)| v.0.len())
            .sum::<usize>();
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
    if size > MAX_DATA_SIZE {
        // An empty path: the error is about the whole object.
        errs.push(too_long(FieldPath::new("")));
    }
    errs
}

/// `ValidateConfigMapUpdate`: an immutable ConfigMap keeps its data and
/// stays immutable.
pub fn validate_config_map_update(new: &ConfigMap, old: &ConfigMap) -> FieldErrors {
    let mut errs = FieldErrors::default();
    if old.immutable == Some(true) {
        if new.immutable != Some(true) {
            errs.push(FieldError::forbidden(
                FieldPath::new("immutable"),
                IMMUTABLE,
            ));
        }
        if new.data != old.data {
            errs.push(FieldError::forbidden(FieldPath::new("data"), IMMUTABLE));
        }
        if new.binary_data != old.binary_data {
            errs.push(FieldError::forbidden(
                FieldPath::new("binaryData"),
                IMMUTABLE,
            ));
        }
    }
    errs
}

/// `ValidateSecretUpdate`: the type never changes; an immutable Secret
/// keeps its data and stays immutable.
pub fn validate_secret_update(new: &Secret, old: &Secret) -> FieldErrors {
    let mut errs = FieldErrors::default();
    if new.type_ != old.type_ {
        errs.push(FieldError::invalid(
            FieldPath::new("type"),
            new.type_.clone().unwrap_or_default(),
            "field is immutable",
        ));
    }
    if old.immutable == Some(true) {
        if new.immutable != Some(true) {
            errs.push(FieldError::forbidden(
                FieldPath::new("immutable"),
                IMMUTABLE,
            ));
        }
        if new.data != old.data {
            errs.push(FieldError::forbidden(FieldPath::new("data"), IMMUTABLE));
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
    let size: usize = secret.data.iter().flatten().map(|(_, v)| v.0.len()).sum();
    if size > MAX_DATA_SIZE {
        errs.push(too_long(FieldPath::new("data")));
    }
    errs
}

fn keys(errs: &mut FieldErrors, field: &str, keys: &[&String]) {
    let path = FieldPath::new(field);
    for k in keys {
        push_msgs(errs, path.key(k), k.as_str(), names::config_map_key(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn cm(value: &str, immutable: Option<bool>) -> ConfigMap {
        let mut c = ConfigMap {
            data: Some(BTreeMap::from([("k".to_string(), value.to_string())])),
            immutable,
            ..Default::default()
        };
        c.metadata.name = Some("c".into());
        c.metadata.namespace = Some("default".into());
        c
    }

    #[test]
    fn one_mebibyte_at_most() {
        assert!(validate_config_map(&cm(&"x".repeat(MAX_DATA_SIZE), None)).is_empty());
        let errs = validate_config_map(&cm(&"x".repeat(MAX_DATA_SIZE + 1), None));
        assert_eq!(
            errs.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
            vec![": Too long: may not be more than 1048576 bytes"]
        );
    }

    #[test]
    fn immutable_refuses_changes() {
        let old = cm("a", Some(true));
        assert!(validate_config_map_update(&old.clone(), &old).is_empty());
        let errs = validate_config_map_update(&cm("b", None), &old);
        let msgs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            msgs,
            vec![
                "immutable: Forbidden: field is immutable when `immutable` is set",
                "data: Forbidden: field is immutable when `immutable` is set"
            ]
        );
        assert!(validate_config_map_update(&cm("b", None), &cm("a", None)).is_empty());
    }
}
