//! The grpc probe against a small grpc.health.v1 server built on h2:
//! SERVING is success; NOT_SERVING, Unimplemented, other statuses, a
//! silent server and a closed port are failures in the kubelet's words.

use std::time::Duration;

use bytes::Bytes;
use nodelet_engine::clock::SystemClock;
use nodelet_engine::probes::ProbeOutcome;
use nodelet_engine::probes::grpc::probe;
use tokio::net::TcpListener;

fn trailers(code: u32, msg: &str) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    h.insert("grpc-status", code.to_string().parse().unwrap());
    if !msg.is_empty() {
        h.insert("grpc-message", msg.parse().unwrap());
    }
    h
}

/// Answers by requested service: "" → SERVING, "down" → NOT_SERVING,
/// "unimpl" → Unimplemented, "missing" → NotFound, "slow" → never.
async fn server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut conn) = h2::server::handshake(sock).await else {
                    return;
                };
                while let Some(Ok((req, mut respond))) = conn.accept().await {
                    assert_eq!(req.uri().path(), "/grpc.health.v1.Health/Check");
                    let ua = req.headers()["user-agent"].to_str().unwrap().to_owned();
                    assert!(ua.starts_with("kube-probe/1."), "{ua}");
                    let mut body = req.into_body();
                    let mut data = Vec::new();
                    while let Some(Ok(chunk)) = body.data().await {
                        data.extend_from_slice(&chunk);
                    }
                    let service = String::from_utf8_lossy(data.get(7..).unwrap_or(&[])).to_string();
                    let head = http::Response::builder()
                        .status(200)
                        .header("content-type", "application/grpc");
                    match service.as_str() {
                        "" | "down" => {
                            let status = if service.is_empty() { 1 } else { 2 };
                            let mut send = respond
                                .send_response(head.body(()).unwrap(), false)
                                .unwrap();
                            send.send_data(Bytes::from(vec![0, 0, 0, 0, 2, 0x08, status]), false)
                                .unwrap();
                            send.send_trailers(trailers(0, "")).unwrap();
                        }
                        "unimpl" | "missing" => {
                            let (code, msg) = if service == "unimpl" {
                                (12, "unknown service grpc.health.v1.Health")
                            } else {
                                (5, "unknown service")
                            };
                            let mut resp = head.body(()).unwrap();
                            resp.headers_mut().extend(trailers(code, msg));
                            respond.send_response(resp, true).unwrap();
                        }
                        _ => {
                            // "slow": keep the stream open without answering.
                            tokio::time::sleep(Duration::from_secs(30)).await;
                        }
                    }
                }
            });
        }
    });
    port
}

#[tokio::test]
async fn health_check_outcomes() {
    let port = server().await;
    let c = SystemClock;
    let t = Duration::from_secs(1);
    let p = |svc: &'static str| probe(&c, "127.0.0.1", port, svc, t);
    assert_eq!(p("").await, ProbeOutcome::Success);
    assert_eq!(
        p("down").await,
        ProbeOutcome::Failure("service unhealthy (responded with \"NOT_SERVING\")".into())
    );
    assert_eq!(
        p("unimpl").await,
        ProbeOutcome::Failure(
            "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): unknown service grpc.health.v1.Health".into()
        )
    );
    assert_eq!(
        p("missing").await,
        ProbeOutcome::Failure(
            "error: health rpc probe failed: rpc error: code = NotFound desc = unknown service"
                .into()
        )
    );
    assert_eq!(
        p("slow").await,
        ProbeOutcome::Failure("timeout: health rpc did not complete within 1s".into())
    );
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let cport = closed.local_addr().unwrap().port();
    drop(closed);
    let out = probe(&c, "127.0.0.1", cport, "", t).await;
    let ProbeOutcome::Failure(msg) = out else {
        panic!("{out:?}")
    };
    assert!(
        msg.starts_with(&format!(
            "error: failed to connect service at \"127.0.0.1:{cport}\": dial tcp 127.0.0.1:{cport}: "
        )),
        "{msg}"
    );
}
