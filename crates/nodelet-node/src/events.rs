//! Events to the API server, as the kubelet's event recorder sends them
//! (core/v1 `Event`, `client-go/tools/record`): the engine's pod events
//! (already aggregated: a repeat bumps `count` and `lastTimestamp` of the
//! same named event) and the node's own (`Starting`, condition changes).
//!
//! How nodelet names itself here: as the kubelet does, `source.component:
//! kubelet`, `source.host: <node>`, `reportingComponent: kubelet`,
//! `reportingInstance: <node>`. Tools and Kubernetes' own e2e tests select
//! node agent events by `source=kubelet`, and `kubectl describe` shows
//! `kubelet` in its From column; the Node's `kubeletVersion`
//! (`v1.37.2-nodelet`) says which agent it is.
//!
//! A new event is POSTed; a repeat is a PATCH of count, lastTimestamp and
//! message (the recorder's `EventSinkImpl`), falling back to a POST when
//! the event expired meanwhile. Sending happens on one task, fed through a
//! bounded queue, so the engine never waits for the API server; pending
//! updates of one event collapse into the latest.

use std::collections::{HashMap, HashSet, VecDeque};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::error::{api_code, is_not_found};

/// The component name node mode reports (see the module comment).
pub const COMPONENT: &str = "kubelet";

/// Events waiting to be sent beyond this are dropped (the kubelet's
/// broadcaster drops too when its queue of 1000 is full).
const QUEUE: usize = 1000;

/// Posted event names remembered for turning repeats into PATCHes.
const REMEMBERED: usize = 4096;

/// Where events are handed in; cheap to clone.
#[derive(Clone)]
pub struct EventSink {
    tx: mpsc::Sender<Event>,
    node: String,
}

impl EventSink {
    /// The sink and the receiving end to give to [`EventPoster::run`].
    pub fn new(node: &str) -> (EventSink, mpsc::Receiver<Event>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        (
            EventSink {
                tx,
                node: node.to_owned(),
            },
            rx,
        )
    }

    /// Hands in an event recorded by the engine, re-labelled as the
    /// kubelet's.
    pub fn engine_event(&self, mut e: Event) {
        e.source = Some(EventSource {
            component: Some(COMPONENT.into()),
            host: Some(self.node.clone()),
        });
        e.reporting_component = Some(COMPONENT.into());
        e.reporting_instance = Some(self.node.clone());
        e.metadata.resource_version = None;
        e.metadata.uid = None;
        self.send(e);
    }

    /// Records a Normal event about the Node (kubelet's `nodeRef`; node
    /// events live in the `default` namespace).
    pub fn node_event(&self, node: &str, uid: Option<&str>, reason: &str, message: &str) {
        let now = Time(Timestamp::now());
        let suffix = now.0.as_nanosecond();
        let e = Event {
            metadata: ObjectMeta {
                name: Some(format!("{node}.{suffix:x}")),
                namespace: Some("default".into()),
                ..Default::default()
            },
            involved_object: ObjectReference {
                kind: Some("Node".into()),
                name: Some(node.into()),
                uid: uid.map(str::to_owned),
                ..Default::default()
            },
            type_: Some("Normal".into()),
            reason: Some(reason.into()),
            message: Some(message.into()),
            first_timestamp: Some(now.clone()),
            last_timestamp: Some(now),
            count: Some(1),
            ..Default::default()
        };
        self.engine_event(e);
    }

    fn send(&self, e: Event) {
        if let Err(mpsc::error::TrySendError::Full(e)) = self.tx.try_send(e) {
            tracing::warn!(
                reason = e.reason.as_deref().unwrap_or(""),
                "event queue full; dropping the event"
            );
        }
    }
}

/// Sends the events handed to the sink.
pub struct EventPoster {
    pub client: kube::Client,
}

impl EventPoster {
    pub async fn run(self, mut rx: mpsc::Receiver<Event>, stop: CancellationToken) {
        let mut posted = Remembered::default();
        // Latest version of each pending event, in arrival order.
        let mut pending: HashMap<(String, String), Event> = HashMap::new();
        let mut order: VecDeque<(String, String)> = VecDeque::new();
        loop {
            if order.is_empty() {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    e = rx.recv() => match e {
                        Some(e) => queue(&mut pending, &mut order, e),
                        None => return,
                    },
                }
            }
            while let Ok(e) = rx.try_recv() {
                queue(&mut pending, &mut order, e);
            }
            let Some(key) = order.pop_front() else {
                continue;
            };
            let Some(event) = pending.remove(&key) else {
                continue;
            };
            self.send(&mut posted, &key, event).await;
        }
    }

    async fn send(&self, posted: &mut Remembered, key: &(String, String), event: Event) {
        let api: Api<Event> = Api::namespaced(self.client.clone(), &key.0);
        let repeat = event.count.unwrap_or(1) > 1 && posted.contains(key);
        if repeat {
            let patch = json!({
                "count": event.count,
                "lastTimestamp": event.last_timestamp,
                "message": event.message,
            });
            match api
                .patch(&key.1, &PatchParams::default(), &Patch::Strategic(&patch))
                .await
            {
                Ok(_) => return,
                Err(e) if is_not_found(&e) => {}
                Err(e) => {
                    tracing::debug!(event = %key.1, error = %e, "updating event");
                    return;
                }
            }
        }
        match api.create(&PostParams::default(), &event).await {
            Ok(_) => posted.insert(key.clone()),
            // Sent before a restart: it is ours, update it.
            Err(e) if api_code(&e) == Some(409) => {
                posted.insert(key.clone());
                let patch = json!({
                    "count": event.count,
                    "lastTimestamp": event.last_timestamp,
                    "message": event.message,
                });
                let _ = api
                    .patch(&key.1, &PatchParams::default(), &Patch::Strategic(&patch))
                    .await;
            }
            Err(e) => tracing::debug!(event = %key.1, error = %e, "posting event"),
        }
    }
}

fn queue(
    pending: &mut HashMap<(String, String), Event>,
    order: &mut VecDeque<(String, String)>,
    e: Event,
) {
    let key = (
        e.metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into()),
        e.metadata.name.clone().unwrap_or_default(),
    );
    if pending.insert(key.clone(), e).is_none() {
        order.push_back(key);
    }
}

/// A bounded set of event names already on the server.
#[derive(Default)]
struct Remembered {
    set: HashSet<(String, String)>,
    order: VecDeque<(String, String)>,
}

impl Remembered {
    fn contains(&self, k: &(String, String)) -> bool {
        self.set.contains(k)
    }

    fn insert(&mut self, k: (String, String)) {
        if self.set.insert(k.clone()) {
            self.order.push_back(k);
            if self.order.len() > REMEMBERED
                && let Some(old) = self.order.pop_front()
            {
                self.set.remove(&old);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_events_are_relabelled_as_the_kubelets() {
        let (sink, mut rx) = EventSink::new("node-1");
        let e = Event {
            metadata: ObjectMeta {
                name: Some("p.1".into()),
                namespace: Some("default".into()),
                resource_version: Some("42".into()),
                ..Default::default()
            },
            source: Some(EventSource {
                component: Some("nodelet".into()),
                host: Some("other".into()),
            }),
            reporting_component: Some("nodelet".into()),
            ..Default::default()
        };
        sink.engine_event(e);
        let got = rx.try_recv().unwrap();
        let src = got.source.unwrap();
        assert_eq!(src.component.as_deref(), Some("kubelet"));
        assert_eq!(src.host.as_deref(), Some("node-1"));
        assert_eq!(got.reporting_component.as_deref(), Some("kubelet"));
        assert_eq!(got.reporting_instance.as_deref(), Some("node-1"));
        assert_eq!(got.metadata.resource_version, None);
    }

    #[test]
    fn repeats_collapse_into_the_latest_while_pending() {
        let mut pending = HashMap::new();
        let mut order = VecDeque::new();
        let ev = |count| Event {
            metadata: ObjectMeta {
                name: Some("p.1".into()),
                namespace: Some("ns".into()),
                ..Default::default()
            },
            count: Some(count),
            ..Default::default()
        };
        queue(&mut pending, &mut order, ev(1));
        queue(&mut pending, &mut order, ev(2));
        queue(&mut pending, &mut order, ev(3));
        assert_eq!(order.len(), 1);
        assert_eq!(pending[&("ns".into(), "p.1".into())].count, Some(3));
    }
}
