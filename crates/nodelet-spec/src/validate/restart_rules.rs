//! Container-level `restartPolicy` and `restartPolicyRules` as the API
//! server validates them with ContainerRestartRules and
//! RestartAllContainersOnContainerExits on (both default-on in v1.37):
//! `validateContainerRestartPolicy` and
//! `validateInitContainerRestartPolicy`, with upstream's texts.

use k8s_openapi::api::core::v1::ContainerRestartRule;

use crate::{FieldError, FieldErrors, FieldPath};

/// Container policies (`sets.List` order: sorted).
const POLICIES: &[&str] = &["Always", "Never", "OnFailure"];
/// Rule actions with RestartAllContainersOnContainerExits.
const ACTIONS: &[&str] = &["Restart", "RestartAllContainers"];
const OPERATORS: &[&str] = &["In", "NotIn"];
const MAX_RULES: usize = 20;
const MAX_EXIT_CODES: usize = 255;

/// `validateContainerRestartPolicy`: regular containers, classic init
/// containers and sidecars.
pub fn validate_container_restart_policy(
    policy: Option<&str>,
    rules: Option<&[ContainerRestartRule]>,
    path: &FieldPath,
) -> FieldErrors {
    let mut errs = FieldErrors::default();
    let rules = rules.unwrap_or(&[]);
    match policy {
        None if rules.is_empty() => return errs,
        None => errs.push(FieldError::required(
            path.child("restartPolicy"),
            "must specify restartPolicy when restart rules are used",
        )),
        Some(p) if !POLICIES.contains(&p) => errs.push(FieldError::not_supported(
            path.child("restartPolicy"),
            p,
            POLICIES,
        )),
        Some(_) => {}
    }
    let rules_path = path.child("restartPolicyRules");
    if rules.len() > MAX_RULES {
        errs.push(too_many(rules_path.clone(), rules.len(), MAX_RULES));
    }
    for (i, rule) in rules.iter().enumerate() {
        let rule_path = rules_path.index(i);
        if !ACTIONS.contains(&rule.action.as_str()) {
            errs.push(FieldError::not_supported(
                rule_path.child("action"),
                rule.action.as_str(),
                ACTIONS,
            ));
        }
        let Some(codes) = &rule.exit_codes else {
            errs.push(FieldError::required(
                rule_path.child("exitCodes"),
                "must be specified",
            ));
            continue;
        };
        let codes_path = rule_path.child("exitCodes");
        if !OPERATORS.contains(&codes.operator.as_str()) {
            errs.push(FieldError::not_supported(
                codes_path.child("operator"),
                codes.operator.as_str(),
                OPERATORS,
            ));
        }
        let n = codes.values.as_ref().map_or(0, Vec::len);
        if n > MAX_EXIT_CODES {
            errs.push(too_many(codes_path.child("values"), n, MAX_EXIT_CODES));
        }
    }
    errs
}

/// `validateInitContainerRestartPolicy`: no policy means a classic init
/// container (rules then need one); `Always` (a sidecar) may have rules
/// too since RestartAllContainersOnContainerExits.
pub fn validate_init_restart_policy(
    policy: Option<&str>,
    rules: Option<&[ContainerRestartRule]>,
    path: &FieldPath,
) -> FieldErrors {
    let mut errs = FieldErrors::default();
    if policy.is_none() {
        if rules.is_some_and(|r| !r.is_empty()) {
            errs.push(FieldError::required(
                path.child("restartPolicy"),
                "must specify restartPolicy when restart rules are used",
            ));
        }
        return errs;
    }
    errs.extend(validate_container_restart_policy(policy, rules, path));
    errs
}

/// `field.TooMany`: `Too many: <n>: must have at most <max> items`.
fn too_many(path: FieldPath, actual: usize, max: usize) -> FieldError {
    FieldError::new(
        crate::ErrorType::TooMany,
        path,
        Some(actual.to_string()),
        format!("must have at most {max} items"),
    )
}
