//! `volumeMounts` checks (`ValidateVolumeMounts`, `validateMountPropagation`,
//! `validateMountRecursiveReadOnly`).

use std::collections::HashSet;

use k8s_openapi::api::core::v1::VolumeMount;

use super::volume_sources::validate_local_descending_path;
use crate::{FieldError, FieldErrors, FieldPath};

const PROPAGATIONS: &[&str] = &["Bidirectional", "HostToContainer", "None"];
const RRO_MODES: &[&str] = &["Disabled", "Enabled", "IfPossible"];
const BIND_OPTIONS: &[&str] = &["nodev", "noexec", "nosuid"];

pub fn validate_mounts(
    mounts: &[VolumeMount],
    volumes: &HashSet<&str>,
    privileged: bool,
    path: &FieldPath,
) -> FieldErrors {
    let mut errs = FieldErrors::default();
    let mut mount_paths = HashSet::new();
    for (i, m) in mounts.iter().enumerate() {
        let p = path.index(i);
        if m.name.is_empty() {
            errs.push(FieldError::required(p.child("name"), ""));
        }
        if !volumes.contains(m.name.as_str()) {
            errs.push(FieldError::not_found(p.child("name"), m.name.as_str()));
        }
        if m.mount_path.is_empty() {
            errs.push(FieldError::required(p.child("mountPath"), ""));
        }
        if !mount_paths.insert(m.mount_path.as_str()) {
            errs.push(FieldError::invalid(
                p.child("mountPath"),
                m.mount_path.as_str(),
                "must be unique",
            ));
        }
        let sub_path = m.sub_path.as_deref().unwrap_or("");
        if !sub_path.is_empty() {
            errs.extend(validate_local_descending_path(
                sub_path,
                &p.child("subPath"),
            ));
        }
        let expr = m.sub_path_expr.as_deref().unwrap_or("");
        if !expr.is_empty() {
            if !sub_path.is_empty() {
                errs.push(FieldError::invalid(
                    p.child("subPathExpr"),
                    expr,
                    "subPathExpr and subPath are mutually exclusive",
                ));
            }
            errs.extend(validate_local_descending_path(
                expr,
                &p.child("subPathExpr"),
            ));
        }
        if let Some(prop) = m.mount_propagation.as_deref() {
            let pp = p.child("mountPropagation");
            if !PROPAGATIONS.contains(&prop) {
                errs.push(FieldError::not_supported(pp, prop, PROPAGATIONS));
            } else if prop == "Bidirectional" && !privileged {
                errs.push(FieldError::forbidden(
                    pp,
                    "Bidirectional mount propagation is available only to privileged containers",
                ));
            }
        }
        errs.extend(recursive_read_only(m, &p));
        for (j, o) in m.bind_mount_options.iter().flatten().enumerate() {
            if !BIND_OPTIONS.contains(&o.as_str()) {
                errs.push(FieldError::not_supported(
                    p.child("bindMountOptions").index(j),
                    o.as_str(),
                    BIND_OPTIONS,
                ));
            }
        }
    }
    errs
}

fn recursive_read_only(m: &VolumeMount, p: &FieldPath) -> FieldErrors {
    let mut errs = FieldErrors::default();
    let Some(mode) = m.recursive_read_only.as_deref() else {
        return errs;
    };
    let rp = p.child("recursiveReadOnly");
    if !RRO_MODES.contains(&mode) {
        errs.push(FieldError::not_supported(rp, mode, RRO_MODES));
        return errs;
    }
    if mode == "Disabled" {
        return errs;
    }
    if !m.read_only.unwrap_or(false) {
        errs.push(FieldError::forbidden(
            rp.clone(),
            "may only be specified when readOnly is true",
        ));
    }
    if m.mount_propagation.as_deref().is_some_and(|p| p != "None") {
        errs.push(FieldError::forbidden(
            rp,
            "may only be specified when mountPropagation is None or not specified",
        ));
    }
    errs
}
