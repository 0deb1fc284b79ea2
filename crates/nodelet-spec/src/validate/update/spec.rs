//! `ValidatePodUpdate`: the spec fields an update may change — container
//! and init container images, `activeDeadlineSeconds` (set, or lowered),
//! `tolerations` (additions; `tolerationSeconds` of existing ones),
//! `terminationGracePeriodSeconds` (to 1 when it was negative) and
//! `schedulingGates` (removals) — checked one by one, then every other
//! difference reported as one `Forbidden` error with `cmp.Diff`'s report.

use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, Toleration};

use super::godiff::pod_spec_diff;
use super::meta::{validate_annotation_updates, validate_meta_update};
use crate::validate::{names, validate_pod};
use crate::{ErrorType, FieldError, FieldErrors, FieldPath};

/// The list the API server prints in its "may not change" error.
pub const UPDATABLE_POD_SPEC_FIELDS: [&str; 5] = [
    "`spec.containers[*].image`",
    "`spec.initContainers[*].image`",
    "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
];

/// Every error of updating `old` to `new` (both defaulted; `new` already
/// through [`super::prepare_update`]), in the API server's order.
pub fn validate_pod_update(new: &Pod, old: &Pod) -> FieldErrors {
    let mut errs = validate_meta_update(&new.metadata, &old.metadata);
    errs.extend(validate_pod(new));
    errs.extend(validate_annotation_updates(new, old));
    let empty = PodSpec::default();
    let new_spec = new.spec.as_ref().unwrap_or(&empty);
    let old_spec = old.spec.as_ref().unwrap_or(&empty);
    let path = FieldPath::new("spec");

    if container_updates(
        &mut errs,
        &new_spec.containers,
        &old_spec.containers,
        &path.child("containers"),
    ) {
        return errs;
    }
    if container_updates(
        &mut errs,
        new_spec.init_containers.as_deref().unwrap_or(&[]),
        old_spec.init_containers.as_deref().unwrap_or(&[]),
        &path.child("initContainers"),
    ) {
        return errs;
    }

    let deadline = path.child("activeDeadlineSeconds");
    match (
        new_spec.active_deadline_seconds,
        old_spec.active_deadline_seconds,
    ) {
        (Some(new_d), old_d) => {
            if !(0..=i64::from(i32::MAX)).contains(&new_d) {
                errs.push(FieldError::invalid(
                    deadline,
                    new_d,
                    names::inclusive_range_error(0, i32::MAX.into()),
                ));
                return errs;
            }
            if let Some(old_d) = old_d
                && old_d < new_d
            {
                errs.push(FieldError::invalid(
                    deadline,
                    new_d,
                    "must be less than or equal to previous value",
                ));
                return errs;
            }
        }
        (None, Some(_)) => errs.push(FieldError::new(
            ErrorType::Invalid,
            deadline,
            Some("\"null\"".into()),
            "must not update from a positive integer to nil value",
        )),
        (None, None) => {}
    }

    errs.extend(only_added_tolerations(
        new_spec.tolerations.as_deref().unwrap_or(&[]),
        old_spec.tolerations.as_deref().unwrap_or(&[]),
        &path.child("tolerations"),
    ));
    errs.extend(only_deleted_scheduling_gates(new_spec, old_spec, &path));

    if new_spec == old_spec {
        return errs;
    }
    let munged = munge(new_spec, old_spec);
    let old_json = serde_json::to_value(old_spec).unwrap_or_default();
    let munged_json = serde_json::to_value(&munged).unwrap_or_default();
    if old_json != munged_json {
        let diff = pod_spec_diff(&old_json, &munged_json);
        errs.push(FieldError::forbidden(
            path,
            format!(
                "pod updates may not change fields other than {}\n{diff}",
                UPDATABLE_POD_SPEC_FIELDS.join(",")
            ),
        ));
    }
    errs
}

/// `ValidateContainerUpdates`; `true` means stop (containers were added or
/// removed, nothing else is worth comparing).
fn container_updates(
    errs: &mut FieldErrors,
    new: &[Container],
    old: &[Container],
    path: &FieldPath,
) -> bool {
    if new.len() != old.len() {
        errs.push(FieldError::forbidden(
            path.clone(),
            "pod updates may not add or remove containers",
        ));
        return true;
    }
    for (i, c) in new.iter().enumerate() {
        let image = c.image.as_deref().unwrap_or("");
        let p = path.index(i).child("image");
        if image.is_empty() {
            errs.push(FieldError::required(p.clone(), ""));
        }
        if image.trim() != image {
            errs.push(FieldError::invalid(
                p,
                image,
                "must not have leading or trailing whitespace",
            ));
        }
    }
    false
}

/// `validateOnlyAddedTolerations`: every existing toleration must still be
/// there (its `tolerationSeconds` may change).
fn only_added_tolerations(new: &[Toleration], old: &[Toleration], path: &FieldPath) -> FieldErrors {
    let mut errs = FieldErrors::default();
    for o in old {
        let kept = new.iter().any(|n| {
            let mut o = o.clone();
            o.toleration_seconds = n.toleration_seconds;
            &o == n
        });
        if !kept {
            errs.push(FieldError::forbidden(
                path.clone(),
                "existing toleration can not be modified except its tolerationSeconds",
            ));
            return errs;
        }
    }
    errs
}

/// `validateOnlyDeletedSchedulingGates`.
fn only_deleted_scheduling_gates(new: &PodSpec, old: &PodSpec, path: &FieldPath) -> FieldErrors {
    let mut errs = FieldErrors::default();
    let old_gates = old.scheduling_gates.as_deref().unwrap_or(&[]);
    for (i, g) in new.scheduling_gates.iter().flatten().enumerate() {
        if !old_gates.iter().any(|o| o.name == g.name) {
            errs.push(FieldError::forbidden(
                path.child("schedulingGates").index(i).child("name"),
                format!(
                    "only deletion is allowed, but found new scheduling gate '{}'",
                    g.name
                ),
            ));
        }
    }
    errs
}

/// The new spec with every field an update may change set back to the old
/// value (`mungedPodSpec`).
fn munge(new: &PodSpec, old: &PodSpec) -> PodSpec {
    let mut m = new.clone();
    for (c, o) in m.containers.iter_mut().zip(&old.containers) {
        c.image.clone_from(&o.image);
    }
    if let (Some(init), Some(old_init)) = (m.init_containers.as_mut(), old.init_containers.as_ref())
    {
        for (c, o) in init.iter_mut().zip(old_init) {
            c.image.clone_from(&o.image);
        }
    }
    m.active_deadline_seconds = old.active_deadline_seconds;
    m.scheduling_gates.clone_from(&old.scheduling_gates);
    m.tolerations.clone_from(&old.tolerations);
    if old.termination_grace_period_seconds.is_some_and(|g| g < 0)
        && m.termination_grace_period_seconds == Some(1)
    {
        m.termination_grace_period_seconds = old.termination_grace_period_seconds;
    }
    m
}
