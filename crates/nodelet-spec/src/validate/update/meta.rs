//! `ValidateObjectMetaUpdate` (apimachinery) and
//! `ValidatePodSpecificAnnotationUpdates`: identity and lifecycle fields of
//! the metadata are immutable; labels, annotations, finalizers and owner
//! references may change (and are validated as on create).

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

use crate::{ErrorType, FieldError, FieldErrors, FieldPath};

pub const MIRROR_POD_ANNOTATION: &str = "kubernetes.io/config.mirror";
const APPARMOR_PREFIX: &str = "container.apparmor.security.beta.kubernetes.io/";

/// Go's rendering of a bad value in `Invalid value: …` for a field of any
/// type: strings quoted, nil as `"null"`, structs as their JSON.
fn repr<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::Null) => "\"null\"".into(),
        Ok(serde_json::Value::String(s)) => format!("{s:?}"),
        Ok(other) => other.to_string(),
        Err(_) => "\"null\"".into(),
    }
}

fn immutable<T: Serialize + PartialEq>(errs: &mut FieldErrors, new: &T, old: &T, path: FieldPath) {
    if new != old {
        errs.push(FieldError::new(
            ErrorType::Invalid,
            path,
            Some(repr(new)),
            "field is immutable",
        ));
    }
}

/// `ValidateObjectMetaUpdate`.
pub fn validate_meta_update(new: &ObjectMeta, old: &ObjectMeta) -> FieldErrors {
    let path = FieldPath::new("metadata");
    let mut errs = FieldErrors::default();
    if old.deletion_timestamp.is_some() {
        let old_f = old.finalizers.as_deref().unwrap_or(&[]);
        for (i, f) in new.finalizers.iter().flatten().enumerate() {
            if !old_f.contains(f) {
                errs.push(FieldError::forbidden(
                    path.child("finalizers").index(i),
                    format!("no new finalizers can be added if the object is being deleted, found new finalizers []string{{\"{f}\"}}"),
                ));
            }
        }
    }
    if new.generation.unwrap_or(0) < old.generation.unwrap_or(0) {
        errs.push(FieldError::invalid(
            path.child("generation"),
            new.generation.unwrap_or(0),
            "must not be decremented",
        ));
    }
    immutable(&mut errs, &new.name, &old.name, path.child("name"));
    immutable(
        &mut errs,
        &new.namespace,
        &old.namespace,
        path.child("namespace"),
    );
    immutable(&mut errs, &new.uid, &old.uid, path.child("uid"));
    immutable(
        &mut errs,
        &new.creation_timestamp,
        &old.creation_timestamp,
        path.child("creationTimestamp"),
    );
    immutable(
        &mut errs,
        &new.deletion_timestamp,
        &old.deletion_timestamp,
        path.child("deletionTimestamp"),
    );
    immutable(
        &mut errs,
        &new.deletion_grace_period_seconds,
        &old.deletion_grace_period_seconds,
        path.child("deletionGracePeriodSeconds"),
    );
    errs
}

/// `ValidatePodSpecificAnnotationUpdates`: the mirror-pod and AppArmor
/// annotations cannot be added, changed or removed.
pub fn validate_annotation_updates(new: &Pod, old: &Pod) -> FieldErrors {
    let path = FieldPath::new("metadata").child("annotations");
    let mut errs = FieldErrors::default();
    let empty = Default::default();
    let new_a = new.metadata.annotations.as_ref().unwrap_or(&empty);
    let old_a = old.metadata.annotations.as_ref().unwrap_or(&empty);
    for (k, v) in old_a {
        if new_a.get(k) == Some(v) {
            continue;
        }
        if k.starts_with(APPARMOR_PREFIX) {
            errs.push(FieldError::forbidden(
                path.key(k),
                "may not remove or update AppArmor annotations",
            ));
        }
        if k == MIRROR_POD_ANNOTATION {
            errs.push(FieldError::forbidden(
                path.key(k),
                "may not remove or update mirror pod annotation",
            ));
        }
    }
    for k in new_a.keys() {
        if old_a.contains_key(k) {
            continue;
        }
        if k.starts_with(APPARMOR_PREFIX) {
            errs.push(FieldError::forbidden(
                path.key(k),
                "may not add AppArmor annotations",
            ));
        }
        if k == MIRROR_POD_ANNOTATION {
            errs.push(FieldError::forbidden(
                path.key(k),
                "may not add mirror pod annotation",
            ));
        }
    }
    errs
}
