//! One test per rule of the container environment (reference §5) and the
//! kubelet behaviour it summarises.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Secret, Service};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use nodelet_spec::env::{
    EnvContext, EnvError, EnvVar, container_env, container_env_report, expand_command, service_env,
};
use nodelet_spec::hostname::{pod_hostname, pod_hostname_and_domain};
use serde_json::{Value, json};

fn pod(spec: Value) -> Pod {
    pod_named("web", spec)
}

fn pod_named(name: &str, spec: Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {
            "name": name, "namespace": "ns", "uid": "1234-abcd",
            "labels": {"app": "web", "tier": "front"},
            "annotations": {"example.com/owner": "team-a", "note": "say \"hi\""}
        },
        "spec": spec
    }))
    .unwrap()
}

/// A pod with one container `c` with the given container fields.
fn pod_with(container: Value) -> Pod {
    let mut c = json!({"name": "c", "image": "busybox"});
    c.as_object_mut()
        .unwrap()
        .extend(container.as_object().unwrap().clone());
    pod(json!({"containers": [c], "serviceAccountName": "builder", "nodeName": "node-1"}))
}

fn service(ns: &str, name: &str, ip: &str, ports: Value) -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": ns},
        "spec": {"clusterIP": ip, "ports": ports}
    }))
    .unwrap()
}

fn config_map(ns: &str, name: &str, data: Value) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name, "namespace": ns}, "data": data}))
        .unwrap()
}

fn secret(ns: &str, name: &str, data: Value, string_data: Value) -> Secret {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": ns}, "data": data, "stringData": string_data
    }))
    .unwrap()
}

fn first(pod: &Pod) -> &Container {
    &pod.spec.as_ref().unwrap().containers[0]
}

fn env_of(ctx: &EnvContext) -> Vec<(String, String)> {
    container_env(ctx, first(ctx.pod))
        .unwrap()
        .into_iter()
        .map(|v| (v.name, v.value))
        .collect()
}

fn get(env: &[(String, String)], name: &str) -> Option<String> {
    env.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

// ---------------------------------------------------------------- hostname

#[test]
fn hostname_is_pod_name_or_spec_hostname() {
    let p = pod(json!({"containers": []}));
    assert_eq!(pod_hostname(&p), "web");
    let p = pod(json!({"containers": [], "hostname": "custom"}));
    assert_eq!(pod_hostname(&p), "custom");
    // An empty spec.hostname is "unset".
    let p = pod(json!({"containers": [], "hostname": ""}));
    assert_eq!(pod_hostname(&p), "web");
}

/// The e2e "Override hostname of Pod" specs: the override wins over
/// `hostname` and `subdomain`, and there is no domain (`hostname -f` is it).
#[test]
fn hostname_override_wins_and_has_no_domain() {
    let p = pod(json!({"containers": [], "hostname": "h", "subdomain": "s",
        "hostnameOverride": "override.example"}));
    assert_eq!(pod_hostname(&p), "override.example");
    assert_eq!(
        pod_hostname_and_domain(&p, "cluster.local"),
        ("override.example".to_string(), None)
    );
}

#[test]
fn hostname_is_cut_to_63_chars_and_trailing_dash_or_dot_trimmed() {
    let long = "a".repeat(70);
    assert_eq!(
        pod_hostname(&pod_named(&long, json!({"containers": []}))),
        "a".repeat(63)
    );
    // Cut lands right after "-." : both trimmed.
    let name = format!("{}-.{}", "b".repeat(61), "c".repeat(10));
    assert_eq!(
        pod_hostname(&pod_named(&name, json!({"containers": []}))),
        "b".repeat(61)
    );
    // Exactly 63 is untouched, even ending in '-' (only cut names are trimmed).
    let name = format!("{}-", "d".repeat(62));
    assert_eq!(
        pod_hostname(&pod_named(&name, json!({"containers": []}))),
        name
    );
}

#[test]
fn subdomain_gives_a_cluster_domain() {
    let p = pod(json!({"containers": [], "subdomain": "sub"}));
    assert_eq!(
        pod_hostname_and_domain(&p, "cluster.local"),
        (
            "web".to_string(),
            Some("sub.ns.svc.cluster.local".to_string())
        )
    );
    let p = pod(json!({"containers": []}));
    assert_eq!(pod_hostname_and_domain(&p, "cluster.local").1, None);
}

// ---------------------------------------------------------------- fieldRef

fn field_env(path: &str) -> Result<Vec<EnvVar>, EnvError> {
    let p = pod_with(
        json!({"env": [{"name": "V", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": path}}}]}),
    );
    let host_ips = vec!["192.168.1.10".to_string(), "fd00::10".to_string()];
    let pod_ips = vec![
        "fd00:1::5".to_string(),
        "10.88.0.5".to_string(),
        "10.88.0.6".to_string(),
    ];
    let ctx = EnvContext {
        host_ips: &host_ips,
        pod_ips: &pod_ips,
        ..EnvContext::new(&p, "node-1")
    };
    container_env(&ctx, first(&p))
}

fn field(path: &str) -> String {
    let env = field_env(path).unwrap();
    env.iter().find(|v| v.name == "V").unwrap().value.clone()
}

#[test]
fn field_ref_metadata_paths() {
    assert_eq!(field("metadata.name"), "web");
    assert_eq!(field("metadata.namespace"), "ns");
    assert_eq!(field("metadata.uid"), "1234-abcd");
    assert_eq!(field("metadata.labels['tier']"), "front");
    assert_eq!(field("metadata.labels['missing']"), "");
    assert_eq!(field("metadata.annotations['example.com/owner']"), "team-a");
    // Whole maps (allowed in volumes upstream): sorted, Go-quoted lines.
    assert_eq!(field("metadata.labels"), "app=\"web\"\ntier=\"front\"");
    assert_eq!(
        field("metadata.annotations"),
        "example.com/owner=\"team-a\"\nnote=\"say \\\"hi\\\"\""
    );
}

#[test]
fn field_ref_spec_and_status_paths() {
    assert_eq!(field("spec.nodeName"), "node-1");
    assert_eq!(field("spec.host"), "node-1");
    assert_eq!(field("spec.serviceAccountName"), "builder");
    assert_eq!(field("status.hostIP"), "192.168.1.10");
    assert_eq!(field("status.hostIPs"), "192.168.1.10,fd00::10");
    // Pod IPs are reordered to the node's primary family first, one per family.
    assert_eq!(field("status.podIP"), "10.88.0.5");
    assert_eq!(field("status.podIPs"), "10.88.0.5,fd00:1::5");
}

#[test]
fn field_ref_pod_ips_empty_before_sandbox() {
    let p = pod_with(json!({"env": [
        {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "IPS", "valueFrom": {"fieldRef": {"fieldPath": "status.podIPs"}}}
    ]}));
    let ctx = EnvContext::new(&p, "node-1");
    assert_eq!(env_of(&ctx), pairs(&[("IP", ""), ("IPS", "")]));
}

#[test]
fn field_ref_node_name_falls_back_to_this_node() {
    let p = pod(json!({"containers": [{"name": "c", "env": [
        {"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "SA", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}}
    ]}]}));
    let ctx = EnvContext::new(&p, "this-node");
    assert_eq!(env_of(&ctx), pairs(&[("N", "this-node"), ("SA", "")]));
}

#[test]
fn field_ref_errors_are_the_kubelets() {
    let err = |path: &str| field_env(path).unwrap_err().to_string();
    assert_eq!(
        err("spec.containers"),
        "field label not supported: spec.containers"
    );
    assert_eq!(
        err("metadata.name['x']"),
        "field label does not support subscript: metadata.name['x']"
    );
    assert_eq!(
        err("spec.restartPolicy"),
        "unsupported fieldPath: spec.restartPolicy"
    );
    assert!(
        err("metadata.labels['-bad-']")
            .starts_with("invalid key subscript in metadata.labels['-bad-']: ")
    );

    let p = pod_with(
        json!({"env": [{"name": "V", "valueFrom": {"fieldRef": {"apiVersion": "v2", "fieldPath": "metadata.name"}}}]}),
    );
    let ctx = EnvContext::new(&p, "n");
    assert_eq!(
        container_env(&ctx, first(&p)).unwrap_err().to_string(),
        "unsupported pod version: v2"
    );

    let p = pod_with(
        json!({"env": [{"name": "V", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}}]}),
    );
    let ctx = EnvContext::new(&p, "n");
    assert_eq!(
        container_env(&ctx, first(&p)).unwrap_err(),
        EnvError::HostIpUnknown
    );
}

// ---------------------------------------------------------------- resourceFieldRef

fn resource_env(
    resources: Value,
    refs: Value,
    allocatable: Option<&BTreeMap<String, Quantity>>,
) -> Result<Vec<(String, String)>, EnvError> {
    let p = pod_with(json!({"resources": resources, "env": refs}));
    let ctx = EnvContext::new(&p, "n");
    container_env_report(&ctx, first(&p), allocatable)
        .map(|r| r.env)
        .map(|e| e.into_iter().map(|v| (v.name, v.value)).collect())
}

fn rref(name: &str, resource: &str, divisor: Option<&str>) -> Value {
    let mut r = json!({"resource": resource});
    if let Some(d) = divisor {
        r["divisor"] = json!(d);
    }
    json!({"name": name, "valueFrom": {"resourceFieldRef": r}})
}

#[test]
fn resource_field_ref_divides_and_rounds_up() {
    let resources = json!({
        "limits": {"cpu": "1250m", "memory": "64Mi", "ephemeral-storage": "1G", "hugepages-2Mi": "4Mi"},
        "requests": {"cpu": "250m", "memory": "1000", "ephemeral-storage": "1500"}
    });
    let env = resource_env(
        resources,
        json!([
            rref("CPU_LIMIT", "limits.cpu", None), // 1.25 cores -> 2
            rref("CPU_LIMIT_M", "limits.cpu", Some("1m")), // 1250
            rref("CPU_REQ", "requests.cpu", None), // 0.25 -> 1
            rref("CPU_REQ_100M", "requests.cpu", Some("100m")), // 2.5 -> 3
            rref("MEM_LIMIT", "limits.memory", None), // bytes
            rref("MEM_LIMIT_MI", "limits.memory", Some("1Mi")),
            rref("MEM_LIMIT_M", "limits.memory", Some("1M")), // 67.108864 -> 68
            rref("MEM_REQ_K", "requests.memory", Some("1k")), // 1
            rref("MEM_REQ_KI", "requests.memory", Some("1Ki")), // 0.97 -> 1
            rref("EPH_LIMIT_G", "limits.ephemeral-storage", Some("1G")),
            rref("EPH_REQ_K", "requests.ephemeral-storage", Some("1k")), // 1.5 -> 2
            rref("HUGE", "limits.hugepages-2Mi", Some("1Mi")),
            rref("ZERO_DIV", "limits.cpu", Some("0")), // zero divisor means 1
        ]),
        None,
    )
    .unwrap();
    assert_eq!(
        env,
        pairs(&[
            ("CPU_LIMIT", "2"),
            ("CPU_LIMIT_M", "1250"),
            ("CPU_REQ", "1"),
            ("CPU_REQ_100M", "3"),
            ("MEM_LIMIT", "67108864"),
            ("MEM_LIMIT_MI", "64"),
            ("MEM_LIMIT_M", "68"),
            ("MEM_REQ_K", "1"),
            ("MEM_REQ_KI", "1"),
            ("EPH_LIMIT_G", "1"),
            ("EPH_REQ_K", "2"),
            ("HUGE", "4"),
            ("ZERO_DIV", "2"),
        ])
    );
}

#[test]
fn resource_field_ref_unset_limit_uses_node_allocatable() {
    let allocatable: BTreeMap<String, Quantity> = [
        ("cpu".to_string(), Quantity("2".into())),
        ("memory".to_string(), Quantity("4Gi".into())),
    ]
    .into();
    let refs = json!([
        rref("CPU", "limits.cpu", None),
        rref("MEM", "limits.memory", Some("1Mi")),
        rref("EPH", "limits.ephemeral-storage", None),
        rref("REQ", "requests.cpu", Some("1m")),
    ]);
    let env = resource_env(json!({}), refs.clone(), Some(&allocatable)).unwrap();
    // Ephemeral storage is not in allocatable: stays 0, like upstream.
    assert_eq!(
        env,
        pairs(&[("CPU", "2"), ("MEM", "4096"), ("EPH", "0"), ("REQ", "0")])
    );
    // Without allocatable, unset limits read as 0.
    let env = resource_env(json!({}), refs, None).unwrap();
    assert_eq!(
        env,
        pairs(&[("CPU", "0"), ("MEM", "0"), ("EPH", "0"), ("REQ", "0")])
    );
}

#[test]
fn resource_field_ref_unset_limit_uses_pod_level_limit_first() {
    let allocatable: BTreeMap<String, Quantity> = [
        ("cpu".to_string(), Quantity("8".into())),
        ("memory".to_string(), Quantity("4Gi".into())),
        ("ephemeral-storage".to_string(), Quantity("100G".into())),
    ]
    .into();
    let p = pod(json!({
        "resources": {"limits": {"cpu": "1500m", "memory": "0"}},
        "containers": [{"name": "c", "env": [
            rref("CPU", "limits.cpu", None),
            rref("MEM", "limits.memory", Some("1Gi")),
            rref("EPH", "limits.ephemeral-storage", Some("1G")),
        ]}]
    }));
    let ctx = EnvContext::new(&p, "n");
    let env: Vec<(String, String)> = container_env_report(&ctx, first(&p), Some(&allocatable))
        .unwrap()
        .env
        .into_iter()
        .map(|v| (v.name, v.value))
        .collect();
    // A zero pod-level memory limit does not count; allocatable applies.
    assert_eq!(env, pairs(&[("CPU", "2"), ("MEM", "4"), ("EPH", "100")]));
    // Without allocatable, the pod-level cpu limit still applies.
    assert_eq!(
        env_of(&ctx),
        pairs(&[("CPU", "2"), ("MEM", "0"), ("EPH", "0")])
    );
}

#[test]
fn resource_field_ref_other_container_and_errors() {
    let p = pod(json!({"containers": [
        {"name": "c", "env": [{"name": "OTHER", "valueFrom": {"resourceFieldRef": {"containerName": "side", "resource": "limits.memory", "divisor": "1Mi"}}}]},
        {"name": "side", "resources": {"limits": {"memory": "128Mi"}}}
    ]}));
    let ctx = EnvContext::new(&p, "n");
    assert_eq!(env_of(&ctx), pairs(&[("OTHER", "128")]));

    let err = resource_env(json!({}), json!([rref("X", "limits.gpu", None)]), None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unsupported container resource : limits.gpu"
    );
    let err = resource_env(
        json!({"limits": {"cpu": "lots"}}),
        json!([rref("X", "limits.cpu", None)]),
        None,
    )
    .unwrap_err();
    assert!(matches!(err, EnvError::InvalidQuantity { .. }), "{err}");
    let p = pod_with(
        json!({"env": [{"name": "X", "valueFrom": {"resourceFieldRef": {"containerName": "nope", "resource": "limits.cpu"}}}]}),
    );
    let ctx = EnvContext::new(&p, "n");
    assert_eq!(
        container_env(&ctx, first(&p)).unwrap_err().to_string(),
        "container nope not found"
    );
}

// ---------------------------------------------------------------- configMapKeyRef / secretKeyRef

fn objects() -> (Vec<ConfigMap>, Vec<Secret>) {
    (
        vec![
            config_map("ns", "cfg", json!({"color": "blue", "size": "10"})),
            config_map("other", "elsewhere", json!({"k": "v"})),
        ],
        vec![secret(
            "ns",
            "creds",
            json!({"user": "YWRtaW4=", "pass": "b2xk"}),
            json!({"pass": "new"}),
        )],
    )
}

fn with_objects(p: &Pod) -> Result<Vec<(String, String)>, EnvError> {
    let (cms, secrets) = objects();
    let ctx = EnvContext {
        config_maps: &cms,
        secrets: &secrets,
        ..EnvContext::new(p, "n")
    };
    container_env(&ctx, first(p)).map(|e| e.into_iter().map(|v| (v.name, v.value)).collect())
}

#[test]
fn key_refs_resolve() {
    let p = pod_with(json!({"env": [
        {"name": "COLOR", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "color"}}},
        {"name": "USER", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "user"}}},
        // stringData overrides data, as the API server merges it.
        {"name": "PASS", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "pass"}}}
    ]}));
    assert_eq!(
        with_objects(&p).unwrap(),
        pairs(&[("COLOR", "blue"), ("USER", "admin"), ("PASS", "new")])
    );
}

#[test]
fn key_refs_optional_missing_leave_the_variable_unset() {
    let p = pod_with(json!({"env": [
        {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "x", "optional": true}}},
        {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "nokey", "optional": true}}},
        {"name": "C", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "x", "optional": true}}},
        {"name": "D", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "nokey", "optional": true}}},
        // Objects of other namespaces are invisible.
        {"name": "E", "valueFrom": {"configMapKeyRef": {"name": "elsewhere", "key": "k", "optional": true}}},
        {"name": "F", "value": "$(A)-$(B)"}
    ]}));
    assert_eq!(with_objects(&p).unwrap(), pairs(&[("F", "$(A)-$(B)")]));
}

#[test]
fn key_refs_required_missing_fail_with_kubelet_messages() {
    let case = |from: Value| {
        let p = pod_with(json!({"env": [{"name": "X", "valueFrom": from}]}));
        with_objects(&p).unwrap_err().to_string()
    };
    assert_eq!(
        case(json!({"configMapKeyRef": {"name": "nope", "key": "k"}})),
        "configmap \"nope\" not found"
    );
    assert_eq!(
        case(json!({"configMapKeyRef": {"name": "elsewhere", "key": "k"}})),
        "configmap \"elsewhere\" not found"
    );
    assert_eq!(
        case(json!({"configMapKeyRef": {"name": "cfg", "key": "k", "optional": false}})),
        "couldn't find key k in ConfigMap ns/cfg"
    );
    assert_eq!(
        case(json!({"secretKeyRef": {"name": "nope", "key": "k"}})),
        "secret \"nope\" not found"
    );
    assert_eq!(
        case(json!({"secretKeyRef": {"name": "creds", "key": "k"}})),
        "couldn't find key k in Secret ns/creds"
    );
}

// ---------------------------------------------------------------- envFrom

#[test]
fn env_from_prefix_order_and_precedence() {
    let p = pod_with(json!({
        "envFrom": [
            {"configMapRef": {"name": "cfg"}},
            {"secretRef": {"name": "creds"}, "prefix": "S_"},
            // Later source overwrites the earlier value, keeping its position.
            {"configMapRef": {"name": "cfg2"}},
            {"configMapRef": {"name": "absent", "optional": true}}
        ],
        "env": [
            {"name": "size", "value": "from-env"},
            {"name": "NEW", "value": "x"}
        ]
    }));
    let (mut cms, secrets) = objects();
    cms.push(config_map("ns", "cfg2", json!({"color": "red"})));
    let ctx = EnvContext {
        config_maps: &cms,
        secrets: &secrets,
        ..EnvContext::new(&p, "n")
    };
    let env: Vec<(String, String)> = container_env(&ctx, first(&p))
        .unwrap()
        .into_iter()
        .map(|v| (v.name, v.value))
        .collect();
    assert_eq!(
        env,
        pairs(&[
            ("color", "red"),
            ("size", "from-env"),
            ("S_pass", "new"),
            ("S_user", "admin"),
            ("NEW", "x"),
        ])
    );
}

#[test]
fn env_from_required_missing_fails() {
    let p = pod_with(json!({"envFrom": [{"secretRef": {"name": "gone"}}]}));
    assert_eq!(
        with_objects(&p).unwrap_err().to_string(),
        "secret \"gone\" not found"
    );
    let p = pod_with(json!({"envFrom": [{"configMapRef": {"name": "gone", "optional": false}}]}));
    assert_eq!(
        with_objects(&p).unwrap_err().to_string(),
        "configmap \"gone\" not found"
    );
}

#[test]
fn env_from_keys_that_cannot_be_env_names_are_skipped() {
    let p = pod_with(json!({"envFrom": [{"configMapRef": {"name": "odd"}}]}));
    let cms = vec![config_map(
        "ns",
        "odd",
        json!({"ok.key": "1", "bad=key": "2", "1digit": "3"}),
    )];
    let ctx = EnvContext {
        config_maps: &cms,
        ..EnvContext::new(&p, "n")
    };
    let report = container_env_report(&ctx, first(&p), None).unwrap();
    // Relaxed env names (dots, leading digits) are kept, as current kubelets do.
    let names: Vec<&str> = report.env.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["1digit", "ok.key"]);
    assert_eq!(report.skipped, ["bad=key"]);
}

// ---------------------------------------------------------------- $(VAR) expansion

#[test]
fn expansion_against_earlier_vars_and_escapes() {
    let p = pod_with(json!({"env": [
        {"name": "A", "value": "a"},
        {"name": "B", "value": "$(A)-b"},
        {"name": "LATER_REF", "value": "$(C)"},
        {"name": "C", "value": "c"},
        {"name": "UNDEF", "value": "$(NOPE)"},
        {"name": "ESC", "value": "$$(A) $$ $x $(A"},
        {"name": "EMPTY", "value": ""},
        {"name": "A", "value": "$(A)$(A)"}
    ]}));
    let ctx = EnvContext::new(&p, "n");
    assert_eq!(
        env_of(&ctx),
        pairs(&[
            ("A", "aa"),
            ("B", "a-b"),
            ("LATER_REF", "$(C)"),
            ("C", "c"),
            ("UNDEF", "$(NOPE)"),
            ("ESC", "$(A) $ $x $(A"),
            ("EMPTY", ""),
        ])
    );
}

#[test]
fn expansion_sees_env_from_and_service_vars() {
    let p = pod_with(json!({
        "envFrom": [{"configMapRef": {"name": "cfg"}}],
        "env": [
            {"name": "URL", "value": "http://$(DB_SERVICE_HOST):$(DB_SERVICE_PORT)/$(color)"},
            // A container var shadows the service var for later references.
            {"name": "DB_SERVICE_PORT", "value": "1"},
            {"name": "AFTER", "value": "$(DB_SERVICE_PORT)"}
        ]
    }));
    let services = vec![service("ns", "db", "10.0.0.9", json!([{"port": 5432}]))];
    let (cms, _) = objects();
    let ctx = EnvContext {
        services: &services,
        config_maps: &cms,
        ..EnvContext::new(&p, "n")
    };
    let env = env_of(&ctx);
    assert_eq!(get(&env, "URL").unwrap(), "http://10.0.0.9:5432/blue");
    assert_eq!(get(&env, "AFTER").unwrap(), "1");
    // The container's definition wins over the service variable.
    assert_eq!(
        env.iter().filter(|(n, _)| n == "DB_SERVICE_PORT").count(),
        1
    );
    assert_eq!(get(&env, "DB_SERVICE_PORT").unwrap(), "1");
}

#[test]
fn command_and_args_expand_against_the_final_env() {
    let p = pod_with(json!({
        "command": ["sh", "-c", "echo $(GREETING) $(KUBERNETES_SERVICE_HOST) $(MISSING) $$(GREETING)"],
        "args": ["$(LATE)"],
        "env": [
            {"name": "GREETING", "value": "hello"},
            {"name": "LATE", "value": "$(GREETING) world"}
        ]
    }));
    let services = vec![service(
        "default",
        "kubernetes",
        "10.96.0.1",
        json!([{"name": "https", "port": 443}]),
    )];
    let ctx = EnvContext {
        services: &services,
        ..EnvContext::new(&p, "n")
    };
    let env = container_env(&ctx, first(&p)).unwrap();
    let (command, args) = expand_command(first(&p), &env);
    assert_eq!(
        command.unwrap(),
        ["sh", "-c", "echo hello 10.96.0.1 $(MISSING) $(GREETING)"]
    );
    assert_eq!(args.unwrap(), ["hello world"]);

    let p = pod_with(json!({"command": []}));
    assert_eq!(expand_command(first(&p), &[]), (None, None));
}

// ---------------------------------------------------------------- service links

#[test]
fn service_link_variables_for_ports_names_and_protocols() {
    let p = pod_with(json!({}));
    let services = vec![service(
        "ns",
        "my-db",
        "10.0.0.5",
        json!([
            {"name": "sql", "port": 5432},
            {"name": "metrics-port", "port": 9187, "protocol": "UDP"},
            {"port": 53, "protocol": "SCTP"}
        ]),
    )];
    let ctx = EnvContext {
        services: &services,
        ..EnvContext::new(&p, "n")
    };
    let mut want = pairs(&[
        ("MY_DB_PORT", "tcp://10.0.0.5:5432"),
        ("MY_DB_PORT_5432_TCP", "tcp://10.0.0.5:5432"),
        ("MY_DB_PORT_5432_TCP_ADDR", "10.0.0.5"),
        ("MY_DB_PORT_5432_TCP_PORT", "5432"),
        ("MY_DB_PORT_5432_TCP_PROTO", "tcp"),
        ("MY_DB_PORT_53_SCTP", "sctp://10.0.0.5:53"),
        ("MY_DB_PORT_53_SCTP_ADDR", "10.0.0.5"),
        ("MY_DB_PORT_53_SCTP_PORT", "53"),
        ("MY_DB_PORT_53_SCTP_PROTO", "sctp"),
        ("MY_DB_PORT_9187_UDP", "udp://10.0.0.5:9187"),
        ("MY_DB_PORT_9187_UDP_ADDR", "10.0.0.5"),
        ("MY_DB_PORT_9187_UDP_PORT", "9187"),
        ("MY_DB_PORT_9187_UDP_PROTO", "udp"),
        ("MY_DB_SERVICE_HOST", "10.0.0.5"),
        ("MY_DB_SERVICE_PORT", "5432"),
        ("MY_DB_SERVICE_PORT_METRICS_PORT", "9187"),
        ("MY_DB_SERVICE_PORT_SQL", "5432"),
    ]);
    // Service variables are output sorted by name.
    want.sort();
    assert_eq!(env_of(&ctx), want);
    let via_service_env: Vec<(String, String)> = service_env(&ctx)
        .into_iter()
        .map(|v| (v.name, v.value))
        .collect();
    assert_eq!(via_service_env, want);
}

#[test]
fn service_links_bracket_ipv6_cluster_ips() {
    let p = pod_with(json!({}));
    let services = vec![service("ns", "v6", "fd00:10::1", json!([{"port": 80}]))];
    let ctx = EnvContext {
        services: &services,
        ..EnvContext::new(&p, "n")
    };
    let env = env_of(&ctx);
    assert_eq!(get(&env, "V6_PORT").unwrap(), "tcp://[fd00:10::1]:80");
    assert_eq!(get(&env, "V6_PORT_80_TCP_ADDR").unwrap(), "fd00:10::1");
    assert_eq!(get(&env, "V6_SERVICE_HOST").unwrap(), "fd00:10::1");
}

fn cluster_services() -> Vec<Service> {
    vec![
        service(
            "default",
            "kubernetes",
            "10.96.0.1",
            json!([{"name": "https", "port": 443}]),
        ),
        service(
            "default",
            "default-only",
            "10.96.0.2",
            json!([{"port": 80}]),
        ),
        service("ns", "mine", "10.96.0.3", json!([{"port": 81}])),
        service("ns", "headless", "None", json!([{"port": 82}])),
        service("ns", "pending", "", json!([{"port": 83}])),
        service("other", "theirs", "10.96.0.4", json!([{"port": 84}])),
    ]
}

fn service_hosts(p: &Pod, services: &[Service]) -> Vec<String> {
    let ctx = EnvContext {
        services,
        ..EnvContext::new(p, "n")
    };
    env_of(&ctx)
        .into_iter()
        .filter(|(n, _)| n.ends_with("_SERVICE_HOST"))
        .map(|(n, v)| format!("{n}={v}"))
        .collect()
}

#[test]
fn service_links_namespace_filtering_and_headless_skipped() {
    let p = pod_with(json!({}));
    assert_eq!(
        service_hosts(&p, &cluster_services()),
        [
            "KUBERNETES_SERVICE_HOST=10.96.0.1",
            "MINE_SERVICE_HOST=10.96.0.3",
        ]
    );
}

#[test]
fn enable_service_links_false_keeps_only_the_kubernetes_service() {
    let p = pod(json!({"enableServiceLinks": false, "containers": [{"name": "c"}]}));
    let services = cluster_services();
    assert_eq!(
        service_hosts(&p, &services),
        ["KUBERNETES_SERVICE_HOST=10.96.0.1"]
    );
    let ctx = EnvContext {
        services: &services,
        ..EnvContext::new(&p, "n")
    };
    let env = env_of(&ctx);
    assert_eq!(get(&env, "KUBERNETES_SERVICE_PORT_HTTPS").unwrap(), "443");
    assert_eq!(get(&env, "KUBERNETES_PORT").unwrap(), "tcp://10.96.0.1:443");
}

#[test]
fn pod_in_default_namespace_sees_default_services_and_own_namespace_wins() {
    let p: Pod = serde_json::from_value(json!({
        "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}
    }))
    .unwrap();
    assert_eq!(
        service_hosts(&p, &cluster_services()),
        [
            "DEFAULT_ONLY_SERVICE_HOST=10.96.0.2",
            "KUBERNETES_SERVICE_HOST=10.96.0.1",
        ]
    );
    // A `kubernetes` service in the pod's own namespace replaces default's.
    let p = pod_with(json!({}));
    let mut services = cluster_services();
    services.push(service(
        "ns",
        "kubernetes",
        "10.96.9.9",
        json!([{"port": 1}]),
    ));
    assert_eq!(
        service_hosts(&p, &services),
        [
            "KUBERNETES_SERVICE_HOST=10.96.9.9",
            "MINE_SERVICE_HOST=10.96.0.3",
        ]
    );
}

#[test]
fn service_vars_come_last_sorted_after_container_vars() {
    let p = pod_with(json!({"env": [{"name": "Z", "value": "z"}, {"name": "A", "value": "a"}]}));
    let services = cluster_services();
    let ctx = EnvContext {
        services: &services,
        ..EnvContext::new(&p, "n")
    };
    let names: Vec<String> = env_of(&ctx).into_iter().map(|(n, _)| n).collect();
    assert_eq!(&names[..2], ["Z", "A"]);
    let rest = &names[2..];
    let mut sorted = rest.to_vec();
    sorted.sort();
    assert_eq!(rest, sorted);
    assert!(rest.contains(&"KUBERNETES_SERVICE_HOST".to_string()));
}
