//! Probes on real containers: a liveness exec probe that starts failing
//! when its file is removed kills and restarts the container (Unhealthy,
//! Killing, restart count 1); httpGet probes reach the pod over its IP, a
//! readiness probe toggles the container's `ready` and the pod's Ready
//! condition. Subnets 10.253.41-42.

mod real_support;

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use real_support::*;
use serde_json::json;

fn ready_condition(p: &Pod) -> Option<String> {
    p.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.status.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn liveness_exec_failure_kills_and_restarts() {
    let Some(r) = Real::new("liveness_exec_failure_kills_and_restarts", 41).await else {
        return;
    };
    let name = "liveness-exec";
    r.apply(pod(
        name,
        vec![ctr(
            "c",
            TESTBIN,
            &["sh", "-c", "touch /tmp/healthy && exec /testbin pause"],
            json!({"livenessProbe": {
                "exec": {"command": ["cat", "/tmp/healthy"]},
                "periodSeconds": 1, "failureThreshold": 1,
                "terminationGracePeriodSeconds": 3
            }}),
        )],
        json!({"terminationGracePeriodSeconds": 30}),
    ));
    r.running(name, 30).await;
    let out = r.exec(name, "c", &["rm", "/tmp/healthy"]).await;
    assert_eq!(out.exit_code, 0, "{out:?}");
    let p = r
        .wait_pod(name, 30, "restarted once", |p| {
            p.status
                .as_ref()
                .and_then(|s| s.container_statuses.as_ref())
                .is_some_and(|cs| cs[0].restart_count == 1 && cs[0].ready)
        })
        .await;
    let last = p.status.unwrap().container_statuses.unwrap()[0]
        .last_state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    // `testbin pause` exits 0 on SIGTERM.
    assert_eq!(last.exit_code, 0, "{last:?}");
    let unhealthy = r.event(name, "Unhealthy", "").expect("Unhealthy event");
    assert_eq!(unhealthy.type_.as_deref(), Some("Warning"));
    assert_eq!(
        unhealthy.message.as_deref(),
        Some("Liveness probe failed: cat: can't open '/tmp/healthy': No such file or directory\n")
    );
    assert_eq!(
        unhealthy.involved_object.field_path.as_deref(),
        Some("spec.containers{c}")
    );
    let killing = r.event(name, "Killing", "").expect("Killing event");
    assert_eq!(
        killing.message.as_deref(),
        Some("Container c failed liveness probe, will be restarted")
    );
    // The new container has its file again and stays healthy.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let st = r
        .get(name)
        .unwrap()
        .status
        .unwrap()
        .container_statuses
        .unwrap();
    assert_eq!(st[0].restart_count, 1);
    r.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_readiness_toggles_ready() {
    let Some(r) = Real::new("http_readiness_toggles_ready", 42).await else {
        return;
    };
    let name = "readiness-http";
    // testbin's server on 8080 (liveness), busybox httpd from the same
    // image serving /www on 8081 (readiness: /ready exists or 404s).
    r.apply(pod(
        name,
        vec![ctr(
            "web",
            TESTBIN,
            &[
                "sh",
                "-c",
                "mkdir -p /www && echo ok > /www/ready && httpd -p 8081 -h /www && exec /testbin serve --http-port 8080",
            ],
            json!({
                "ports": [{"containerPort": 8080, "name": "http"}],
                "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 1},
                "readinessProbe": {"httpGet": {"path": "/ready", "port": 8081},
                                   "periodSeconds": 1, "failureThreshold": 1}
            }),
        )],
        json!({"terminationGracePeriodSeconds": 2}),
    ));
    let p = r.running(name, 30).await;
    assert_eq!(ready_condition(&p).as_deref(), Some("True"));
    // The liveness probe reached testbin over the pod IP.
    let ip = r.pod_ip(name);
    let recorded = http_get(&ip, 8080, "/recorded").await.unwrap();
    assert!(recorded.contains("\"path\":\"/healthz\""), "{recorded}");

    let out = r.exec(name, "web", &["rm", "/www/ready"]).await;
    assert_eq!(out.exit_code, 0, "{out:?}");
    let p = r
        .wait_pod(name, 10, "unready", |p| {
            ready_condition(p).as_deref() == Some("False")
        })
        .await;
    let cs = &p.status.unwrap().container_statuses.unwrap()[0];
    assert!(!cs.ready);
    assert_eq!(cs.started, Some(true));
    assert!(
        r.event(
            name,
            "Unhealthy",
            "Readiness probe failed: HTTP probe failed with statuscode: 404"
        )
        .is_some(),
        "{:#?}",
        r.event_triples(name)
    );

    let out = r
        .exec(name, "web", &["sh", "-c", "echo ok > /www/ready"])
        .await;
    assert_eq!(out.exit_code, 0, "{out:?}");
    let p = r
        .wait_pod(name, 10, "ready again", |p| {
            ready_condition(p).as_deref() == Some("True")
        })
        .await;
    let cs = &p.status.unwrap().container_statuses.unwrap()[0];
    assert_eq!(cs.restart_count, 0, "readiness never restarts");
    assert!(r.event(name, "Killing", "").is_none());
    r.finish().await;
}
