//! Records Kubernetes events for pods: builds the core/v1 `Event`, folds
//! repeats into one (see [`super::aggregate`]), persists it through the
//! store (kind `Event`) and broadcasts it.

use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use nodelet_store::Store;
use tokio::sync::broadcast;

use super::aggregate::{Aggregator, EventKey};
use super::types::EventType;
use crate::broadcast::EngineEvent;
use crate::clock::Clock;

/// The component name in `source.component` and `reportingComponent`.
pub const COMPONENT: &str = "nodelet";

/// What an event is about: a pod, optionally one of its containers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTarget {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    /// `spec.containers{name}` / `spec.initContainers{name}`, or none for
    /// the pod itself.
    pub field_path: Option<String>,
}

pub struct Recorder {
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
    tx: broadcast::Sender<EngineEvent>,
    host: String,
    state: Mutex<RecorderState>,
}

#[derive(Default)]
struct RecorderState {
    agg: Aggregator,
    /// Last name suffix handed out, so names stay unique under a paused clock.
    last_suffix: i128,
}

impl Recorder {
    pub fn new(
        store: Arc<Store>,
        clock: Arc<dyn Clock>,
        tx: broadcast::Sender<EngineEvent>,
        host: String,
    ) -> Self {
        Recorder {
            store,
            clock,
            tx,
            host,
            state: Mutex::new(RecorderState::default()),
        }
    }

    /// Records one event; failures to persist are logged, never fatal (the
    /// kubelet drops events it cannot send too).
    pub fn record(
        &self,
        target: &EventTarget,
        event_type: EventType,
        reason: &str,
        message: &str,
    ) -> Event {
        let now = self.clock.now();
        let key = EventKey {
            namespace: target.namespace.clone(),
            name: target.name.clone(),
            uid: target.uid.clone(),
            field_path: target.field_path.clone().unwrap_or_default(),
            type_: event_type.to_string(),
            reason: reason.to_owned(),
            message: message.to_owned(),
        };
        let event = {
            let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let event = match st.agg.existing(&key) {
                Some(prev) => {
                    let mut e = prev.clone();
                    e.count = Some(e.count.unwrap_or(1) + 1);
                    e.last_timestamp = Some(Time(now));
                    e
                }
                None => {
                    // Upstream names events `<object>.<unix nanos in hex>`.
                    let mut suffix = now.as_nanosecond();
                    if suffix <= st.last_suffix {
                        suffix = st.last_suffix + 1;
                    }
                    st.last_suffix = suffix;
                    self.new_event(target, event_type, reason, message, now, suffix)
                }
            };
            st.agg.remember(key, event.clone());
            event
        };
        self.persist(&event);
        let _ = self.tx.send(EngineEvent::Event(Box::new(event.clone())));
        event
    }

    pub fn forget_pod(&self, uid: &str) {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .agg
            .forget_uid(uid);
    }

    fn new_event(
        &self,
        target: &EventTarget,
        event_type: EventType,
        reason: &str,
        message: &str,
        now: jiff::Timestamp,
        suffix: i128,
    ) -> Event {
        Event {
            metadata: ObjectMeta {
                name: Some(format!("{}.{suffix:x}", target.name)),
                namespace: Some(target.namespace.clone()),
                creation_timestamp: Some(Time(now)),
                ..Default::default()
            },
            involved_object: ObjectReference {
                api_version: Some("v1".to_owned()),
                kind: Some("Pod".to_owned()),
                name: Some(target.name.clone()),
                namespace: Some(target.namespace.clone()),
                uid: Some(target.uid.clone()),
                field_path: target.field_path.clone(),
                ..Default::default()
            },
            type_: Some(event_type.to_string()),
            reason: Some(reason.to_owned()),
            message: Some(message.to_owned()),
            source: Some(EventSource {
                component: Some(COMPONENT.to_owned()),
                host: Some(self.host.clone()),
            }),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            count: Some(1),
            reporting_component: Some(COMPONENT.to_owned()),
            reporting_instance: Some(self.host.clone()),
            ..Default::default()
        }
    }

    fn persist(&self, event: &Event) {
        let ns = event.metadata.namespace.as_deref().unwrap_or("default");
        let name = event.metadata.name.as_deref().unwrap_or_default();
        let result = serde_json::to_value(event)
            .map_err(|e| e.to_string())
            .and_then(|v| {
                crate::store_io::durable(|| self.store.put_object("Event", ns, name, &v))
                    .map_err(|e| e.to_string())
            });
        if let Err(e) = result {
            tracing::warn!(event = name, error = %e, "could not persist event");
        }
    }
}
