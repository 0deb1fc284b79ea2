//! `pods/attach` over a real WebSocket (`v5.channel.k8s.io`) against the
//! engine and the fake runtime, whose attached "main process" echoes stdin
//! like `cat`: stdin in, stdout out, the Success status when the container
//! ends, and the refusals kubectl shows (no stdin: true, not running).

mod fake_engine;

use std::time::Duration;

use axum::Extension;
use futures::{SinkExt, StreamExt};
use nodelet_api::ConnAuth;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

struct H {
    addr: std::net::SocketAddr,
    http: reqwest_free::Http,
    _dir: tempfile::TempDir,
}

/// Minimal HTTP/1.1 JSON calls over TCP, enough to create and read pods.
mod reqwest_free {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    pub struct Http(pub std::net::SocketAddr);

    impl Http {
        pub async fn call(&self, method: &str, path: &str, body: &str) -> serde_json::Value {
            let mut s = tokio::net::TcpStream::connect(self.0).await.unwrap();
            let req = format!(
                "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            s.write_all(req.as_bytes()).await.unwrap();
            let mut resp = Vec::new();
            s.read_to_end(&mut resp).await.unwrap();
            let text = String::from_utf8_lossy(&resp);
            let (_, body) = text.split_once("\r\n\r\n").unwrap();
            // The router answers with Content-Length, never chunked, for JSON.
            serde_json::from_str(body).unwrap_or(serde_json::Value::Null)
        }
    }
}

async fn setup() -> H {
    let (backend, dir) = fake_engine::backend().await;
    let router = nodelet_api::router(backend, "t").layer(Extension(ConnAuth::Local));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    H {
        addr,
        http: reqwest_free::Http(addr),
        _dir: dir,
    }
}

impl H {
    /// Creates a pod and waits (bounded) until its container runs.
    async fn running_pod(&self, name: &str, stdin: bool) {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"terminationGracePeriodSeconds": 0,
                     "containers": [{"name": "app", "image": "busybox", "stdin": stdin}]}});
        let created = self
            .http
            .call("POST", "/api/v1/namespaces/default/pods", &pod.to_string())
            .await;
        assert_eq!(created["metadata"]["name"], name, "{created}");
        for _ in 0..200 {
            let p = self
                .http
                .call(
                    "GET",
                    &format!("/api/v1/namespaces/default/pods/{name}"),
                    "",
                )
                .await;
            if p["status"]["containerStatuses"][0]["state"]["running"].is_object() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("pod {name} never ran");
    }

    async fn attach(
        &self,
        pod: &str,
        query: &str,
    ) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
        self.try_attach(pod, query).await.unwrap()
    }

    async fn try_attach(
        &self,
        pod: &str,
        query: &str,
    ) -> Result<tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>, String> {
        let tcp = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let url = format!(
            "ws://{}/api/v1/namespaces/default/pods/{pod}/attach?{query}",
            self.addr
        );
        let mut req = url.into_client_request().unwrap();
        req.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static("v5.channel.k8s.io"),
        );
        let (ws, resp) = tokio_tungstenite::client_async(req, tcp)
            .await
            .map_err(|e| e.to_string())?;
        assert_eq!(
            resp.headers()["sec-websocket-protocol"],
            "v5.channel.k8s.io"
        );
        Ok(ws)
    }
}

/// The next binary frame as (channel, payload), bounded in time.
async fn next_frame(
    ws: &mut tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
) -> Option<(u8, Vec<u8>)> {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("no frame in 10s")?;
        match m.ok()? {
            Message::Binary(b) if !b.is_empty() => return Some((b[0], b[1..].to_vec())),
            Message::Close(_) => return None,
            _ => {}
        }
    }
}

#[tokio::test]
async fn attach_streams_stdin_and_reports_success() {
    let h = setup().await;
    h.running_pod("echo", true).await;
    let mut ws = h
        .attach(
            "echo",
            "container=app&stdin=true&stdout=true&stderr=true&tty=false",
        )
        .await;
    ws.send(Message::Binary(b"\x00hi\n".to_vec().into()))
        .await
        .unwrap();
    assert_eq!(next_frame(&mut ws).await, Some((1, b"hi\n".to_vec())));
    // v5: close stdin; the process keeps running.
    ws.send(Message::Binary(vec![255, 0].into())).await.unwrap();
    // Deleting the pod ends the container: the stream ends with Success.
    h.http
        .call("DELETE", "/api/v1/namespaces/default/pods/echo", "")
        .await;
    let (ch, status) = next_frame(&mut ws).await.expect("a status frame");
    assert_eq!(ch, 3);
    let status: Value = serde_json::from_slice(&status).unwrap();
    assert_eq!(status["status"], "Success", "{status}");
    assert_eq!(next_frame(&mut ws).await, None);
}

#[tokio::test]
async fn attach_refusals_come_on_the_error_channel() {
    let h = setup().await;
    h.running_pod("nostdin", false).await;
    let mut ws = h
        .attach(
            "nostdin",
            "container=app&stdin=true&stdout=true&stderr=true",
        )
        .await;
    let (ch, status) = next_frame(&mut ws).await.expect("a status frame");
    assert_eq!(ch, 3);
    let status: Value = serde_json::from_slice(&status).unwrap();
    assert_eq!(status["status"], "Failure");
    let msg = status["message"].as_str().unwrap();
    assert!(msg.contains("stdin: true"), "{msg}");

    // Output only is fine; detaching (closing the socket) leaves it running.
    let mut ws = h
        .attach("nostdin", "container=app&stdout=true&stderr=true")
        .await;
    ws.close(None).await.unwrap();
    let p = h
        .http
        .call("GET", "/api/v1/namespaces/default/pods/nostdin", "")
        .await;
    assert!(p["status"]["containerStatuses"][0]["state"]["running"].is_object());

    let e = h
        .try_attach("missing", "container=app&stdout=true")
        .await
        .expect_err("no upgrade for a missing pod");
    assert!(e.contains("404"), "{e}");
}
