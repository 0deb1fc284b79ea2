//! Security contexts (`validatePodSpecSecurityContext`,
//! `ValidateSecurityContext`, `validateSeccompProfileField`,
//! `ValidateAppArmorProfileField`, `validateHostUsers`): id ranges, profile
//! types and local paths, procMount, supplementalGroupsPolicy, and the
//! combinations the API server refuses.

use k8s_openapi::api::core::v1::{
    AppArmorProfile, PodSecurityContext, PodSpec, SeccompProfile, SecurityContext,
};

use super::names::inclusive_range_error;
use crate::{FieldError, FieldErrors, FieldPath};

const MAX_ID: i64 = i32::MAX as i64;

fn id_range(errs: &mut FieldErrors, path: FieldPath, v: Option<i64>) {
    if let Some(v) = v
        && !(0..=MAX_ID).contains(&v)
    {
        errs.push(FieldError::invalid(
            path,
            v,
            inclusive_range_error(0, MAX_ID),
        ));
    }
}

/// `validateLocalDescendingPath`: relative, no `..` element.
pub fn local_descending_path(p: &str, path: &FieldPath) -> FieldErrors {
    let mut errs = FieldErrors::default();
    if p.starts_with('/') {
        errs.push(FieldError::invalid(
            path.clone(),
            p,
            "must be a relative path",
        ));
    }
    if p.split('/').any(|e| e == "..") {
        errs.push(FieldError::invalid(
            path.clone(),
            p,
            "must not contain '..'",
        ));
    }
    errs
}

/// A struct-valued bad value, rendered as JSON.
fn json_repr<T: serde::Serialize>(v: &T) -> Option<String> {
    serde_json::to_string(v).ok()
}

fn seccomp(sp: Option<&SeccompProfile>, path: &FieldPath) -> FieldErrors {
    let mut errs = FieldErrors::default();
    let Some(sp) = sp else {
        return errs;
    };
    match sp.type_.as_str() {
        "Localhost" | "RuntimeDefault" | "Unconfined" => {}
        "" => errs.push(FieldError::required(
            path.child("type"),
            "type is required when seccompProfile is set",
        )),
        other => errs.push(FieldError::not_supported(
            path.child("type"),
            other,
            &["Localhost", "RuntimeDefault", "Unconfined"],
        )),
    }
    let lp = path.child("localhostProfile");
    if sp.type_ == "Localhost" {
        match &sp.localhost_profile {
            None => errs.push(FieldError::required(
                lp,
                "must be set when seccomp type is Localhost",
            )),
            Some(p) => errs.extend(local_descending_path(p, &lp)),
        }
    } else if sp.localhost_profile.is_some() {
        errs.push(FieldError::new(
            crate::ErrorType::Invalid,
            lp,
            json_repr(sp),
            "can only be set when seccomp type is Localhost",
        ));
    }
    errs
}

fn apparmor(p: Option<&AppArmorProfile>, path: &FieldPath) -> FieldErrors {
    let mut errs = FieldErrors::default();
    let Some(p) = p else {
        return errs;
    };
    let lp = path.child("localhostProfile");
    match p.type_.as_str() {
        "Localhost" => match &p.localhost_profile {
            None => errs.push(FieldError::required(
                lp,
                "must be set when AppArmor type is Localhost",
            )),
            Some(name) => {
                if name.trim() != name {
                    errs.push(FieldError::invalid(
                        lp.clone(),
                        name.as_str(),
                        "must not be padded with whitespace",
                    ));
                } else if name.is_empty() {
                    errs.push(FieldError::required(
                        lp.clone(),
                        "must be set when AppArmor type is Localhost",
                    ));
                }
                if name.len() > 4095 {
                    errs.push(FieldError::too_long(lp, 4095));
                }
            }
        },
        "RuntimeDefault" | "Unconfined" => {
            if let Some(name) = &p.localhost_profile {
                errs.push(FieldError::invalid(
                    lp,
                    name.as_str(),
                    "can only be set when AppArmor type is Localhost",
                ));
            }
        }
        "" => errs.push(FieldError::required(
            path.child("type"),
            "type is required when appArmorProfile is set",
        )),
        other => errs.push(FieldError::not_supported(
            path.child("type"),
            other,
            &["Localhost", "RuntimeDefault", "Unconfined"],
        )),
    }
    errs
}

/// The pod's `securityContext` and the host namespaces it may not combine
/// with `hostUsers: false`.
pub fn validate_pod_security_context(spec: &PodSpec, spec_path: &FieldPath) -> FieldErrors {
    let mut errs = FieldErrors::default();
    let path = spec_path.child("securityContext");
    if let Some(sc) = &spec.security_context {
        errs.extend(pod_security_context(sc, spec, &path));
    }
    // validateHostUsers: the paths are the API server's (sic: HostPID).
    if spec.host_users == Some(false) {
        const MSG: &str = "when `pod.Spec.HostUsers` is false";
        if spec.host_network == Some(true) {
            errs.push(FieldError::forbidden(spec_path.child("hostNetwork"), MSG));
        }
        if spec.host_pid == Some(true) {
            errs.push(FieldError::forbidden(spec_path.child("HostPID"), MSG));
        }
        if spec.host_ipc == Some(true) {
            errs.push(FieldError::forbidden(spec_path.child("HostIPC"), MSG));
        }
    }
    errs
}

fn pod_security_context(sc: &PodSecurityContext, spec: &PodSpec, path: &FieldPath) -> FieldErrors {
    let mut errs = FieldErrors::default();
    id_range(&mut errs, path.child("fsGroup"), sc.fs_group);
    id_range(&mut errs, path.child("runAsUser"), sc.run_as_user);
    id_range(&mut errs, path.child("runAsGroup"), sc.run_as_group);
    for (i, g) in sc.supplemental_groups.iter().flatten().enumerate() {
        id_range(
            &mut errs,
            path.child("supplementalGroups").index(i),
            Some(*g),
        );
    }
    if let Some(p) = sc.supplemental_groups_policy.as_deref()
        && !matches!(p, "Merge" | "Strict")
    {
        errs.push(FieldError::not_supported(
            path.child("supplementalGroupsPolicy"),
            p,
            &["Merge", "Strict"],
        ));
    }
    if spec.share_process_namespace == Some(true) && spec.host_pid == Some(true) {
        errs.push(FieldError::new(
            crate::ErrorType::Invalid,
            path.child("shareProcessNamespace"),
            Some("true".into()),
            "ShareProcessNamespace and HostPID cannot both be enabled",
        ));
    }
    if let Some(p) = sc.fs_group_change_policy.as_deref()
        && !matches!(p, "OnRootMismatch" | "Always")
    {
        errs.push(FieldError::not_supported(
            path.child("fsGroupChangePolicy"),
            p,
            &["OnRootMismatch", "Always"],
        ));
    }
    errs.extend(seccomp(
        sc.seccomp_profile.as_ref(),
        &path.child("seccompProfile"),
    ));
    errs.extend(apparmor(
        sc.app_armor_profile.as_ref(),
        &path.child("appArmorProfile"),
    ));
    errs.extend(sysctls(sc, spec, &path.child("sysctls")));
    errs
}

/// `validateSysctls`: each name present, valid and unique, and not of a
/// namespace the pod shares with the host (`ValidateHostSysctl`).
fn sysctls(sc: &PodSecurityContext, spec: &PodSpec, path: &FieldPath) -> FieldErrors {
    use crate::sysctl;
    let mut errs = FieldErrors::default();
    let mut seen = std::collections::BTreeSet::new();
    for (i, s) in sc.sysctls.iter().flatten().enumerate() {
        let p = path.index(i).child("name");
        if s.name.is_empty() {
            errs.push(FieldError::required(p.clone(), ""));
        } else if !sysctl::is_valid_name(&s.name) {
            errs.push(FieldError::invalid(
                p.clone(),
                s.name.as_str(),
                format!(
                    "must have at most {} characters and match regex {}",
                    sysctl::MAX_LENGTH,
                    sysctl::NAME_REGEX
                ),
            ));
        } else if seen.contains(s.name.as_str()) {
            errs.push(FieldError::duplicate(p.clone(), s.name.as_str()));
        }
        let (ns, _, _) = sysctl::namespace(&s.name);
        if spec.host_network == Some(true) && ns == sysctl::Namespace::Net {
            errs.push(FieldError::invalid(
                p,
                s.name.as_str(),
                "may not be specified when 'hostNetwork' is true",
            ));
        } else if spec.host_ipc == Some(true) && ns == sysctl::Namespace::Ipc {
            errs.push(FieldError::invalid(
                p,
                s.name.as_str(),
                "may not be specified when 'hostIPC' is true",
            ));
        }
        seen.insert(s.name.as_str());
    }
    errs
}

/// A container's `securityContext` (`ValidateSecurityContext`); `host_users`
/// is the pod's `hostUsers` (true unless set to false).
pub fn validate_container_security_context(
    sc: Option<&SecurityContext>,
    host_users: bool,
    path: &FieldPath,
) -> FieldErrors {
    let mut errs = FieldErrors::default();
    let Some(sc) = sc else {
        return errs;
    };
    id_range(&mut errs, path.child("runAsUser"), sc.run_as_user);
    id_range(&mut errs, path.child("runAsGroup"), sc.run_as_group);
    if let Some(pm) = sc.proc_mount.as_deref() {
        if !matches!(pm, "Default" | "Unmasked") {
            errs.push(FieldError::not_supported(
                path.child("procMount"),
                pm,
                &["Default", "Unmasked"],
            ));
        }
        if host_users && pm == "Unmasked" {
            errs.push(FieldError::invalid(
                path.child("procMount"),
                pm,
                "`hostUsers` must be false to use `Unmasked`",
            ));
        }
    }
    errs.extend(seccomp(
        sc.seccomp_profile.as_ref(),
        &path.child("seccompProfile"),
    ));
    if sc.allow_privilege_escalation == Some(false) {
        let whole = |detail: &str| {
            FieldError::new(
                crate::ErrorType::Invalid,
                path.clone(),
                json_repr(sc),
                detail,
            )
        };
        if sc.privileged == Some(true) {
            errs.push(whole(
                "cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
            ));
        }
        let adds = sc.capabilities.as_ref().and_then(|c| c.add.as_ref());
        if adds.into_iter().flatten().any(|c| c == "CAP_SYS_ADMIN") {
            errs.push(whole(
                "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN",
            ));
        }
    }
    errs.extend(apparmor(
        sc.app_armor_profile.as_ref(),
        &path.child("appArmorProfile"),
    ));
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(v: serde_json::Value) -> PodSpec {
        serde_json::from_value(v).unwrap()
    }

    fn texts(e: FieldErrors) -> Vec<String> {
        e.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn pod_level_rules() {
        let s = spec(serde_json::json!({
            "containers": [],
            "hostNetwork": true, "hostPID": true, "shareProcessNamespace": true,
            "hostUsers": false,
            "securityContext": {
                "runAsUser": -1, "supplementalGroups": [1, 4294967296i64],
                "supplementalGroupsPolicy": "Loose",
                "seccompProfile": {"type": "Localhost", "localhostProfile": "../etc/x"},
                "appArmorProfile": {"type": "Localhost"}
            }
        }));
        assert_eq!(
            texts(validate_pod_security_context(&s, &FieldPath::new("spec"))),
            vec![
                "spec.securityContext.runAsUser: Invalid value: -1: must be between 0 and 2147483647, inclusive",
                "spec.securityContext.supplementalGroups[1]: Invalid value: 4294967296: must be between 0 and 2147483647, inclusive",
                "spec.securityContext.supplementalGroupsPolicy: Unsupported value: \"Loose\": supported values: \"Merge\", \"Strict\"",
                "spec.securityContext.shareProcessNamespace: Invalid value: true: ShareProcessNamespace and HostPID cannot both be enabled",
                "spec.securityContext.seccompProfile.localhostProfile: Invalid value: \"../etc/x\": must not contain '..'",
                "spec.securityContext.appArmorProfile.localhostProfile: Required value: must be set when AppArmor type is Localhost",
                "spec.hostNetwork: Forbidden: when `pod.Spec.HostUsers` is false",
                "spec.HostPID: Forbidden: when `pod.Spec.HostUsers` is false",
            ]
        );
    }

    #[test]
    fn sysctl_names_are_checked_as_upstream() {
        let s = spec(serde_json::json!({
            "containers": [], "hostNetwork": true, "hostIPC": true,
            "securityContext": {"sysctls": [
                {"name": "foo-", "value": "bar"}, {"name": "bar..", "value": "x"},
                {"name": "", "value": "x"}, {"name": "kernel.shmmax", "value": "1"},
                {"name": "kernel.shmmax", "value": "1"}, {"name": "net/ipv4/x", "value": "1"},
                {"name": "kernel.panic", "value": "1"}
            ]}
        }));
        let re = crate::sysctl::NAME_REGEX;
        assert_eq!(
            texts(validate_pod_security_context(&s, &FieldPath::new("spec"))),
            vec![
                format!("spec.securityContext.sysctls[0].name: Invalid value: \"foo-\": must have at most 253 characters and match regex {re}"),
                format!("spec.securityContext.sysctls[1].name: Invalid value: \"bar..\": must have at most 253 characters and match regex {re}"),
                "spec.securityContext.sysctls[2].name: Required value".into(),
                "spec.securityContext.sysctls[3].name: Invalid value: \"kernel.shmmax\": may not be specified when 'hostIPC' is true".into(),
                "spec.securityContext.sysctls[4].name: Duplicate value: \"kernel.shmmax\"".into(),
                "spec.securityContext.sysctls[4].name: Invalid value: \"kernel.shmmax\": may not be specified when 'hostIPC' is true".into(),
                "spec.securityContext.sysctls[5].name: Invalid value: \"net/ipv4/x\": may not be specified when 'hostNetwork' is true".into(),
            ]
        );
    }

    #[test]
    fn container_level_rules() {
        let sc: SecurityContext = serde_json::from_value(serde_json::json!({
            "procMount": "Unmasked", "privileged": true, "allowPrivilegeEscalation": false,
            "seccompProfile": {"type": "RuntimeDefault", "localhostProfile": "x.json"},
            "appArmorProfile": {"type": "Sometimes"}
        }))
        .unwrap();
        let got = texts(validate_container_security_context(
            Some(&sc),
            true,
            &FieldPath::new("spec")
                .child("containers")
                .index(0)
                .child("securityContext"),
        ));
        assert_eq!(got.len(), 4, "{got:#?}");
        assert_eq!(
            got[0],
            "spec.containers[0].securityContext.procMount: Invalid value: \"Unmasked\": `hostUsers` must be false to use `Unmasked`"
        );
        assert!(got[1].starts_with(
            "spec.containers[0].securityContext.seccompProfile.localhostProfile: Invalid value: {"
        ));
        assert!(got[1].ends_with("can only be set when seccomp type is Localhost"));
        assert!(got[2].ends_with(
            ": cannot set `allowPrivilegeEscalation` to false and `privileged` to true"
        ));
        assert_eq!(
            got[3],
            "spec.containers[0].securityContext.appArmorProfile.type: Unsupported value: \"Sometimes\": supported values: \"Localhost\", \"RuntimeDefault\", \"Unconfined\""
        );
        assert!(
            validate_container_security_context(Some(&sc), false, &FieldPath::new("c"))
                .iter()
                .all(|e| !e.field.as_str().contains("procMount"))
        );
        assert!(
            local_descending_path("/abs", &FieldPath::new("p"))
                .iter()
                .count()
                == 1
        );
    }
}
