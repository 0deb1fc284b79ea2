//! Defaulting matches the API server, and validation of defaulted objects
//! relies on it (e.g. httpGet path).

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use nodelet_spec::Object;
use nodelet_spec::defaults::{default_object, default_pod};
use nodelet_spec::load::load_bytes;
use nodelet_spec::validate::validate_object;

fn load_one(text: &str) -> Object {
    let mut m = load_bytes("d.yaml", text.as_bytes()).unwrap();
    assert_eq!(m.len(), 1);
    m.remove(0).object
}

const POD: &str = "apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  initContainers:
  - {name: init, image: 'busybox:1.36'}
  containers:
  - name: c
    image: registry:5000/app
    ports: [{containerPort: 80}]
    env: [{name: N, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]
    lifecycle:
      postStart: {httpGet: {port: 80}}
    livenessProbe: {httpGet: {port: 80}}
  ephemeralContainers:
  - {name: debug, image: 'busybox:latest'}
";

#[test]
fn pod_defaults() {
    let Object::Pod(mut pod) = load_one(POD) else {
        panic!("not a pod")
    };
    default_pod(&mut pod);
    assert_eq!(pod.metadata.namespace.as_deref(), Some("default"));
    let uid = pod.metadata.uid.clone().unwrap();
    assert_eq!(uid.len(), 36, "{uid}");
    assert!(pod.metadata.creation_timestamp.is_none());
    let spec = pod.spec.as_ref().unwrap();
    assert_eq!(spec.restart_policy.as_deref(), Some("Always"));
    assert_eq!(spec.termination_grace_period_seconds, Some(30));
    assert_eq!(spec.dns_policy.as_deref(), Some("ClusterFirst"));
    assert_eq!(spec.enable_service_links, Some(true));
    assert_eq!(spec.scheduler_name.as_deref(), Some("default-scheduler"));
    assert!(spec.security_context.is_some());

    let init = &spec.init_containers.as_ref().unwrap()[0];
    assert_eq!(init.image_pull_policy.as_deref(), Some("IfNotPresent"));
    assert_eq!(
        init.termination_message_path.as_deref(),
        Some("/dev/termination-log")
    );
    let eph = &spec.ephemeral_containers.as_ref().unwrap()[0];
    assert_eq!(eph.image_pull_policy.as_deref(), Some("Always"));
    assert_eq!(eph.termination_message_policy.as_deref(), Some("File"));

    let c = &spec.containers[0];
    assert_eq!(c.image_pull_policy.as_deref(), Some("Always"));
    assert_eq!(
        c.ports.as_ref().unwrap()[0].protocol.as_deref(),
        Some("TCP")
    );
    let field_ref = c.env.as_ref().unwrap()[0]
        .value_from
        .as_ref()
        .unwrap()
        .field_ref
        .as_ref()
        .unwrap();
    assert_eq!(field_ref.api_version.as_deref(), Some("v1"));
    let hook = c
        .lifecycle
        .as_ref()
        .unwrap()
        .post_start
        .as_ref()
        .unwrap()
        .http_get
        .as_ref()
        .unwrap();
    assert_eq!(hook.path.as_deref(), Some("/"));
    assert_eq!(hook.scheme.as_deref(), Some("HTTP"));
    let probe = c.liveness_probe.as_ref().unwrap();
    assert_eq!(
        (
            probe.timeout_seconds,
            probe.period_seconds,
            probe.success_threshold,
            probe.failure_threshold
        ),
        (Some(1), Some(10), Some(1), Some(3))
    );
    assert_eq!(probe.http_get.as_ref().unwrap().path.as_deref(), Some("/"));

    // Defaulting is idempotent and keeps what was set (including the uid).
    let once = pod.clone();
    default_pod(&mut pod);
    assert_eq!(pod, once);
}

#[test]
fn explicit_values_are_kept() {
    let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: ns, uid: abc}\nspec:\n  restartPolicy: Never\n  terminationGracePeriodSeconds: 0\n  containers: [{name: c, image: 'nginx:latest', imagePullPolicy: Never}]\n";
    let mut obj = load_one(text);
    default_object(&mut obj);
    let Object::Pod(pod) = obj else {
        panic!("not a pod")
    };
    assert_eq!(pod.metadata.namespace.as_deref(), Some("ns"));
    assert_eq!(pod.metadata.uid.as_deref(), Some("abc"));
    let spec = pod.spec.unwrap();
    assert_eq!(spec.restart_policy.as_deref(), Some("Never"));
    assert_eq!(spec.termination_grace_period_seconds, Some(0));
    assert_eq!(
        spec.containers[0].image_pull_policy.as_deref(),
        Some("Never")
    );
}

#[test]
fn host_network_copies_container_ports_to_host_ports() {
    let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  hostNetwork: true\n  containers: [{name: c, image: i, ports: [{containerPort: 8080}]}]\n";
    let mut obj = load_one(text);
    default_object(&mut obj);
    let Object::Pod(pod) = obj else {
        panic!("not a pod")
    };
    assert_eq!(
        pod.spec.unwrap().containers[0].ports.as_ref().unwrap()[0].host_port,
        Some(8080)
    );
}

#[test]
fn service_defaults() {
    let text = "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80}, {name: b, port: 81, targetPort: web}]}\n";
    let mut obj = load_one(text);
    default_object(&mut obj);
    assert!(
        validate_object(&obj)
            .to_string()
            .contains("spec.ports[0].name: Required value")
    );
    let Object::Service(svc) = obj else {
        panic!("not a service")
    };
    assert_eq!(svc.metadata.namespace.as_deref(), Some("default"));
    let spec = svc.spec.unwrap();
    assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));
    assert_eq!(spec.session_affinity.as_deref(), Some("None"));
    let ports = spec.ports.unwrap();
    assert_eq!(ports[0].protocol.as_deref(), Some("TCP"));
    assert_eq!(ports[0].target_port, Some(IntOrString::Int(80)));
    assert_eq!(
        ports[1].target_port,
        Some(IntOrString::String("web".into()))
    );
}

#[test]
fn config_objects_get_namespace_and_secret_type() {
    let mut cm = load_one("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n");
    default_object(&mut cm);
    let Object::ConfigMap(cm) = cm else { panic!() };
    assert_eq!(cm.metadata.namespace.as_deref(), Some("default"));
    let mut s = load_one("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n");
    default_object(&mut s);
    let Object::Secret(s) = s else { panic!() };
    assert_eq!(s.type_.as_deref(), Some("Opaque"));
    assert!(s.metadata.uid.is_some());
}

#[test]
fn undefaulted_http_hook_without_path_is_invalid() {
    // Validation alone (no defaulting) enforces what defaulting guarantees.
    let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: default}\nspec:\n  restartPolicy: Always\n  dnsPolicy: ClusterFirst\n  containers: [{name: c, image: i, imagePullPolicy: Always, terminationMessagePolicy: File, lifecycle: {preStop: {httpGet: {port: 80}}}}]\n";
    let obj = load_one(text);
    assert_eq!(
        validate_object(&obj).to_string(),
        "[spec.containers[0].lifecycle.preStop.httpGet.path: Required value, spec.containers[0].lifecycle.preStop.httpGet.scheme: Unsupported value: \"\": supported values: \"HTTP\", \"HTTPS\"]"
    );
}
