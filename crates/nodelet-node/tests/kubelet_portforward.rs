//! `/portForward` on the kubelet server: the plain SPDY/3.1 upgrade the
//! API server (or kubectl through it) makes, one stream pair forwarded into
//! the pod. The engine and store are real, the runtime the fake one (its
//! port_forward echoes what it is sent), the router the kubelet server's
//! without TLS and authorization (tested in `server::auth`).

use std::sync::Arc;
use std::time::Duration;

use nodelet_api::portforward::client::ClientSession;
use nodelet_engine::clock::SystemClock;
use nodelet_engine::{Engine, EngineConfig};
use nodelet_node::server::metrics::NodeMetrics;
use nodelet_node::server::stats::Stats;
use nodelet_node::server::{ServerState, routes};
use nodelet_runtime::Runtime;
use nodelet_runtime::fake::FakeRuntime;
use nodelet_store::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn serve() -> (std::net::SocketAddr, Arc<Engine>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("state.redb")).unwrap());
    let runtime: Arc<dyn Runtime> = Arc::new(FakeRuntime::new());
    let engine = Arc::new(
        Engine::new(
            runtime.clone(),
            store,
            Arc::new(SystemClock),
            EngineConfig::new("node-1"),
        )
        .await
        .unwrap(),
    );
    let state = ServerState {
        node: "node-1".into(),
        engine: engine.clone(),
        streams: Arc::new(nodelet_api::EngineStreams::new(
            engine.clone(),
            runtime.clone(),
        )),
        stats: Arc::new(Stats::new(runtime, dir.path().to_path_buf())),
        metrics: Arc::new(NodeMetrics::default()),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, routes::router(state)).await.unwrap();
    });
    (addr, engine, dir)
}

async fn running_pod(engine: &Engine) -> String {
    let pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"containers": [{"name": "c", "image": "nodelet.local/busybox"}]}
    }))
    .unwrap();
    engine
        .apply(vec![nodelet_spec::Object::Pod(Box::new(pod))])
        .unwrap();
    for _ in 0..200 {
        if let Some(p) = engine.get_pod("default", "web")
            && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
        {
            return p.metadata.uid.unwrap_or_default();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("pod web did not reach Running on the fake runtime");
}

/// Sends the upgrade request and returns the stream after `101`, or the
/// status line and body of a refusal.
async fn upgrade(addr: std::net::SocketAddr, path: &str) -> Result<tokio::net::TcpStream, String> {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: node-1\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: portforward.k8s.io\r\nContent-Length: 0\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            s.read(&mut b).await.unwrap(),
            1,
            "connection closed in the response head"
        );
        head.push(b[0]);
    }
    let head = String::from_utf8_lossy(&head).to_string();
    if head.starts_with("HTTP/1.1 101") {
        assert!(
            head.to_ascii_lowercase()
                .contains("x-stream-protocol-version: portforward.k8s.io"),
            "{head}"
        );
        return Ok(s);
    }
    let mut body = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(2), s.read(&mut body))
        .await
        .map_or(0, |r| r.unwrap_or(0));
    Err(format!("{head}{}", String::from_utf8_lossy(&body[..n])))
}

async fn echo_through(io: tokio::net::TcpStream) {
    let session = ClientSession::start(io);
    let h = |ty: &'static str| vec![("streamtype", ty), ("port", "8080"), ("requestid", "0")];
    let error = session.open(&h("error")).await.unwrap();
    let (error_w, _error_rx) = error.split();
    error_w.close().await.unwrap();
    let data = session.open(&h("data")).await.unwrap();
    let (w, mut rx) = data.split();
    w.write(b"hello through the kubelet port").await.unwrap();
    let mut got = Vec::new();
    while got.len() < 30 {
        let chunk = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("echo within 5 s")
            .expect("data stream open");
        got.extend_from_slice(&chunk);
    }
    assert_eq!(got, b"hello through the kubelet port");
}

#[tokio::test]
async fn port_forward_reaches_the_pod_over_spdy() {
    let (addr, engine, _dir) = serve().await;
    let uid = running_pod(&engine).await;
    let io = upgrade(addr, "/portForward/default/web").await.unwrap();
    echo_through(io).await;
    // The uid form, as the API server sends it for a known pod.
    let io = upgrade(addr, &format!("/portForward/default/web/{uid}"))
        .await
        .unwrap();
    echo_through(io).await;
}

#[tokio::test]
async fn port_forward_refuses_another_pod_incarnation_and_unknown_pods() {
    let (addr, engine, _dir) = serve().await;
    running_pod(&engine).await;
    let err = upgrade(addr, "/portForward/default/web/not-the-uid")
        .await
        .unwrap_err();
    assert!(err.starts_with("HTTP/1.1 404"), "{err}");
    let err = upgrade(addr, "/portForward/default/nope")
        .await
        .unwrap_err();
    assert!(err.starts_with("HTTP/1.1 404"), "{err}");
    assert!(err.contains("nope"), "{err}");
}
