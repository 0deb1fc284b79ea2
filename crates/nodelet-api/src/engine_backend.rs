//! The real Backend: `nodelet_engine::Engine` for pods (status, deletion
//! with grace), the engine's store for everything else and for the change
//! log watches are served from, [`EngineStreams`] (the runtime) for exec,
//! attach and log files.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::BoxStream;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use nodelet_engine::{Engine, EngineError};
use nodelet_runtime::{AttachRequest, InteractiveExec, InteractiveExecRequest, Runtime};
use nodelet_spec::Object;
use nodelet_store::{ChangeType, Store, StoreError};
use serde_json::{Value, json};

use crate::backend::{Backend, WatchEvent, WatchEventType};
use crate::error::ApiError;
use crate::kind::Kind;
use crate::streams::{EngineStreams, PodStreams};

/// Namespaces that always exist (there is no namespace controller).
const FIXED_NAMESPACES: [&str; 4] = ["default", "kube-system", "kube-public", "kube-node-lease"];

pub struct EngineBackend {
    engine: Arc<Engine>,
    store: Arc<Store>,
    streams: EngineStreams,
    started: Timestamp,
    runtime_version: String,
    max_pods: u32,
    /// Marked after every committed store write, whoever wrote (this
    /// adapter, the engine, the services controller): watches wait on it,
    /// so they see a write at once and never poll.
    written: tokio::sync::watch::Receiver<()>,
    /// Cluster IP and node port ranges; `None`: Services get none.
    service_ranges: Option<crate::service_alloc::ServiceRanges>,
    /// Serialises allocation with the write that records it.
    service_lock: tokio::sync::Mutex<()>,
    /// Serialises writes of the plain-JSON kinds (RBAC) with their checks.
    plain_lock: tokio::sync::Mutex<()>,
    /// Told (one permit) after every Service write: the services
    /// controller's wake-up.
    services_changed: Option<Arc<tokio::sync::Notify>>,
    /// The `default` ServiceAccount and `kube-root-ca.crt` of every
    /// namespace, when the API issues tokens.
    defaults: Option<crate::namespace_defaults::NamespaceDefaults>,
}

impl EngineBackend {
    /// `runtime_version` is what the node reports (`runc://1.1.5`).
    pub fn new(
        engine: Arc<Engine>,
        store: Arc<Store>,
        runtime: Arc<dyn Runtime>,
        runtime_version: impl Into<String>,
    ) -> Self {
        let (tx, written) = tokio::sync::watch::channel(());
        store.observe_writes(Arc::new(move || {
            tx.send_replace(());
        }));
        EngineBackend {
            streams: EngineStreams::new(engine.clone(), runtime),
            engine,
            store,
            started: Timestamp::now(),
            runtime_version: runtime_version.into(),
            max_pods: 110,
            written,
            service_ranges: None,
            service_lock: tokio::sync::Mutex::new(()),
            plain_lock: tokio::sync::Mutex::new(()),
            services_changed: None,
            defaults: None,
        }
    }

    /// `--max-pods`, which the node reports as `capacity.pods` (the engine
    /// enforces it).
    pub fn with_max_pods(mut self, max_pods: u32) -> Self {
        self.max_pods = max_pods;
        self
    }

    /// Allocates cluster IPs and node ports from `ranges` for Services
    /// written through this backend, and notifies `changed` after every
    /// Service write.
    pub fn with_services(
        mut self,
        ranges: crate::service_alloc::ServiceRanges,
        changed: Arc<tokio::sync::Notify>,
    ) -> Self {
        self.service_ranges = Some(ranges);
        self.services_changed = Some(changed);
        self
    }

    /// Cluster IP and node ports for a Service about to be written.
    fn allocate(&self, obj: &mut Object, old: Option<&Value>) -> Result<(), ApiError> {
        let (Some(ranges), Object::Service(svc)) = (&self.service_ranges, obj) else {
            return Ok(());
        };
        let existing: Vec<k8s_openapi::api::core::v1::Service> = self
            .store
            .list_objects("Service", None)
            .map_err(store_err)?
            .into_iter()
            .filter_map(|(v, _)| serde_json::from_value(v).ok())
            .collect();
        let old: Option<k8s_openapi::api::core::v1::Service> =
            old.and_then(|v| serde_json::from_value(v.clone()).ok());
        let name = svc.metadata.name.clone().unwrap_or_default();
        crate::service_alloc::allocate(svc, old.as_ref(), &existing, ranges, || {
            u64::from_le_bytes(
                uuid::Uuid::new_v4().as_bytes()[..8]
                    .try_into()
                    .unwrap_or([0; 8]),
            )
        })
        .map_err(|errs| ApiError::invalid("Service", &name, &errs))
    }

    fn services_written(&self) {
        if let Some(n) = &self.services_changed {
            n.notify_one();
        }
    }

    /// Every namespace gets its `default` ServiceAccount and the
    /// `kube-root-ca.crt` ConfigMap holding `ca_pem`, as a cluster's
    /// controllers make them.
    pub fn with_namespace_defaults(mut self, ca_pem: String) -> Self {
        let d = crate::namespace_defaults::NamespaceDefaults::new(ca_pem);
        for ns in FIXED_NAMESPACES {
            if let Err(e) = d.ensure(&self.store, ns) {
                tracing::warn!(namespace = ns, error = %e.message, "could not create namespace defaults");
            }
        }
        self.defaults = Some(d);
        self
    }

    fn ensure_defaults(&self, ns: Option<&str>) -> Result<(), ApiError> {
        let Some(d) = &self.defaults else {
            return Ok(());
        };
        match ns {
            Some(ns) => d.ensure(&self.store, ns),
            None => {
                for ns in self.namespaces()? {
                    d.ensure(&self.store, &ns)?;
                }
                Ok(())
            }
        }
    }
}

/// 507 Insufficient Storage: the state store cannot take writes (full,
/// read-only, I/O errors); the message says which and where.
fn insufficient_storage(message: String) -> ApiError {
    ApiError::new(507, "InsufficientStorage", message)
}

fn store_err(e: StoreError) -> ApiError {
    match e {
        StoreError::Gone { .. } => ApiError::gone(e.to_string()),
        StoreError::Unavailable { .. } => insufficient_storage(e.to_string()),
        e => ApiError::internal(e.to_string()),
    }
}

fn engine_err(e: EngineError, kind: Kind, name: &str) -> ApiError {
    match e {
        EngineError::NotFound { .. } => ApiError::not_found(kind.plural(), name),
        EngineError::AlreadyExists { .. } => ApiError::already_exists(kind.plural(), name),
        EngineError::Conflict { .. } => ApiError::conflict(kind.plural(), name),
        EngineError::ShutDown => {
            ApiError::new(503, "ServiceUnavailable", "the node agent is shutting down")
        }
        e @ EngineError::Adopting => ApiError::new(503, "ServiceUnavailable", e.to_string()),
        EngineError::Store(s) => store_err(s),
        e @ EngineError::StorageUnavailable(_) => insufficient_storage(e.to_string()),
        e => ApiError::internal(e.to_string()),
    }
}

fn encode<T: serde::Serialize>(v: &T) -> Result<Value, ApiError> {
    serde_json::to_value(v).map_err(|e| ApiError::internal(e.to_string()))
}

fn with_rv(mut v: Value, rv: u64) -> Value {
    v["metadata"]["resourceVersion"] = json!(rv.to_string());
    v
}

fn rv_of(v: &Value) -> u64 {
    v["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn names(obj: &mut Object) -> (Kind, String, String) {
    let m = crate::objects::meta(obj);
    let ns = m.namespace.clone().unwrap_or_else(|| "default".into());
    let name = m.name.clone().unwrap_or_default();
    let kind = match obj {
        Object::Pod(_) => Kind::Pod,
        Object::Service(_) => Kind::Service,
        Object::ConfigMap(_) => Kind::ConfigMap,
        Object::Secret(_) => Kind::Secret,
        Object::ServiceAccount(_) => Kind::ServiceAccount,
    };
    (kind, ns, name)
}

fn namespace_object(name: &str, created: Timestamp) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": name, "creationTimestamp": created.to_string(), "resourceVersion": "1",
                     "labels": {"kubernetes.io/metadata.name": name}},
        "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
}

impl EngineBackend {
    fn pod_value(&self, ns: &str, name: &str) -> Result<Value, ApiError> {
        let pod = self
            .engine
            .get_pod(ns, name)
            .ok_or_else(|| ApiError::not_found("pods", name))?;
        encode(&pod)
    }

    fn stored(&self, kind: Kind, ns: &str, name: &str) -> Result<(Value, u64), ApiError> {
        match self
            .store
            .get_object(kind.name(), ns, name)
            .map_err(store_err)?
        {
            Some((v, rv)) => Ok((with_rv(v, rv), rv)),
            None => Err(ApiError::not_found(kind.plural(), name)),
        }
    }

    /// Whether `name` is in [`Self::namespaces`], without listing every
    /// pod (admission asks for the pod's namespace on every create).
    fn namespace_exists(&self, name: &str) -> Result<bool, ApiError> {
        if FIXED_NAMESPACES.contains(&name) || self.engine.has_pods_in(name) {
            return Ok(true);
        }
        for kind in [
            Kind::Service,
            Kind::ConfigMap,
            Kind::Secret,
            Kind::ServiceAccount,
        ] {
            if !self
                .store
                .list_objects(kind.name(), Some(name))
                .map_err(store_err)?
                .is_empty()
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn namespaces(&self) -> Result<Vec<String>, ApiError> {
        let mut out: Vec<String> = FIXED_NAMESPACES.iter().map(|s| s.to_string()).collect();
        for p in self.engine.list_pods() {
            if let Some(ns) = p.metadata.namespace {
                out.push(ns);
            }
        }
        for kind in [
            Kind::Service,
            Kind::ConfigMap,
            Kind::Secret,
            Kind::ServiceAccount,
        ] {
            for (v, _) in self
                .store
                .list_objects(kind.name(), None)
                .map_err(store_err)?
            {
                if let Some(ns) = v["metadata"]["namespace"].as_str() {
                    out.push(ns.to_string());
                }
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    fn apply(&self, obj: Object, kind: Kind, name: &str) -> Result<(), ApiError> {
        self.engine
            .apply(vec![obj])
            .map_err(|e| engine_err(e, kind, name))?;
        Ok(())
    }

    fn read_back(&self, kind: Kind, ns: &str, name: &str) -> Result<Value, ApiError> {
        if kind == Kind::Pod {
            self.pod_value(ns, name)
        } else {
            Ok(self.stored(kind, ns, name)?.0)
        }
    }
}

#[async_trait]
impl PodStreams for EngineBackend {
    async fn pod(&self, ns: &str, name: &str) -> Result<Value, ApiError> {
        self.streams.pod(ns, name).await
    }

    async fn exec(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
        req: InteractiveExecRequest,
    ) -> Result<InteractiveExec, ApiError> {
        self.streams.exec(ns, pod, container, req).await
    }

    async fn attach(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
        req: AttachRequest,
    ) -> Result<InteractiveExec, ApiError> {
        self.streams.attach(ns, pod, container, req).await
    }

    async fn log_path(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
        previous: bool,
    ) -> Result<PathBuf, ApiError> {
        self.streams.log_path(ns, pod, container, previous).await
    }

    async fn port_forward(
        &self,
        ns: &str,
        pod: &str,
    ) -> Result<(Arc<dyn crate::portforward::streams::Connect>, String), ApiError> {
        self.streams.port_forward(ns, pod).await
    }
}

#[async_trait]
impl Backend for EngineBackend {
    async fn adopted(&self) {
        self.engine.adopted().await;
    }

    async fn create(&self, mut obj: Object) -> Result<Value, ApiError> {
        let (kind, ns, name) = names(&mut obj);
        let exists = if kind == Kind::Pod {
            self.engine.get_pod(&ns, &name).is_some()
        } else {
            self.store
                .get_object(kind.name(), &ns, &name)
                .map_err(store_err)?
                .is_some()
        };
        if exists {
            return Err(ApiError::already_exists(kind.plural(), &name));
        }
        self.ensure_defaults(Some(&ns))?;
        let m = crate::objects::meta(&mut obj);
        if m.creation_timestamp.is_none() {
            m.creation_timestamp = Some(Time(Timestamp::now()));
        }
        if kind == Kind::Service {
            let _held = self.service_lock.lock().await;
            if self
                .store
                .get_object("Service", &ns, &name)
                .map_err(store_err)?
                .is_some()
            {
                return Err(ApiError::already_exists(kind.plural(), &name));
            }
            self.allocate(&mut obj, None)?;
            self.apply(obj, kind, &name)?;
            self.services_written();
            return self.read_back(kind, &ns, &name);
        }
        self.apply(obj, kind, &name)?;
        self.read_back(kind, &ns, &name)
    }

    async fn replace(&self, mut obj: Object, expected_rv: Option<u64>) -> Result<Value, ApiError> {
        let (kind, ns, name) = names(&mut obj);
        let (cur, cur_rv) = self.get(kind, &ns, &name).await?;
        if expected_rv.is_some_and(|rv| rv != cur_rv) {
            return Err(ApiError::conflict(kind.plural(), &name));
        }
        if kind == Kind::Pod {
            // The one update path of the engine (node mode uses it too).
            let Object::Pod(pod) = obj else {
                return Err(ApiError::internal("pod expected"));
            };
            let rv = expected_rv.map(|rv| rv.to_string());
            let pod = self
                .engine
                .update_pod(*pod, rv.as_deref())
                .map_err(|e| engine_err(e, kind, &name))?;
            return encode(&pod);
        }
        let m = crate::objects::meta(&mut obj);
        m.uid = cur["metadata"]["uid"].as_str().map(str::to_string);
        m.resource_version = None;
        if m.creation_timestamp.is_none() {
            m.creation_timestamp =
                serde_json::from_value(cur["metadata"]["creationTimestamp"].clone()).ok();
        }
        if kind == Kind::Service {
            let _held = self.service_lock.lock().await;
            self.allocate(&mut obj, Some(&cur))?;
            self.apply(obj, kind, &name)?;
            self.services_written();
            return self.read_back(kind, &ns, &name);
        }
        self.apply(obj, kind, &name)?;
        self.read_back(kind, &ns, &name)
    }

    async fn update_status(
        &self,
        ns: &str,
        name: &str,
        status: Value,
        expected_rv: Option<u64>,
    ) -> Result<Value, ApiError> {
        let (_, cur_rv) = self.get(Kind::Pod, ns, name).await?;
        if expected_rv.is_some_and(|rv| rv != cur_rv) {
            return Err(ApiError::conflict("pods", name));
        }
        let conditions: Vec<k8s_openapi::api::core::v1::PodCondition> =
            match status.get("conditions") {
                None | Some(Value::Null) => Vec::new(),
                Some(c) => serde_json::from_value(c.clone())
                    .map_err(|e| ApiError::bad_request(format!("decoding conditions: {e}")))?,
            };
        let pod = self
            .engine
            .set_external_conditions(ns, name, &conditions)
            .map_err(|e| engine_err(e, Kind::Pod, name))?;
        encode(&pod)
    }

    async fn put_plain(
        &self,
        kind: Kind,
        ns: &str,
        name: &str,
        obj: Value,
        create: bool,
        expected_rv: Option<u64>,
    ) -> Result<Value, ApiError> {
        // One writer at a time, so the existence/version check holds until
        // the write (the RBAC kinds are rare writes).
        let _held = self.plain_lock.lock().await;
        let cur = self
            .store
            .get_object(kind.name(), ns, name)
            .map_err(store_err)?;
        match (&cur, create) {
            (Some(_), true) => return Err(ApiError::already_exists(kind.plural(), name)),
            (None, false) => return Err(ApiError::not_found(kind.plural(), name)),
            (Some((_, rv)), false) if expected_rv.is_some_and(|e| e != *rv) => {
                return Err(ApiError::conflict(kind.plural(), name));
            }
            _ => {}
        }
        let rv = self
            .store
            .put_object(kind.name(), ns, name, &obj)
            .map_err(store_err)?;
        Ok(with_rv(obj, rv))
    }

    async fn get(&self, kind: Kind, ns: &str, name: &str) -> Result<(Value, u64), ApiError> {
        match kind {
            Kind::Pod => {
                let v = self.pod_value(ns, name)?;
                let rv = rv_of(&v);
                Ok((v, rv))
            }
            Kind::Namespace => {
                if self.namespace_exists(name)? {
                    Ok((namespace_object(name, self.started), 1))
                } else {
                    Err(ApiError::not_found("namespaces", name))
                }
            }
            Kind::Node => Ok((encode(&self.node())?, 1)),
            Kind::ServiceAccount | Kind::ConfigMap => {
                self.ensure_defaults(Some(ns))?;
                self.stored(kind, ns, name)
            }
            _ => self.stored(kind, ns, name),
        }
    }

    async fn list(&self, kind: Kind, ns: Option<&str>) -> Result<(Vec<Value>, u64), ApiError> {
        if matches!(kind, Kind::ServiceAccount | Kind::ConfigMap) {
            self.ensure_defaults(ns)?;
        }
        let rv = self.store.current_resource_version().map_err(store_err)?;
        let items = match kind {
            Kind::Pod => self
                .engine
                .list_pods()
                .iter()
                .filter(|p| ns.is_none_or(|n| p.metadata.namespace.as_deref() == Some(n)))
                .map(encode)
                .collect::<Result<Vec<_>, _>>()?,
            Kind::Namespace => self
                .namespaces()?
                .iter()
                .map(|n| namespace_object(n, self.started))
                .collect(),
            Kind::Node => vec![encode(&self.node())?],
            _ => self
                .store
                .list_objects(kind.name(), ns)
                .map_err(store_err)?
                .into_iter()
                .map(|(v, rv)| with_rv(v, rv))
                .collect(),
        };
        Ok((items, rv))
    }

    async fn watch(&self, since_rv: u64) -> Result<BoxStream<'static, WatchEvent>, ApiError> {
        // Fail now (410) rather than inside the stream.
        self.store.changes_since(since_rv).map_err(store_err)?;
        let store = self.store.clone();
        let written = self.written.clone();
        // Only the store's own write signal wakes a watch: everything a
        // watch sends is read from the store's change log, and every
        // engine change is a store write (waking on the engine's events
        // too read the log once more per event, for nothing).
        struct St {
            store: Arc<Store>,
            written: tokio::sync::watch::Receiver<()>,
            last: u64,
            pending: std::collections::VecDeque<WatchEvent>,
        }
        let st = St {
            store,
            written,
            last: since_rv,
            pending: Default::default(),
        };
        let s = futures::stream::unfold(st, |mut st| async move {
            loop {
                if let Some(ev) = st.pending.pop_front() {
                    return Some((ev, st));
                }
                // A write committed after this mark wakes the select below,
                // whether or not the read here saw it.
                st.written.mark_unchanged();
                let changes = match st.store.changes_since(st.last) {
                    Ok(c) => c,
                    // Compacted under us: end the watch; the client re-lists.
                    Err(_) => return None,
                };
                for c in changes {
                    st.last = st.last.max(c.resource_version);
                    let Some(kind) = Kind::from_name(&c.kind) else {
                        continue;
                    };
                    let (ty, object) = match c.change_type {
                        ChangeType::Deleted => match c.deleted_object {
                            Some(o) => (WatchEventType::Deleted, with_rv(o, c.resource_version)),
                            None => continue,
                        },
                        t => match st.store.get_object(&c.kind, &c.namespace, &c.name) {
                            // A newer change of the same object follows; send that one.
                            Ok(Some((o, rv))) if rv == c.resource_version => (
                                if t == ChangeType::Added {
                                    WatchEventType::Added
                                } else {
                                    WatchEventType::Modified
                                },
                                with_rv(o, rv),
                            ),
                            _ => continue,
                        },
                    };
                    st.pending.push_back(WatchEvent {
                        event_type: ty,
                        kind,
                        object,
                        rv: c.resource_version,
                    });
                }
                if !st.pending.is_empty() {
                    continue;
                }
                if st.written.changed().await.is_err() {
                    return None;
                }
            }
        });
        Ok(Box::pin(s))
    }

    async fn delete(
        &self,
        kind: Kind,
        ns: &str,
        name: &str,
        grace: Option<i64>,
    ) -> Result<Value, ApiError> {
        if kind == Kind::Pod {
            let pod = self
                .engine
                .delete_pod(ns, name, grace)
                .map_err(|e| engine_err(e, kind, name))?;
            return encode(&pod);
        }
        let (cur, _) = self.stored(kind, ns, name)?;
        self.store
            .delete_object(kind.name(), ns, name)
            .map_err(store_err)?;
        if kind == Kind::Service {
            self.services_written();
        }
        Ok(cur)
    }

    fn metrics(&self) -> String {
        self.engine.metrics_text()
    }

    fn node(&self) -> Node {
        crate::node::this_node(self.started, &self.runtime_version, self.max_pods)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_that_cannot_write_is_507_with_the_reason() {
        let e = engine_err(
            EngineError::StorageUnavailable(
                "the state store /r/state.redb is out of space (No space left on device)".into(),
            ),
            Kind::Pod,
            "p",
        );
        assert_eq!((e.code, e.reason.as_str()), (507, "InsufficientStorage"));
        assert!(e.message.contains("out of space"), "{}", e.message);
        assert!(e.message.contains("new pods are refused"), "{}", e.message);
        let e = engine_err(
            EngineError::Store(StoreError::Unavailable {
                path: "/r/state.redb".into(),
                kind: nodelet_store::Unavailability::ReadOnly,
                detail: "Read-only file system".into(),
            }),
            Kind::ConfigMap,
            "c",
        );
        assert_eq!(e.code, 507);
        assert!(
            e.message
                .contains("/r/state.redb is on a read-only filesystem"),
            "{}",
            e.message
        );
    }
}
