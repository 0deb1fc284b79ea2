//! Delivering one lifecycle hook with the journal around it: the intent is
//! recorded before delivery and the outcome after, so an agent restart in
//! between knows the delivery may not have happened (at-least-once).

use std::sync::Arc;

use k8s_openapi::api::core::v1::LifecycleHandler;
use nodelet_store::{HookKey, HookOutcome};
use tokio_util::sync::CancellationToken;

use super::shared::Shared;
use crate::hooks::{HookKind, HookResult, HookTarget};

/// Runs `handler` for slot `i`'s container `id` and records the hook's own
/// events (HTTPS fallback). The caller records failure events.
pub async fn deliver(
    shared: &Arc<Shared>,
    kind: HookKind,
    handler: &LifecycleHandler,
    i: usize,
    id: &str,
    attempt: u32,
    cancel: &CancellationToken,
) -> HookResult {
    let (name, namespace, uid, container, pod_ip) = {
        let rec = shared.lock();
        let container = rec.slots.get(i).map(|s| s.spec.clone()).unwrap_or_default();
        let pod_ip = rec.sandbox.as_ref().and_then(|s| s.ips.first().copied());
        (
            rec.key.name.clone(),
            rec.key.namespace.clone(),
            rec.uid.clone(),
            container,
            pod_ip,
        )
    };
    let key = HookKey {
        container_id: id.to_owned(),
        hook: kind.to_string(),
        attempt,
    };
    let journaled = match crate::store_io::durable(|| shared.ctx.store.journal_intent(&key)) {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(hook = %key, error = %e, "could not journal hook intent");
            false
        }
    };
    let target = HookTarget {
        pod_name: &name,
        pod_namespace: &namespace,
        pod_uid: &uid,
        container: &container,
        container_id: id,
        pod_ip,
    };
    let result = shared.ctx.hooks.run(kind, handler, &target, cancel).await;
    for e in &result.events {
        shared.event(Some(i), e.event_type, &e.reason, &e.message);
    }
    if journaled {
        let outcome = match &result.outcome {
            Ok(()) => HookOutcome::Succeeded,
            Err(_) if cancel.is_cancelled() => HookOutcome::Cancelled,
            Err(message) => HookOutcome::Failed {
                message: message.clone(),
            },
        };
        if let Err(e) =
            crate::store_io::durable(|| shared.ctx.store.journal_outcome(&key, &outcome))
        {
            tracing::warn!(hook = %key, error = %e, "could not journal hook outcome");
        }
    }
    result
}

/// A token cancelled when either input is (the container died, or the pod
/// is being deleted).
pub fn either(a: &CancellationToken, b: &CancellationToken) -> CancellationToken {
    let out = CancellationToken::new();
    let (a, b, o) = (a.clone(), b.clone(), out.clone());
    tokio::spawn(async move {
        tokio::select! {
            () = a.cancelled() => o.cancel(),
            () = b.cancelled() => o.cancel(),
            // Dropped by its user once the hook finished: stop watching.
            () = o.cancelled() => {}
        }
    });
    out
}
