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
pub async fn backend() -> (Arc<EngineBackend>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("state.redb")).unwrap());
    let runtime = Arc::new(FakeRuntime::new());
    let engine = Engine::new(
        runtime.clone(),
        store.clone(),
        Arc::new(SystemClock),
        EngineConfig::new("node1"),
    )
    .await
    .unwrap();
    let backend = Arc::new(EngineBackend::new(
        Arc::new(engine),
        store,
        runtime,
        "fake://0",
    ));
    (backend, dir)
}
