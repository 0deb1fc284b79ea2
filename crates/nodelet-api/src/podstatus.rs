//! The STATUS, READY and RESTARTS columns of a pod, computed exactly like
//! kubectl's `printPod` so `kubectl get pods` reads the same as upstream.

use jiff::Timestamp;
use serde_json::Value;

use crate::age;

pub struct PodSummary {
    pub ready: String,
    pub status: String,
    pub restarts: String,
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn i(v: &Value, key: &str) -> i64 {
    v.get(key).and_then(Value::as_i64).unwrap_or(0)
}

fn later(cur: &mut Option<Timestamp>, t: Option<Timestamp>) {
    if let Some(t) = t
        && cur.is_none_or(|c| c < t)
    {
        *cur = Some(t);
    }
}

fn condition_true(status: &Value, ty: &str) -> bool {
    status["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| s(c, "type") == ty && s(c, "status") == "True")
    })
}

fn terminated_reason(t: &Value, prefix: &str) -> String {
    let reason = s(t, "reason");
    if !reason.is_empty() {
        return format!("{prefix}{reason}");
    }
    let sig = i(t, "signal");
    if sig != 0 {
        format!("{prefix}Signal:{sig}")
    } else {
        format!("{prefix}ExitCode:{}", i(t, "exitCode"))
    }
}

pub fn summarize(pod: &Value, now: Timestamp) -> PodSummary {
    let spec = &pod["spec"];
    let status = &pod["status"];
    let empty = Vec::new();
    let containers = spec["containers"].as_array().unwrap_or(&empty);
    let init_specs = spec["initContainers"].as_array().unwrap_or(&empty);
    let mut total = containers.len();
    let mut ready = 0usize;
    let mut restarts = 0i64;
    let mut sidecar_restarts = 0i64;
    let mut last_restart: Option<Timestamp> = None;
    let mut last_sidecar_restart: Option<Timestamp> = None;
    let phase = s(status, "phase");
    let mut reason = if s(status, "reason").is_empty() {
        phase.to_string()
    } else {
        s(status, "reason").to_string()
    };
    let is_sidecar = |name: &str| {
        init_specs
            .iter()
            .any(|c| s(c, "name") == name && s(c, "restartPolicy") == "Always")
    };

    let mut initializing = false;
    let init_statuses = status["initContainerStatuses"].as_array().unwrap_or(&empty);
    for (idx, c) in init_statuses.iter().enumerate() {
        restarts += i(c, "restartCount");
        let last_term = age::parse_time(&c["lastState"]["terminated"]["finishedAt"]);
        later(&mut last_restart, last_term);
        let sidecar = is_sidecar(s(c, "name"));
        let started = c["started"].as_bool().unwrap_or(false);
        if sidecar {
            sidecar_restarts += i(c, "restartCount");
            later(&mut last_sidecar_restart, last_term);
            if started {
                total += 1;
                if c["ready"].as_bool().unwrap_or(false) {
                    ready += 1;
                }
            }
        }
        let st = &c["state"];
        if st["terminated"].is_object() && i(&st["terminated"], "exitCode") == 0 {
            continue;
        }
        if sidecar && started {
            continue;
        }
        if st["terminated"].is_object() {
            reason = terminated_reason(&st["terminated"], "Init:");
        } else if !s(&st["waiting"], "reason").is_empty()
            && s(&st["waiting"], "reason") != "PodInitializing"
        {
            reason = format!("Init:{}", s(&st["waiting"], "reason"));
        } else {
            reason = format!("Init:{}/{}", idx, init_specs.len());
        }
        initializing = true;
        break;
    }

    if !initializing || condition_true(status, "Initialized") {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        let statuses = status["containerStatuses"].as_array().unwrap_or(&empty);
        for c in statuses.iter().rev() {
            restarts += i(c, "restartCount");
            later(
                &mut last_restart,
                age::parse_time(&c["lastState"]["terminated"]["finishedAt"]),
            );
            let st = &c["state"];
            if !s(&st["waiting"], "reason").is_empty() {
                reason = s(&st["waiting"], "reason").to_string();
            } else if st["terminated"].is_object() {
                reason = terminated_reason(&st["terminated"], "");
            } else if c["ready"].as_bool().unwrap_or(false) && st["running"].is_object() {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason = if condition_true(status, "Ready") {
                "Running".into()
            } else {
                "NotReady".into()
            };
        }
    }

    let terminal = phase == "Succeeded" || phase == "Failed";
    if !pod["metadata"]["deletionTimestamp"].is_null() {
        if s(status, "reason") == "NodeLost" {
            reason = "Unknown".into();
        } else if !terminal {
            reason = "Terminating".into();
        }
    }
    let restarts_str = match last_restart {
        Some(t) if restarts != 0 => format!(
            "{restarts} ({} ago)",
            age::human_duration(now.as_second() - t.as_second())
        ),
        _ => restarts.to_string(),
    };
    PodSummary {
        ready: format!("{ready}/{total}"),
        status: reason,
        restarts: restarts_str,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        "2026-01-01T00:10:00Z".parse().unwrap()
    }

    #[test]
    fn running_and_ready() {
        let p = json!({"metadata": {}, "spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Running",
            "containerStatuses": [{"name": "a", "ready": true, "restartCount": 0, "state": {"running": {}}}]}});
        let s = summarize(&p, now());
        assert_eq!(
            (s.ready.as_str(), s.status.as_str(), s.restarts.as_str()),
            ("1/1", "Running", "0")
        );
    }

    /// A pod rejected at admission (`rejectPod`) has no container
    /// statuses: its reason is the STATUS. With a waiting container it
    /// would read ContainerCreating, as nodelet once showed it.
    #[test]
    fn rejected_pod_shows_its_reason() {
        let p = json!({"metadata": {}, "spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Failed",
            "reason": "OutOfpods", "message": "Pod was rejected: Node didn't have enough resource: pods"}});
        let s = summarize(&p, now());
        assert_eq!(
            (s.ready.as_str(), s.status.as_str(), s.restarts.as_str()),
            ("0/1", "OutOfpods", "0")
        );
        let mut waiting = p.clone();
        waiting["status"]["containerStatuses"] = json!([{"name": "a", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": "ContainerCreating"}}}]);
        assert_eq!(summarize(&waiting, now()).status, "ContainerCreating");
    }

    #[test]
    fn crashloop_with_restart_age() {
        let p = json!({"metadata": {}, "spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Running",
            "containerStatuses": [{"name": "a", "ready": false, "restartCount": 3,
              "state": {"waiting": {"reason": "CrashLoopBackOff"}},
              "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2026-01-01T00:08:00Z"}}}]}});
        let s = summarize(&p, now());
        assert_eq!(s.status, "CrashLoopBackOff");
        assert_eq!(s.restarts, "3 (2m ago)");
        assert_eq!(s.ready, "0/1");
    }

    #[test]
    fn init_progress_terminating_and_exit_codes() {
        let p = json!({"metadata": {}, "spec": {"initContainers": [{"name": "i1"}, {"name": "i2"}], "containers": [{"name": "a"}]},
            "status": {"phase": "Pending", "initContainerStatuses": [
                {"name": "i1", "state": {"terminated": {"exitCode": 0}}},
                {"name": "i2", "state": {"running": {}}}]}});
        assert_eq!(summarize(&p, now()).status, "Init:1/2");
        let p = json!({"metadata": {"deletionTimestamp": "2026-01-01T00:09:00Z"}, "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Running", "containerStatuses": [{"name": "a", "ready": true, "state": {"running": {}}}]}});
        assert_eq!(summarize(&p, now()).status, "Terminating");
        let p = json!({"metadata": {}, "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Failed", "containerStatuses": [{"name": "a", "state": {"terminated": {"exitCode": 3}}}]}});
        assert_eq!(summarize(&p, now()).status, "ExitCode:3");
        let p = json!({"metadata": {}, "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Succeeded", "containerStatuses": [{"name": "a", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}});
        assert_eq!(summarize(&p, now()).status, "Completed");
    }
}
