//! The `kubectl get pods` row computed on the client, for servers that
//! answer a plain list instead of a Table: READY, STATUS (kubectl's
//! printPod rules: Init:x/y, waiting reasons such as CrashLoopBackOff,
//! Completed, Terminating), RESTARTS with `(2m ago)`, AGE.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};

use super::duration::since;

/// The cells of one pod row; `wide` adds IP, NODE, NOMINATED NODE, READINESS GATES.
pub fn pod_row(pod: &Pod, wide: bool, now: Timestamp) -> Vec<String> {
    let spec = pod.spec.clone().unwrap_or_default();
    let status = pod.status.clone().unwrap_or_default();
    let init_specs = spec.init_containers.clone().unwrap_or_default();
    let sidecar = |name: &str| {
        init_specs
            .iter()
            .any(|c| c.name == name && c.restart_policy.as_deref() == Some("Always"))
    };
    let total = spec.containers.len() + init_specs.iter().filter(|c| sidecar(&c.name)).count();
    let mut ready = 0usize;
    let mut restarts = 0i64;
    let mut sidecar_restarts = 0i64;
    let mut last_restart: Option<Timestamp> = None;
    let mut sidecar_last_restart: Option<Timestamp> = None;
    let phase = status.phase.clone().unwrap_or_default();
    let mut reason = status
        .reason
        .clone()
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| phase.clone());
    let finished = |s: &ContainerStatus| {
        s.last_state
            .as_ref()
            .and_then(|l| l.terminated.as_ref())
            .and_then(|t| t.finished_at.as_ref().map(|f| f.0))
    };

    let mut initializing = false;
    let init_statuses = status.init_container_statuses.clone().unwrap_or_default();
    for (i, c) in init_statuses.iter().enumerate() {
        restarts += i64::from(c.restart_count);
        if let Some(f) = finished(c) {
            last_restart = last_restart.max(Some(f));
        }
        let is_sidecar = sidecar(&c.name);
        if is_sidecar {
            sidecar_restarts += i64::from(c.restart_count);
            if let Some(f) = finished(c) {
                sidecar_last_restart = sidecar_last_restart.max(Some(f));
            }
        }
        let state = c.state.clone().unwrap_or_default();
        let term = state.terminated.as_ref();
        if term.is_some_and(|t| t.exit_code == 0) {
            continue;
        }
        if is_sidecar && c.started == Some(true) {
            if c.ready {
                ready += 1;
            }
            continue;
        }
        if let Some(t) = term {
            reason = match t.reason.as_deref().filter(|r| !r.is_empty()) {
                Some(r) => format!("Init:{r}"),
                None => match t.signal.filter(|s| *s != 0) {
                    Some(sig) => format!("Init:Signal:{sig}"),
                    None => format!("Init:ExitCode:{}", t.exit_code),
                },
            };
        } else if let Some(r) = state
            .waiting
            .as_ref()
            .and_then(|w| w.reason.clone())
            .filter(|r| !r.is_empty() && r != "PodInitializing")
        {
            reason = format!("Init:{r}");
        } else {
            reason = format!("Init:{i}/{}", init_specs.len());
        }
        initializing = true;
        break;
    }

    let initialized = status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "Initialized" && c.status == "True");
    if !initializing || initialized {
        restarts = sidecar_restarts;
        last_restart = sidecar_last_restart;
        let mut has_running = false;
        for c in status.container_statuses.iter().flatten().rev() {
            restarts += i64::from(c.restart_count);
            if let Some(f) = finished(c) {
                last_restart = last_restart.max(Some(f));
            }
            let state = c.state.clone().unwrap_or_default();
            if let Some(r) = state
                .waiting
                .as_ref()
                .and_then(|w| w.reason.clone())
                .filter(|r| !r.is_empty())
            {
                reason = r;
            } else if let Some(t) = &state.terminated {
                reason = match t.reason.clone().filter(|r| !r.is_empty()) {
                    Some(r) => r,
                    None => match t.signal.filter(|s| *s != 0) {
                        Some(sig) => format!("Signal:{sig}"),
                        None => format!("ExitCode:{}", t.exit_code),
                    },
                };
            } else if c.ready && state.running.is_some() {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            let pod_ready = status
                .conditions
                .iter()
                .flatten()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            reason = if pod_ready { "Running" } else { "NotReady" }.into();
        }
    }
    if pod.metadata.deletion_timestamp.is_some() {
        if status.reason.as_deref() == Some("NodeLost") {
            reason = "Unknown".into();
        } else if phase != "Succeeded" && phase != "Failed" {
            reason = "Terminating".into();
        }
    }
    let restarts_cell = match last_restart {
        Some(t) if restarts != 0 => format!("{restarts} ({} ago)", since(Some(t), now)),
        _ => restarts.to_string(),
    };
    let mut cells = vec![
        pod.metadata.name.clone().unwrap_or_default(),
        format!("{ready}/{total}"),
        reason,
        restarts_cell,
        since(pod.metadata.creation_timestamp.as_ref().map(|t| t.0), now),
    ];
    if wide {
        let none = |s: Option<String>| {
            s.filter(|s| !s.is_empty())
                .unwrap_or_else(|| "<none>".into())
        };
        let ip = status
            .pod_ips
            .as_ref()
            .and_then(|ips| ips.first())
            .map(|i| i.ip.clone());
        cells.push(none(ip));
        cells.push(none(spec.node_name.clone()));
        cells.push(none(status.nominated_node_name.clone()));
        let gates = match spec.readiness_gates.as_deref() {
            None | Some([]) => "<none>".to_string(),
            Some(gates) => {
                let ok = gates
                    .iter()
                    .filter(|g| {
                        status
                            .conditions
                            .iter()
                            .flatten()
                            .any(|c| c.type_ == g.condition_type && c.status == "True")
                    })
                    .count();
                format!("{ok}/{}", gates.len())
            }
        };
        cells.push(gates);
    }
    cells
}

pub const POD_HEADERS: [&str; 5] = ["NAME", "READY", "STATUS", "RESTARTS", "AGE"];
pub const POD_WIDE_HEADERS: [&str; 4] = ["IP", "NODE", "NOMINATED NODE", "READINESS GATES"];
