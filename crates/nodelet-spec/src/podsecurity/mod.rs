//! Pod Security admission, the API server's `PodSecurity` plugin
//! (`k8s.io/pod-security-admission`), as pure functions: the checks of the
//! `baseline` and `restricted` Pod Security Standards per policy version
//! ([`checks`]), the namespace labels that select them ([`api`]), and the
//! admission decision with upstream's texts: the enforce denial
//! (`violates PodSecurity "baseline:latest": ...`), `Warning` texts
//! (`would violate PodSecurity ...`) and audit annotations.

pub mod api;
pub mod checks;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

pub use api::{Level, LevelVersion, Policy, Version, policy_to_evaluate};
pub use checks::CheckResult;

/// Audit annotation keys the plugin adds (prefixed as the API server does).
pub const ENFORCE_POLICY_ANNOTATION: &str = "pod-security.kubernetes.io/enforce-policy";
pub const AUDIT_VIOLATIONS_ANNOTATION: &str = "pod-security.kubernetes.io/audit-violations";
pub const EXEMPT_ANNOTATION: &str = "pod-security.kubernetes.io/exempt";

/// The results of every failed check (`AggregateCheckResult`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Aggregate {
    pub reasons: Vec<String>,
    pub details: Vec<String>,
}

impl Aggregate {
    pub fn allowed(&self) -> bool {
        self.reasons.is_empty()
    }

    /// `host ports, privileged`
    pub fn forbidden_reason(&self) -> String {
        self.reasons.join(", ")
    }

    /// `host namespaces (hostNetwork=true), privileged (container "c" must not ...)`
    pub fn forbidden_detail(&self) -> String {
        self.reasons
            .iter()
            .zip(&self.details)
            .map(|(r, d)| {
                if d.is_empty() {
                    r.clone()
                } else {
                    format!("{r} ({d})")
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Evaluates a pod's metadata and spec at a level and version.
pub fn evaluate(lv: LevelVersion, meta: &ObjectMeta, spec: &PodSpec) -> Aggregate {
    let minor = lv.version.effective_minor(checks::newest_minor());
    let mut agg = Aggregate::default();
    for (_, check) in checks::applicable(lv.level, minor) {
        let r = check(meta, spec);
        if !r.allowed {
            agg.reasons.push(if r.reason.is_empty() {
                "unknown forbidden reason".to_string()
            } else {
                r.reason
            });
            agg.details.push(r.detail);
        }
    }
    agg
}

/// Who and what is never checked (the admission configuration's
/// `exemptions`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exemptions {
    pub usernames: Vec<String>,
    pub namespaces: Vec<String>,
    pub runtime_classes: Vec<String>,
}

/// What admission decided about one pod.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    /// `violates PodSecurity "<enforce>": <details>` when the pod is refused
    /// (the API answers 403 `pods "<name>" is forbidden: <this>`).
    pub denied: Option<String>,
    /// Texts for `Warning:` response headers.
    pub warnings: Vec<String>,
    /// Annotations for the audit event.
    pub audit_annotations: BTreeMap<String, String>,
}

/// The plugin's pod decision (`EvaluatePod`): exemptions first, then the
/// namespace's enforce, audit and warn levels (each evaluated once per
/// distinct level and version).
pub fn admit_pod(
    namespace_labels: &BTreeMap<String, String>,
    defaults: Policy,
    exemptions: &Exemptions,
    username: &str,
    pod: &Pod,
) -> Decision {
    let mut d = Decision::default();
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let spec = pod.spec.clone().unwrap_or_default();
    let exempt = if exemptions.usernames.iter().any(|u| u == username) {
        Some("user")
    } else if exemptions.namespaces.iter().any(|n| n == namespace) {
        Some("namespace")
    } else if spec
        .runtime_class_name
        .as_deref()
        .is_some_and(|rc| exemptions.runtime_classes.iter().any(|x| x == rc))
    {
        Some("runtimeClass")
    } else {
        None
    };
    if let Some(why) = exempt {
        d.audit_annotations
            .insert(EXEMPT_ANNOTATION.to_string(), why.to_string());
        return d;
    }
    let (policy, _) = policy_to_evaluate(namespace_labels, defaults);
    d.audit_annotations.insert(
        ENFORCE_POLICY_ANNOTATION.to_string(),
        policy.enforce.to_string(),
    );
    if policy.fully_privileged() {
        return d;
    }
    let mut cache: Vec<(LevelVersion, Aggregate)> = Vec::new();
    let mut eval = |lv: LevelVersion| -> Aggregate {
        if let Some((_, a)) = cache.iter().find(|(k, _)| *k == lv) {
            return a.clone();
        }
        let a = evaluate(lv, &pod.metadata, &spec);
        cache.push((lv, a.clone()));
        a
    };
    let enforce = eval(policy.enforce);
    if !enforce.allowed() {
        d.denied = Some(format!(
            "violates PodSecurity {:?}: {}",
            policy.enforce.to_string(),
            enforce.forbidden_detail()
        ));
    }
    let audit = eval(policy.audit);
    if !audit.allowed() {
        d.audit_annotations.insert(
            AUDIT_VIOLATIONS_ANNOTATION.to_string(),
            format!(
                "would violate PodSecurity {:?}: {}",
                policy.audit.to_string(),
                audit.forbidden_detail()
            ),
        );
    }
    // No warnings on a request that is refused anyway.
    if d.denied.is_none() {
        let warn = eval(policy.warn);
        if !warn.allowed() {
            d.warnings.push(format!(
                "would violate PodSecurity {:?}: {}",
                policy.warn.to_string(),
                warn.forbidden_detail()
            ));
        }
    }
    d
}
