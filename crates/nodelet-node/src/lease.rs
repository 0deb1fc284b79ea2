//! The node's heartbeat: its Lease in `kube-node-lease`, named after the
//! node, held by it, `leaseDurationSeconds` 40, renewed every 10 s, owned
//! by the Node object so that it goes when the Node goes (the kubelet's
//! `component-helpers/apimachinery/lease` controller). A renewal is one
//! PUT of the last Lease the server returned: no read per period. A
//! conflict or a missing Lease is answered by reading or creating it; a
//! failed renewal is retried five times at 200 ms, then at the next period.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference};
use kube::api::{Api, PostParams};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::error::{is_conflict, is_not_found};

pub const NAMESPACE: &str = "kube-node-lease";
const MAX_UPDATE_RETRIES: u32 = 5;
const RETRY_INTERVAL: Duration = Duration::from_millis(200);

pub struct LeaseController {
    pub api: Api<Lease>,
    pub node_name: String,
    pub duration: Duration,
    pub renew_interval: Duration,
    /// The Node's uid once registered (the owner reference).
    pub node_uid: watch::Receiver<Option<String>>,
    /// Renewals that succeeded (for `/metrics` and tests).
    pub renewals: Arc<std::sync::atomic::AtomicU64>,
}

impl LeaseController {
    pub fn new(
        client: kube::Client,
        node_name: &str,
        duration: Duration,
        renew_interval: Duration,
        node_uid: watch::Receiver<Option<String>>,
    ) -> Self {
        LeaseController {
            api: Api::namespaced(client, NAMESPACE),
            node_name: node_name.to_owned(),
            duration,
            renew_interval,
            node_uid,
            renewals: Arc::new(std::sync::atomic::AtomicU64::new(0)),
        }
    }

    /// Renews until `stop`, and at once when the Node's uid becomes known
    /// or changes: the Lease is usually created before the Node is
    /// registered, and its owner reference should not wait a period.
    pub async fn run(self, stop: CancellationToken) {
        let mut latest: Option<Lease> = None;
        let mut tick = tokio::time::interval(self.renew_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut node_uid = self.node_uid.clone();
        let mut uid_open = true;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
                changed = node_uid.changed(), if uid_open => {
                    if changed.is_err() {
                        // The registration task is gone; periods only.
                        uid_open = false;
                        continue;
                    }
                    if node_uid.borrow().is_none() {
                        continue;
                    }
                    tick.reset();
                }
            }
            for attempt in 0..MAX_UPDATE_RETRIES {
                match self.renew(&mut latest).await {
                    Ok(()) => {
                        self.renewals
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(node = %self.node_name, attempt, error = %e, "renewing the node lease");
                        tokio::select! {
                            _ = stop.cancelled() => return,
                            _ = tokio::time::sleep(RETRY_INTERVAL) => {}
                        }
                    }
                }
            }
        }
    }

    fn owner(&self) -> Option<OwnerReference> {
        let uid = self.node_uid.borrow().clone()?;
        Some(OwnerReference {
            api_version: "v1".into(),
            kind: "Node".into(),
            name: self.node_name.clone(),
            uid,
            ..Default::default()
        })
    }

    /// The lease as it should be now: renewed, held by us, owned by the
    /// Node (when its uid is known).
    fn renewed(&self, base: Option<&Lease>) -> Lease {
        let mut lease = base.cloned().unwrap_or_else(|| Lease {
            metadata: ObjectMeta {
                name: Some(self.node_name.clone()),
                namespace: Some(NAMESPACE.into()),
                ..Default::default()
            },
            spec: None,
        });
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        spec.holder_identity = Some(self.node_name.clone());
        spec.lease_duration_seconds = i32::try_from(self.duration.as_secs()).ok();
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        if let Some(owner) = self.owner() {
            let refs = lease.metadata.owner_references.get_or_insert_with(Vec::new);
            // A recreated Node has a new uid: the stale reference goes.
            refs.retain(|r| !(r.kind == "Node" && r.name == self.node_name));
            refs.push(owner);
        }
        lease
    }

    async fn renew(&self, latest: &mut Option<Lease>) -> Result<(), kube::Error> {
        let pp = PostParams::default();
        if latest.is_none() {
            *latest = match self.api.get(&self.node_name).await {
                Ok(l) => Some(l),
                Err(e) if is_not_found(&e) => {
                    let created = self.api.create(&pp, &self.renewed(None)).await?;
                    *latest = Some(created);
                    return Ok(());
                }
                Err(e) => return Err(e),
            };
        }
        let lease = self.renewed(latest.as_ref());
        match self.api.replace(&self.node_name, &pp, &lease).await {
            Ok(l) => {
                *latest = Some(l);
                Ok(())
            }
            Err(e) if is_conflict(&e) || is_not_found(&e) => {
                // Someone else wrote it, or it was garbage-collected with a
                // deleted Node: start from the server's copy next time.
                *latest = None;
                Err(e)
            }
            Err(e) => Err(e),
        }
    }
}
