//! `spec.volumes` checks (`ValidateVolumes`): names and exactly one source.

use std::collections::HashSet;

use k8s_openapi::api::core::v1::Volume;

use super::{names, push_msgs};
use crate::{FieldError, FieldErrors, FieldPath};

/// Returns the errors and the names of the volumes that passed, which are
/// the ones `volumeMounts` may reference.
pub fn validate_volumes<'a>(
    volumes: &'a [Volume],
    path: &FieldPath,
) -> (FieldErrors, HashSet<&'a str>) {
    let mut errs = FieldErrors::default();
    let mut valid = HashSet::new();
    let mut seen = HashSet::new();
    for (i, vol) in volumes.iter().enumerate() {
        let p = path.index(i);
        let mut e = validate_source(vol, &p);
        if e.is_empty() {
            e.extend(super::volume_sources::validate_source(vol, &p));
        }
        if vol.name.is_empty() {
            e.push(FieldError::required(p.child("name"), ""));
        } else {
            push_msgs(
                &mut e,
                p.child("name"),
                vol.name.as_str(),
                names::dns1123_label(&vol.name),
            );
        }
        if !seen.insert(vol.name.as_str()) {
            e.push(FieldError::duplicate(p.child("name"), vol.name.as_str()));
        }
        if e.is_empty() {
            valid.insert(vol.name.as_str());
        } else {
            errs.extend(e);
        }
    }
    (errs, valid)
}

/// Exactly one volume source. The sources are the set fields other than
/// `name`; reading them from the serialized form keeps this correct as
/// k8s-openapi adds source types.
fn validate_source(vol: &Volume, path: &FieldPath) -> FieldErrors {
    let mut errs = FieldErrors::default();
    let sources: Vec<String> = match serde_json::to_value(vol) {
        Ok(serde_json::Value::Object(map)) => map
            .into_iter()
            .filter(|(k, v)| k != "name" && !v.is_null())
            .map(|(k, _)| k)
            .collect(),
        _ => Vec::new(),
    };
    match sources.as_slice() {
        [] => errs.push(FieldError::required(
            path.clone(),
            "must specify a volume type",
        )),
        [_] => {}
        [_, extra @ ..] => {
            for s in extra {
                errs.push(FieldError::forbidden(
                    path.child(s),
                    "may not specify more than 1 volume type",
                ));
            }
        }
    }
    errs
}
