//! Keeping mounted files current while the pod lives (the kubelet re-runs
//! `SetUp` of ConfigMap, Secret, downward API and projected volumes on
//! every pod sync, about once a minute; nodelet reacts to the change
//! itself): a ConfigMap or Secret of the pod's namespace changed, the
//! pod's labels or annotations changed, or a projected token is due for
//! rotation. Each affected volume's payload is recomputed and written with
//! the atomic writer, which writes nothing when the files are unchanged.
//! Containers that mounted a `subPath` keep the file they bound, as
//! upstream. While some volumes are still missing, a source change wakes
//! the pod worker to retry at once.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use k8s_openapi::api::core::v1::{Pod, Volume};
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use super::{messages, payload, referenced};
use crate::events::EventType;
use crate::sources::ObjectChange;
use crate::worker::shared::Shared;

/// What made the updater wake up.
enum Why {
    Source(ObjectChange),
    Everything,
    Metadata,
    Tokens,
}

fn uses_source(v: &Volume, c: &ObjectChange) -> bool {
    match c.kind {
        "ConfigMap" => {
            v.config_map.as_ref().is_some_and(|s| s.name == c.name)
                || v.projected
                    .iter()
                    .flat_map(|p| p.sources.iter().flatten())
                    .any(|s| s.config_map.as_ref().is_some_and(|m| m.name == c.name))
        }
        "Secret" => {
            v.secret
                .as_ref()
                .is_some_and(|s| s.secret_name.as_deref() == Some(c.name.as_str()))
                || v.projected
                    .iter()
                    .flat_map(|p| p.sources.iter().flatten())
                    .any(|s| s.secret.as_ref().is_some_and(|m| m.name == c.name))
        }
        _ => false,
    }
}

fn uses_metadata(v: &Volume) -> bool {
    v.downward_api.is_some()
        || v.projected
            .iter()
            .flat_map(|p| p.sources.iter().flatten())
            .any(|s| s.downward_api.is_some())
}

fn uses_tokens(v: &Volume) -> bool {
    v.projected
        .iter()
        .flat_map(|p| p.sources.iter().flatten())
        .any(|s| s.service_account_token.is_some())
}

fn api_data(v: &Volume) -> bool {
    v.config_map.is_some()
        || v.secret.is_some()
        || v.downward_api.is_some()
        || v.projected.is_some()
}

/// Starts the updater of a pod with API-data volumes (`None` otherwise).
pub fn spawn(shared: Arc<Shared>) -> Option<JoinHandle<()>> {
    let pod = shared.lock().pod.clone();
    let wanted = referenced(&pod);
    let any = pod
        .spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .any(|v| wanted.contains(&v.name) && api_data(v));
    if !any {
        return None;
    }
    Some(tokio::spawn(run(shared)))
}

async fn run(shared: Arc<Shared>) {
    let mut changes = shared.ctx.sources.changes();
    let mut metadata = shared.metadata.subscribe();
    let mut changes_open = true;
    loop {
        let next_token = shared
            .volumes
            .tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(|t| t.refresh_at)
            .min();
        let clock = shared.ctx.clock.clone();
        let token_timer = async {
            match next_token {
                Some(at) => {
                    clock
                        .sleep(at.saturating_duration_since(clock.instant()))
                        .await
                }
                None => std::future::pending().await,
            }
        };
        let why = tokio::select! {
            c = changes.recv(), if changes_open => match c {
                Ok(c) => Why::Source(c),
                Err(RecvError::Lagged(_)) => Why::Everything,
                Err(RecvError::Closed) => { changes_open = false; continue; }
            },
            r = metadata.changed() => match r {
                Ok(()) => Why::Metadata,
                Err(_) => return,
            },
            () = token_timer => Why::Tokens,
            () = shared.deleting.cancelled() => return,
        };
        let pod = shared.lock().pod.clone();
        if let Why::Source(c) = &why
            && c.namespace != pod.metadata.namespace.as_deref().unwrap_or("default")
        {
            continue;
        }
        update(&shared, &pod, &why).await;
    }
}

async fn update(shared: &Shared, pod: &Pod, why: &Why) {
    let mounted = shared.volumes.mounted();
    let wanted = referenced(pod);
    let volumes: Vec<&Volume> = pod
        .spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .filter(|v| wanted.contains(&v.name))
        .collect();
    let missing = volumes.iter().any(|v| !mounted.contains_key(&v.name));
    if missing && matches!(why, Why::Source(_) | Why::Everything) {
        // The worker is waiting for a source: retry now.
        shared.volumes.retry_now.store(true, Ordering::SeqCst);
        let _ = shared.notify.send(());
    }
    let affected: BTreeSet<&str> = volumes
        .iter()
        .filter(|v| mounted.contains_key(&v.name) && api_data(v))
        .filter(|v| match why {
            Why::Source(c) => uses_source(v, c),
            Why::Everything => true,
            Why::Metadata => uses_metadata(v),
            Why::Tokens => uses_tokens(v),
        })
        .map(|v| v.name.as_str())
        .collect();
    if affected.is_empty() {
        return;
    }
    let host = shared.ctx.runtime.volumes();
    let _w = shared.volumes.write_lock.lock().await;
    for v in volumes
        .iter()
        .filter(|v| affected.contains(v.name.as_str()))
    {
        let Some(m) = mounted.get(&v.name) else {
            continue;
        };
        let ownership = nodelet_runtime::volume::Ownership {
            fs_group: super::fs_group(pod),
            read_only: true,
        };
        let result = match payload::volume_payload(shared, pod, v).await {
            Ok(p) => host
                .write_payload(&m.path, &p, ownership, &payload::context(pod, &v.name))
                .await
                .map_err(|e| e.0),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            // The files keep their last good version, as upstream.
            shared.event(
                None,
                EventType::Warning,
                "FailedMount",
                &messages::setup_failed(&v.name, &e),
            );
        }
    }
}
