//! `env` and `envFrom` checks (`ValidateEnv`, `ValidateEnvFrom`).

use k8s_openapi::api::core::v1::{
    EnvFromSource, EnvVar, EnvVarSource, ObjectFieldSelector, ResourceFieldSelector,
};

use super::{names, push_msgs};
use crate::{FieldError, FieldErrors, FieldPath};

/// Downward API fields a container's env may read (sorted as upstream lists them).
const ENV_FIELD_PATHS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

/// Field labels the v1 downward API conversion knows at all; anything else
/// fails conversion before the env-specific list is consulted.
const CONVERTIBLE_FIELD_PATHS: &[&str] = &[
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.phase",
    "status.podIP",
    "status.podIPs",
];

const RESOURCE_FIELDS: &[&str] = &[
    "limits.cpu",
    "limits.ephemeral-storage",
    "limits.memory",
    "requests.cpu",
    "requests.ephemeral-storage",
    "requests.memory",
];

pub fn validate_env(vars: &[EnvVar], path: &FieldPath) -> FieldErrors {
    let mut errs = FieldErrors::default();
    for (i, ev) in vars.iter().enumerate() {
        let p = path.index(i);
        if ev.name.is_empty() {
            errs.push(FieldError::required(p.child("name"), ""));
        } else {
            push_msgs(
                &mut errs,
                p.child("name"),
                ev.name.as_str(),
                names::env_var_name(&ev.name),
            );
        }
        if let Some(from) = &ev.value_from {
            let value = ev.value.as_deref().unwrap_or("");
            errs.extend(validate_value_from(from, value, &p.child("valueFrom")));
        }
    }
    errs
}

fn validate_value_from(from: &EnvVarSource, value: &str, path: &FieldPath) -> FieldErrors {
    let mut errs = FieldErrors::default();
    let mut sources = 0;
    if let Some(f) = &from.field_ref {
        sources += 1;
        errs.extend(validate_field_ref(f, &path.child("fieldRef")));
    }
    if let Some(r) = &from.resource_field_ref {
        sources += 1;
        errs.extend(validate_resource_ref(r, &path.child("resourceFieldRef")));
    }
    if let Some(c) = &from.config_map_key_ref {
        sources += 1;
        errs.extend(key_selector(
            &c.name,
            &c.key,
            &path.child("configMapKeyRef"),
        ));
    }
    if let Some(s) = &from.secret_key_ref {
        sources += 1;
        errs.extend(key_selector(&s.name, &s.key, &path.child("secretKeyRef")));
    }
    if sources == 0 {
        errs.push(FieldError::invalid(
            path.clone(),
            "",
            "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
        ));
    } else if !value.is_empty() {
        errs.push(FieldError::invalid(
            path.clone(),
            "",
            "may not be specified when `value` is not empty",
        ));
    } else if sources > 1 {
        errs.push(FieldError::invalid(
            path.clone(),
            "",
            "may not have more than one field specified at a time",
        ));
    }
    errs
}

fn validate_field_ref(f: &ObjectFieldSelector, path: &FieldPath) -> FieldErrors {
    let mut errs = FieldErrors::default();
    let api_version = f.api_version.as_deref().unwrap_or("");
    if api_version.is_empty() {
        errs.push(FieldError::required(path.child("apiVersion"), ""));
        return errs;
    }
    if f.field_path.is_empty() {
        errs.push(FieldError::required(path.child("fieldPath"), ""));
        return errs;
    }
    if api_version != "v1" {
        errs.push(FieldError::invalid(
            path.child("fieldPath"),
            f.field_path.as_str(),
            format!("error converting fieldPath: unsupported pod version: {api_version}"),
        ));
        return errs;
    }
    let (base, subscript) = split_subscript(&f.field_path);
    if !CONVERTIBLE_FIELD_PATHS.contains(&base) {
        errs.push(FieldError::invalid(
            path.child("fieldPath"),
            f.field_path.as_str(),
            format!(
                "error converting fieldPath: field label not supported: {}",
                f.field_path
            ),
        ));
        return errs;
    }
    match (base, subscript) {
        ("metadata.annotations", Some(key)) => push_msgs(
            &mut errs,
            path.clone(),
            key,
            names::qualified_name(&key.to_ascii_lowercase()),
        ),
        ("metadata.labels", Some(key)) => {
            push_msgs(&mut errs, path.clone(), key, names::qualified_name(key))
        }
        (_, Some(_)) => errs.push(FieldError::invalid(
            path.clone(),
            base,
            "does not support subscript",
        )),
        (_, None) if !ENV_FIELD_PATHS.contains(&base) => errs.push(FieldError::not_supported(
            path.child("fieldPath"),
            base,
            ENV_FIELD_PATHS,
        )),
        (_, None) => {}
    }
    errs
}

/// `metadata.labels['k']` → (`metadata.labels`, `k`).
fn split_subscript(p: &str) -> (&str, Option<&str>) {
    if let Some(open) = p.find("['")
        && let Some(inner) = p[open + 2..].strip_suffix("']")
    {
        return (&p[..open], Some(inner));
    }
    (p, None)
}

fn validate_resource_ref(r: &ResourceFieldSelector, path: &FieldPath) -> FieldErrors {
    let mut errs = FieldErrors::default();
    if r.resource.is_empty() {
        errs.push(FieldError::required(path.child("resource"), ""));
    } else if !RESOURCE_FIELDS.contains(&r.resource.as_str()) {
        errs.push(FieldError::not_supported(
            path.child("resource"),
            r.resource.as_str(),
            RESOURCE_FIELDS,
        ));
    }
    errs
}

fn key_selector(name: &str, key: &str, path: &FieldPath) -> FieldErrors {
    let mut errs = FieldErrors::default();
    push_msgs(
        &mut errs,
        path.child("name"),
        name,
        names::dns1123_subdomain(name),
    );
    if key.is_empty() {
        errs.push(FieldError::required(path.child("key"), ""));
    } else {
        push_msgs(
            &mut errs,
            path.child("key"),
            key,
            names::config_map_key(key),
        );
    }
    errs
}

pub fn validate_env_from(sources: &[EnvFromSource], path: &FieldPath) -> FieldErrors {
    let mut errs = FieldErrors::default();
    for (i, ef) in sources.iter().enumerate() {
        let p = path.index(i);
        if let Some(prefix) = ef.prefix.as_deref().filter(|s| !s.is_empty()) {
            push_msgs(
                &mut errs,
                p.child("prefix"),
                prefix,
                names::env_var_name(prefix),
            );
        }
        let mut count = 0;
        if let Some(c) = &ef.config_map_ref {
            count += 1;
            errs.extend(ref_name(&c.name, &p.child("configMapRef")));
        }
        if let Some(s) = &ef.secret_ref {
            count += 1;
            errs.extend(ref_name(&s.name, &p.child("secretRef")));
        }
        if count == 0 {
            errs.push(FieldError::invalid(
                p,
                "",
                "must specify one of: `configMapRef` or `secretRef`",
            ));
        } else if count > 1 {
            errs.push(FieldError::invalid(
                p,
                "",
                "may not have more than one field specified at a time",
            ));
        }
    }
    errs
}

fn ref_name(name: &str, path: &FieldPath) -> FieldErrors {
    let mut errs = FieldErrors::default();
    if name.is_empty() {
        errs.push(FieldError::required(path.child("name"), ""));
    } else {
        push_msgs(
            &mut errs,
            path.child("name"),
            name,
            names::dns1123_subdomain(name),
        );
    }
    errs
}
