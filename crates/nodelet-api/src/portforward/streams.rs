//! The kubelet's port-forward stream handling
//! (`pkg/kubelet/cri/streaming/portforward/httpstream.go`): the client opens
//! an error stream and a data stream per forwarded connection, both with
//! `port` and the same `requestID`; once both arrived, the data stream is
//! joined to a connection into the pod (CRI `PortForward`), and anything
//! that goes wrong is written to the error stream as the kubelet words it.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::spdy::{RST_PROTOCOL_ERROR, Stream};

/// How long the second stream of a pair may take (the kubelet's
/// `streamCreationTimeout`).
pub const PAIR_TIMEOUT: Duration = Duration::from_secs(30);
/// After the pod closed its side, how long the client's side may still
/// take (containerd waits 1 s, as socat does).
const DRAIN: Duration = Duration::from_secs(1);

/// A connection into the pod.
pub trait PodConn: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> PodConn for T {}

/// A connection attempt in flight.
pub type Connecting =
    std::pin::Pin<Box<dyn Future<Output = Result<Box<dyn PodConn>, String>> + Send>>;

/// Connects to a port of the pod; `Err` is the runtime's message.
pub trait Connect: Send + Sync + 'static {
    fn connect(&self, port: u16) -> Connecting;
}

impl<F, Fut> Connect for F
where
    F: Fn(u16) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Box<dyn PodConn>, String>> + Send + 'static,
{
    fn connect(&self, port: u16) -> Connecting {
        Box::pin(self(port))
    }
}

#[derive(Default)]
struct Pair {
    error: Option<Stream>,
    data: Option<Stream>,
}

/// Pairs streams and forwards each pair. `pod` and `uid` name the pod in
/// error messages (`error forwarding port 80 to pod <pod>, uid <uid>: …`).
pub struct Forwarder {
    connect: Arc<dyn Connect>,
    pod: String,
    uid: String,
    pairs: Arc<Mutex<HashMap<String, Pair>>>,
}

impl Forwarder {
    pub fn new(connect: Arc<dyn Connect>, pod: impl Into<String>, uid: impl Into<String>) -> Self {
        Forwarder {
            connect,
            pod: pod.into(),
            uid: uid.into(),
            pairs: Arc::default(),
        }
    }

    /// Takes one new stream (call from the session's stream callback).
    pub fn stream(&self, stream: Stream) {
        let ty = stream.header("streamtype").unwrap_or("").to_owned();
        let request = stream
            .header("requestid")
            .map(str::to_owned)
            // Clients before requestID: the data stream comes first and
            // the error stream two ids later.
            .unwrap_or_else(|| match ty.as_str() {
                "error" => stream.id.saturating_sub(2).to_string(),
                _ => stream.id.to_string(),
            });
        if ty != "error" && ty != "data" {
            let out = stream.out.clone();
            tokio::spawn(async move {
                let _ = out.reset(RST_PROTOCOL_ERROR).await;
            });
            return;
        }
        // Accepted at once, as the kubelet's SPDY server does: the client
        // waits for the error stream's reply before it opens the data one.
        stream.out.reply_now();
        let ready = {
            let mut pairs = self.pairs.lock().unwrap_or_else(|e| e.into_inner());
            let pair = pairs.entry(request.clone()).or_default();
            let first = pair.error.is_none() && pair.data.is_none();
            if ty == "error" {
                pair.error = Some(stream);
            } else {
                pair.data = Some(stream);
            }
            if pair.error.is_some() && pair.data.is_some() {
                pairs.remove(&request)
            } else {
                if first {
                    self.expire(request.clone());
                }
                None
            }
        };
        if let Some(Pair {
            error: Some(error),
            data: Some(data),
        }) = ready
        {
            let connect = self.connect.clone();
            let (pod, uid) = (self.pod.clone(), self.uid.clone());
            tokio::spawn(forward(connect, pod, uid, error, data));
        }
    }

    /// Drops a half pair that did not complete in time.
    fn expire(&self, request: String) {
        let pairs = self.pairs.clone();
        tokio::spawn(async move {
            tokio::time::sleep(PAIR_TIMEOUT).await;
            let stale = pairs
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&request);
            if let Some(p) = stale {
                for s in [p.error, p.data].into_iter().flatten() {
                    let _ = s.out.reset(RST_PROTOCOL_ERROR).await;
                }
            }
        });
    }
}

async fn forward(connect: Arc<dyn Connect>, pod: String, uid: String, error: Stream, data: Stream) {
    let port_text = data.header("port").unwrap_or("").to_owned();
    let result = match port_text.parse::<u16>() {
        Ok(port) if port > 0 => match connect.connect(port).await {
            Ok(conn) => {
                copy(conn, data).await;
                Ok(())
            }
            Err(e) => {
                let _ = data.out.close().await;
                Err(format!(
                    "error forwarding port {port} to pod {pod}, uid {uid}: {e}"
                ))
            }
        },
        _ => {
            let _ = data.out.close().await;
            Err(format!("invalid port: {port_text:?}"))
        }
    };
    if let Err(msg) = result {
        tracing::debug!("port-forward: {msg}");
        let _ = error.out.write(msg.as_bytes()).await;
    }
    let _ = error.out.close().await;
}

/// Bytes both ways between the pod and the data stream; the client's
/// half-close becomes a TCP half-close towards the pod.
async fn copy(conn: Box<dyn PodConn>, mut data: Stream) {
    let (mut pr, mut pw) = tokio::io::split(conn);
    let out = data.out.clone();
    let mut down = tokio::spawn(async move {
        let mut buf = vec![0u8; super::spdy::MAX_DATA_CHUNK];
        loop {
            match pr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if out.write(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            }
        }
        let _ = out.close().await;
    });
    let mut up = tokio::spawn(async move {
        while let Some(chunk) = data.data.recv().await {
            if pw.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = pw.shutdown().await;
    });
    tokio::select! {
        _ = &mut down => {
            let _ = tokio::time::timeout(DRAIN, &mut up).await;
            up.abort();
        }
        _ = &mut up => {
            let _ = down.await;
        }
    }
}
