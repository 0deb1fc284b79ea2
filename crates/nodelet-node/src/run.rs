//! Node mode assembled: the tasks that make nodelet a cluster's node, all
//! around one engine built by the caller (with [`crate::NodeSources`] as
//! its lookup seam). Stopping them leaves the containers running: the
//! engine re-adopts them on the next start, and the pod watch's first list
//! then reconciles them with the API server.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Node;
use kube::api::Api;
use nodelet_engine::{Engine, EngineEvent};
use nodelet_runtime::Runtime;
use tokio::sync::{broadcast::error::RecvError, mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::config::NodeConfig;
use crate::error::Result;
use crate::events::{EventPoster, EventSink};
use crate::lease::LeaseController;
use crate::node::sync::{NodeFacts, NodeSync};
use crate::pods::source::PodSource;
use crate::pods::status::StatusReporter;
use crate::pods::view::ApiPods;
use crate::server::{ServerState, auth::Authorizer, metrics::NodeMetrics, stats::Stats};
use crate::sources::NodeSources;
use crate::static_pods::StaticPods;

pub struct NodeMode {
    pub cfg: Arc<NodeConfig>,
    pub client: kube::Client,
    pub engine: Arc<Engine>,
    pub runtime: Arc<dyn Runtime>,
    pub sources: Arc<NodeSources>,
    pub facts: Arc<dyn NodeFacts>,
    /// Where the kubelet port's TLS configuration comes from.
    pub tls: ServingTls,
    /// The client's request counts (see [`crate::client::connect`]).
    pub requests: Arc<crate::client_metrics::RequestCounts>,
}

/// The kubelet port's serving certificate.
pub enum ServingTls {
    /// Given on the command line.
    Ready(Box<rustls::ServerConfig>),
    /// Requested through a `kubernetes.io/kubelet-serving` CSR once the
    /// node runs (the port opens when it is approved), with the client CA.
    Csr {
        client_ca: Option<std::path::PathBuf>,
    },
}

impl NodeMode {
    /// Binds the kubelet port (an error if it is taken), then runs every
    /// node task until `stop`.
    pub async fn run(self, stop: CancellationToken) -> Result<()> {
        let cfg = self.cfg.clone();
        let node = cfg.node_name.clone();
        let (events, events_rx) = EventSink::new(&node);
        let (uid_tx, uid_rx) = watch::channel::<Option<String>>(None);
        let view = ApiPods::default();
        let metrics = Arc::new(NodeMetrics {
            requests: self.requests.clone(),
            ..Default::default()
        });

        let state = ServerState {
            node: node.clone(),
            engine: self.engine.clone(),
            streams: Arc::new(nodelet_api::EngineStreams::new(
                self.engine.clone(),
                self.runtime.clone(),
            )),
            stats: Arc::new(Stats::new(self.runtime.clone(), cfg.root.clone())),
            metrics: metrics.clone(),
        };
        let authz = Arc::new(Authorizer::new(self.client.clone(), &node));
        let mut tasks = tokio::task::JoinSet::new();
        match self.tls {
            ServingTls::Ready(tls) => {
                let server =
                    crate::server::bind(cfg.listen, *tls, state, authz, stop.child_token()).await?;
                tasks.spawn(server);
            }
            ServingTls::Csr { client_ca } => {
                let client = self.client.clone();
                let cfg = cfg.clone();
                let stop = stop.child_token();
                tasks.spawn(async move {
                    let served = async {
                        let pem = crate::bootstrap::serving_cert(client, &cfg).await?;
                        let tls =
                            crate::server::tls::server_config(&pem, &pem, client_ca.as_deref())?;
                        crate::server::bind(cfg.listen, tls, state, authz, stop.clone()).await
                    };
                    match served.await {
                        Ok(server) => server.await,
                        Err(e) => tracing::error!(error = %e, "the kubelet server could not start"),
                    }
                });
            }
        }
        tasks.spawn(
            EventPoster {
                client: self.client.clone(),
            }
            .run(events_rx, stop.child_token()),
        );
        tasks.spawn(forward_engine_events(
            self.engine.clone(),
            events.clone(),
            self.sources.clone(),
            stop.child_token(),
        ));
        tasks.spawn(
            NodeSync {
                api: Api::<Node>::all(self.client.clone()),
                cfg: cfg.clone(),
                host: crate::host::HostInfo::read(&cfg.root),
                facts: self.facts.clone(),
                events: events.clone(),
                uid: uid_tx,
            }
            .run(stop.child_token()),
        );
        let mut lease = LeaseController::new(
            self.client.clone(),
            &node,
            cfg.lease_duration,
            cfg.lease_renew_interval(),
            uid_rx.clone(),
        );
        // /metrics reads the counter the lease controller bumps.
        lease.renewals = metrics.lease_renewals.clone();
        tasks.spawn(lease.run(stop.child_token()));
        let (mirror_seen_tx, mirror_seen_rx) = mpsc::unbounded_channel();
        tasks.spawn(
            StatusReporter {
                client: self.client.clone(),
                engine: self.engine.clone(),
                view: view.clone(),
                mirror_seen: mirror_seen_rx,
            }
            .run(stop.child_token()),
        );
        let (mirror_tx, mirror_rx) = mpsc::unbounded_channel();
        tasks.spawn(
            PodSource {
                client: self.client.clone(),
                engine: self.engine.clone(),
                node_name: node.clone(),
                view: view.clone(),
                sources: self.sources.clone(),
                events: events.clone(),
                mirror_gone: mirror_tx,
                mirror_seen: mirror_seen_tx,
                max_pods: cfg.max_pods,
                sysctls: cfg.sysctls.clone(),
            }
            .run(stop.child_token()),
        );
        if let Some(dir) = &cfg.pod_manifest_path {
            tasks.spawn(
                StaticPods {
                    dir: dir.clone(),
                    node: node.clone(),
                    engine: self.engine.clone(),
                    client: self.client.clone(),
                    view: view.clone(),
                    node_uid: uid_rx,
                    mirror_gone: mirror_rx,
                }
                .run(stop.child_token()),
            );
        }
        stop.cancelled().await;
        self.sources.shutdown();
        tasks.shutdown().await;
        Ok(())
    }
}

/// Engine events the API server should hear of: recorded events, and pod
/// removals (their lookups are no longer watched).
async fn forward_engine_events(
    engine: Arc<Engine>,
    events: EventSink,
    sources: Arc<NodeSources>,
    stop: CancellationToken,
) {
    let mut rx = engine.subscribe();
    loop {
        let ev = tokio::select! {
            _ = stop.cancelled() => return,
            ev = rx.recv() => ev,
        };
        match ev {
            Ok(EngineEvent::Event(e)) => events.engine_event(*e),
            Ok(EngineEvent::PodDeleted { uid, .. }) => sources.unregister_pod(&uid),
            Ok(EngineEvent::PodUpdated(_)) => {}
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(
                    missed = n,
                    "event forwarder lagged; some events were not sent"
                )
            }
            Err(RecvError::Closed) => return,
        }
    }
}
