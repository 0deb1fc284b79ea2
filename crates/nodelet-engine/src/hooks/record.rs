//! The HookDelivery record (`hookdeliveries.nodelet.dev/v1`): one object
//! per delivery (a container's postStart or preStop), written in the same
//! store transaction as the journal change it shows, so it is exactly as
//! durable as the journal and served by the API like any stored kind.
//!
//! Named `<pod>.<container>.<poststart|prestop>.<restartCount>` (a pod of
//! the same name created later reuses the names of a deleted one's records);
//! labelled `nodelet.dev/pod`, `nodelet.dev/container`, `nodelet.dev/hook`
//! for selectors; `metadata.uid` is the delivery id. Records expire like
//! events (`--event-ttl` after their last change).

use jiff::Timestamp;
use nodelet_store::{HookOutcome, JournalEntry, ObjectPut};
use serde_json::{Value, json};

use super::HookDetail;

pub const KIND: &str = "HookDelivery";
pub const API_VERSION: &str = "nodelet.dev/v1";
pub const LABEL_POD: &str = "nodelet.dev/pod";
pub const LABEL_CONTAINER: &str = "nodelet.dev/container";
pub const LABEL_HOOK: &str = "nodelet.dev/hook";

/// The record's name for a delivery.
pub fn name(pod: &str, container: &str, hook: &str, restart_count: u32) -> String {
    let n = format!("{pod}.{container}.{}.{restart_count}", hook.to_lowercase());
    if n.len() <= 253 {
        return n;
    }
    // Names are at most 253 characters: keep the unique tail.
    let tail = format!(".{container}.{}.{restart_count}", hook.to_lowercase());
    let keep = 253usize.saturating_sub(tail.len());
    format!("{}{tail}", &pod[..keep.min(pod.len())])
}

/// What the record shows about the handler and the container.
#[derive(Debug, Clone)]
pub struct Facts {
    pub container_id: String,
    /// `Exec` etc. and a one-line description (the command, the URL).
    pub handler: String,
    pub handler_detail: Value,
    pub timeout: Option<std::time::Duration>,
    /// Previous attempts as the record showed them (for re-deliveries).
    pub earlier_attempts: Vec<Value>,
}

/// How the latest attempt ended, with what it saw.
#[derive(Debug, Clone)]
pub struct Ended {
    pub outcome: HookOutcome,
    pub detail: HookDetail,
    pub at: Timestamp,
}

fn result_of(outcome: &HookOutcome, detail: &HookDetail) -> &'static str {
    match outcome {
        HookOutcome::Succeeded => "Succeeded",
        HookOutcome::Failed { .. } if detail.timed_out => "TimedOut",
        HookOutcome::Failed { .. } => "Failed",
        HookOutcome::Cancelled => "Cancelled",
    }
}

/// The result word for metrics and marks.
pub fn result_word(outcome: &HookOutcome, detail: &HookDetail) -> &'static str {
    result_of(outcome, detail)
}

fn secs(a: Timestamp, b: Timestamp) -> f64 {
    (b.duration_since(a).as_secs_f64() * 1000.0).round() / 1000.0
}

/// Renders the record of `entry`; `ended` is set once the latest attempt
/// finished.
pub fn render(entry: &JournalEntry, facts: &Facts, ended: Option<&Ended>) -> ObjectPut {
    let i = &entry.intent;
    let hook = entry.key.hook.as_str();
    let name = name(&i.pod_name, &i.container_name, hook, i.container_attempt);
    let mut status = json!({
        "attempt": entry.attempt,
        "startTime": entry.intent_at.to_string(),
        "phase": "Running",
    });
    let mut attempts = facts.earlier_attempts.clone();
    let mut this = json!({"attempt": entry.attempt, "startTime": entry.intent_at.to_string()});
    if let Some(e) = ended {
        let result = result_of(&e.outcome, &e.detail);
        status["phase"] = json!(result);
        status["result"] = json!(result);
        status["completionTime"] = json!(e.at.to_string());
        status["durationSeconds"] = json!(secs(entry.intent_at, e.at));
        if let Some(c) = e.detail.exit_code {
            status["exitCode"] = json!(c);
        }
        if let Some(c) = e.detail.http_status {
            status["httpStatus"] = json!(c);
        }
        for (k, cap) in [
            ("stdout", &e.detail.stdout),
            ("stderr", &e.detail.stderr),
            ("body", &e.detail.body),
        ] {
            if !cap.is_empty() {
                status[k] = serde_json::to_value(cap.excerpt()).unwrap_or(Value::Null);
            }
        }
        match &e.outcome {
            HookOutcome::Failed { message } => {
                status["reason"] = json!(if e.detail.timed_out {
                    "TimedOut"
                } else {
                    "Error"
                });
                status["message"] = json!(message);
            }
            HookOutcome::Cancelled => {
                status["reason"] = json!("Cancelled");
                status["message"] =
                    json!("the container died or the pod was deleted during the delivery");
            }
            HookOutcome::Succeeded => {}
        }
        this["result"] = json!(result);
        this["completionTime"] = json!(e.at.to_string());
    }
    attempts.push(this);
    status["attempts"] = Value::Array(attempts);
    let mut spec = json!({
        "podName": i.pod_name,
        "podUID": i.pod_uid,
        "containerName": i.container_name,
        "containerID": facts.container_id,
        "restartCount": i.container_attempt,
        "hook": hook,
        "handler": facts.handler_detail,
        "deliveryID": i.delivery_id,
    });
    if let Some(t) = facts.timeout {
        spec["timeout"] = json!(crate::godur::go_duration(t));
    }
    let value = json!({
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": name,
            "namespace": i.pod_namespace,
            "uid": i.delivery_id,
            "creationTimestamp": entry.first_intent_at.to_string(),
            "labels": {
                LABEL_POD: i.pod_name,
                LABEL_CONTAINER: i.container_name,
                LABEL_HOOK: hook,
            },
            "ownerReferences": [{
                "apiVersion": "v1", "kind": "Pod", "name": i.pod_name, "uid": i.pod_uid,
            }],
        },
        "spec": spec,
        "status": status,
    });
    ObjectPut {
        kind: KIND.to_owned(),
        namespace: i.pod_namespace.clone(),
        name,
        value,
    }
}

/// The handler as the record's `spec.handler` shows it.
pub fn handler_detail(
    handler: &k8s_openapi::api::core::v1::LifecycleHandler,
    container: &k8s_openapi::api::core::v1::Container,
    pod_ip: Option<std::net::IpAddr>,
) -> Value {
    let kind = super::handler_kind(handler);
    if let Some(e) = &handler.exec {
        json!({"type": kind, "command": e.command.clone().unwrap_or_default()})
    } else if let Some(h) = &handler.http_get {
        let scheme = h.scheme.as_deref().unwrap_or("HTTP").to_lowercase();
        let host = h
            .host
            .clone()
            .filter(|s| !s.is_empty())
            .or_else(|| pod_ip.map(|ip| ip.to_string()))
            .unwrap_or_default();
        let port = super::http::resolve_port(&h.port, container)
            .map(|p| p.to_string())
            .unwrap_or_default();
        let url = super::http::request_url(
            &scheme,
            &host,
            port.parse().unwrap_or(0),
            h.path.as_deref().unwrap_or(""),
        );
        json!({"type": kind, "url": url})
    } else if let Some(s) = &handler.sleep {
        json!({"type": kind, "seconds": s.seconds})
    } else {
        json!({"type": kind})
    }
}
