//! Termination and container environment on real containers: a looping
//! preStop keeps the pod Terminating until the grace runs out (upstream
//! `test/e2e/node/pre_stop.go`), and a container sees its pod name as
//! hostname and the downward-API variables. Subnets 10.253.17-19.

mod real_support;

use std::time::Duration;

use real_support::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn looping_pre_stop_keeps_pod_terminating_until_grace() {
    let Some(r) = Real::new("looping_pre_stop_keeps_pod_terminating_until_grace", 17).await else {
        return;
    };
    let name = "pod-with-looping-prestop";
    r.apply(pod(
        name,
        vec![idle(
            "c",
            json!({"lifecycle": {"preStop": exec_hook(&["sh", "-c", "while true; do sleep 1; done"])}}),
        )],
        json!({"terminationGracePeriodSeconds": 4}),
    ));
    r.running(name, 60).await;
    let start = tokio::time::Instant::now();
    r.engine.delete_pod(NS, name, None).unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let p = r
        .get(name)
        .expect("pod gone while its preStop was still looping inside the grace");
    assert!(p.metadata.deletion_timestamp.is_some());
    assert_eq!(p.metadata.deletion_grace_period_seconds, Some(4));
    let gone =
        tokio::time::timeout(Duration::from_secs(15), r.engine.wait_pod_gone(NS, name)).await;
    assert!(gone.is_ok(), "pod still there 15 s after a 4 s grace");
    let took = start.elapsed().as_secs_f64();
    assert!(
        (3.9..10.0).contains(&took),
        "pod gone after {took:.2}s, want the 4 s grace (+ stop) and no more"
    );
    let killing = r.event(name, "Killing", "Stopping container c");
    assert!(killing.is_some(), "{:?}", r.event_triples(name));
    r.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_sees_hostname_and_downward_api_env() {
    let Some(r) = Real::new("container_sees_hostname_and_downward_api_env", 18).await else {
        return;
    };
    let name = "pod-env";
    let field = |p: &str| json!({"fieldRef": {"fieldPath": p}});
    r.apply(json!({
        "metadata": {"name": name, "namespace": NS, "labels": {"app": "e2e"}},
        "spec": {"terminationGracePeriodSeconds": 5, "containers": [idle("c", json!({
            "env": [
                {"name": "POD_NAME", "valueFrom": field("metadata.name")},
                {"name": "POD_NAMESPACE", "valueFrom": field("metadata.namespace")},
                {"name": "POD_UID", "valueFrom": field("metadata.uid")},
                {"name": "POD_APP", "valueFrom": field("metadata.labels['app']")},
                {"name": "NODE_NAME", "valueFrom": field("spec.nodeName")},
                {"name": "POD_IP", "valueFrom": field("status.podIP")},
                {"name": "GREETING", "value": "hello $(POD_NAME)"},
                {"name": "MEM_LIMIT", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory"}}}
            ],
            "resources": {"limits": {"memory": "64Mi"}}
        }))]}
    }));
    let p = r.running(name, 60).await;
    let host = r.exec(name, "c", &["hostname"]).await;
    assert_eq!(String::from_utf8_lossy(&host.stdout).trim(), name);
    let env = r.exec(name, "c", &["env"]).await;
    let env = String::from_utf8_lossy(&env.stdout).to_string();
    let var = |k: &str| {
        env.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("{k} not in the environment:\n{env}"))
            .to_string()
    };
    assert_eq!(var("POD_NAME"), name);
    assert_eq!(var("POD_NAMESPACE"), NS);
    assert_eq!(Some(var("POD_UID")), p.metadata.uid);
    assert_eq!(var("POD_APP"), "e2e");
    assert_eq!(var("NODE_NAME"), "e2e-node");
    assert_eq!(var("POD_IP"), r.pod_ip(name));
    assert_eq!(var("GREETING"), format!("hello {name}"));
    assert_eq!(var("MEM_LIMIT"), (64 * 1024 * 1024).to_string());
    r.finish().await;
}

/// containerd (the CRI runtime kubelet drives) sets `HOSTNAME=<pod
/// hostname>` in every container's environment, before the image's and the
/// pod's variables (which may override it); so does nodelet's runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_env_has_hostname_like_containerd() {
    let Some(r) = Real::new("container_env_has_hostname_like_containerd", 19).await else {
        return;
    };
    r.apply(pod(
        "pod-hostname-env",
        vec![idle("c", json!({}))],
        json!({"terminationGracePeriodSeconds": 5}),
    ));
    r.running("pod-hostname-env", 60).await;
    let env = r.exec("pod-hostname-env", "c", &["env"]).await;
    let env = String::from_utf8_lossy(&env.stdout).to_string();
    assert!(
        env.lines().any(|l| l == "HOSTNAME=pod-hostname-env"),
        "no HOSTNAME=pod-hostname-env in:\n{env}"
    );
    r.finish().await;
}
