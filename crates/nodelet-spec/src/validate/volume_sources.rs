//! Checks of one volume's source (`validateVolumeSource` and the
//! per-type validators), plus nodelet's own refusal of sources a single
//! node cannot provide.

use std::collections::HashSet;

use k8s_openapi::api::core::v1::{DownwardAPIVolumeFile, KeyToPath, ProjectedVolumeSource, Volume};

use crate::env::Nanos;
use crate::volume::{VolumeKind, unsupported_detail, volume_kind};
use crate::{FieldError, FieldErrors, FieldPath};

const FILE_MODE_MSG: &str = "must be a number between 0 and 0777 (octal), both inclusive";
const HOST_PATH_TYPES: &[&str] = &[
    "",
    "BlockDevice",
    "CharDevice",
    "Directory",
    "DirectoryOrCreate",
    "File",
    "FileOrCreate",
    "Socket",
];
/// `validVolumeDownwardAPIFieldPathExpressions`.
const VOLUME_FIELD_PATHS: &[&str] = &[
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
];
const RESOURCE_FIELDS: &[&str] = &[
    "limits.cpu",
    "limits.ephemeral-storage",
    "limits.memory",
    "requests.cpu",
    "requests.ephemeral-storage",
    "requests.memory",
];

pub fn validate_path_no_backsteps(target: &str, path: &FieldPath) -> FieldErrors {
    let mut errs = FieldErrors::default();
    if target.split('/').any(|p| p == "..") {
        errs.push(FieldError::invalid(
            path.clone(),
            target,
            "must not contain '..'",
        ));
    }
    errs
}

pub fn validate_local_descending_path(target: &str, path: &FieldPath) -> FieldErrors {
    let mut errs = FieldErrors::default();
    if target.starts_with('/') {
        errs.push(FieldError::invalid(
            path.clone(),
            target,
            "must be a relative path",
        ));
    }
    errs.extend(validate_path_no_backsteps(target, path));
    errs
}

/// `ValidateLocalNonReservedPath`: also no leading `..` (the atomic
/// writer's own names).
fn validate_local_non_reserved_path(target: &str, path: &FieldPath) -> FieldErrors {
    let mut errs = validate_local_descending_path(target, path);
    if target.starts_with("..") && !target.starts_with("../") {
        errs.push(FieldError::invalid(
            path.clone(),
            target,
            "must not start with '..'",
        ));
    }
    errs
}

fn mode(m: Option<i32>, path: &FieldPath) -> FieldErrors {
    let mut errs = FieldErrors::default();
    if let Some(m) = m
        && !(0..=0o777).contains(&m)
    {
        errs.push(FieldError::invalid(path.clone(), m, FILE_MODE_MSG));
    }
    errs
}

fn key_to_path(kp: &KeyToPath, path: &FieldPath) -> FieldErrors {
    let mut errs = FieldErrors::default();
    if kp.key.is_empty() {
        errs.push(FieldError::required(path.child("key"), ""));
    }
    if kp.path.is_empty() {
        errs.push(FieldError::required(path.child("path"), ""));
    }
    errs.extend(validate_local_non_reserved_path(
        &kp.path,
        &path.child("path"),
    ));
    errs.extend(mode(kp.mode, &path.child("mode")));
    errs
}

fn downward_file(f: &DownwardAPIVolumeFile, path: &FieldPath) -> FieldErrors {
    let mut errs = FieldErrors::default();
    if f.path.is_empty() {
        errs.push(FieldError::required(path.child("path"), ""));
    }
    errs.extend(validate_local_non_reserved_path(
        &f.path,
        &path.child("path"),
    ));
    match (&f.field_ref, &f.resource_field_ref) {
        (Some(r), other) => {
            let fp = path.child("fieldRef");
            if r.api_version.as_deref().unwrap_or("").is_empty() {
                errs.push(FieldError::required(fp.child("apiVersion"), ""));
            } else if r.field_path.is_empty() {
                errs.push(FieldError::required(fp.child("fieldPath"), ""));
            } else {
                let base = r.field_path.split("['").next().unwrap_or("");
                let subscript = r.field_path.len() != base.len();
                let ok = if subscript {
                    matches!(base, "metadata.labels" | "metadata.annotations")
                } else {
                    VOLUME_FIELD_PATHS.contains(&base)
                };
                if !ok {
                    errs.push(FieldError::not_supported(
                        fp.child("fieldPath"),
                        r.field_path.as_str(),
                        VOLUME_FIELD_PATHS,
                    ));
                }
            }
            if other.is_some() {
                errs.push(FieldError::invalid(
                    path.clone(),
                    "resource",
                    "fieldRef and resourceFieldRef can not be specified simultaneously",
                ));
            }
        }
        (None, Some(r)) => {
            let rp = path.child("resourceFieldRef");
            if r.container_name.as_deref().unwrap_or("").is_empty() {
                errs.push(FieldError::required(rp.child("containerName"), ""));
            }
            if r.resource.is_empty() {
                errs.push(FieldError::required(rp.child("resource"), ""));
            } else if !RESOURCE_FIELDS.contains(&r.resource.as_str())
                && !r.resource.starts_with("limits.hugepages-")
                && !r.resource.starts_with("requests.hugepages-")
            {
                errs.push(FieldError::not_supported(
                    rp.child("resource"),
                    r.resource.as_str(),
                    RESOURCE_FIELDS,
                ));
            }
        }
        (None, None) => errs.push(FieldError::required(
            path.clone(),
            "one of fieldRef and resourceFieldRef is required",
        )),
    }
    errs.extend(mode(f.mode, &path.child("mode")));
    errs
}

fn projected(src: &ProjectedVolumeSource, path: &FieldPath) -> FieldErrors {
    let mut errs = mode(src.default_mode, &path.child("defaultMode"));
    let mut all_paths: HashSet<String> = HashSet::new();
    let mut unique = |p: &str, at: FieldPath, errs: &mut FieldErrors| {
        if !all_paths.insert(p.to_owned()) {
            errs.push(FieldError::invalid(at, p, "conflicting duplicate paths"));
        }
    };
    for (i, s) in src.sources.iter().flatten().enumerate() {
        let sp = path.child("sources").index(i);
        let mut n = 0;
        if let Some(sec) = &s.secret {
            n += 1;
            let p = sp.child("secret");
            if sec.name.is_empty() {
                errs.push(FieldError::required(p.child("name"), ""));
            }
            for (j, kp) in sec.items.iter().flatten().enumerate() {
                let ip = p.child("items").index(j);
                errs.extend(key_to_path(kp, &ip));
                unique(&kp.path, ip.child("path"), &mut errs);
            }
        }
        if let Some(cm) = &s.config_map {
            n += 1;
            let p = sp.child("configMap");
            if cm.name.is_empty() {
                errs.push(FieldError::required(p.child("name"), ""));
            }
            for (j, kp) in cm.items.iter().flatten().enumerate() {
                let ip = p.child("items").index(j);
                errs.extend(key_to_path(kp, &ip));
                unique(&kp.path, ip.child("path"), &mut errs);
            }
        }
        if let Some(d) = &s.downward_api {
            n += 1;
            let p = sp.child("downwardAPI");
            for (j, f) in d.items.iter().flatten().enumerate() {
                let ip = p.child("items").index(j);
                errs.extend(downward_file(f, &ip));
                unique(&f.path, ip.child("path"), &mut errs);
            }
        }
        if let Some(t) = &s.service_account_token {
            n += 1;
            let p = sp.child("serviceAccountToken");
            let exp = t.expiration_seconds.unwrap_or(3600);
            if exp < 600 {
                errs.push(FieldError::invalid(
                    p.child("expirationSeconds"),
                    exp,
                    "may not specify a duration less than 10 minutes",
                ));
            }
            if exp > 1 << 32 {
                errs.push(FieldError::invalid(
                    p.child("expirationSeconds"),
                    exp,
                    "may not specify a duration larger than 2^32 seconds",
                ));
            }
            if t.path.is_empty() {
                errs.push(FieldError::required(path.child("path"), ""));
            } else {
                errs.extend(validate_local_non_reserved_path(
                    &t.path,
                    &path.child("path"),
                ));
            }
        }
        if s.cluster_trust_bundle.is_some() {
            n += 1;
            errs.push(FieldError::forbidden(
                sp.child("clusterTrustBundle"),
                "clusterTrustBundle projections need a cluster's ClusterTrustBundle objects; nodelet does not support them",
            ));
        }
        if s.pod_certificate.is_some() {
            n += 1;
            errs.push(FieldError::forbidden(
                sp.child("podCertificate"),
                "podCertificate projections need a cluster's certificate signers; nodelet does not support them",
            ));
        }
        if n > 1 {
            errs.push(FieldError::forbidden(
                sp,
                "may not specify more than 1 volume type per source",
            ));
        }
    }
    errs
}

/// The source checks of one volume at `path` (`spec.volumes[i]`).
pub fn validate_source(v: &Volume, path: &FieldPath) -> FieldErrors {
    let mut errs = FieldErrors::default();
    if let Some(h) = &v.host_path {
        let p = path.child("hostPath");
        if h.path.is_empty() {
            errs.push(FieldError::required(p.child("path"), ""));
        }
        errs.extend(validate_path_no_backsteps(&h.path, &p.child("path")));
        let t = h.type_.as_deref().unwrap_or("");
        if !HOST_PATH_TYPES.contains(&t) {
            errs.push(FieldError::not_supported(
                p.child("type"),
                t,
                HOST_PATH_TYPES,
            ));
        }
    }
    if let Some(e) = &v.empty_dir {
        let p = path.child("emptyDir");
        if let Some(q) = &e.size_limit
            && Nanos::parse(&q.0).is_ok_and(|n| n.value() < 0)
        {
            errs.push(FieldError::forbidden(
                p.child("sizeLimit"),
                "SizeLimit field must be a valid resource quantity",
            ));
        }
        if let Some(m) = e.mode
            && !(0..=0o1777).contains(&m)
        {
            errs.push(FieldError::invalid(
                p.child("mode"),
                m,
                "must be a number between 0 and 01777 (octal), both inclusive",
            ));
        }
        let medium = e.medium.as_deref().unwrap_or("");
        if !matches!(medium, "" | "Memory") {
            // HugePages media need hugetlbfs and huge page requests, which
            // nodelet does not manage.
            errs.push(FieldError::not_supported(
                p.child("medium"),
                medium,
                &["", "Memory"],
            ));
        }
    }
    if let Some(s) = &v.secret {
        let p = path.child("secret");
        if s.secret_name.as_deref().unwrap_or("").is_empty() {
            errs.push(FieldError::required(p.child("secretName"), ""));
        }
        errs.extend(mode(s.default_mode, &p.child("defaultMode")));
        for (j, kp) in s.items.iter().flatten().enumerate() {
            errs.extend(key_to_path(kp, &p.child("items").index(j)));
        }
    }
    if let Some(c) = &v.config_map {
        let p = path.child("configMap");
        if c.name.is_empty() {
            errs.push(FieldError::required(p.child("name"), ""));
        }
        errs.extend(mode(c.default_mode, &p.child("defaultMode")));
        for (j, kp) in c.items.iter().flatten().enumerate() {
            errs.extend(key_to_path(kp, &p.child("items").index(j)));
        }
    }
    if let Some(d) = &v.downward_api {
        let p = path.child("downwardAPI");
        errs.extend(mode(d.default_mode, &p.child("defaultMode")));
        for (j, f) in d.items.iter().flatten().enumerate() {
            errs.extend(downward_file(f, &p.child("items").index(j)));
        }
    }
    if let Some(pr) = &v.projected {
        errs.extend(projected(pr, &path.child("projected")));
    }
    if let VolumeKind::Unsupported(field) = volume_kind(v) {
        errs.push(FieldError::forbidden(
            path.child(field),
            unsupported_detail(field),
        ));
    }
    errs
}
