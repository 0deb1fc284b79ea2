//! Which updates of a pod the API server accepts (`ValidatePodUpdate`,
//! `ValidatePodResize`), with its exact messages.

use k8s_openapi::api::core::v1::Pod;
use nodelet_spec::validate::update::{
    prepare_resize, prepare_update, validate_pod_resize, validate_pod_update,
};
use serde_json::{Value, json};

fn pod(v: Value) -> Pod {
    let mut p: Pod = serde_json::from_value(v).unwrap();
    nodelet_spec::defaults::default_pod(&mut p);
    p
}

fn base() -> Value {
    json!({
        "metadata": {"name": "p", "namespace": "default", "uid": "u1",
                     "labels": {"app": "web"}, "generation": 1},
        "spec": {"containers": [{"name": "c", "image": "nodelet.local/busybox",
                                 "command": ["sleep", "3600"]}]}
    })
}

/// The error strings of updating `base()` by `edit`.
fn update(edit: impl FnOnce(&mut Value)) -> Vec<String> {
    let old = pod(base());
    let mut v = base();
    edit(&mut v);
    let mut new = pod(v);
    prepare_update(&mut new, &old);
    validate_pod_update(&new, &old)
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn metadata_and_images_may_change() {
    assert!(
        update(|v| {
            v["metadata"]["labels"]["time"] = json!("123");
            v["metadata"]["annotations"] = json!({"a": "b"});
            v["metadata"]["finalizers"] = json!(["example.com/f"]);
            v["spec"]["containers"][0]["image"] = json!("nodelet.local/other");
        })
        .is_empty()
    );
}

#[test]
fn other_spec_fields_are_forbidden_with_the_diff() {
    let errs = update(|v| v["spec"]["containers"][0]["command"] = json!(["sh"]));
    assert_eq!(errs.len(), 1, "{errs:?}");
    let e = &errs[0];
    assert!(
        e.starts_with(
            "spec: Forbidden: pod updates may not change fields other than \
             `spec.containers[*].image`,`spec.initContainers[*].image`,\
             `spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing \
             tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it \
             was previously negative)\n  core.PodSpec{\n"
        ),
        "{e}"
    );
    assert!(
        e.contains("- \t\t\t\t\"sleep\",\n- \t\t\t\t\"3600\",\n+ \t\t\t\t\"sh\",\n"),
        "{e}"
    );
    // An image change alongside is munged away: not in the diff.
    let errs = update(|v| {
        v["spec"]["containers"][0]["command"] = json!(["sh"]);
        v["spec"]["containers"][0]["image"] = json!("nodelet.local/other");
    });
    assert!(!errs[0].contains("nodelet.local/other"), "{errs:?}");
}

#[test]
fn containers_cannot_be_added_or_removed() {
    let errs = update(|v| {
        v["spec"]["containers"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "d", "image": "i"}));
    });
    assert_eq!(
        errs,
        ["spec.containers: Forbidden: pod updates may not add or remove containers"]
    );
}

#[test]
fn active_deadline_may_be_set_or_lowered() {
    let with = |d: Value| {
        let mut b = base();
        b["spec"]["activeDeadlineSeconds"] = d;
        b
    };
    let check = |old: Value, new: Value| -> Vec<String> {
        let old = pod(with(old));
        let mut n = pod(with(new));
        prepare_update(&mut n, &old);
        validate_pod_update(&n, &old)
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    assert!(check(Value::Null, json!(5)).is_empty());
    assert!(check(json!(30), json!(5)).is_empty());
    assert_eq!(
        check(json!(5), json!(10)),
        [
            "spec.activeDeadlineSeconds: Invalid value: 10: must be less than or equal to previous value"
        ]
    );
    assert_eq!(
        check(json!(5), Value::Null),
        [
            "spec.activeDeadlineSeconds: Invalid value: \"null\": must not update from a positive integer to nil value"
        ]
    );
}

#[test]
fn tolerations_only_grow() {
    let t = json!({"key": "k", "operator": "Equal", "value": "v", "effect": "NoExecute",
                   "tolerationSeconds": 10});
    let with = |ts: Value| {
        let mut b = base();
        b["spec"]["tolerations"] = ts;
        b
    };
    let check = |old: Value, new: Value| -> Vec<String> {
        let old = pod(with(old));
        let mut n = pod(with(new));
        prepare_update(&mut n, &old);
        validate_pod_update(&n, &old)
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    let mut longer = t.clone();
    longer["tolerationSeconds"] = json!(20);
    let other = json!({"key": "x", "operator": "Exists"});
    assert!(check(json!([t]), json!([t, other])).is_empty());
    assert!(check(json!([t]), json!([longer])).is_empty());
    let mut changed = t.clone();
    changed["value"] = json!("w");
    assert_eq!(
        check(json!([t]), json!([changed])),
        [
            "spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds"
        ]
    );
}

#[test]
fn scheduling_gates_only_shrink() {
    let errs = update(|v| v["spec"]["schedulingGates"] = json!([{"name": "example.com/gate"}]));
    assert_eq!(
        errs,
        [
            "spec.schedulingGates[0].name: Forbidden: only deletion is allowed, but found new scheduling gate 'example.com/gate'"
        ]
    );
}

#[test]
fn grace_period_is_immutable() {
    let errs = update(|v| v["spec"]["terminationGracePeriodSeconds"] = json!(5));
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].contains(
            "- \tTerminationGracePeriodSeconds: &30,\n+ \tTerminationGracePeriodSeconds: &5,\n"
        ),
        "{}",
        errs[0]
    );
}

#[test]
fn identity_is_immutable_and_server_fields_kept() {
    let old = pod(base());
    let mut v = base();
    v["metadata"]["name"] = json!("q");
    v["metadata"]["uid"] = json!("");
    v["metadata"]["generation"] = json!(7);
    let mut new = pod(v);
    new.metadata.uid = None;
    prepare_update(&mut new, &old);
    assert_eq!(new.metadata.uid.as_deref(), Some("u1"));
    // A client cannot set the generation; an unchanged spec keeps it.
    assert_eq!(new.metadata.generation, Some(1));
    let errs: Vec<String> = validate_pod_update(&new, &old)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        errs,
        ["metadata.name: Invalid value: \"q\": field is immutable"]
    );
}

#[test]
fn a_spec_change_bumps_the_generation() {
    let old = pod(base());
    let mut v = base();
    v["spec"]["containers"][0]["image"] = json!("nodelet.local/other");
    let mut new = pod(v);
    prepare_update(&mut new, &old);
    assert_eq!(new.metadata.generation, Some(2));
}

#[test]
fn mirror_pod_annotation_is_fixed() {
    let errs =
        update(|v| v["metadata"]["annotations"] = json!({"kubernetes.io/config.mirror": "x"}));
    assert!(
        errs.contains(
            &"metadata.annotations[kubernetes.io/config.mirror]: Forbidden: may not add mirror pod annotation"
                .to_string()
        ),
        "{errs:?}"
    );
}

fn resizable() -> Value {
    json!({
        "metadata": {"name": "r", "namespace": "default", "uid": "u2", "generation": 1},
        "spec": {"containers": [{"name": "c", "image": "i",
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"},
                          "limits": {"cpu": "200m", "memory": "128Mi"}},
            "resizePolicy": [{"resourceName": "memory", "restartPolicy": "RestartContainer"}]}],
            "initContainers": [{"name": "init", "image": "i",
                "resources": {"requests": {"cpu": "100m"}}}]}
    })
}

fn resize(edit: impl FnOnce(&mut Value)) -> (Pod, Vec<String>) {
    let old = pod(resizable());
    let mut v = resizable();
    edit(&mut v);
    let new = prepare_resize(&pod(v), &old);
    let errs = validate_pod_resize(&new, &old)
        .iter()
        .map(ToString::to_string)
        .collect();
    (new, errs)
}

#[test]
fn resize_takes_only_container_resources() {
    let (new, errs) = resize(|v| {
        v["spec"]["containers"][0]["resources"]["limits"]["memory"] = json!("256Mi");
        v["spec"]["containers"][0]["image"] = json!("ignored");
        v["metadata"]["labels"] = json!({"ignored": "too"});
    });
    assert!(errs.is_empty(), "{errs:?}");
    let c = &new.spec.as_ref().unwrap().containers[0];
    assert_eq!(c.image.as_deref(), Some("i"));
    assert_eq!(
        c.resources.as_ref().unwrap().limits.as_ref().unwrap()["memory"].0,
        "256Mi"
    );
    assert!(new.metadata.labels.is_none());
    assert_eq!(new.metadata.generation, Some(2));
}

#[test]
fn resize_keeps_qos_and_requirements() {
    let (_, errs) = resize(|v| {
        v["spec"]["containers"][0]["resources"] = json!({});
    });
    assert!(
        errs.contains(&"spec.containers[0].resources.requests: Forbidden: resource requests cannot be removed".to_string()),
        "{errs:?}"
    );
    assert!(
        errs.contains(
            &"spec.containers[0].resources.limits: Forbidden: resource limits cannot be removed"
                .to_string()
        ),
        "{errs:?}"
    );
    // A Guaranteed pod whose requests drop below its limits would become
    // Burstable.
    let guaranteed = || {
        json!({"metadata": {"name": "g", "namespace": "default", "uid": "u3"},
               "spec": {"containers": [{"name": "c", "image": "i", "resources": {
                   "limits": {"cpu": "200m", "memory": "128Mi"}}}]}})
    };
    let old = pod(guaranteed());
    let mut v = guaranteed();
    v["spec"]["containers"][0]["resources"]["requests"] = json!({"cpu": "100m", "memory": "128Mi"});
    let new = prepare_resize(&pod(v), &old);
    let errs: Vec<String> = validate_pod_resize(&new, &old)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        errs,
        ["spec: Invalid value: \"\": Pod QOS Class may not change as a result of resizing"]
    );
}

#[test]
fn resize_of_other_resources_or_init_containers_is_forbidden() {
    let (_, errs) = resize(|v| {
        v["spec"]["containers"][0]["resources"]["limits"]["ephemeral-storage"] = json!("1Gi");
    });
    assert_eq!(
        errs,
        ["spec: Forbidden: only cpu and memory resources are mutable"]
    );
    let (_, errs) = resize(|v| {
        v["spec"]["initContainers"][0]["resources"]["requests"]["cpu"] = json!("200m");
    });
    assert_eq!(
        errs,
        ["spec: Forbidden: resources for non-sidecar init containers are immutable"]
    );
    let (_, errs) = resize(|v| {
        v["spec"]["containers"][0]["resizePolicy"][0]["restartPolicy"] = json!("NotRequired");
    });
    assert_eq!(
        errs,
        ["spec: Forbidden: only cpu and memory resources are mutable"]
    );
    let (_, errs) = resize(|v| {
        v["spec"]["containers"][0]["resources"]["requests"]["cpu"] = json!("300m");
    });
    assert_eq!(
        errs,
        [
            "spec.containers[0].resources.requests: Invalid value: \"300m\": must be less than or equal to cpu limit of 200m"
        ]
    );
}

#[test]
fn resize_policy_is_validated_on_create() {
    let mut v = resizable();
    v["spec"]["restartPolicy"] = json!("Never");
    v["spec"]["containers"][0]["resizePolicy"] = json!([{"resourceName": "memory", "restartPolicy": "RestartContainer"},
               {"resourceName": "memory", "restartPolicy": "NotRequired"},
               {"resourceName": "gpu", "restartPolicy": "Sometimes"}]);
    let errs: Vec<String> = nodelet_spec::validate::validate_pod(&pod(v))
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        errs,
        [
            "spec.containers[0].resizePolicy: Invalid value: \"RestartContainer\": must be 'NotRequired' when `restartPolicy` is 'Never'",
            "spec.containers[0].resizePolicy[1]: Duplicate value: \"memory\"",
            "spec.containers[0].resizePolicy: Unsupported value: \"gpu\": supported values: \"cpu\", \"memory\"",
            "spec.containers[0].resizePolicy: Unsupported value: \"Sometimes\": supported values: \"NotRequired\", \"RestartContainer\"",
            "spec.containers[0].resizePolicy: Invalid value: \"Sometimes\": must be 'NotRequired' when `restartPolicy` is 'Never'",
        ]
    );
}
