use serde_json::json;

use super::pod_spec_diff;

fn spec(containers: serde_json::Value) -> serde_json::Value {
    json!({
        "containers": containers,
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "securityContext": {},
        "schedulerName": "default-scheduler",
        "enableServiceLinks": true,
    })
}

fn ctr(extra: serde_json::Value) -> serde_json::Value {
    let mut c = json!({
        "name": "c",
        "image": "nodelet.local/busybox",
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "imagePullPolicy": "IfNotPresent",
    });
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

#[test]
fn equal_specs_have_no_diff() {
    let s = spec(json!([ctr(json!({}))]));
    assert_eq!(pod_spec_diff(&s, &s), "");
}

#[test]
fn changed_command_is_shown_in_context() {
    let old = spec(json!([ctr(json!({"command": ["sleep", "3600"]}))]));
    let new = spec(json!([ctr(json!({"command": ["sh"]}))]));
    let want = concat!(
        "  core.PodSpec{\n",
        "  \tVolumes:        nil,\n",
        "  \tInitContainers: nil,\n",
        "  \tContainers: []core.Container{\n",
        "  \t\t{\n",
        "  \t\t\tName:  \"c\",\n",
        "  \t\t\tImage: \"nodelet.local/busybox\",\n",
        "  \t\t\tCommand: []string{\n",
        "- \t\t\t\t\"sleep\",\n",
        "- \t\t\t\t\"3600\",\n",
        "+ \t\t\t\t\"sh\",\n",
        "  \t\t\t},\n",
        "  \t\t\tArgs:       nil,\n",
        "  \t\t\tWorkingDir: \"\",\n",
        "  \t\t\t... // 20 identical fields\n",
        "  \t\t},\n",
        "  \t},\n",
        "  \tEphemeralContainers: nil,\n",
        "  \tRestartPolicy:       \"Always\",\n",
        "  \t... // 30 identical fields\n",
        "  }\n",
    );
    assert_eq!(pod_spec_diff(&old, &new), want);
}

#[test]
fn nil_to_value_is_a_removed_and_an_inserted_line() {
    let old = spec(json!([ctr(json!({}))]));
    let new = spec(json!([ctr(json!({"command": ["sh", "-c", "sleep 1"]}))]));
    let d = pod_spec_diff(&old, &new);
    // Keys of neighbouring one-line records are aligned, changes included.
    assert!(d.contains("- \t\t\tCommand:    nil,\n"), "{d}");
    assert!(
        d.contains("+ \t\t\tCommand:    []string{\"sh\", \"-c\", \"sleep 1\"},\n"),
        "{d}"
    );
    assert!(
        d.contains("  \t\t\tImage:      \"nodelet.local/busybox\",\n"),
        "{d}"
    );
}

#[test]
fn pointer_scalars_and_host_namespaces() {
    let mut old = spec(json!([ctr(json!({}))]));
    let mut new = old.clone();
    new["terminationGracePeriodSeconds"] = json!(10);
    new["hostNetwork"] = json!(true);
    old["hostNetwork"] = json!(false);
    let d = pod_spec_diff(&old, &new);
    assert!(
        d.contains("- \tTerminationGracePeriodSeconds: &30,\n"),
        "{d}"
    );
    assert!(
        d.contains("+ \tTerminationGracePeriodSeconds: &10,\n"),
        "{d}"
    );
    // hostNetwork lives in the internal PodSecurityContext.
    assert!(
        d.contains("  \tSecurityContext: &core.PodSecurityContext{\n"),
        "{d}"
    );
    assert!(d.contains("- \t\tHostNetwork: false,\n"), "{d}");
    assert!(d.contains("+ \t\tHostNetwork: true,\n"), "{d}");
}

#[test]
fn resources_print_quantities_and_resource_names() {
    let old = spec(json!([ctr(
        json!({"resources": {"limits": {"memory": "64Mi"}}})
    )]));
    let new = spec(json!([ctr(
        json!({"resources": {"limits": {"memory": "128Mi"}}})
    )]));
    let d = pod_spec_diff(&old, &new);
    assert!(d.contains("Resources: core.ResourceRequirements{\n"), "{d}");
    // A one-entry map whose value changed is a chain: printed as -/+.
    assert!(
        d.contains(
            "- \t\t\t\tLimits:   core.ResourceList{s\"memory\": {i: {...}, s: \"64Mi\", Format: \"BinarySI\"}},\n"
        ),
        "{d}"
    );
    assert!(d.contains("  \t\t\t\tRequests: nil,\n"), "{d}");
}
