//! The engine's facade: what the CLI and the API call. It owns the pod
//! workers, applies manifests, deletes pods, answers reads from the
//! workers' in-memory records and fans out changes to subscribers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use nodelet_runtime::Runtime;
use nodelet_spec::Object;
use nodelet_store::Store;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::broadcast::{CHANNEL_CAPACITY, EngineEvent};
use crate::clock::Clock;
use crate::config::EngineConfig;
use crate::error::{EngineError, Result};
use crate::events::Recorder;
use crate::hooks::HookRunner;
use crate::podkey::PodKey;
use crate::status;
use crate::worker::ctx::EngineCtx;
use crate::worker::state::PodRecord;
use crate::worker::{Worker, WorkerHandle};

/// How long a removed pod's last status stays readable through
/// [`Engine::removed_pod`] (node mode needs it for the moments between the
/// removal and its status reporter's final patch; kept until the next
/// pod is admitted after this).
pub const REMOVED_KEPT: std::time::Duration = std::time::Duration::from_secs(60);

/// Drops the handles of pods removed [`REMOVED_KEPT`] before `now` or
/// earlier; returns how many.
fn prune(pods: &mut HashMap<PodKey, WorkerHandle>, now: tokio::time::Instant) -> usize {
    let before = pods.len();
    pods.retain(|_, h| {
        h.shared
            .removed_at()
            .is_none_or(|at| now.saturating_duration_since(at) < REMOVED_KEPT)
    });
    before - pods.len()
}

mod conditions;
mod update;

/// What `apply` did with one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyAction {
    Created,
    Configured,
    Unchanged,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
    pub action: ApplyAction,
}

/// Which events `list_events` returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub namespace: Option<String>,
    /// Only events about this pod name.
    pub pod: Option<String>,
}

pub struct Engine {
    ctx: Arc<EngineCtx>,
    pods: Arc<Mutex<HashMap<PodKey, WorkerHandle>>>,
    shutdown: CancellationToken,
    /// Stored pods not re-adopted yet after a restart, as last stored:
    /// served to readers until their worker publishes (see [`adopt`]).
    restoring: Arc<Mutex<HashMap<PodKey, Pod>>>,
    /// `true` once every stored pod has its worker again and what deleted
    /// pods left is queued for release; pod changes wait for it.
    adopted: tokio::sync::watch::Receiver<bool>,
    adoption: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Pods that may still be active, for the `--max-pods` count: built
    /// from every pod at the first admission, then only admitted pods are
    /// added and ended ones pruned, so a node holding thousands of rejected
    /// (Failed) pods does not scan them all on every create.
    active: Mutex<Option<std::collections::HashSet<PodKey>>>,
}

fn namespace_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> String {
    meta.namespace
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "default".to_owned())
}

impl Engine {
    /// Builds the engine and resumes the pods recorded in the store,
    /// adopting their running containers (see [`crate::recover`]); returns
    /// once every pod is re-adopted. Must be called inside a tokio runtime.
    pub async fn new(
        runtime: Arc<dyn Runtime>,
        store: Arc<Store>,
        clock: Arc<dyn Clock>,
        config: EngineConfig,
    ) -> Result<Engine> {
        let sources = Arc::new(crate::sources::StoreSources::new(store.clone()));
        let engine = Engine::with_sources(runtime, store, clock, sources, config).await?;
        engine.adopted().await;
        Ok(engine)
    }

    /// [`Engine::new`] with ConfigMaps, Secrets and Services looked up in
    /// `sources` rather than the store (node mode: the API server's), and
    /// returning as soon as the stored pods can be read: re-adoption goes
    /// on in the background ([`Engine::adopted`]). Until it ends, reads
    /// serve each pod as stored until its worker publishes it, and pod
    /// changes are refused with [`EngineError::Adopting`].
    pub async fn with_sources(
        runtime: Arc<dyn Runtime>,
        store: Arc<Store>,
        clock: Arc<dyn Clock>,
        sources: Arc<dyn crate::sources::Sources>,
        config: EngineConfig,
    ) -> Result<Engine> {
        let (tx, _) = broadcast::channel(CHANNEL_CAPACITY);
        let recorder = Recorder::new(
            store.clone(),
            clock.clone(),
            tx.clone(),
            config.node_name.clone(),
        );
        crate::failpoints::setup()?;
        // A store grown sparse (many pods come and gone) is rewritten once
        // here, while nothing else uses it.
        match store.compact_if_sparse(32 << 20) {
            Ok(true) => tracing::info!(path = %store.path().display(), "state store compacted"),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "could not compact the state store"),
        }
        let ctx = Arc::new(EngineCtx {
            hooks: HookRunner::with_options(runtime.clone(), clock.clone(), config.hooks),
            teardown: crate::teardown::Teardown::new(runtime.clone(), store.clone()),
            metrics: crate::metrics::Metrics::new(),
            storage: crate::storage::Storage::default(),
            removals: tokio::sync::watch::channel(0).0,
            runtime,
            store,
            clock,
            sources,
            recorder,
            config,
            tx,
            computed: broadcast::channel(crate::broadcast::CHANNEL_CAPACITY).0,
            allocations: Default::default(),
        });
        let stored = crate::recover::stored_pods(&ctx)?;
        let restoring: HashMap<PodKey, Pod> =
            stored.iter().map(|p| (PodKey::of(p), p.clone())).collect();
        let (adopted_tx, adopted) = tokio::sync::watch::channel(false);
        let engine = Engine {
            ctx,
            pods: Arc::new(Mutex::new(HashMap::new())),
            shutdown: CancellationToken::new(),
            restoring: Arc::new(Mutex::new(restoring)),
            adopted,
            adoption: Mutex::new(None),
            active: Mutex::new(None),
        };
        // Once a failed store recovers, every pod writes its status again.
        {
            let mut recovered = engine.ctx.storage.recovered();
            let pods = engine.pods.clone();
            let stop = engine.shutdown.child_token();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        r = recovered.changed() => if r.is_err() { return },
                        () = stop.cancelled() => return,
                    }
                    let shared: Vec<_> = pods
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .values()
                        .map(|h| h.shared.clone())
                        .collect();
                    for s in shared {
                        s.publish();
                    }
                }
            });
        }
        tokio::spawn(
            crate::events::expiry::Sweeper {
                store: engine.ctx.store.clone(),
                clock: engine.ctx.clock.clone(),
                ttl: engine.ctx.config.event_ttl,
                retention: engine.ctx.config.retention,
                events_dropped: engine.ctx.metrics.events_dropped.clone(),
                sweeps: engine.ctx.metrics.retention_sweeps.clone(),
            }
            .run(engine.shutdown.child_token()),
        );
        let task = tokio::spawn(adopt(
            engine.ctx.clone(),
            engine.pods.clone(),
            engine.restoring.clone(),
            stored,
            engine.shutdown.clone(),
            adopted_tx,
        ));
        *engine.adoption.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
        Ok(engine)
    }

    /// Resolves once every stored pod is re-adopted (at once after that).
    pub async fn adopted(&self) {
        let mut rx = self.adopted.clone();
        let _ = rx.wait_for(|done| *done).await;
    }

    /// Whether re-adoption after the restart has ended.
    pub fn is_adopted(&self) -> bool {
        *self.adopted.borrow()
    }

    /// Pod changes wait for re-adoption: a pod not yet re-adopted has no
    /// worker, and a new one must not be taken for what a deleted pod left.
    fn check_adopted(&self) -> Result<()> {
        if self.is_adopted() {
            Ok(())
        } else {
            Err(EngineError::Adopting)
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<PodKey, WorkerHandle>> {
        self.pods.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records services, config maps and secrets, and starts pods. Objects
    /// must already be defaulted and validated. A pod whose name exists
    /// with another spec is refused (pods are immutable; delete first).
    pub fn apply(&self, objects: Vec<Object>) -> Result<Vec<Applied>> {
        if self.shutdown.is_cancelled() {
            return Err(EngineError::ShutDown);
        }
        let mut out = Vec::with_capacity(objects.len());
        for object in objects {
            let kind = object.kind();
            let applied = match object {
                Object::Pod(pod) => self.apply_pod(*pod)?,
                Object::Service(o) => self.apply_plain(kind, &o.metadata, &*o)?,
                Object::ConfigMap(o) => self.apply_plain(kind, &o.metadata, &*o)?,
                Object::Secret(o) => self.apply_plain(kind, &o.metadata, &*o)?,
                Object::ServiceAccount(o) => self.apply_plain(kind, &o.metadata, &*o)?,
            };
            out.push(applied);
        }
        Ok(out)
    }

    /// Like [`Engine::apply`] for one object, but an object of that name
    /// must not exist yet (`AlreadyExists`), as a REST create.
    pub fn create(&self, object: Object) -> Result<Applied> {
        let kind = object.kind();
        let (namespace, name) = (
            namespace_of(object.metadata()),
            object.metadata().name.clone(),
        );
        let name = name.unwrap_or_default();
        let exists = match &object {
            Object::Pod(_) => self.get_pod(&namespace, &name).is_some(),
            _ => self
                .ctx
                .store
                .get_object(kind, &namespace, &name)?
                .is_some(),
        };
        if exists {
            return Err(EngineError::AlreadyExists {
                kind,
                namespace,
                name,
            });
        }
        let mut applied = self.apply(vec![object])?;
        applied.pop().ok_or(EngineError::ShutDown)
    }

    /// Removes a Service, ConfigMap or Secret at once, returning it. Pods
    /// go through [`Engine::delete_pod`] (graceful termination).
    pub fn delete_object(
        &self,
        kind: &'static str,
        namespace: &str,
        name: &str,
    ) -> Result<serde_json::Value> {
        if kind == "Pod" {
            return Err(EngineError::Invalid {
                what: "kind".to_owned(),
                reason: "pods are deleted with delete_pod".to_owned(),
            });
        }
        let not_found = || EngineError::NotFound {
            kind,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        };
        let (value, _) = self
            .ctx
            .store
            .get_object(kind, namespace, name)?
            .ok_or_else(not_found)?;
        self.ctx
            .store
            .delete_object(kind, namespace, name)?
            .ok_or_else(not_found)?;
        Ok(value)
    }

    /// The runtime id of a pod's container (regular, init or sidecar) as it
    /// is now, for exec, attach and logs.
    pub fn container_id(&self, namespace: &str, pod: &str, container: &str) -> Option<String> {
        let pods = self.lock();
        let h = pods.get(&PodKey::new(namespace, pod))?;
        let rec = h.shared.lock();
        let slot = rec.slots.iter().find(|s| s.spec.name == container)?;
        match (&slot.current, &slot.phase) {
            (Some(c), _) => Some(c.id.clone()),
            (None, crate::worker::state::SlotPhase::Done { term }) => {
                Some(term.container_id.clone())
            }
            _ => None,
        }
    }

    /// The runtime id of the pod's sandbox once it exists (port forwarding
    /// goes to it directly).
    pub fn sandbox_id(&self, namespace: &str, pod: &str) -> Option<String> {
        let pods = self.lock();
        let h = pods.get(&PodKey::new(namespace, pod))?;
        let rec = h.shared.lock();
        rec.sandbox.as_ref().map(|s| s.id.clone())
    }

    /// The runtime the engine drives (exec, logs, stats go to it directly).
    pub fn runtime(&self) -> Arc<dyn Runtime> {
        self.ctx.runtime.clone()
    }

    /// The store the engine writes pods, events and records to.
    pub fn store(&self) -> Arc<Store> {
        self.ctx.store.clone()
    }

    fn apply_plain<T: serde::Serialize>(
        &self,
        kind: &'static str,
        meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
        object: &T,
    ) -> Result<Applied> {
        let namespace = namespace_of(meta);
        let name = meta.name.clone().unwrap_or_default();
        let mut value = serde_json::to_value(object).map_err(|e| EngineError::Invalid {
            what: kind.to_owned(),
            reason: e.to_string(),
        })?;
        value["metadata"]["namespace"] = serde_json::Value::String(namespace.clone());
        let existing = self.ctx.store.get_object(kind, &namespace, &name)?;
        let action = match existing {
            None => ApplyAction::Created,
            Some((old, _)) if strip_volatile(&old) == strip_volatile(&value) => {
                ApplyAction::Unchanged
            }
            Some(_) => ApplyAction::Configured,
        };
        if action != ApplyAction::Unchanged {
            if value["metadata"]["uid"].is_null() {
                value["metadata"]["uid"] =
                    serde_json::Value::String(uuid::Uuid::new_v4().to_string());
            }
            if let Err(e) = self.ctx.store.put_object(kind, &namespace, &name, &value) {
                // A full or failing disk is the node's problem, not this
                // object's: reported, new pods refused until it recovers.
                self.ctx.storage.failed(&self.ctx, &e);
                return Err(e.into());
            }
        }
        Ok(Applied {
            kind,
            namespace,
            name,
            action,
        })
    }

    fn apply_pod(&self, mut pod: Pod) -> Result<Applied> {
        self.check_adopted()?;
        // The store may have failed a write the engine did not make (the
        // API's own objects): the same degraded state.
        if self.ctx.storage.unavailable().is_none()
            && let Some(u) = self.ctx.store.unavailable()
        {
            let e = nodelet_store::StoreError::Unavailable {
                path: self.ctx.store.path().to_path_buf(),
                kind: u.kind,
                detail: u.detail,
            };
            self.ctx.storage.failed(&self.ctx, &e);
        }
        if let Some(u) = self.ctx.storage.unavailable() {
            return Err(EngineError::StorageUnavailable(format!(
                "the state store {} is {} ({})",
                self.ctx.store.path().display(),
                u.kind.describe(),
                u.detail
            )));
        }
        let namespace = namespace_of(&pod.metadata);
        pod.metadata.namespace = Some(namespace.clone());
        // Admitted pods are bound to this node, as the scheduler would bind
        // them: `spec.nodeName` is what kubectl's NODE column and the
        // downward API read. Done before the comparison below so that
        // re-applying the same manifest stays `Unchanged`.
        if let Some(spec) = pod.spec.as_mut()
            && spec.node_name.as_deref().unwrap_or("").is_empty()
        {
            spec.node_name = Some(self.ctx.config.node_name.clone());
        }
        let key = PodKey::of(&pod);
        let mut pods = self.lock();
        if let Some(h) = pods.get(&key)
            && h.live()
        {
            let same = h.shared.lock().pod.spec == pod.spec;
            if same {
                return Ok(Applied {
                    kind: "Pod",
                    namespace,
                    name: key.name,
                    action: ApplyAction::Unchanged,
                });
            }
            return Err(EngineError::AlreadyExists {
                kind: "Pod",
                namespace,
                name: key.name,
            });
        }
        let uid = pod
            .metadata
            .uid
            .clone()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        pod.metadata.uid = Some(uid.clone());
        // Pods that come from an API server already carry their creation
        // time; only pods admitted here get one now.
        if pod.metadata.creation_timestamp.is_none() {
            pod.metadata.creation_timestamp = Some(Time(self.ctx.clock.now()));
        }
        pod.status = None;
        let mut rec = PodRecord::new(key.clone(), uid, pod, self.ctx.config.host_ips.clone());
        rec.acknowledge(self.ctx.clock.now());
        // The kubelet's pod-count admission: beyond `--max-pods` the pod
        // exists but never runs (ended by the agent, as `rejectPod`).
        let rejected = self.ctx.config.max_pods.and_then(|max| {
            let mut active = self.active.lock().unwrap_or_else(|e| e.into_inner());
            let active = active.get_or_insert_with(|| pods.keys().cloned().collect());
            active.retain(|k| {
                pods.get(k).is_some_and(|h| {
                    h.live() && !status::is_terminal(status::phase(&h.shared.lock()))
                })
            });
            let refused = nodelet_spec::capacity::out_of_pods(active.len(), max);
            if refused.is_none() {
                active.insert(key.clone());
            }
            refused
        });
        if let Some(message) = &rejected {
            tracing::warn!(pod = %key.name, namespace = %key.namespace, reason = nodelet_spec::capacity::REASON_OUT_OF_PODS, "rejecting pod: {message}");
            rec.terminal = Some((
                nodelet_spec::capacity::REASON_OUT_OF_PODS.to_owned(),
                format!("{}{message}", nodelet_spec::capacity::REJECTED_PREFIX),
            ));
            self.ctx
                .metrics
                .pod_rejected(nodelet_spec::capacity::REASON_OUT_OF_PODS);
        }
        let handle = Worker::spawn(
            self.ctx.clone(),
            rec,
            self.shutdown.child_token(),
            crate::recover::Recovered::default(),
        );
        if let Some(message) = &rejected {
            handle.shared.event(
                None,
                crate::events::EventType::Warning,
                nodelet_spec::capacity::REASON_OUT_OF_PODS,
                message,
            );
        }
        // Visible to readers at once, before the worker's first publish.
        handle.shared.publish();
        // A removed pod's handle serves `removed_pod` for a while, then
        // goes: names that never come back (a Job's pods) must not grow
        // the map for ever.
        prune(&mut pods, self.ctx.clock.instant());
        pods.insert(key.clone(), handle);
        Ok(Applied {
            kind: "Pod",
            namespace,
            name: key.name,
            action: ApplyAction::Created,
        })
    }

    /// Starts deleting a pod: grace from the request, else the spec's
    /// (0 → at least 1 s for running containers). A second delete can only
    /// shorten the recorded grace. Returns the pod as it is now
    /// (Terminating, with deletionTimestamp).
    pub fn delete_pod(
        &self,
        namespace: &str,
        name: &str,
        grace_seconds: Option<i64>,
    ) -> Result<Pod> {
        self.check_adopted()?;
        let key = PodKey::new(namespace, name);
        let shared = {
            let pods = self.lock();
            match pods.get(&key) {
                Some(h) if h.live() => h.shared.clone(),
                _ => {
                    return Err(EngineError::NotFound {
                        kind: "Pod",
                        namespace: namespace.to_owned(),
                        name: name.to_owned(),
                    });
                }
            }
        };
        {
            let mut rec = shared.lock();
            let terminal = status::is_terminal(status::phase(&rec));
            let requested =
                nodelet_spec::grace::deletion_grace(grace_seconds, rec.spec_grace(), terminal);
            let grace = match rec.deletion_grace {
                Some(existing) => {
                    let grace = nodelet_spec::grace::redelete_grace(existing, requested);
                    if grace < existing {
                        shared.grace_shrunk.send_modify(|n| *n += 1);
                    }
                    grace
                }
                None => requested,
            };
            rec.deletion_grace = Some(grace);
            rec.pod.metadata.deletion_grace_period_seconds = Some(grace);
            let now = self.ctx.clock.now();
            if rec.pod.metadata.deletion_timestamp.is_none() {
                rec.pod.metadata.deletion_timestamp = Some(Time(now));
            }
            let mut m = nodelet_timeline::Mark::new(nodelet_timeline::MarkKind::PodDeleted, now);
            m.grace_seconds = Some(grace);
            rec.mark(m);
        }
        shared.publish();
        shared.deleting.cancel();
        shared.pod().ok_or_else(|| EngineError::NotFound {
            kind: "Pod",
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        })
    }

    /// The pod with its current status, `None` once it is gone.
    pub fn get_pod(&self, namespace: &str, name: &str) -> Option<Pod> {
        let key = PodKey::new(namespace, name);
        if let Some(h) = self.lock().get(&key) {
            if !h.live() {
                return None;
            }
            if let Some(p) = h.shared.pod() {
                return Some(p);
            }
        }
        self.restoring_lock().get(&key).cloned()
    }

    /// The last status the engine published for pod `uid`, once it has
    /// removed that pod (its containers stopped), while no newer pod of the
    /// name replaced it (kept [`REMOVED_KEPT`] at least). Node mode
    /// finishing a deletion whose final status the status reporter has not
    /// sent yet sends this one, the pod's true end, rather than one made up
    /// without the engine.
    pub fn removed_pod(&self, namespace: &str, name: &str, uid: &str) -> Option<Pod> {
        let pods = self.lock();
        let h = pods.get(&PodKey::new(namespace, name))?;
        if h.live() {
            return None;
        }
        h.shared
            .pod()
            .filter(|p| p.metadata.uid.as_deref() == Some(uid))
    }

    /// Forgets the pods removed [`REMOVED_KEPT`] ago or longer (admission
    /// does it too); returns how many went. For whoever wants what they
    /// held freed without waiting for the next pod (see [`Engine::removals`]).
    pub fn prune_removed(&self) -> usize {
        let mut pods = self.lock();
        prune(&mut pods, self.ctx.clock.instant())
    }

    /// Counts the pods removed from the node, changing at each removal
    /// (after its `PodDeleted`). A removed pod's handle, with its record,
    /// stays [`REMOVED_KEPT`]; the agent uses this to return memory to the
    /// system once a burst of deletions is over, without a periodic timer.
    pub fn removals(&self) -> tokio::sync::watch::Receiver<u64> {
        self.ctx.removals.subscribe()
    }

    /// Whether any pod (live, or stored and being re-adopted) is in
    /// `namespace`, without copying any: a namespace lookup per request
    /// must not cost a copy of every pod.
    pub fn has_pods_in(&self, namespace: &str) -> bool {
        self.lock()
            .iter()
            .any(|(k, h)| k.namespace == namespace && h.live())
            || self
                .restoring_lock()
                .keys()
                .any(|k| k.namespace == namespace)
    }

    /// Every pod on the node, sorted by namespace and name.
    pub fn list_pods(&self) -> Vec<Pod> {
        let mut out: std::collections::BTreeMap<PodKey, Pod> = {
            let pods = self.lock();
            pods.iter()
                .filter(|(_, h)| h.live())
                .filter_map(|(k, h)| Some((k.clone(), h.shared.pod()?)))
                .collect()
        };
        if !self.is_adopted() {
            let restoring = self.restoring_lock();
            for (k, p) in restoring.iter() {
                out.entry(k.clone()).or_insert_with(|| p.clone());
            }
        }
        out.into_values().collect()
    }

    fn restoring_lock(&self) -> MutexGuard<'_, HashMap<PodKey, Pod>> {
        self.restoring.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stored events, oldest first (by first timestamp).
    pub fn list_events(&self, filter: &EventFilter) -> Result<Vec<Event>> {
        let mut events: Vec<Event> = self
            .ctx
            .store
            .list_objects("Event", filter.namespace.as_deref())?
            .into_iter()
            .filter_map(|(v, _)| serde_json::from_value::<Event>(v).ok())
            .filter(|e| {
                filter
                    .pod
                    .as_ref()
                    .is_none_or(|p| e.involved_object.name.as_deref() == Some(p.as_str()))
            })
            .collect();
        events.sort_by(|a, b| {
            let ka = (
                a.first_timestamp.as_ref().map(|t| t.0),
                a.metadata.name.clone(),
            );
            let kb = (
                b.first_timestamp.as_ref().map(|t| t.0),
                b.metadata.name.clone(),
            );
            ka.cmp(&kb)
        });
        Ok(events)
    }

    /// The Prometheus text of the engine's metrics (for `/metrics` of
    /// `nodelet serve` and of node mode's kubelet server), with the gauges
    /// (running pods and containers, stop signals) taken now.
    pub fn metrics_text(&self) -> String {
        let m = &self.ctx.metrics;
        let shared: Vec<_> = self.lock().values().map(|h| h.shared.clone()).collect();
        let (mut pods, mut running, mut exited, mut created) = (0i64, 0i64, 0i64, 0i64);
        let mut signals: std::collections::BTreeMap<String, i64> = Default::default();
        for s in shared {
            let rec = s.lock();
            if rec.sandbox.is_some() {
                pods += 1;
            }
            for slot in &rec.slots {
                match &slot.phase {
                    crate::worker::state::SlotPhase::Running { .. } => {
                        running += 1;
                        if let Some(c) = &slot.current {
                            *signals.entry(c.stop_signal.to_string()).or_default() += 1;
                        }
                    }
                    crate::worker::state::SlotPhase::Starting { .. } => created += 1,
                    crate::worker::state::SlotPhase::Exited { term: Some(_), .. }
                    | crate::worker::state::SlotPhase::Done { .. } => exited += 1,
                    _ => {}
                }
            }
        }
        m.running_pods.set(pods);
        for (state, n) in [
            ("running", running),
            ("exited", exited),
            ("created", created),
        ] {
            m.running_containers
                .get_or_create(&crate::metrics::StateLabel {
                    container_state: state.to_owned(),
                })
                .set(n);
        }
        m.stop_signals.clear();
        for (signal, n) in signals {
            m.stop_signals
                .get_or_create(&crate::metrics::SignalLabel { signal })
                .set(n);
        }
        m.encode()
    }

    /// Why new pods are refused now, if they are (the state store cannot
    /// take writes).
    pub fn storage_unavailable(&self) -> Option<String> {
        self.ctx.storage.unavailable().map(|u| {
            format!(
                "the state store {} is {} ({})",
                self.ctx.store.path().display(),
                u.kind.describe(),
                u.detail
            )
        })
    }

    /// Pod changes, removals and events as they happen.
    pub fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        self.ctx.tx.subscribe()
    }

    /// Each changed pod as soon as its status is computed, before the
    /// durable write that [`EngineEvent::PodUpdated`] follows: for what
    /// acts on the node itself and is rebuilt from the engine at start
    /// anyway (the services data plane), so a readiness change reaches it
    /// without waiting for the fsync. Everything sent here is later sent
    /// as `PodUpdated` (with the store's resourceVersion); per pod, in
    /// order. API-facing consumers keep using [`Engine::subscribe`].
    pub fn subscribe_computed(&self) -> broadcast::Receiver<Arc<Pod>> {
        self.ctx.computed.subscribe()
    }

    /// Resolves once the pod is removed (at once if it does not exist).
    pub async fn wait_pod_gone(&self, namespace: &str, name: &str) {
        let rx = {
            let pods = self.lock();
            pods.get(&PodKey::new(namespace, name))
                .map(|h| h.gone.clone())
        };
        if let Some(mut rx) = rx {
            let _ = rx.wait_for(|g| *g).await;
        }
    }

    /// Stops every pod worker without touching containers (they outlive
    /// the agent and are adopted on the next start).
    pub async fn shutdown(&self) {
        self.shutdown.cancel();
        let adoption = self
            .adoption
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(t) = adoption {
            let _ = t.await;
        }
        let tasks: Vec<_> = {
            let mut pods = self.lock();
            pods.drain().map(|(_, h)| h.task).collect()
        };
        for t in tasks {
            let _ = t.await;
        }
        self.resources_released().await;
        self.ctx.runtime.shutdown().await;
    }

    /// Resolves once the containers and sandboxes of every deleted pod are
    /// released (see [`crate::teardown`]): a pod leaves the API when its
    /// containers stopped, their removal finishes in the background.
    pub async fn resources_released(&self) {
        self.ctx.teardown.idle().await;
    }
}

/// An object's JSON without fields the server sets, for "unchanged".
fn strip_volatile(v: &serde_json::Value) -> serde_json::Value {
    let mut v = v.clone();
    if let Some(meta) = v.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        meta.remove("uid");
        meta.remove("resourceVersion");
        meta.remove("creationTimestamp");
    }
    v
}

/// Re-adopts the stored pods after a restart (see [`crate::recover`]):
/// one read of the runtime's containers and sandboxes, then each pod's
/// worker started and its corrected status published (an exit that
/// happened while the agent was down with its real code and time), then
/// what pods deleted before the stop left is queued for release. A failed
/// read of the runtime is retried: the stored pods stay served meanwhile.
async fn adopt(
    ctx: Arc<EngineCtx>,
    pods: Arc<Mutex<HashMap<PodKey, WorkerHandle>>>,
    restoring: Arc<Mutex<HashMap<PodKey, Pod>>>,
    stored: Vec<Pod>,
    shutdown: CancellationToken,
    done: tokio::sync::watch::Sender<bool>,
) {
    let began = std::time::Instant::now();
    let snap = loop {
        match crate::recover::snapshot(&ctx).await {
            Ok(s) => break s,
            Err(e) => {
                tracing::error!(error = %e, "re-adopting pods: cannot list the runtime's containers; retrying");
                tokio::select! {
                    () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                    () = shutdown.cancelled() => return,
                }
            }
        }
    };
    let listed = began.elapsed();
    let live: std::collections::HashSet<String> = stored
        .iter()
        .filter_map(|p| p.metadata.uid.clone())
        .collect();
    let n = stored.len();
    let mut publishes = tokio::task::JoinSet::new();
    // Enough concurrent writers for group commit, not a thread per pod.
    let writers = Arc::new(tokio::sync::Semaphore::new(32));
    for pod in stored {
        if shutdown.is_cancelled() {
            return;
        }
        let (rec, took, deleting) = crate::recover::recover_pod(&ctx, &snap, pod).await;
        let key = rec.key.clone();
        let handle = Worker::spawn(ctx.clone(), rec, shutdown.child_token(), took);
        if deleting {
            handle.shared.deleting.cancel();
        }
        let shared = handle.shared.clone();
        pods.lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.clone(), handle);
        // Concurrent writes share the store's commits.
        let restoring = restoring.clone();
        let Ok(permit) = writers.clone().acquire_owned().await else {
            return;
        };
        publishes.spawn_blocking(move || {
            shared.publish();
            restoring
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&key);
            drop(permit);
        });
    }
    while publishes.join_next().await.is_some() {}
    // Finish the teardown of pods deleted before a stop or crash.
    for job in ctx.teardown.orphans(&live).await {
        tracing::info!(pod = %job.pod, "releasing what a deleted pod left");
        ctx.teardown.enqueue(job);
    }
    restoring.lock().unwrap_or_else(|e| e.into_inner()).clear();
    if n > 0 {
        tracing::info!(
            pods = n,
            listed_ms = listed.as_millis() as u64,
            total_ms = began.elapsed().as_millis() as u64,
            "re-adopted the stored pods"
        );
    }
    let _ = done.send(true);
}

// The API shares one engine across request handlers.
const _: () = {
    fn assert_send_sync<T: Send + Sync>() {}
    let _ = assert_send_sync::<Engine>;
};
