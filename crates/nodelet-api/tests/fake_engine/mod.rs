//! The API over the real engine and store with the fake runtime: what the
//! API tests that need engine semantics (status, attach) start from.

use std::sync::Arc;

use nodelet_api::EngineBackend;
use nodelet_engine::clock::SystemClock;
use nodelet_engine::{Engine, EngineConfig};
use nodelet_runtime::fake::FakeRuntime;
use nodelet_store::Store;

/// An [`EngineBackend`] on node `node1`; the store lives in the returned
/// temp dir, which must outlive the backend.
#[allow(dead_code)]
pub async fn backend() -> (Arc<EngineBackend>, tempfile::TempDir) {
    backend_with(EngineConfig::new("node1")).await
}

/// [`backend`] with an engine configuration (bounds, retention); the
/// node reports `config.max_pods` (else 110) as its pod capacity.
#[allow(dead_code)]
pub async fn backend_with(config: EngineConfig) -> (Arc<EngineBackend>, tempfile::TempDir) {
    let max_pods = config.max_pods.unwrap_or(110);
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("state.redb")).unwrap());
    let runtime = Arc::new(FakeRuntime::new());
    let engine = Engine::new(
        runtime.clone(),
        store.clone(),
        Arc::new(SystemClock),
        config,
    )
    .await
    .unwrap();
    let backend = Arc::new(
        EngineBackend::new(Arc::new(engine), store, runtime, "fake://0").with_max_pods(max_pods),
    );
    (backend, dir)
}
