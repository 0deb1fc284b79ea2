//! Baseline checks on confinement profiles: AppArmor (fields and the
//! deprecated annotations), SELinux options, and seccomp (annotations up
//! to v1.18, fields from v1.19): overriding the runtime's confinement with
//! `Unconfined` or a custom SELinux user/role is forbidden.

use k8s_openapi::api::core::v1::{PodSpec, SELinuxOptions};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{
    Check, CheckResult, Versioned, containers, containers_phrase, join_quote, pluralize, sorted_set,
};
use crate::podsecurity::api::Level;

const APPARMOR_ANNOTATION_PREFIX: &str = "container.apparmor.security.beta.kubernetes.io/";

pub static APP_ARMOR_PROFILE: Check = Check {
    id: "appArmorProfile",
    level: Level::Baseline,
    versions: &[Versioned {
        min_minor: 0,
        check: app_armor_profile,
        overrides: &[],
    }],
};

fn allowed_apparmor_type(t: &str) -> bool {
    matches!(t, "RuntimeDefault" | "Localhost")
}

fn app_armor_profile(meta: &ObjectMeta, spec: &PodSpec) -> CheckResult {
    let mut setters = Vec::new();
    let mut values = Vec::new();
    if let Some(p) = spec
        .security_context
        .as_ref()
        .and_then(|s| s.app_armor_profile.as_ref())
        && !allowed_apparmor_type(&p.type_)
    {
        setters.push("pod".to_string());
        values.push(p.type_.clone());
    }
    let mut bad = Vec::new();
    for c in containers(spec) {
        if let Some(p) = c.sc.and_then(|s| s.app_armor_profile.as_ref())
            && !allowed_apparmor_type(&p.type_)
        {
            bad.push(c.name.to_string());
            values.push(p.type_.clone());
        }
    }
    if !bad.is_empty() {
        setters.push(containers_phrase(&bad));
    }
    let mut values = sorted_set(values);
    let mut annotations: Vec<String> = meta
        .annotations
        .iter()
        .flatten()
        .filter(|(k, v)| {
            k.starts_with(APPARMOR_ANNOTATION_PREFIX)
                && !(v.is_empty() || *v == "runtime/default" || v.starts_with("localhost/"))
        })
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect();
    if !annotations.is_empty() {
        annotations.sort();
        setters.push(pluralize("annotation", "annotations", annotations.len()).to_string());
        values.extend(annotations);
    }
    if setters.is_empty() {
        return CheckResult::allowed();
    }
    CheckResult::forbidden(
        pluralize(
            "forbidden AppArmor profile",
            "forbidden AppArmor profiles",
            values.len(),
        ),
        format!(
            "{} must not set AppArmor profile type to {}",
            setters.join(" and "),
            join_quote(&values)
        ),
    )
}

pub static SE_LINUX_OPTIONS: Check = Check {
    id: "seLinuxOptions",
    level: Level::Baseline,
    versions: &[
        Versioned {
            min_minor: 0,
            check: se_linux_1_0,
            overrides: &[],
        },
        Versioned {
            min_minor: 31,
            check: se_linux_1_31,
            overrides: &[],
        },
    ],
};

fn se_linux_1_0(meta: &ObjectMeta, spec: &PodSpec) -> CheckResult {
    se_linux(
        meta,
        spec,
        &["", "container_t", "container_init_t", "container_kvm_t"],
    )
}

fn se_linux_1_31(meta: &ObjectMeta, spec: &PodSpec) -> CheckResult {
    se_linux(
        meta,
        spec,
        &[
            "",
            "container_t",
            "container_init_t",
            "container_kvm_t",
            "container_engine_t",
        ],
    )
}

fn se_linux(_: &ObjectMeta, spec: &PodSpec, allowed: &[&str]) -> CheckResult {
    let mut bad_types = Vec::new();
    let mut set_user = false;
    let mut set_role = false;
    let mut valid = |o: &SELinuxOptions| {
        let mut ok = true;
        let t = o.type_.as_deref().unwrap_or("");
        if !allowed.contains(&t) {
            ok = false;
            bad_types.push(t.to_string());
        }
        if o.user.as_deref().is_some_and(|u| !u.is_empty()) {
            ok = false;
            set_user = true;
        }
        if o.role.as_deref().is_some_and(|r| !r.is_empty()) {
            ok = false;
            set_role = true;
        }
        ok
    };
    let mut setters = Vec::new();
    if let Some(o) = spec
        .security_context
        .as_ref()
        .and_then(|s| s.se_linux_options.as_ref())
        && !valid(o)
    {
        setters.push("pod".to_string());
    }
    let mut bad = Vec::new();
    for c in containers(spec) {
        if let Some(o) = c.sc.and_then(|s| s.se_linux_options.as_ref())
            && !valid(o)
        {
            bad.push(c.name.to_string());
        }
    }
    if !bad.is_empty() {
        setters.push(containers_phrase(&bad));
    }
    if setters.is_empty() {
        return CheckResult::allowed();
    }
    let bad_types = sorted_set(bad_types);
    let mut data = Vec::new();
    // As upstream: user/role are only mentioned next to a bad type.
    if !bad_types.is_empty() {
        data.push(format!(
            "{} {}",
            pluralize("type", "types", bad_types.len()),
            join_quote(&bad_types)
        ));
        if set_user {
            data.push("user may not be set".to_string());
        }
        if set_role {
            data.push("role may not be set".to_string());
        }
    }
    CheckResult::forbidden(
        "seLinuxOptions",
        format!(
            "{} set forbidden securityContext.seLinuxOptions: {}",
            setters.join(" and "),
            data.join("; ")
        ),
    )
}

const SECCOMP_POD_ANNOTATION: &str = "seccomp.security.alpha.kubernetes.io/pod";
const SECCOMP_CONTAINER_PREFIX: &str = "container.seccomp.security.alpha.kubernetes.io/";

pub static SECCOMP_PROFILE_BASELINE: Check = Check {
    id: "seccompProfile_baseline",
    level: Level::Baseline,
    versions: &[
        Versioned {
            min_minor: 0,
            check: seccomp_baseline_1_0,
            overrides: &[],
        },
        Versioned {
            min_minor: 19,
            check: seccomp_baseline_1_19,
            overrides: &[],
        },
    ],
};

pub fn valid_seccomp_type(t: &str) -> bool {
    matches!(t, "Localhost" | "RuntimeDefault")
}

fn valid_seccomp_annotation(v: &str) -> bool {
    v == "runtime/default" || v == "docker/default" || v.starts_with("localhost/")
}

fn seccomp_baseline_1_0(meta: &ObjectMeta, spec: &PodSpec) -> CheckResult {
    let ann = meta.annotations.clone().unwrap_or_default();
    let mut bad = Vec::new();
    if let Some(v) = ann.get(SECCOMP_POD_ANNOTATION)
        && !valid_seccomp_annotation(v)
    {
        bad.push(format!("{SECCOMP_POD_ANNOTATION}={v:?}"));
    }
    for c in containers(spec) {
        let key = format!("{SECCOMP_CONTAINER_PREFIX}{}", c.name);
        if let Some(v) = ann.get(&key)
            && !valid_seccomp_annotation(v)
        {
            bad.push(format!("{key}={v:?}"));
        }
    }
    if bad.is_empty() {
        return CheckResult::allowed();
    }
    let bad = sorted_set(bad);
    CheckResult::forbidden(
        "seccompProfile",
        format!(
            "forbidden {} {}",
            pluralize("annotation", "annotations", bad.len()),
            bad.join(", ")
        ),
    )
}

fn seccomp_baseline_1_19(_: &ObjectMeta, spec: &PodSpec) -> CheckResult {
    let mut setters = Vec::new();
    let mut values = Vec::new();
    if let Some(p) = spec
        .security_context
        .as_ref()
        .and_then(|s| s.seccomp_profile.as_ref())
        && !valid_seccomp_type(&p.type_)
    {
        setters.push("pod".to_string());
        values.push(p.type_.clone());
    }
    let mut bad = Vec::new();
    for c in containers(spec) {
        if let Some(p) = c.sc.and_then(|s| s.seccomp_profile.as_ref())
            && !valid_seccomp_type(&p.type_)
        {
            bad.push(c.name.to_string());
            values.push(p.type_.clone());
        }
    }
    if !bad.is_empty() {
        setters.push(containers_phrase(&bad));
    }
    if setters.is_empty() {
        return CheckResult::allowed();
    }
    CheckResult::forbidden(
        "seccompProfile",
        format!(
            "{} must not set securityContext.seccompProfile.type to {}",
            setters.join(" and "),
            join_quote(&sorted_set(values))
        ),
    )
}
