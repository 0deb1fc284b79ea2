//! Resuming after an agent restart: pods come back from the store and
//! their containers from the runtime. A container still running is adopted
//! (a waiter is attached; its postStart is not re-run, as the kubelet); an
//! exited one is treated as a normal exit (restart policy applies); one
//! left merely Created is discarded and started afresh. Nothing is created
//! twice: attempt numbers continue from the highest the runtime knows.

use k8s_openapi::api::core::v1::Pod;
use nodelet_runtime::{ContainerRecord, ContainerState};
use tokio_util::sync::CancellationToken;

use crate::error::Result;
use crate::podkey::PodKey;
use crate::worker::ctx::EngineCtx;
use crate::worker::start::stop_signal;
use crate::worker::state::{Current, PodRecord, SlotKind, SlotPhase, TermInfo};

/// Pods to resume: the record, slots with an adopted running container,
/// and whether the pod was being deleted.
pub async fn recover(ctx: &EngineCtx) -> Result<Vec<(PodRecord, Vec<usize>, bool)>> {
    let stored = ctx.store.list_objects("Pod", None)?;
    if stored.is_empty() {
        return Ok(Vec::new());
    }
    let containers = ctx.runtime.list_containers().await?;
    let sandboxes = ctx.runtime.list_sandboxes().await?;
    let mut out = Vec::new();
    for (value, _) in stored {
        let pod: Pod = match serde_json::from_value(value) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "skipping unreadable stored pod");
                continue;
            }
        };
        let key = PodKey::of(&pod);
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let start_time = pod
            .status
            .as_ref()
            .and_then(|s| s.start_time.as_ref())
            .map(|t| t.0);
        let deletion = pod.metadata.deletion_grace_period_seconds;
        let deleting = pod.metadata.deletion_timestamp.is_some();
        let mut spec_pod = pod.clone();
        spec_pod.status = None;
        let mut rec = PodRecord::new(key, uid.clone(), spec_pod, ctx.config.host_ips.clone());
        rec.start_time = start_time;
        rec.deletion_grace = deletion;
        // Conditions others wrote (readiness gates) survive a restart.
        if let Some(conds) = pod.status.as_ref().and_then(|s| s.conditions.as_deref()) {
            rec.external_conditions = crate::pod_conditions::external(conds);
        }
        // A pod the agent ended (activeDeadlineSeconds, eviction) stays ended.
        if let Some(st) = pod.status.as_ref()
            && st.phase.as_deref() == Some("Failed")
            && let Some(reason) = st.reason.as_deref().filter(|r| {
                *r == crate::worker::deadline::REASON
                    || *r == crate::worker::volumes::eviction::REASON
            })
        {
            rec.terminal = Some((reason.to_owned(), st.message.clone().unwrap_or_default()));
        }
        let statuses: Vec<k8s_openapi::api::core::v1::ContainerStatus> = pod
            .status
            .iter()
            .flat_map(|s| {
                s.container_statuses
                    .iter()
                    .flatten()
                    .chain(s.init_container_statuses.iter().flatten())
            })
            .cloned()
            .collect();
        rec.sandbox = sandboxes.iter().find(|s| s.pod_uid == uid).cloned();
        let mine: Vec<&ContainerRecord> = containers.iter().filter(|c| c.pod_uid == uid).collect();
        rec.created_ids = mine.iter().map(|c| c.id.clone()).collect();
        let mut adopted = Vec::new();
        let now = ctx.clock.instant();
        for (i, slot) in rec.slots.iter_mut().enumerate() {
            let Some(latest) = mine
                .iter()
                .filter(|c| c.name == slot.spec.name)
                .max_by_key(|c| c.attempt)
            else {
                continue;
            };
            slot.attempts = latest.attempt + 1;
            slot.restart_count = i32::try_from(latest.attempt).unwrap_or(i32::MAX);
            slot.image_id = Some(latest.image_id.clone());
            let stored = statuses.iter().find(|s| s.name == slot.spec.name);
            // What the container was created from and runs with, as last
            // reported (a pending image change or resize is then acted on).
            slot.last_image = stored
                .map(|s| s.image.clone())
                .or_else(|| slot.spec.image.clone());
            if let Some(r) = stored
                .and_then(|s| s.resources.clone())
                .filter(|r| r.limits.is_some() || r.requests.is_some())
            {
                slot.allocated = Some(r);
            }
            match &latest.state {
                ContainerState::Running { started_at, .. } => {
                    slot.current = Some(Current {
                        id: latest.id.clone(),
                        attempt: latest.attempt,
                        died: CancellationToken::new(),
                        stop_signal: stop_signal(&slot.spec, None),
                        resources: slot.allocated.clone(),
                    });
                    slot.phase = SlotPhase::Running {
                        started_at: *started_at,
                    };
                    slot.ever_running = true;
                    adopted.push(i);
                }
                ContainerState::Exited(exit) => {
                    let term = TermInfo::from_exit(exit, &latest.id);
                    slot.phase = if slot.kind == SlotKind::Init && term.exit_code == 0 {
                        SlotPhase::Done { term }
                    } else {
                        SlotPhase::Exited {
                            term: Some(term),
                            finished: now,
                            waiting: None,
                            restart_at: None,
                        }
                    };
                }
                ContainerState::Created | ContainerState::Unknown => {
                    if let Err(e) = ctx.runtime.remove_container(&latest.id).await {
                        tracing::warn!(container = %latest.id, error = %e, "could not remove half-created container");
                    }
                }
            }
        }
        out.push((rec, adopted, deleting));
    }
    Ok(out)
}
