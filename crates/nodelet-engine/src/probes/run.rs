//! One probe run (`prober.probe` → `runProbeWithRetries` → `runProbe`):
//! dispatch on the handler (exec, httpGet, tcpSocket, grpc), up to three
//! attempts while the handler *errors* (a failure is not retried), then
//! the Unhealthy / ProbeWarning event for the outcome.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Probe;

use super::outcome::ProbeOutcome;
use super::timing::Timing;
use super::{ProbeKind, exec, grpc, http, tcp};
use crate::events::EventType;
use crate::hooks::http::resolve_port;
use crate::worker::shared::Shared;

/// `maxProbeRetries`.
const MAX_ATTEMPTS: usize = 3;

/// Runs `probe` once (with retries on error) against slot `i`'s container
/// `container_id` and records its event.
pub async fn probe_once(
    shared: &Arc<Shared>,
    i: usize,
    kind: ProbeKind,
    probe: &Probe,
    container_id: &str,
) -> ProbeOutcome {
    let mut outcome = ProbeOutcome::Error("probe not run".to_owned());
    for _ in 0..MAX_ATTEMPTS {
        outcome = attempt(shared, i, probe, container_id).await;
        if !matches!(outcome, ProbeOutcome::Error(_)) {
            break;
        }
    }
    if let Some((reason, message)) = outcome.event(kind.title()) {
        shared.event(Some(i), EventType::Warning, reason, &message);
    }
    outcome
}

async fn attempt(
    shared: &Arc<Shared>,
    i: usize,
    probe: &Probe,
    container_id: &str,
) -> ProbeOutcome {
    let timeout = Timing::of(probe).timeout;
    let (container, pod_ip) = {
        let rec = shared.lock();
        let Some(slot) = rec.slots.get(i) else {
            return ProbeOutcome::Error("container gone".to_owned());
        };
        let pod_ip = rec.sandbox.as_ref().and_then(|s| s.ips.first().copied());
        (slot.spec.clone(), pod_ip)
    };
    let ctx = &shared.ctx;
    let host = probe
        .http_get
        .as_ref()
        .and_then(|a| a.host.as_deref())
        .or(probe.tcp_socket.as_ref().and_then(|a| a.host.as_deref()));
    if let Err(e) = crate::hooks::host_policy::check(ctx.config.hooks.host_policy, host, pod_ip) {
        return ProbeOutcome::Failure(e);
    }
    if let Some(action) = &probe.exec {
        let command =
            exec::expand_command(action.command.as_deref().unwrap_or_default(), &container);
        exec::probe(
            ctx.runtime.as_ref(),
            ctx.clock.as_ref(),
            container_id,
            &command,
            timeout,
        )
        .await
    } else if let Some(action) = &probe.http_get {
        http::probe(action, &container, pod_ip, timeout).await
    } else if let Some(action) = &probe.tcp_socket {
        let port = match resolve_port(&action.port, &container) {
            Ok(p) => p,
            Err(e) => return ProbeOutcome::Error(e),
        };
        let host = match action.host.as_deref().filter(|h| !h.is_empty()) {
            Some(h) => h.to_owned(),
            None => match pod_ip {
                Some(ip) => ip.to_string(),
                None => return ProbeOutcome::Error("pod has no IP address".to_owned()),
            },
        };
        tcp::probe(ctx.clock.as_ref(), &host, port, timeout).await
    } else if let Some(action) = &probe.grpc {
        let Some(ip) = pod_ip else {
            return ProbeOutcome::Error("pod has no IP address".to_owned());
        };
        let port = match u16::try_from(action.port) {
            Ok(p) if p > 0 => p,
            _ => return ProbeOutcome::Error(format!("invalid port number: {}", action.port)),
        };
        let service = action.service.as_deref().unwrap_or("");
        grpc::probe(ctx.clock.as_ref(), &ip.to_string(), port, service, timeout).await
    } else {
        let desc = shared.pod_desc();
        ProbeOutcome::Error(format!(
            "missing probe handler for {desc}:{}",
            container.name
        ))
    }
}
