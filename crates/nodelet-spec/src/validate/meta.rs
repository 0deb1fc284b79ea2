//! `metadata` checks shared by every kind (`ValidateObjectMeta`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{names, push_msgs};
use crate::{FieldError, FieldErrors, FieldPath};

/// A name format check such as [`names::dns1123_subdomain`].
pub type NameFn = fn(&str) -> Vec<String>;

pub fn validate_meta(meta: &ObjectMeta, name_fn: NameFn, namespaced: bool) -> FieldErrors {
    let path = FieldPath::new("metadata");
    let mut errs = FieldErrors::default();
    let generate_name = meta.generate_name.as_deref().unwrap_or("");
    match meta.name.as_deref().unwrap_or("") {
        "" if generate_name.is_empty() => errs.push(FieldError::required(
            path.child("name"),
            "name or generateName is required",
        )),
        "" => {}
        name => push_msgs(&mut errs, path.child("name"), name, name_fn(name)),
    }
    if namespaced {
        match meta.namespace.as_deref().unwrap_or("") {
            "" => errs.push(FieldError::required(path.child("namespace"), "")),
            ns => push_msgs(
                &mut errs,
                path.child("namespace"),
                ns,
                names::dns1123_label(ns),
            ),
        }
    }
    if let Some(labels) = &meta.labels {
        let p = path.child("labels");
        for (k, v) in labels {
            push_msgs(&mut errs, p.clone(), k.as_str(), names::qualified_name(k));
            push_msgs(&mut errs, p.clone(), v.as_str(), names::label_value(v));
        }
    }
    if let Some(annotations) = &meta.annotations {
        let p = path.child("annotations");
        for k in annotations.keys() {
            let msgs = names::qualified_name(&k.to_ascii_lowercase());
            push_msgs(&mut errs, p.clone(), k.as_str(), msgs);
        }
    }
    errs
}
