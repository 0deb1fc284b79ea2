//! What every pod worker shares: the seams (runtime, store, clock, sources), the
//! hook runner, the event recorder and the broadcast channel.

use std::sync::Arc;

use nodelet_runtime::Runtime;
use nodelet_store::Store;
use tokio::sync::broadcast;

use crate::broadcast::EngineEvent;
use crate::clock::Clock;
use crate::config::EngineConfig;
use crate::events::Recorder;
use crate::hooks::HookRunner;
use crate::sources::Sources;
use crate::teardown::Teardown;

pub struct EngineCtx {
    pub runtime: Arc<dyn Runtime>,
    pub store: Arc<Store>,
    pub clock: Arc<dyn Clock>,
    /// ConfigMaps, Secrets and Services (the store, or the API server).
    pub sources: Arc<dyn Sources>,
    pub hooks: HookRunner,
    pub recorder: Recorder,
    pub config: EngineConfig,
    pub tx: broadcast::Sender<EngineEvent>,
    /// Each changed pod as computed, before its durable write (see
    /// [`crate::Engine::subscribe_computed`]).
    pub computed: broadcast::Sender<Arc<k8s_openapi::api::core::v1::Pod>>,
    /// Releases deleted pods' containers and sandboxes in the background.
    pub teardown: Arc<Teardown>,
    /// The cpu/memory each active pod was allocated (resize feasibility).
    pub allocations: crate::allocations::Allocations,
    /// Prometheus metrics (see [`crate::metrics`]).
    pub metrics: crate::metrics::Metrics,
    /// Whether the store takes writes (see [`crate::storage`]).
    pub storage: crate::storage::Storage,
    /// How many pods were removed so far (see [`crate::Engine::removals`]).
    pub removals: tokio::sync::watch::Sender<u64>,
}
