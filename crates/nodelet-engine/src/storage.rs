//! When the state directory cannot take writes (full, read-only, I/O
//! errors): the engine reports it once (an error in the log, a Warning
//! event on the node), refuses new pods (the API answers 507), keeps every
//! running pod running on what it has in memory, and retries the store
//! until it takes writes again; then it says so and every pod's status is
//! written again (nothing already recorded is lost: the store never
//! rewrote it).
//!
//! Retrying is a timer, not an event: the kernel gives no notification
//! when space is freed. Every second, with a probe write of a few hundred
//! KiB before reopening the database, so a still-full disk costs little.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use nodelet_store::{StoreError, Unavailable};
use tokio::sync::watch;

use crate::broadcast::EngineEvent;
use crate::worker::ctx::EngineCtx;

/// How often an unavailable store is tried again.
pub const RETRY_EVERY: Duration = Duration::from_secs(1);

#[derive(Default)]
pub struct Storage {
    state: Mutex<Option<Unavailable>>,
    /// Bumped each time the store recovers (pods re-publish).
    recovered: watch::Sender<u64>,
}

impl Storage {
    /// Why new work is refused, when it is.
    pub fn unavailable(&self) -> Option<Unavailable> {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn recovered(&self) -> watch::Receiver<u64> {
        self.recovered.subscribe()
    }

    /// A store write failed with `e`; if the disk failed, enter the
    /// degraded state (once) and start retrying.
    pub fn failed(&self, ctx: &Arc<EngineCtx>, e: &StoreError) {
        let StoreError::Unavailable { kind, detail, .. } = e else {
            return;
        };
        {
            let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if st.is_some() {
                return;
            }
            *st = Some(Unavailable {
                kind: *kind,
                detail: detail.clone(),
            });
        }
        let msg = format!(
            "{e}; new pods are refused until it takes writes again, running pods keep running"
        );
        tracing::error!("{msg}");
        // Rarely storable now (the disk that failed holds the events too):
        // then written once the store recovers, so a list shows it.
        let unstored = node_event(ctx, "Warning", "NodeStorageUnavailable", &msg);
        let ctx = ctx.clone();
        tokio::spawn(async move {
            loop {
                ctx.clock.sleep(RETRY_EVERY).await;
                let store = ctx.store.clone();
                match tokio::task::spawn_blocking(move || store.recover()).await {
                    Ok(Ok(())) => break,
                    Ok(Err(e)) => tracing::debug!(error = %e, "state store still unavailable"),
                    Err(_) => {}
                }
            }
            *ctx.storage.state.lock().unwrap_or_else(|e| e.into_inner()) = None;
            let msg = format!(
                "the state store {} takes writes again; accepting new pods",
                ctx.store.path().display()
            );
            tracing::warn!("{msg}");
            if let Some((name, v)) = &unstored {
                let _ =
                    crate::store_io::durable(|| ctx.store.put_object("Event", "default", name, v));
            }
            node_event(&ctx, "Normal", "NodeStorageRecovered", &msg);
            ctx.storage.recovered.send_modify(|n| *n += 1);
        });
    }
}

/// An event about the node, broadcast (and stored when the store can);
/// returns its name and value when it could not be stored.
fn node_event(
    ctx: &EngineCtx,
    type_: &str,
    reason: &str,
    message: &str,
) -> Option<(String, serde_json::Value)> {
    let now = ctx.clock.now();
    let node = ctx.config.node_name.clone();
    let event = Event {
        metadata: ObjectMeta {
            name: Some(format!("{node}.{:x}", now.as_nanosecond())),
            namespace: Some("default".to_owned()),
            creation_timestamp: Some(Time(now)),
            ..Default::default()
        },
        involved_object: ObjectReference {
            api_version: Some("v1".to_owned()),
            kind: Some("Node".to_owned()),
            name: Some(node.clone()),
            uid: Some(node.clone()),
            ..Default::default()
        },
        type_: Some(type_.to_owned()),
        reason: Some(reason.to_owned()),
        message: Some(message.to_owned()),
        source: Some(EventSource {
            component: Some(crate::events::recorder::COMPONENT.to_owned()),
            host: Some(node.clone()),
        }),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        count: Some(1),
        reporting_component: Some(crate::events::recorder::COMPONENT.to_owned()),
        reporting_instance: Some(node),
        ..Default::default()
    };
    let mut unstored = None;
    if let Ok(v) = serde_json::to_value(&event) {
        let name = event.metadata.name.clone().unwrap_or_default();
        if crate::store_io::durable(|| ctx.store.put_object("Event", "default", &name, &v)).is_err()
        {
            unstored = Some((name, v));
        }
    }
    let _ = ctx.tx.send(EngineEvent::Event(Box::new(event)));
    unstored
}
