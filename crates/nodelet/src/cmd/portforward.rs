//! `nodelet port-forward TARGET LOCAL:REMOTE...`: kubectl's port-forward
//! over the agent's socket. A service is resolved to one of its running
//! pods and its port to the pod's target port, as kubectl does on the
//! client side; every local connection becomes an error stream and a data
//! stream of one SPDY session tunneled through a WebSocket.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use futures::{SinkExt, StreamExt};
use nodelet_api::portforward::WS_TUNNEL_PROTOCOL;
use nodelet_api::portforward::client::ClientSession;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::cli_client::PortForwardArgs;
use crate::client::{Client, encode, with_query};

/// (local, remote) from `LOCAL:REMOTE`, `PORT` or `:REMOTE`.
pub fn parse_port(s: &str) -> anyhow::Result<(u16, String)> {
    let (local, remote) = match s.split_once(':') {
        Some((l, r)) => (l, r),
        None => (s, s),
    };
    let local = if local.is_empty() {
        0
    } else {
        local
            .parse()
            .with_context(|| format!("invalid local port {local:?}"))?
    };
    if remote.is_empty() {
        anyhow::bail!("invalid port specification {s:?}");
    }
    Ok((local, remote.to_owned()))
}

async fn pod_for(
    client: &Client,
    ns: &str,
    target: &str,
) -> anyhow::Result<(Value, Option<Value>)> {
    let (ty, name) = target.split_once('/').unwrap_or(("pod", target));
    match ty {
        "pod" | "pods" | "po" => Ok((
            client
                .get(&format!("/api/v1/namespaces/{ns}/pods/{}", encode(name)))
                .await?,
            None,
        )),
        "service" | "services" | "svc" => {
            let svc = client
                .get(&format!(
                    "/api/v1/namespaces/{ns}/services/{}",
                    encode(name)
                ))
                .await?;
            let sel: Vec<String> = svc["spec"]["selector"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect();
            if sel.is_empty() {
                anyhow::bail!("invalid service '{name}': Service is defined without a selector");
            }
            let path = with_query(
                &format!("/api/v1/namespaces/{ns}/pods"),
                &[("labelSelector", sel.join(","))],
            );
            let pods = client.get(&path).await?;
            let pod = pods["items"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|p| p["status"]["phase"] == "Running")
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("timed out waiting for the condition"))?;
            Ok((pod, Some(svc)))
        }
        other => anyhow::bail!("the server doesn't have a resource type \"{other}\""),
    }
}

/// The pod port a requested remote port means (a service's `port` maps
/// to its `targetPort`; a name to the container port of that name).
fn remote_port(pod: &Value, svc: Option<&Value>, remote: &str) -> anyhow::Result<u16> {
    let container_port = |name: &str| -> Option<u16> {
        pod["spec"]["containers"]
            .as_array()?
            .iter()
            .flat_map(|c| c["ports"].as_array().into_iter().flatten())
            .find(|p| p["name"].as_str() == Some(name))
            .and_then(|p| p["containerPort"].as_u64())
            .and_then(|n| u16::try_from(n).ok())
    };
    if let Some(svc) = svc {
        let sp = svc["spec"]["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| {
                p["port"].as_u64().map(|n| n.to_string()).as_deref() == Some(remote)
                    || p["name"].as_str() == Some(remote)
            })
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "Service {} does not have a service port {remote}",
                    svc["metadata"]["name"].as_str().unwrap_or("")
                )
            })?;
        return match &sp["targetPort"] {
            Value::Number(n) => n
                .as_u64()
                .and_then(|n| u16::try_from(n).ok())
                .ok_or_else(|| anyhow::anyhow!("bad targetPort")),
            Value::String(name) => container_port(name).ok_or_else(|| {
                anyhow::anyhow!(
                    "Pod '{}' does not have a named port '{name}'",
                    pod["metadata"]["name"].as_str().unwrap_or("")
                )
            }),
            _ => sp["port"]
                .as_u64()
                .and_then(|n| u16::try_from(n).ok())
                .ok_or_else(|| anyhow::anyhow!("bad port")),
        };
    }
    match remote.parse::<u16>() {
        Ok(n) => Ok(n),
        Err(_) => container_port(remote).ok_or_else(|| {
            anyhow::anyhow!(
                "Pod '{}' does not have a named port '{remote}'",
                pod["metadata"]["name"].as_str().unwrap_or("")
            )
        }),
    }
}

/// Opens the WebSocket tunnel and the SPDY session on it.
async fn session(client: &Client, ns: &str, pod: &str) -> anyhow::Result<ClientSession> {
    let stream = client.dial().await?;
    let mut req = format!(
        "ws://localhost/api/v1/namespaces/{ns}/pods/{}/portforward",
        encode(pod)
    )
    .into_client_request()?;
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static(WS_TUNNEL_PROTOCOL),
    );
    let (ws, _) = match tokio_tungstenite::client_async(req, stream).await {
        Ok(x) => x,
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            let body = resp.body().clone().unwrap_or_default();
            anyhow::bail!(
                "error upgrading connection: {}",
                String::from_utf8_lossy(&body)
            );
        }
        Err(e) => return Err(e.into()),
    };
    let (ours, theirs) = tokio::io::duplex(256 * 1024);
    let (mut sink, mut source) = ws.split();
    let (mut rd, mut wr) = tokio::io::split(theirs);
    tokio::spawn(async move {
        while let Some(Ok(m)) = source.next().await {
            match m {
                Message::Binary(b) if wr.write_all(&b).await.is_err() => break,
                Message::Close(_) => break,
                _ => {}
            }
        }
        let _ = wr.shutdown().await;
    });
    tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if sink
                        .send(Message::Binary(buf[..n].to_vec().into()))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
        let _ = sink.send(Message::Close(None)).await;
    });
    Ok(ClientSession::start(ours))
}

async fn handle(
    session: ClientSession,
    mut conn: tokio::net::TcpStream,
    local: u16,
    port: u16,
    req: u64,
) {
    let port_s = port.to_string();
    let req_s = req.to_string();
    let headers = |ty: &'static str| {
        vec![
            ("streamtype", ty),
            ("port", port_s.as_str()),
            ("requestid", req_s.as_str()),
        ]
    };
    let error = match session.open(&headers("error")).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error creating error stream for port {local} -> {port}: {e}");
            return;
        }
    };
    let (error_w, mut error_rx) = error.split();
    let _ = error_w.close().await;
    let data = match session.open(&headers("data")).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error creating forwarding stream for port {local} -> {port}: {e}");
            return;
        }
    };
    let errors = tokio::spawn(async move {
        let mut msg = Vec::new();
        while let Some(b) = error_rx.recv().await {
            msg.extend_from_slice(&b);
        }
        msg
    });
    let (data_w, mut data_rx) = data.split();
    let (mut cr, mut cw) = conn.split();
    let up = async {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match cr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if data_w.write(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
        let _ = data_w.close().await;
    };
    let down = async {
        while let Some(b) = data_rx.recv().await {
            if cw.write_all(&b).await.is_err() {
                break;
            }
        }
        let _ = cw.shutdown().await;
    };
    tokio::join!(up, down);
    if let Ok(msg) = errors.await
        && !msg.is_empty()
    {
        eprintln!(
            "error: an error occurred forwarding {local} -> {port}: {}",
            String::from_utf8_lossy(&msg)
        );
    }
}

pub async fn run(a: &PortForwardArgs) -> anyhow::Result<ExitCode> {
    let client = Arc::new(a.conn.client());
    let ns = a.conn.namespace.clone();
    let (pod, svc) = pod_for(&client, &ns, &a.target).await?;
    if pod["status"]["phase"] != "Running" {
        anyhow::bail!(
            "unable to forward port because pod is not running. Current status={}",
            pod["status"]["phase"].as_str().unwrap_or("")
        );
    }
    let pod_name = pod["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let session = session(&client, &ns, &pod_name).await?;
    let requests = Arc::new(AtomicU64::new(0));
    let addrs: Vec<&str> = a.address.split(',').map(str::trim).collect();
    let mut tasks = Vec::new();
    for spec in &a.ports {
        let (local, remote) = parse_port(spec)?;
        let port = remote_port(&pod, svc.as_ref(), &remote)?;
        for addr in &addrs {
            let ip = if *addr == "localhost" {
                "127.0.0.1"
            } else {
                addr
            };
            let listener = tokio::net::TcpListener::bind((ip, local))
                .await
                .with_context(|| format!("unable to listen on {ip}:{local}"))?;
            let bound = listener.local_addr()?.port();
            println!("Forwarding from {ip}:{bound} -> {port}");
            let session = session.clone();
            let requests = requests.clone();
            tasks.push(tokio::spawn(async move {
                while let Ok((conn, _)) = listener.accept().await {
                    println!("Handling connection for {bound}");
                    let id = requests.fetch_add(1, Ordering::Relaxed);
                    tokio::spawn(handle(session.clone(), conn, bound, port, id));
                }
            }));
        }
    }
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = futures::future::join_all(tasks) => {}
    }
    Ok(ExitCode::SUCCESS)
}
