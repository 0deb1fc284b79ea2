//! The restricted level's own checks: no privilege escalation, all
//! capabilities dropped (NET_BIND_SERVICE may be added back), only
//! non-host volume types, non-root users, and a seccomp profile. Windows
//! pods are exempt from the Linux-only ones from v1.25.

use k8s_openapi::api::core::v1::{PodSpec, Volume};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::profiles::valid_seccomp_type;
use super::{
    Check, CheckResult, Versioned, containers, containers_phrase, is_windows, join_quote,
    pluralize, sorted_set,
};
use crate::podsecurity::api::Level;

pub static ALL: [&Check; 6] = [
    &ALLOW_PRIVILEGE_ESCALATION,
    &CAPABILITIES_RESTRICTED,
    &RESTRICTED_VOLUMES,
    &RUN_AS_NON_ROOT,
    &RUN_AS_USER,
    &SECCOMP_PROFILE_RESTRICTED,
];

pub static ALLOW_PRIVILEGE_ESCALATION: Check = Check {
    id: "allowPrivilegeEscalation",
    level: Level::Restricted,
    versions: &[
        Versioned {
            min_minor: 8,
            check: allow_privilege_escalation,
            overrides: &[],
        },
        Versioned {
            min_minor: 25,
            check: |m, s| {
                if is_windows(s) {
                    CheckResult::allowed()
                } else {
                    allow_privilege_escalation(m, s)
                }
            },
            overrides: &[],
        },
    ],
};

fn allow_privilege_escalation(_: &ObjectMeta, spec: &PodSpec) -> CheckResult {
    let bad: Vec<String> = containers(spec)
        .iter()
        .filter(|c| c.sc.and_then(|s| s.allow_privilege_escalation) != Some(false))
        .map(|c| c.name.to_string())
        .collect();
    if bad.is_empty() {
        return CheckResult::allowed();
    }
    CheckResult::forbidden(
        "allowPrivilegeEscalation != false",
        format!(
            "{} must set securityContext.allowPrivilegeEscalation=false",
            containers_phrase(&bad)
        ),
    )
}

pub static CAPABILITIES_RESTRICTED: Check = Check {
    id: "capabilities_restricted",
    level: Level::Restricted,
    versions: &[
        Versioned {
            min_minor: 22,
            check: capabilities_restricted,
            overrides: &["capabilities_baseline"],
        },
        Versioned {
            min_minor: 25,
            check: |m, s| {
                if is_windows(s) {
                    CheckResult::allowed()
                } else {
                    capabilities_restricted(m, s)
                }
            },
            overrides: &["capabilities_baseline"],
        },
    ],
};

fn capabilities_restricted(_: &ObjectMeta, spec: &PodSpec) -> CheckResult {
    let mut missing_drop = Vec::new();
    let mut adding = Vec::new();
    let mut forbidden = Vec::new();
    for c in containers(spec) {
        let caps = c.sc.and_then(|s| s.capabilities.as_ref());
        let drops_all = caps
            .and_then(|c| c.drop.as_ref())
            .is_some_and(|d| d.iter().any(|x| x == "ALL"));
        if !drops_all {
            missing_drop.push(c.name.to_string());
        }
        let mut bad = false;
        for a in caps.and_then(|c| c.add.as_ref()).into_iter().flatten() {
            if a != "NET_BIND_SERVICE" {
                bad = true;
                forbidden.push(a.clone());
            }
        }
        if bad {
            adding.push(c.name.to_string());
        }
    }
    let mut details = Vec::new();
    if !missing_drop.is_empty() {
        details.push(format!(
            "{} must set securityContext.capabilities.drop=[\"ALL\"]",
            containers_phrase(&missing_drop)
        ));
    }
    if !adding.is_empty() {
        details.push(format!(
            "{} must not include {} in securityContext.capabilities.add",
            containers_phrase(&adding),
            join_quote(&sorted_set(forbidden))
        ));
    }
    if details.is_empty() {
        return CheckResult::allowed();
    }
    CheckResult::forbidden("unrestricted capabilities", details.join("; "))
}

pub static RESTRICTED_VOLUMES: Check = Check {
    id: "restrictedVolumes",
    level: Level::Restricted,
    versions: &[Versioned {
        min_minor: 0,
        check: restricted_volumes,
        overrides: &["hostPathVolumes"],
    }],
};

/// The volume type a non-allowed volume uses (upstream's names).
fn restricted_type(v: &Volume) -> Option<&'static str> {
    let allowed = v.config_map.is_some()
        || v.csi.is_some()
        || v.downward_api.is_some()
        || v.empty_dir.is_some()
        || v.ephemeral.is_some()
        || v.persistent_volume_claim.is_some()
        || v.projected.is_some()
        || v.secret.is_some();
    if allowed {
        return None;
    }
    let t = [
        (v.host_path.is_some(), "hostPath"),
        (v.gce_persistent_disk.is_some(), "gcePersistentDisk"),
        (v.aws_elastic_block_store.is_some(), "awsElasticBlockStore"),
        (v.git_repo.is_some(), "gitRepo"),
        (v.nfs.is_some(), "nfs"),
        (v.iscsi.is_some(), "iscsi"),
        (v.glusterfs.is_some(), "glusterfs"),
        (v.rbd.is_some(), "rbd"),
        (v.flex_volume.is_some(), "flexVolume"),
        (v.cinder.is_some(), "cinder"),
        (v.cephfs.is_some(), "cephfs"),
        (v.flocker.is_some(), "flocker"),
        (v.fc.is_some(), "fc"),
        (v.azure_file.is_some(), "azureFile"),
        (v.vsphere_volume.is_some(), "vsphereVolume"),
        (v.quobyte.is_some(), "quobyte"),
        (v.azure_disk.is_some(), "azureDisk"),
        (v.photon_persistent_disk.is_some(), "photonPersistentDisk"),
        (v.portworx_volume.is_some(), "portworxVolume"),
        (v.scale_io.is_some(), "scaleIO"),
        (v.storageos.is_some(), "storageos"),
        (v.image.is_some(), "image"),
    ]
    .into_iter()
    .find_map(|(set, name)| set.then_some(name))
    .unwrap_or("unknown");
    Some(t)
}

fn restricted_volumes(_: &ObjectMeta, spec: &PodSpec) -> CheckResult {
    let mut bad = Vec::new();
    let mut types = Vec::new();
    for v in spec.volumes.iter().flatten() {
        if let Some(t) = restricted_type(v) {
            bad.push(v.name.clone());
            types.push(t.to_string());
        }
    }
    if bad.is_empty() {
        return CheckResult::allowed();
    }
    let types = sorted_set(types);
    CheckResult::forbidden(
        "restricted volume types",
        format!(
            "{} {} {} {} {}",
            pluralize("volume", "volumes", bad.len()),
            join_quote(&bad),
            pluralize("uses", "use", bad.len()),
            pluralize(
                "restricted volume type",
                "restricted volume types",
                types.len()
            ),
            join_quote(&types)
        ),
    )
}

pub static RUN_AS_NON_ROOT: Check = Check {
    id: "runAsNonRoot",
    level: Level::Restricted,
    versions: &[Versioned {
        min_minor: 0,
        check: run_as_non_root,
        overrides: &[],
    }],
};

fn run_as_non_root(_: &ObjectMeta, spec: &PodSpec) -> CheckResult {
    let mut setters = Vec::new();
    let mut pod_true = false;
    match spec
        .security_context
        .as_ref()
        .and_then(|s| s.run_as_non_root)
    {
        Some(false) => setters.push("pod".to_string()),
        Some(true) => pod_true = true,
        None => {}
    }
    let mut explicit = Vec::new();
    let mut implicit = Vec::new();
    for c in containers(spec) {
        match c.sc.and_then(|s| s.run_as_non_root) {
            Some(false) => explicit.push(c.name.to_string()),
            Some(true) => {}
            None if !pod_true => implicit.push(c.name.to_string()),
            None => {}
        }
    }
    if !explicit.is_empty() {
        setters.push(containers_phrase(&explicit));
    }
    if !setters.is_empty() {
        return CheckResult::forbidden(
            "runAsNonRoot != true",
            format!(
                "{} must not set securityContext.runAsNonRoot=false",
                setters.join(" and ")
            ),
        );
    }
    if !implicit.is_empty() {
        return CheckResult::forbidden(
            "runAsNonRoot != true",
            format!(
                "pod or {} must set securityContext.runAsNonRoot=true",
                containers_phrase(&implicit)
            ),
        );
    }
    CheckResult::allowed()
}

pub static RUN_AS_USER: Check = Check {
    id: "runAsUser",
    level: Level::Restricted,
    versions: &[Versioned {
        min_minor: 23,
        check: run_as_user,
        overrides: &[],
    }],
};

fn run_as_user(_: &ObjectMeta, spec: &PodSpec) -> CheckResult {
    let mut setters = Vec::new();
    if spec.security_context.as_ref().and_then(|s| s.run_as_user) == Some(0) {
        setters.push("pod".to_string());
    }
    let bad: Vec<String> = containers(spec)
        .iter()
        .filter(|c| c.sc.and_then(|s| s.run_as_user) == Some(0))
        .map(|c| c.name.to_string())
        .collect();
    if !bad.is_empty() {
        setters.push(containers_phrase(&bad));
    }
    if setters.is_empty() {
        return CheckResult::allowed();
    }
    CheckResult::forbidden(
        "runAsUser=0",
        format!("{} must not set runAsUser=0", setters.join(" and ")),
    )
}

pub static SECCOMP_PROFILE_RESTRICTED: Check = Check {
    id: "seccompProfile_restricted",
    level: Level::Restricted,
    versions: &[
        Versioned {
            min_minor: 19,
            check: seccomp_restricted,
            overrides: &["seccompProfile_baseline"],
        },
        Versioned {
            min_minor: 25,
            check: |m, s| {
                if is_windows(s) {
                    CheckResult::allowed()
                } else {
                    seccomp_restricted(m, s)
                }
            },
            overrides: &["seccompProfile_baseline"],
        },
    ],
};

fn seccomp_restricted(_: &ObjectMeta, spec: &PodSpec) -> CheckResult {
    let mut setters = Vec::new();
    let mut values = Vec::new();
    let mut pod_set = false;
    if let Some(p) = spec
        .security_context
        .as_ref()
        .and_then(|s| s.seccomp_profile.as_ref())
    {
        if valid_seccomp_type(&p.type_) {
            pod_set = true;
        } else {
            setters.push("pod".to_string());
            values.push(p.type_.clone());
        }
    }
    let mut explicit = Vec::new();
    let mut implicit = Vec::new();
    for c in containers(spec) {
        match c.sc.and_then(|s| s.seccomp_profile.as_ref()) {
            Some(p) if !valid_seccomp_type(&p.type_) => {
                explicit.push(c.name.to_string());
                values.push(p.type_.clone());
            }
            Some(_) => {}
            None if !pod_set => implicit.push(c.name.to_string()),
            None => {}
        }
    }
    if !explicit.is_empty() {
        setters.push(containers_phrase(&explicit));
    }
    if !setters.is_empty() {
        return CheckResult::forbidden(
            "seccompProfile",
            format!(
                "{} must not set securityContext.seccompProfile.type to {}",
                setters.join(" and "),
                join_quote(&sorted_set(values))
            ),
        );
    }
    if !implicit.is_empty() {
        return CheckResult::forbidden(
            "seccompProfile",
            format!(
                "pod or {} must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\"",
                containers_phrase(&implicit)
            ),
        );
    }
    CheckResult::allowed()
}
