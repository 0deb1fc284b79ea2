//! The `pods/{name}/ephemeralcontainers` subresource's rules
//! (`podEphemeralContainersStrategy` and `ValidatePodEphemeralContainersUpdate`):
//! a write takes only `spec.ephemeralContainers` from the request; debug
//! containers can be added, never changed or removed, and not to a static
//! pod's mirror.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::{EphemeralContainer, Pod, PodSpec};

use super::meta::{MIRROR_POD_ANNOTATION, validate_annotation_updates, validate_meta_update};
use crate::validate::validate_pod;
use crate::{FieldError, FieldErrors, FieldPath};

/// `dropNonEphemeralContainerUpdates` + `updatePodGeneration`: the stored
/// pod with the request's ephemeral containers (its resourceVersion and uid
/// kept as preconditions); the generation moves on when they changed.
pub fn prepare_ephemeral(new: &Pod, old: &Pod) -> Pod {
    let mut pod = old.clone();
    pod.metadata.resource_version = new.metadata.resource_version.clone();
    pod.metadata.uid = new.metadata.uid.clone().or(pod.metadata.uid);
    let requested = new
        .spec
        .as_ref()
        .and_then(|s| s.ephemeral_containers.clone());
    pod.spec
        .get_or_insert_with(PodSpec::default)
        .ephemeral_containers = requested;
    if pod.spec != old.spec {
        pod.metadata.generation = Some(old.metadata.generation.unwrap_or(0) + 1);
    }
    pod
}

/// Every error of `new` (from [`prepare_ephemeral`]) replacing `old`.
pub fn validate_pod_ephemeral_update(new: &Pod, old: &Pod) -> FieldErrors {
    let mut errs = validate_meta_update(&new.metadata, &old.metadata);
    errs.extend(validate_pod(new));
    errs.extend(validate_annotation_updates(new, old));
    if old
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(MIRROR_POD_ANNOTATION))
    {
        let mut only = FieldErrors::default();
        only.push(FieldError::forbidden(
            FieldPath::new(""),
            "static pods do not support ephemeral containers",
        ));
        return only;
    }
    let list = |p: &Pod| -> Vec<EphemeralContainer> {
        p.spec
            .as_ref()
            .and_then(|s| s.ephemeral_containers.clone())
            .unwrap_or_default()
    };
    let (new_list, old_list) = (list(new), list(old));
    let by_name: HashMap<&str, &EphemeralContainer> =
        new_list.iter().map(|c| (c.name.as_str(), c)).collect();
    let path = FieldPath::new("spec").child("ephemeralContainers");
    for o in &old_list {
        match by_name.get(o.name.as_str()) {
            None => errs.push(FieldError::forbidden(
                path.clone(),
                format!(
                    "existing ephemeral containers {:?} may not be removed\n",
                    o.name
                ),
            )),
            Some(n) if *n != o => errs.push(FieldError::forbidden(
                path.clone(),
                format!(
                    "existing ephemeral containers {:?} may not be changed\n{}",
                    o.name,
                    field_diff(o, n)
                ),
            )),
            Some(_) => {}
        }
    }
    errs
}

/// The fields that differ, `-` old and `+` new (the API server prints a
/// `cmp.Diff` of the two structs here; the facts are the same).
fn field_diff(old: &EphemeralContainer, new: &EphemeralContainer) -> String {
    let as_map = |c: &EphemeralContainer| match serde_json::to_value(c) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    let (o, n) = (as_map(old), as_map(new));
    let mut keys: Vec<&String> = o.keys().chain(n.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut out = String::new();
    for k in keys {
        let (a, b) = (o.get(k), n.get(k));
        if a == b {
            continue;
        }
        if let Some(a) = a {
            out.push_str(&format!("-\t{k}: {a}\n"));
        }
        if let Some(b) = b {
            out.push_str(&format!("+\t{k}: {b}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(v: serde_json::Value) -> Pod {
        let p: Pod = serde_json::from_value(v).expect("valid pod");
        let mut obj = crate::Object::Pod(Box::new(p));
        crate::defaults::default_object(&mut obj);
        match obj {
            crate::Object::Pod(b) => *b,
            _ => unreachable!("a pod stays a pod"),
        }
    }

    fn base(ephemeral: serde_json::Value) -> Pod {
        pod(serde_json::json!({
            "metadata": {"name": "p", "namespace": "default", "uid": "u1", "generation": 1,
                         "resourceVersion": "5"},
            "spec": {"containers": [{"name": "app", "image": "busybox"}],
                     "ephemeralContainers": ephemeral}
        }))
    }

    fn messages(errs: &FieldErrors) -> Vec<String> {
        errs.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn adding_one_bumps_the_generation_and_ignores_other_changes() {
        let old = base(serde_json::json!([]));
        let mut req = base(serde_json::json!([{"name": "debugger", "image": "busybox",
                                                 "targetContainerName": "app"}]));
        req.spec.as_mut().expect("spec").containers[0].image = Some("other".into());
        let new = prepare_ephemeral(&req, &old);
        assert_eq!(new.metadata.generation, Some(2));
        assert_eq!(
            new.spec.as_ref().expect("spec").containers[0]
                .image
                .as_deref(),
            Some("busybox"),
            "only ephemeral containers are taken from the request"
        );
        assert!(validate_pod_ephemeral_update(&new, &old).is_empty());
    }

    #[test]
    fn existing_ones_can_be_neither_removed_nor_changed() {
        let old = base(serde_json::json!([{"name": "d1", "image": "busybox"}]));
        let removed = prepare_ephemeral(&base(serde_json::json!([])), &old);
        assert_eq!(
            messages(&validate_pod_ephemeral_update(&removed, &old)),
            vec![
                "spec.ephemeralContainers: Forbidden: existing ephemeral containers \"d1\" may not be removed\n"
            ]
        );
        let changed = prepare_ephemeral(
            &base(serde_json::json!([{"name": "d1", "image": "agnhost"}])),
            &old,
        );
        let errs = messages(&validate_pod_ephemeral_update(&changed, &old));
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].starts_with(
                "spec.ephemeralContainers: Forbidden: existing ephemeral containers \"d1\" may not be changed\n"
            ) && errs[0].contains("-\timage: \"busybox\"\n+\timage: \"agnhost\""),
            "{errs:?}"
        );
    }

    /// What `kubectl debug` sends: `resources: {}` is no resources.
    #[test]
    fn kubectl_debugs_empty_resources_are_none() {
        let old = base(serde_json::json!([]));
        let new = prepare_ephemeral(
            &base(
                serde_json::json!([{"name": "debugger-x", "image": "busybox",
                "resources": {}, "terminationMessagePolicy": "File",
                "imagePullPolicy": "IfNotPresent", "stdin": true, "tty": true}]),
            ),
            &old,
        );
        assert!(validate_pod_ephemeral_update(&new, &old).is_empty());
        let limited = prepare_ephemeral(
            &base(serde_json::json!([{"name": "d", "image": "busybox",
                "resources": {"limits": {}}}])),
            &old,
        );
        assert_eq!(
            messages(&validate_pod_ephemeral_update(&limited, &old)),
            vec![
                "spec.ephemeralContainers[0].resources: Forbidden: cannot be set for an Ephemeral Container"
            ]
        );
    }

    #[test]
    fn a_target_must_be_a_container_of_the_pod() {
        let old = base(serde_json::json!([]));
        let new = prepare_ephemeral(
            &base(serde_json::json!([{"name": "d", "image": "busybox",
                                       "targetContainerName": "nope"}])),
            &old,
        );
        assert_eq!(
            messages(&validate_pod_ephemeral_update(&new, &old)),
            vec!["spec.ephemeralContainers[0].targetContainerName: Not found: \"nope\""]
        );
    }

    #[test]
    fn static_pods_take_none() {
        let mut old = base(serde_json::json!([]));
        old.metadata.annotations =
            Some([(MIRROR_POD_ANNOTATION.to_owned(), "x".to_owned())].into());
        let mut req = base(serde_json::json!([{"name": "d", "image": "busybox"}]));
        req.metadata.annotations = old.metadata.annotations.clone();
        let new = prepare_ephemeral(&req, &old);
        assert_eq!(
            messages(&validate_pod_ephemeral_update(&new, &old)),
            vec![": Forbidden: static pods do not support ephemeral containers"]
        );
    }
}
