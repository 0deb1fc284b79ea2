//! The services controller: one task that keeps Endpoints, EndpointSlices,
//! the nftables data plane and the DNS records in step with Services and
//! pods, event-driven (the engine's broadcast for pods, a notification
//! from the API for Service writes).
//!
//! On every change it recomputes the affected services, applies the data
//! plane delta first (the latency that matters: a readiness change reaches
//! the kernel in one small nft transaction, a netlink batch), swaps the DNS
//! index, and hands the changed objects to a writer task that commits them
//! to the store in order (durable, hence slower: the loop does not wait for
//! it, so the next change is not queued behind this one's commit) and
//! flushes stale conntrack entries.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use nodelet_engine::{Engine, EngineEvent};
use nodelet_store::Store;
use serde_json::Value;
use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;

use crate::builtin;
use crate::config::ServicesConfig;
use crate::dns::records::DnsIndex;
use crate::dns::server::{Handler, SharedIndex};
use crate::endpoints::compute::{self, LABEL_SERVICE_NAME, SliceDraft};
use crate::nft::conntrack::{self, Flush};
use crate::nft::exec::{Nft, NftError};
use crate::nft::ops::render;
use crate::nft::plan::{self, Desired, TableConfig};
use crate::view::ServiceView;

type Key = (String, String);

#[derive(Debug, thiserror::Error)]
pub enum ServicesError {
    #[error("programming the data plane: {0}")]
    Nft(#[from] NftError),
    #[error("reading services from the store: {0}")]
    Store(#[from] nodelet_store::StoreError),
    #[error("starting the DNS server on {addr}: {source}")]
    Dns {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// How the controller is wired into the agent.
pub struct Wiring {
    /// Notified (one permit) after the API wrote a Service.
    pub services_changed: Arc<Notify>,
    /// Masquerade all service traffic (bridged traffic bypasses netfilter).
    pub masquerade_all: bool,
    /// Serve DNS on the gateway (off in tests that only check rules).
    pub serve_dns: bool,
}

/// One data-plane update, for the benchmark: when the change that caused
/// it was seen and when the kernel had the new rules.
#[derive(Debug, Clone, Copy)]
pub struct Applied {
    /// The controller received the change (engine event or Service write).
    pub seen: Instant,
    /// Endpoints recomputed and the transaction planned.
    pub planned: Instant,
    /// How long the transaction call itself took (the rest of planned →
    /// done is handing it to a blocking thread and back).
    pub call: std::time::Duration,
    /// The kernel has the new rules.
    pub done: Instant,
}

/// The running controller.
pub struct Services {
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
    /// The object writer; ends after the loop, once its queue is written.
    writes: Option<tokio::task::JoinHandle<()>>,
    dns: Option<tokio::task::JoinHandle<()>>,
    nft: Arc<Nft>,
    table: String,
    index: SharedIndex,
    applied: broadcast::Sender<Applied>,
}

impl Services {
    /// Ensures the built-in services, programs everything from the current
    /// state in one transaction, starts the DNS server and the loop.
    pub async fn start(
        engine: Arc<Engine>,
        store: Arc<Store>,
        cfg: ServicesConfig,
        wiring: Wiring,
    ) -> Result<Services, ServicesError> {
        let nft = Arc::new(Nft::open());
        let index = SharedIndex::default();
        let (applied, _) = broadcast::channel(1024);
        let stop = CancellationToken::new();
        let table = TableConfig {
            table: cfg.nft_table.clone(),
            pod_cidr: cfg.pod_cidr,
            masquerade_all: wiring.masquerade_all,
            bridge: cfg.bridge.clone(),
            gateway: cfg.gateway,
            gateway_tcp_ports: vec![cfg.api_port, cfg.dns_port],
            gateway_udp_ports: vec![cfg.dns_port],
        };
        let rx = engine.subscribe();
        let computed = engine.subscribe_computed();
        let (writer_tx, writer_rx) = tokio::sync::mpsc::unbounded_channel();
        let mut ctl = Controller {
            cfg: cfg.clone(),
            table,
            store,
            nft: nft.clone(),
            index: index.clone(),
            services: BTreeMap::new(),
            pods: BTreeMap::new(),
            drafts: BTreeMap::new(),
            views: BTreeMap::new(),
            slice_names: HashMap::new(),
            written: HashMap::new(),
            applied_rules: Desired::new(),
            last_rv: 0,
            applied_tx: applied.clone(),
            writer: writer_tx,
            dns_dirty: false,
        };
        ctl.ensure_builtins()?;
        ctl.last_rv = ctl.store.current_resource_version()?;
        ctl.load_services()?;
        ctl.load_slice_names()?;
        for p in engine.list_pods() {
            ctl.pods.insert(key_of(&p.metadata), p);
        }
        let all: BTreeSet<Key> = ctl.services.keys().cloned().collect();
        ctl.recompute(&all);
        ctl.apply_full()?;
        ctl.publish_dns();
        ctl.write_objects(&all, &BTreeSet::new()).await;

        let dns = if wiring.serve_dns {
            let addr = SocketAddr::from((cfg.gateway, cfg.dns_port));
            let handler = Handler {
                index: index.clone(),
                upstream: cfg.upstream.clone(),
            };
            Some(
                crate::dns::server::spawn(addr, handler, stop.clone())
                    .map_err(|source| ServicesError::Dns { addr, source })?,
            )
        } else {
            None
        };
        let writes = tokio::spawn(writer(ctl.store.clone(), writer_rx));
        let task =
            tokio::spawn(ctl.run(engine, computed, rx, wiring.services_changed, stop.clone()));
        Ok(Services {
            stop,
            task: Some(task),
            writes: Some(writes),
            dns,
            nft,
            table: cfg.nft_table,
            index,
            applied,
        })
    }

    /// The DNS records as served now.
    pub fn dns_index(&self) -> Arc<DnsIndex> {
        self.index.get()
    }

    /// Data-plane updates as they are applied.
    pub fn subscribe_applied(&self) -> broadcast::Receiver<Applied> {
        self.applied.subscribe()
    }

    /// Stops the loop and the DNS server; the rules stay (containers keep
    /// running and so do their services until the next start resyncs).
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        if let Some(t) = self.writes.take() {
            let _ = t.await;
        }
        if let Some(t) = self.dns.take() {
            let _ = t.await;
        }
    }

    /// Stops and removes nodelet's table (drain, uninstall).
    pub async fn stop_and_remove_rules(self) -> Result<(), NftError> {
        let nft = self.nft.clone();
        let table = self.table.clone();
        self.stop().await;
        nft.run(&plan::teardown(&table))
    }
}

/// Removes nodelet's nftables table, whether or not an agent runs.
pub fn remove_rules(table: &str) -> Result<(), NftError> {
    Nft::open().run(&plan::teardown(table))
}

fn key_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> Key {
    (
        meta.namespace.clone().unwrap_or_else(|| "default".into()),
        meta.name.clone().unwrap_or_default(),
    )
}

struct Controller {
    cfg: ServicesConfig,
    table: TableConfig,
    store: Arc<Store>,
    nft: Arc<Nft>,
    index: SharedIndex,
    services: BTreeMap<Key, Service>,
    pods: BTreeMap<Key, Pod>,
    drafts: BTreeMap<Key, Vec<SliceDraft>>,
    views: BTreeMap<Key, ServiceView>,
    /// Stable slice names per service.
    slice_names: HashMap<Key, Vec<String>>,
    /// What was last written, by (kind, namespace, name).
    written: HashMap<(&'static str, String, String), Value>,
    applied_rules: Desired,
    last_rv: u64,
    applied_tx: broadcast::Sender<Applied>,
    /// To the writer task (object writes off the update path).
    writer: tokio::sync::mpsc::UnboundedSender<Vec<Write>>,
    /// A pod's own records changed (it came, went, got or lost its
    /// address, or is being deleted) since the DNS index was last built;
    /// what services serve changes with the services affected. Most pod
    /// updates (a restart count, a condition, its phase or readiness with
    /// no service selecting it, a re-adopted pod published again) change
    /// neither: the index, built from every pod and service, is then not
    /// rebuilt, nor the rules re-planned (with hundreds of pods a rebuild
    /// per pod update made a burst of updates quadratic).
    dns_dirty: bool,
}

impl Controller {
    async fn run(
        mut self,
        engine: Arc<Engine>,
        mut computed: broadcast::Receiver<Arc<Pod>>,
        mut rx: broadcast::Receiver<EngineEvent>,
        services_changed: Arc<Notify>,
        stop: CancellationToken,
    ) {
        loop {
            // Biased: a pod's computed state is taken before a removal
            // queued after it, so a removal is never undone by an older
            // state.
            tokio::select! {
                biased;
                _ = stop.cancelled() => return,
                pod = computed.recv() => {
                    let seen = Instant::now();
                    let mut affected = BTreeSet::new();
                    let mut gone_pods = BTreeSet::new();
                    match pod {
                        Ok(pod) => self.pod_changed(&pod, &mut affected),
                        Err(broadcast::error::RecvError::Lagged(_)) => {
                            self.resync_pods(&engine, &mut affected, &mut gone_pods)
                        }
                        Err(broadcast::error::RecvError::Closed) => return,
                    }
                    while let Ok(pod) = computed.try_recv() {
                        self.pod_changed(&pod, &mut affected);
                    }
                    if !affected.is_empty() || !gone_pods.is_empty() || self.dns_dirty {
                        self.round(seen, affected, gone_pods).await;
                    }
                }
                ev = rx.recv() => {
                    let seen = Instant::now();
                    let mut affected = BTreeSet::new();
                    let mut gone_pods = BTreeSet::new();
                    match ev {
                        Ok(ev) => self.pod_event(ev, &mut affected, &mut gone_pods),
                        Err(broadcast::error::RecvError::Lagged(_)) => {
                            self.resync_pods(&engine, &mut affected, &mut gone_pods)
                        }
                        Err(broadcast::error::RecvError::Closed) => return,
                    }
                    // Fold whatever else is already queued into this round.
                    while let Ok(ev) = rx.try_recv() {
                        self.pod_event(ev, &mut affected, &mut gone_pods);
                    }
                    if !affected.is_empty() || !gone_pods.is_empty() {
                        self.round(seen, affected, gone_pods).await;
                    }
                }
                _ = services_changed.notified() => {
                    let seen = Instant::now();
                    let affected = self.service_changes();
                    self.round(seen, affected, BTreeSet::new()).await;
                }
            }
        }
    }

    /// A pod's new state (from the engine's computed-status broadcast,
    /// which precedes the durable write).
    fn pod_changed(&mut self, pod: &Pod, affected: &mut BTreeSet<Key>) {
        let key = key_of(&pod.metadata);
        let old = self.pods.insert(key.clone(), pod.clone());
        if old.as_ref().map(relevant) == Some(relevant(pod)) {
            return;
        }
        if old.as_ref().map(dns_relevant) != Some(dns_relevant(pod)) {
            self.dns_dirty = true;
        }
        self.affected_by(old.as_ref(), affected);
        self.affected_by(Some(pod), affected);
    }

    fn pod_event(
        &mut self,
        ev: EngineEvent,
        affected: &mut BTreeSet<Key>,
        gone: &mut BTreeSet<Ipv4Addr>,
    ) {
        match ev {
            // The same pod already came, earlier, from the computed-status
            // broadcast (taken before this one): an older state must not
            // overwrite a newer one.
            EngineEvent::PodUpdated(_) => {}
            EngineEvent::PodDeleted {
                namespace,
                name,
                uid,
            } => {
                // A pod of the same name may already have been created
                // again: only the deleted one (by uid) goes.
                let key = (namespace, name);
                let same = self
                    .pods
                    .get(&key)
                    .is_some_and(|p| p.metadata.uid.as_deref() == Some(uid.as_str()));
                if let Some(old) = same.then(|| self.pods.remove(&key)).flatten() {
                    self.dns_dirty = true;
                    if let Some(ip) = pod_ip(&old) {
                        gone.insert(ip);
                    }
                    self.affected_by(Some(&old), affected);
                }
            }
            EngineEvent::Event(_) => {}
        }
    }

    fn resync_pods(
        &mut self,
        engine: &Engine,
        affected: &mut BTreeSet<Key>,
        gone: &mut BTreeSet<Ipv4Addr>,
    ) {
        let now: BTreeMap<Key, Pod> = engine
            .list_pods()
            .into_iter()
            .map(|p| (key_of(&p.metadata), p))
            .collect();
        for (k, old) in &self.pods {
            if !now.contains_key(k)
                && let Some(ip) = pod_ip(old)
            {
                gone.insert(ip);
            }
        }
        self.pods = now;
        self.dns_dirty = true;
        affected.extend(self.services.keys().cloned());
    }

    /// Services of the pod's namespace that select it.
    fn affected_by(&self, pod: Option<&Pod>, affected: &mut BTreeSet<Key>) {
        let Some(pod) = pod else { return };
        for (k, svc) in &self.services {
            if compute::selects(svc, pod) {
                affected.insert(k.clone());
            }
        }
        // DNS pod records change with any pod IP.
    }

    /// Service writes since the last look.
    fn service_changes(&mut self) -> BTreeSet<Key> {
        let mut affected = BTreeSet::new();
        let changes = match self.store.changes_since(self.last_rv) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("services: change log: {e}; reloading every service");
                let before: BTreeSet<Key> = self.services.keys().cloned().collect();
                if let Err(e) = self.load_services() {
                    tracing::warn!("services: reloading: {e}");
                }
                self.last_rv = self
                    .store
                    .current_resource_version()
                    .unwrap_or(self.last_rv);
                affected.extend(before);
                affected.extend(self.services.keys().cloned());
                return affected;
            }
        };
        for c in changes {
            self.last_rv = self.last_rv.max(c.resource_version);
            if c.kind != "Service" {
                continue;
            }
            let key = (c.namespace.clone(), c.name.clone());
            match self.store.get_object("Service", &c.namespace, &c.name) {
                Ok(Some((v, _))) => match serde_json::from_value::<Service>(v) {
                    Ok(s) => {
                        self.services.insert(key.clone(), s);
                    }
                    Err(e) => tracing::warn!("services: decoding {}/{}: {e}", c.namespace, c.name),
                },
                Ok(None) => {
                    self.services.remove(&key);
                }
                Err(e) => tracing::warn!("services: reading {}/{}: {e}", c.namespace, c.name),
            }
            affected.insert(key);
        }
        affected
    }

    fn ensure_builtins(&mut self) -> Result<(), ServicesError> {
        for svc in builtin::services(&self.cfg) {
            let (ns, name) = key_of(&svc.metadata);
            let existing = self.store.get_object("Service", &ns, &name)?;
            let mut want = serde_json::to_value(&svc).unwrap_or(Value::Null);
            want["apiVersion"] = "v1".into();
            want["kind"] = "Service".into();
            match existing {
                Some((cur, _)) if cur["spec"] == want["spec"] => continue,
                Some((cur, _)) => {
                    want["metadata"]["uid"] = cur["metadata"]["uid"].clone();
                    want["metadata"]["creationTimestamp"] =
                        cur["metadata"]["creationTimestamp"].clone();
                }
                None => {
                    want["metadata"]["uid"] = uuid::Uuid::new_v4().to_string().into();
                    want["metadata"]["creationTimestamp"] = jiff::Timestamp::now()
                        .strftime("%Y-%m-%dT%H:%M:%SZ")
                        .to_string()
                        .into();
                }
            }
            self.store.put_object("Service", &ns, &name, &want)?;
        }
        Ok(())
    }

    fn load_services(&mut self) -> Result<(), ServicesError> {
        self.services.clear();
        for (v, _) in self.store.list_objects("Service", None)? {
            if let Ok(s) = serde_json::from_value::<Service>(v) {
                self.services.insert(key_of(&s.metadata), s);
            }
        }
        Ok(())
    }

    fn load_slice_names(&mut self) -> Result<(), ServicesError> {
        for (v, _) in self.store.list_objects("EndpointSlice", None)? {
            let ns = v["metadata"]["namespace"].as_str().unwrap_or("default");
            let Some(name) = v["metadata"]["name"].as_str() else {
                continue;
            };
            if let Some(svc) = v["metadata"]["labels"][LABEL_SERVICE_NAME].as_str() {
                self.slice_names
                    .entry((ns.to_owned(), svc.to_owned()))
                    .or_default()
                    .push(name.to_owned());
                self.written.insert(
                    ("EndpointSlice", ns.to_owned(), name.to_owned()),
                    strip(v.clone()),
                );
            }
        }
        for (v, _) in self.store.list_objects("Endpoints", None)? {
            let ns = v["metadata"]["namespace"].as_str().unwrap_or("default");
            if let Some(name) = v["metadata"]["name"].as_str() {
                self.written.insert(
                    ("Endpoints", ns.to_owned(), name.to_owned()),
                    strip(v.clone()),
                );
            }
        }
        for names in self.slice_names.values_mut() {
            names.sort();
        }
        Ok(())
    }

    /// New drafts and views for `affected` (gone services lose theirs).
    fn recompute(&mut self, affected: &BTreeSet<Key>) {
        let pods: Vec<&Pod> = self.pods.values().collect();
        for key in affected {
            let Some(svc) = self.services.get(key) else {
                self.drafts.remove(key);
                self.views.remove(key);
                continue;
            };
            let drafts = if builtin::is_builtin(&key.0, &key.1) {
                builtin::endpoints(&self.cfg, svc)
            } else if compute::has_selector(svc) {
                let ns_pods: Vec<&Pod> = pods
                    .iter()
                    .copied()
                    .filter(|p| p.metadata.namespace.as_deref() == Some(key.0.as_str()))
                    .collect();
                compute::endpoint_slices(svc, &ns_pods, &self.cfg.node_name)
            } else {
                Vec::new()
            };
            let slices: Vec<EndpointSlice> = drafts
                .iter()
                .map(|d| compute::slice_object(svc, d, "view"))
                .collect();
            self.views
                .insert(key.clone(), ServiceView::new(svc, &slices));
            self.drafts.insert(key.clone(), drafts);
        }
    }

    fn desired(&self) -> Desired {
        let mut d = Desired::new();
        for v in self.views.values() {
            v.rules(&mut d);
        }
        d
    }

    fn apply_full(&mut self) -> Result<(), ServicesError> {
        let desired = self.desired();
        self.nft.run(&plan::full(&self.table, &desired))?;
        self.applied_rules = desired;
        Ok(())
    }

    fn publish_dns(&self) {
        let views: Vec<ServiceView> = self.views.values().cloned().collect();
        let pods: Vec<(String, Ipv4Addr)> = self
            .pods
            .iter()
            .filter(|(_, p)| {
                p.spec.as_ref().and_then(|s| s.host_network) != Some(true)
                    && p.metadata.deletion_timestamp.is_none()
            })
            .filter_map(|((ns, _), p)| Some((ns.clone(), pod_ip(p)?)))
            .collect();
        self.index.set(DnsIndex::build(
            &self.cfg.cluster_domain,
            vec![self.cfg.service_cidr, self.cfg.pod_cidr],
            &views,
            &pods,
        ));
    }

    async fn round(&mut self, seen: Instant, affected: BTreeSet<Key>, gone: BTreeSet<Ipv4Addr>) {
        self.recompute(&affected);
        let desired = self.desired();
        let mut flushes = stale_flows(&self.applied_rules, &desired);
        let ops = plan::delta_ops(&self.table, &self.applied_rules, &desired);
        if !ops.is_empty() {
            let planned = Instant::now();
            let nft = self.nft.clone();
            let table = self.table.table.clone();
            let n = ops.len();
            // The netlink batch runs right here (a fraction of a
            // millisecond: handing it to a blocking thread and back cost
            // more on a busy host); the text path on a blocking thread.
            let t = Instant::now();
            let r = match nft.apply_netlink(&table, &ops) {
                Some(r) => Ok(r),
                None => tokio::task::spawn_blocking(move || nft.run(&render(&table, &ops))).await,
            };
            let call = t.elapsed();
            let ok = matches!(r, Ok(Ok(())));
            if !ok {
                tracing::warn!("services: incremental update failed ({r:?}); rewriting the table");
                if let Err(e) = self.apply_full() {
                    tracing::error!("services: {e}");
                }
            } else {
                self.applied_rules = desired;
            }
            let done = Instant::now();
            tracing::debug!(
                target: "nodelet_services::timing",
                ops = n,
                path = self.nft.update_path(),
                plan_us = (planned - seen).as_micros() as u64,
                kernel_us = (done - planned).as_micros() as u64,
                call_us = call.as_micros() as u64,
                "data plane updated"
            );
            let _ = self.applied_tx.send(Applied {
                seen,
                planned,
                call,
                done,
            });
        }
        if self.dns_dirty || !affected.is_empty() {
            self.publish_dns();
            self.dns_dirty = false;
        }
        for ip in &gone {
            flushes.push(Flush::To(*ip));
            flushes.push(Flush::RepliedBy(*ip));
        }
        let removed: BTreeSet<Key> = affected
            .iter()
            .filter(|k| !self.services.contains_key(*k))
            .cloned()
            .collect();
        // The durable write of Endpoints/EndpointSlices goes to the writer
        // task: the next readiness change is programmed without waiting
        // for this one's commit.
        let writes = self.object_writes(&affected, &removed);
        if !writes.is_empty() {
            let _ = self.writer.send(writes);
        }
        if !flushes.is_empty() {
            tokio::spawn(conntrack::flush(flushes));
        }
    }

    /// Writes the Endpoints and slices of `affected` that changed and
    /// deletes those of `removed` services, now (at start).
    async fn write_objects(&mut self, affected: &BTreeSet<Key>, removed: &BTreeSet<Key>) {
        let writes = self.object_writes(affected, removed);
        write_batch(&self.store, writes).await;
    }

    /// What [`Controller::write_objects`] writes: the Endpoints and slices
    /// of `affected` that changed since the last write, deletions of those
    /// of `removed` services, in order.
    fn object_writes(&mut self, affected: &BTreeSet<Key>, removed: &BTreeSet<Key>) -> Vec<Write> {
        let mut puts: Vec<(&'static str, String, String, Value)> = Vec::new();
        let mut deletes: Vec<(&'static str, String, String)> = Vec::new();
        for key in affected {
            let (ns, name) = key;
            if removed.contains(key) {
                deletes.push(("Endpoints", ns.clone(), name.clone()));
                for s in self.slice_names.remove(key).unwrap_or_default() {
                    deletes.push(("EndpointSlice", ns.clone(), s));
                }
                continue;
            }
            let (Some(svc), Some(drafts)) = (self.services.get(key), self.drafts.get(key)) else {
                continue;
            };
            let managed = builtin::is_builtin(ns, name) || compute::has_selector(svc);
            if !managed {
                continue;
            }
            let eps = compute::endpoints_object(svc, drafts);
            puts.push((
                "Endpoints",
                ns.clone(),
                name.clone(),
                object_value("v1", "Endpoints", &eps),
            ));
            let names = self.slice_names.entry(key.clone()).or_default();
            while names.len() < drafts.len() {
                names.push(format!("{name}-{}", random_suffix()));
            }
            let extra: Vec<String> = names.split_off(drafts.len());
            for (d, sname) in drafts.iter().zip(names.iter()) {
                let slice = compute::slice_object(svc, d, sname);
                puts.push((
                    "EndpointSlice",
                    ns.clone(),
                    sname.clone(),
                    object_value("discovery.k8s.io/v1", "EndpointSlice", &slice),
                ));
            }
            for s in extra {
                deletes.push(("EndpointSlice", ns.clone(), s));
            }
        }
        let mut ops: Vec<Write> = Vec::new();
        for (kind, ns, name, v) in puts {
            let wk = (kind, ns.clone(), name.clone());
            if self.written.get(&wk) == Some(&strip(v.clone())) {
                continue;
            }
            self.written.insert(wk, strip(v.clone()));
            ops.push((kind, ns, name, Some(v)));
        }
        for (kind, ns, name) in deletes {
            self.written.remove(&(kind, ns.clone(), name.clone()));
            ops.push((kind, ns, name, None));
        }
        ops
    }
}

/// One object write: a put (the object without identity stamps) or a
/// delete.
type Write = (&'static str, String, String, Option<Value>);

/// The controller's object writes, applied in order by one task (so no
/// write overtakes an earlier one); whatever queued meanwhile goes into
/// the same durable commit.
async fn writer(store: Arc<Store>, mut rx: tokio::sync::mpsc::UnboundedReceiver<Vec<Write>>) {
    while let Some(mut writes) = rx.recv().await {
        while let Ok(more) = rx.try_recv() {
            writes.extend(more);
        }
        write_batch(&store, writes).await;
    }
}

/// Stamps identity (uid and creation time kept across rewrites) and the
/// trigger time on the puts, then commits all of `writes` in one batch
/// (API watches hear of it from the store).
async fn write_batch(store: &Arc<Store>, writes: Vec<Write>) {
    if writes.is_empty() {
        return;
    }
    let now = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    // The last write of an object wins; its identity is looked up once.
    let mut last: HashMap<(&'static str, String, String), usize> = HashMap::new();
    for (i, (kind, ns, name, _)) in writes.iter().enumerate() {
        last.insert((*kind, ns.clone(), name.clone()), i);
    }
    let mut ops: Vec<Write> = Vec::new();
    for (i, (kind, ns, name, v)) in writes.into_iter().enumerate() {
        if last.get(&(kind, ns.clone(), name.clone())) != Some(&i) {
            continue;
        }
        let Some(mut v) = v else {
            ops.push((kind, ns, name, None));
            continue;
        };
        let existing = store.get_object(kind, &ns, &name).ok().flatten();
        let (uid, created) = match &existing {
            Some((cur, _)) => (
                cur["metadata"]["uid"].clone(),
                cur["metadata"]["creationTimestamp"].clone(),
            ),
            None => (uuid::Uuid::new_v4().to_string().into(), now.clone().into()),
        };
        v["metadata"]["uid"] = uid;
        v["metadata"]["creationTimestamp"] = created;
        v["metadata"]["annotations"][compute::ANNOTATION_TRIGGER_TIME] = now.clone().into();
        ops.push((kind, ns, name, Some(v)));
    }
    let store = store.clone();
    let r = tokio::task::spawn_blocking(move || {
        store.batch(|b| {
            for (kind, ns, name, v) in &ops {
                match v {
                    Some(v) => b.put_object(kind, ns, name, v),
                    None => b.delete_object(kind, ns, name),
                };
            }
        })
    })
    .await;
    match r {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!("services: writing endpoints: {e}"),
        Err(e) => tracing::warn!("services: writing endpoints: {e}"),
    }
}

/// What a pod's own DNS records (`<a-b-c-d>.<ns>.pod`) are made of.
fn dns_relevant(p: &Pod) -> (Option<String>, bool, bool) {
    (
        p.status.as_ref().and_then(|s| s.pod_ip.clone()),
        p.metadata.deletion_timestamp.is_some(),
        p.spec.as_ref().and_then(|s| s.host_network) == Some(true),
    )
}

/// The fields whose change matters to endpoints and DNS.
fn relevant(p: &Pod) -> (Option<String>, bool, bool, Option<String>, Value) {
    (
        p.status.as_ref().and_then(|s| s.pod_ip.clone()),
        compute::is_pod_ready(p),
        p.metadata.deletion_timestamp.is_some(),
        p.status.as_ref().and_then(|s| s.phase.clone()),
        serde_json::to_value(&p.metadata.labels).unwrap_or(Value::Null),
    )
}

fn pod_ip(p: &Pod) -> Option<Ipv4Addr> {
    p.status.as_ref()?.pod_ip.as_deref()?.parse().ok()
}

/// Flows that must go: UDP flows to endpoints that left a service port,
/// and everything to the cluster IP of a removed service.
fn stale_flows(old: &Desired, new: &Desired) -> Vec<Flush> {
    let mut out = Vec::new();
    let live_ips: BTreeSet<Ipv4Addr> = new.values().map(|r| r.cluster_ip).collect();
    for (key, o) in old {
        match new.get(key) {
            None => {
                if !live_ips.contains(&o.cluster_ip) {
                    out.push(Flush::To(o.cluster_ip));
                }
            }
            Some(n) if o.protocol == "udp" => {
                for b in o.backends.iter().filter(|b| !n.backends.contains(b)) {
                    out.push(Flush::UdpVia {
                        cluster_ip: o.cluster_ip,
                        port: o.port,
                        endpoint: b.0,
                    });
                }
            }
            Some(_) => {}
        }
    }
    out.sort();
    out.dedup();
    out
}

fn object_value<T: serde::Serialize>(api_version: &str, kind: &str, obj: &T) -> Value {
    let mut v = serde_json::to_value(obj).unwrap_or(Value::Null);
    v["apiVersion"] = api_version.into();
    v["kind"] = kind.into();
    v
}

/// An object without the fields that change on every write.
fn strip(mut v: Value) -> Value {
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("uid");
        m.remove("resourceVersion");
        m.remove("creationTimestamp");
        if let Some(a) = m.get_mut("annotations").and_then(Value::as_object_mut) {
            a.remove(compute::ANNOTATION_TRIGGER_TIME);
            if a.is_empty() {
                m.remove("annotations");
            }
        }
    }
    v
}

/// Five characters as the API server's `generateName` appends.
fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let u = uuid::Uuid::new_v4();
    u.as_bytes()[..5]
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}
