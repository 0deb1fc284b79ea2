//! Rendering tests with fixed pods, events, clock and time zone.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use k8s_openapi::api::core::v1::{Event, Pod};
use serde_json::json;

use super::events::{events_header, events_row};
use super::podrow::pod_row;
use super::tabwriter::TabWriter;
use super::{Ctx, describe_pod};

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn ctx() -> Ctx {
    Ctx {
        now: ts("2026-11-21T12:10:00Z"),
        tz: TimeZone::UTC,
    }
}

fn running_pod() -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "lifecycle-demo", "namespace": "default", "uid": "u1",
            "creationTimestamp": "2026-11-21T12:00:00Z",
            "labels": {"app": "demo", "tier": "web"},
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "note": "hi"}},
        "spec": {"priority": 0, "serviceAccountName": "default", "nodeName": "node1",
            "containers": [{"name": "web", "image": "busybox", "command": ["httpd", "-f"],
                "ports": [{"containerPort": 80, "protocol": "TCP"}],
                "env": [{"name": "A", "value": "1"},
                        {"name": "POD", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}}],
                "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
            "volumes": [{"name": "data", "emptyDir": {}}],
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]},
        "status": {"phase": "Running", "hostIP": "10.0.0.1", "podIP": "10.88.0.5",
            "podIPs": [{"ip": "10.88.0.5"}], "startTime": "2026-11-21T12:00:00Z", "qosClass": "BestEffort",
            "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "web", "ready": true, "restartCount": 1, "image": "busybox",
                "imageID": "sha256:abc", "containerID": "runc://c1",
                "state": {"running": {"startedAt": "2026-11-21T12:05:00Z"}},
                "lastState": {"terminated": {"exitCode": 137, "reason": "Error", "signal": 9,
                    "startedAt": "2026-11-21T12:00:01Z", "finishedAt": "2026-11-21T12:04:59Z"}}}]}
    }))
    .unwrap()
}

fn event(reason: &str, ty: &str, msg: &str, first: &str, last: &str, count: i32) -> Event {
    serde_json::from_value(json!({
        "metadata": {"name": format!("lifecycle-demo.{reason}"), "namespace": "default"},
        "involvedObject": {"kind": "Pod", "name": "lifecycle-demo", "namespace": "default"},
        "reason": reason, "type": ty, "message": msg, "count": count,
        "firstTimestamp": first, "lastTimestamp": last, "source": {"component": "nodelet"}
    }))
    .unwrap()
}

#[test]
fn describe_running_pod_like_kubectl() {
    let events = vec![
        event(
            "Started",
            "Normal",
            "Started container web",
            "2026-11-21T12:00:01Z",
            "2026-11-21T12:05:00Z",
            2,
        ),
        event(
            "Pulled",
            "Normal",
            "Container image \"busybox\" already present on machine",
            "2026-11-21T12:00:00Z",
            "2026-11-21T12:00:00Z",
            1,
        ),
    ];
    let out = describe_pod(&running_pod(), &events, &ctx());
    let want = "\
Name:             lifecycle-demo
Namespace:        default
Priority:         0
Service Account:  default
Node:             node1/10.0.0.1
Start Time:       Sat, 21 Nov 2026 12:00:00 +0000
Labels:           app=demo
                  tier=web
Annotations:      note: hi
Status:           Running
IP:               10.88.0.5
IPs:
  IP:  10.88.0.5
Containers:
  web:
    Container ID:  runc://c1
    Image:         busybox
    Image ID:      sha256:abc
    Port:          80/TCP
    Host Port:     0/TCP
    Command:
      httpd
      -f
    State:          Running
      Started:      Sat, 21 Nov 2026 12:05:00 +0000
    Last State:     Terminated
      Reason:       Error
      Exit Code:    137
      Signal:       9
      Started:      Sat, 21 Nov 2026 12:00:01 +0000
      Finished:     Sat, 21 Nov 2026 12:04:59 +0000
    Ready:          True
    Restart Count:  1
    Environment:
      A:    1
      POD:  lifecycle-demo (v1:metadata.name)
    Mounts:
      /data from data (rw)
Conditions:
  Type          Status
  Initialized   True 
  Ready         True 
Volumes:
  data:
    Type:        EmptyDir (a temporary directory that shares a pod's lifetime)
    Medium:      
    SizeLimit:   <unset>
QoS Class:       BestEffort
Node-Selectors:  <none>
Tolerations:     node.kubernetes.io/not-ready:NoExecute op=Exists for 300s
Events:
  Type    Reason   Age                 From     Message
  ----    ------   ----                ----     -------
  Normal  Pulled   10m                 nodelet  Container image \"busybox\" already present on machine
  Normal  Started  5m (x2 over 9m59s)  nodelet  Started container web
";
    assert_eq!(out, want, "\n--- got ---\n{out}");
}

#[test]
fn terminating_pod_and_no_events() {
    let mut pod = running_pod();
    pod.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        ts("2026-11-21T12:09:55Z"),
    ));
    pod.metadata.deletion_grace_period_seconds = Some(30);
    let out = describe_pod(&pod, &[], &ctx());
    assert!(
        out.contains("Status:                    Terminating (lasts 5s)\n"),
        "{out}"
    );
    assert!(out.contains("Termination Grace Period:  30s\n"), "{out}");
    assert!(out.ends_with("Events:          <none>\n"), "{out}");
}

#[test]
fn waiting_states_show_their_reason() {
    let mut pod = running_pod();
    let st = &mut pod
        .status
        .as_mut()
        .unwrap()
        .container_statuses
        .as_mut()
        .unwrap()[0];
    st.ready = false;
    st.state = Some(serde_json::from_value(json!({"waiting": {"reason": "PostStartHookError",
        "message": "Exec lifecycle hook ([badcommand]) for Container \"web\" in Pod \"lifecycle-demo\" failed"}})).unwrap());
    let out = describe_pod(&pod, &[], &ctx());
    assert!(
        out.contains("    State:          Waiting\n      Reason:       PostStartHookError\n"),
        "{out}"
    );
    assert!(out.contains("    Ready:          False\n"), "{out}");
}

#[test]
fn pod_rows_follow_print_pod() {
    let now = ts("2026-11-21T12:10:00Z");
    let pod = running_pod();
    assert_eq!(
        pod_row(&pod, false, now),
        ["lifecycle-demo", "1/1", "Running", "1 (5m1s ago)", "10m"]
    );
    assert_eq!(
        pod_row(&pod, true, now)[5..],
        ["10.88.0.5", "node1", "<none>", "<none>"]
    );

    let mut crash = running_pod();
    let st = &mut crash
        .status
        .as_mut()
        .unwrap()
        .container_statuses
        .as_mut()
        .unwrap()[0];
    st.ready = false;
    st.restart_count = 3;
    st.state =
        Some(serde_json::from_value(json!({"waiting": {"reason": "CrashLoopBackOff"}})).unwrap());
    assert_eq!(
        pod_row(&crash, false, now)[1..4],
        ["0/1", "CrashLoopBackOff", "3 (5m1s ago)"]
    );

    let mut done = running_pod();
    let status = done.status.as_mut().unwrap();
    status.phase = Some("Succeeded".into());
    let st = &mut status.container_statuses.as_mut().unwrap()[0];
    st.ready = false;
    st.restart_count = 0;
    st.last_state = None;
    st.state = Some(
        serde_json::from_value(json!({"terminated": {"exitCode": 0, "reason": "Completed"}}))
            .unwrap(),
    );
    assert_eq!(pod_row(&done, false, now)[1..4], ["0/1", "Completed", "0"]);

    let mut term = running_pod();
    term.metadata.deletion_timestamp =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now));
    assert_eq!(pod_row(&term, false, now)[2], "Terminating");

    let init: Pod = serde_json::from_value(json!({
        "metadata": {"name": "p", "creationTimestamp": "2026-11-21T12:09:00Z"},
        "spec": {"initContainers": [{"name": "i1"}, {"name": "i2"}], "containers": [{"name": "c"}]},
        "status": {"phase": "Pending",
            "initContainerStatuses": [
                {"name": "i1", "ready": false, "restartCount": 0, "image": "", "imageID": "", "state": {"terminated": {"exitCode": 0}}},
                {"name": "i2", "ready": false, "restartCount": 0, "image": "", "imageID": "", "state": {"running": {}}}],
            "containerStatuses": [{"name": "c", "ready": false, "restartCount": 0, "image": "", "imageID": "",
                "state": {"waiting": {"reason": "PodInitializing"}}}]}
    }))
    .unwrap();
    assert_eq!(
        pod_row(&init, false, now)[1..],
        ["0/1", "Init:1/2", "0", "60s"]
    );
}

#[test]
fn events_table_aggregates() {
    let now = ts("2026-11-21T12:10:00Z");
    let e = event(
        "BackOff",
        "Warning",
        "Back-off restarting failed container web in pod lifecycle-demo_default(u1)",
        "2026-11-21T12:09:54Z",
        "2026-11-21T12:09:56Z",
        2,
    );
    let mut w = TabWriter::table();
    w.write(&events_header(false));
    w.write(&events_row(&e, false, now));
    assert_eq!(
        w.take(),
        "LAST SEEN         TYPE      REASON    OBJECT               MESSAGE\n\
         4s (x2 over 6s)   Warning   BackOff   Pod/lifecycle-demo   Back-off restarting failed container web in pod lifecycle-demo_default(u1)\n"
    );
}

#[test]
fn long_annotations_probes_and_resource_env() {
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "p", "namespace": "default",
            "annotations": {"long": "a".repeat(150), "z": "ok"}},
        "spec": {"containers": [{"name": "c", "image": "i",
            "resources": {"limits": {"cpu": "500m", "memory": "64Mi"}},
            "readinessProbe": {"exec": {"command": ["true"]}, "timeoutSeconds": 1, "periodSeconds": 10,
                "successThreshold": 1, "failureThreshold": 3},
            "env": [{"name": "M", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory"}}},
                    {"name": "C", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
                    {"name": "MI", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}}]}]}
    }))
    .unwrap();
    let out = describe_pod(&pod, &[], &ctx());
    let want_ann = format!(
        "Annotations:  long:\n                {}...\n              z: ok\n",
        "a".repeat(138)
    );
    assert!(out.contains(&want_ann), "{out}");
    assert!(
        out.contains(
            "    Readiness:  exec [true] delay=0s timeout=1s period=10s #success=1 #failure=3\n"
        ),
        "{out}"
    );
    assert!(
        out.contains("      M:         67108864 (limits.memory)\n"),
        "{out}"
    );
    assert!(out.contains("      C:         1 (limits.cpu)\n"), "{out}");
    assert!(
        out.contains("      MI:        64 (limits.memory)\n"),
        "{out}"
    );
}

#[test]
fn probes_read_like_kubectl() {
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {"containers": [{"name": "c", "image": "i",
            "livenessProbe": {"exec": {"command": ["cat", "/tmp/healthy"]}, "initialDelaySeconds": 5,
                "timeoutSeconds": 1, "periodSeconds": 5, "successThreshold": 1, "failureThreshold": 3},
            "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"},
                "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3},
            "startupProbe": {"grpc": {"port": 9090, "service": "svc"},
                "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 30}}]}
    }))
    .unwrap();
    let out = describe_pod(&pod, &[], &ctx());
    for want in [
        "    Liveness:     exec [cat /tmp/healthy] delay=5s timeout=1s period=5s #success=1 #failure=3\n",
        "    Readiness:    http-get http://:8080/healthz delay=0s timeout=1s period=10s #success=1 #failure=3\n",
        "    Startup:      grpc <pod>:9090 svc delay=0s timeout=1s period=10s #success=1 #failure=30\n",
    ] {
        assert!(out.contains(want), "{want}\nnot in\n{out}");
    }
}
