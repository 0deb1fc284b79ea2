//! Registering the Node and keeping its status, as the kubelet's
//! `registerWithAPIServer` and `syncNodeStatus` do: create the Node (or
//! adopt the existing one and reconcile its default labels), then every
//! `nodeStatusUpdateFrequency` (10 s) compute the status locally and PATCH
//! `nodes/status` only when it changed (heartbeat times aside) or
//! `nodeStatusReportFrequency` (5 min) passed. The node's own object is
//! watched (field selector `metadata.name`, the kubelet's node informer)
//! instead of read every period, so at idle the only API requests are
//! the Lease renewals. A deleted Node is registered again at once.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, NodeStatus};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher;
use serde_json::json;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::status::{StatusInputs, initial_node, node_status, status_changed};
use crate::config::NodeConfig;
use crate::error::api_code;
use crate::events::EventSink;
use crate::host::{self, HostInfo};

/// What the node's watch says about the Node object.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeView {
    /// Not listed yet.
    Unknown,
    Present(Box<Node>),
    /// Deleted (or absent from a fresh list).
    Absent,
}

/// Live facts the node status depends on, asked for at each period.
pub trait NodeFacts: Send + Sync + 'static {
    /// Why the node cannot run pods (empty when it can): the Ready
    /// condition's KubeletNotReady message parts.
    fn not_ready(&self) -> Vec<String>;
    /// The images in the node's store: names and size.
    fn images(&self) -> Vec<(Vec<String>, i64)>;
}

pub struct NodeSync {
    pub api: Api<Node>,
    pub cfg: Arc<NodeConfig>,
    pub host: HostInfo,
    pub facts: Arc<dyn NodeFacts>,
    pub events: EventSink,
    /// The registered Node's uid (the Lease's owner, node events' target).
    pub uid: watch::Sender<Option<String>>,
}

impl NodeSync {
    fn inputs(&self) -> StatusInputs<'_> {
        StatusInputs {
            cfg: &self.cfg,
            host: &self.host,
            pressure: host::pressure(&self.cfg.root, &self.cfg.eviction),
            not_ready: self.facts.not_ready(),
            images: self.facts.images(),
            now: Timestamp::now(),
        }
    }

    /// Runs until `stop`: registration, then the status loop.
    pub async fn run(self, stop: CancellationToken) {
        let (view_tx, mut view) = watch::channel(NodeView::Unknown);
        tokio::spawn(watch_node(
            self.api.clone(),
            self.cfg.node_name.clone(),
            view_tx,
            stop.clone(),
        ));
        self.events
            .node_event(&self.cfg.node_name, None, "Starting", "Starting kubelet.");
        let mut last: Option<NodeStatus> = None;
        let mut reported_at: Option<tokio::time::Instant> = None;
        let mut tick = tokio::time::interval(self.cfg.status_update_frequency);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut registered = false;
        let mut last_rv = 0u64;
        loop {
            if !registered {
                match self.register(&stop).await {
                    Some(node) => {
                        registered = true;
                        last = node.status;
                        // As the kubelet after a (re)start: report at once.
                        reported_at = None;
                    }
                    None => return,
                }
            }
            // The server's copy, when the watch has one at least as new as
            // what we last wrote, is what the status is compared with (the
            // kubelet's node lister): someone else's change (the node
            // lifecycle controller's Ready=Unknown) is then corrected at once.
            if let NodeView::Present(n) = &*view.borrow()
                && rv(n) >= last_rv
            {
                last = n.status.clone();
            }
            if let Some(v) = self.sync_status(&mut last, &mut reported_at).await {
                last_rv = v;
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
                changed = view.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    if *view.borrow_and_update() == NodeView::Absent {
                        tracing::warn!(node = %self.cfg.node_name, "the Node object was deleted; registering it again");
                        let _ = self.uid.send(None);
                        registered = false;
                    }
                }
            }
        }
    }

    /// Creates the Node, or adopts the one that exists; retried with the
    /// kubelet's back-off (100 ms doubling to 7 s). `None` when stopped.
    async fn register(&self, stop: &CancellationToken) -> Option<Node> {
        let mut step = Duration::from_millis(100);
        loop {
            let (node, events) = initial_node(&self.inputs());
            let name = self.cfg.node_name.clone();
            let registered = match self.api.create(&PostParams::default(), &node).await {
                Ok(n) => {
                    tracing::info!(node = %name, "registered the node");
                    for e in events {
                        self.events.node_event(
                            &name,
                            n.metadata.uid.as_deref(),
                            e.0,
                            &status_message(&name, e.0),
                        );
                    }
                    Some(n)
                }
                Err(e) if matches!(api_code(&e), Some(409) | Some(403)) => {
                    match self.reconcile_existing(&node).await {
                        Ok(n) => {
                            tracing::info!(node = %name, "the node was registered before; adopted it");
                            Some(n)
                        }
                        Err(e) => {
                            tracing::warn!(node = %name, error = %e, "reading the existing node");
                            None
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(node = %name, error = %e, "registering the node");
                    None
                }
            };
            if let Some(n) = registered {
                let _ = self.uid.send(n.metadata.uid.clone());
                return Some(n);
            }
            tokio::select! {
                _ = stop.cancelled() => return None,
                _ = tokio::time::sleep(step) => {}
            }
            step = (step * 2).min(Duration::from_secs(7));
        }
    }

    /// The kubelet's `updateDefaultLabels` on an existing Node: its default
    /// labels (hostname, os, arch) are set again if missing or different.
    async fn reconcile_existing(&self, wanted: &Node) -> Result<Node, kube::Error> {
        let existing = self.api.get(&self.cfg.node_name).await?;
        let have = existing.metadata.labels.clone().unwrap_or_default();
        let missing: serde_json::Map<String, serde_json::Value> = wanted
            .metadata
            .labels
            .iter()
            .flatten()
            .filter(|(k, v)| have.get(*k) != Some(*v))
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        if missing.is_empty() {
            return Ok(existing);
        }
        self.api
            .patch(
                &self.cfg.node_name,
                &PatchParams::default(),
                &Patch::Strategic(json!({"metadata": {"labels": missing}})),
            )
            .await
    }

    /// One `tryUpdateNodeStatus`: compute, and PATCH when changed or due.
    /// Returns the resourceVersion the patch produced.
    async fn sync_status(
        &self,
        last: &mut Option<NodeStatus>,
        reported_at: &mut Option<tokio::time::Instant>,
    ) -> Option<u64> {
        let (status, events) = node_status(&self.inputs(), last.as_ref());
        let changed = last.as_ref().is_none_or(|old| status_changed(old, &status));
        let due = reported_at.is_none_or(|t| t.elapsed() >= self.cfg.status_report_frequency);
        if !changed && !due {
            return None;
        }
        let name = &self.cfg.node_name;
        let patch = Patch::Strategic(json!({ "status": status }));
        match self
            .api
            .patch_status(name, &PatchParams::default(), &patch)
            .await
        {
            Ok(node) => {
                let v = rv(&node);
                *last = node.status.or(Some(status));
                *reported_at = Some(tokio::time::Instant::now());
                let uid = self.uid.borrow().clone();
                for e in events {
                    self.events
                        .node_event(name, uid.as_deref(), e.0, &status_message(name, e.0));
                }
                Some(v)
            }
            Err(e) => {
                tracing::warn!(node = %name, error = %e, "updating node status");
                None
            }
        }
    }
}

/// The resourceVersion as a number (etcd's revision; 0 if not one).
fn rv(n: &Node) -> u64 {
    n.metadata
        .resource_version
        .as_deref()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// `Node <name> status is now: <event>` (`recordNodeStatusEvent`).
fn status_message(node: &str, event: &str) -> String {
    format!("Node {node} status is now: {event}")
}

/// Watches the node's own object and publishes what it sees.
async fn watch_node(
    api: Api<Node>,
    name: String,
    tx: watch::Sender<NodeView>,
    stop: CancellationToken,
) {
    let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut stream = watcher(api, cfg).default_backoff().boxed();
    let mut seen = false;
    loop {
        let ev = tokio::select! {
            _ = stop.cancelled() => return,
            ev = stream.next() => ev,
        };
        let Some(ev) = ev else { return };
        match ev {
            Ok(watcher::Event::Init) => seen = false,
            Ok(watcher::Event::InitApply(n)) | Ok(watcher::Event::Apply(n)) => {
                seen = true;
                tx.send_replace(NodeView::Present(Box::new(n)));
            }
            Ok(watcher::Event::InitDone) => {
                if !seen {
                    tx.send_replace(NodeView::Absent);
                }
            }
            Ok(watcher::Event::Delete(_)) => {
                seen = false;
                tx.send_replace(NodeView::Absent);
            }
            Err(e) => tracing::debug!(node = %name, error = %e, "node watch"),
        }
    }
}
