//! The httpGet probe against a local server: 2xx success, other codes
//! `HTTP probe failed with statuscode: N`, same-host redirects followed, a
//! cross-host redirect a success with a warning, `kube-probe/` User-Agent,
//! the pod IP as default host, the timeout as a failure, and transport
//! errors in Go's words.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, HTTPGetAction};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use nodelet_engine::probes::ProbeOutcome;
use nodelet_engine::probes::http::probe;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Serves until dropped; records each request's head.
async fn server() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let log = log.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                log.lock().unwrap().push(head.clone());
                let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
                let (status, extra, body) = match path.as_str() {
                    "/ok" => ("200 OK", String::new(), "fine"),
                    "/fail" => ("500 Internal Server Error", String::new(), "bad"),
                    "/local" => ("302 Found", "Location: /ok\r\n".to_owned(), ""),
                    "/away" => (
                        "302 Found",
                        "Location: http://elsewhere.invalid/\r\n".to_owned(),
                        "moved",
                    ),
                    "/slow" => {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        ("200 OK", String::new(), "late")
                    }
                    _ => ("404 Not Found", String::new(), "no"),
                };
                let resp = format!(
                    "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    (port, seen)
}

fn action(path: &str, port: i32) -> HTTPGetAction {
    HTTPGetAction {
        path: Some(path.to_owned()),
        port: IntOrString::Int(port),
        ..Default::default()
    }
}

const LOCAL: Option<IpAddr> = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
const T: Duration = Duration::from_secs(1);

#[tokio::test]
async fn status_codes_redirects_and_headers() {
    let (port, seen) = server().await;
    let p = i32::from(port);
    let c = Container::default();
    assert_eq!(
        probe(&action("/ok", p), &c, LOCAL, T).await,
        ProbeOutcome::Success
    );
    assert_eq!(
        probe(&action("/fail", p), &c, LOCAL, T).await,
        ProbeOutcome::Failure("HTTP probe failed with statuscode: 500".into())
    );
    assert_eq!(
        probe(&action("/nope", p), &c, LOCAL, T).await,
        ProbeOutcome::Failure("HTTP probe failed with statuscode: 404".into())
    );
    assert_eq!(
        probe(&action("/local", p), &c, LOCAL, T).await,
        ProbeOutcome::Success
    );
    assert_eq!(
        probe(&action("/away", p), &c, LOCAL, T).await,
        ProbeOutcome::Warning("Probe terminated redirects, Response body: moved".into())
    );
    let heads = seen.lock().unwrap().clone();
    assert!(
        heads[0]
            .to_ascii_lowercase()
            .contains("user-agent: kube-probe/1."),
        "{}",
        heads[0]
    );
    assert!(heads[0].starts_with("GET /ok HTTP/1.1\r\n"), "{}", heads[0]);
    assert!(heads.iter().any(|h| h.starts_with("GET /ok")) && heads.len() == 6);
}

#[tokio::test]
async fn timeouts_and_transport_errors_fail() {
    let (port, _) = server().await;
    let c = Container::default();
    let url = format!("http://127.0.0.1:{port}/slow");
    assert_eq!(
        probe(&action("/slow", i32::from(port)), &c, LOCAL, T).await,
        ProbeOutcome::Failure(format!(
            "Get \"{url}\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
        ))
    );
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let cport = closed.local_addr().unwrap().port();
    drop(closed);
    assert_eq!(
        probe(&action("/", i32::from(cport)), &c, LOCAL, T).await,
        ProbeOutcome::Failure(format!(
            "Get \"http://127.0.0.1:{cport}/\": dial tcp 127.0.0.1:{cport}: connect: connection refused"
        ))
    );
    // Port problems are errors (thrown away by the worker), not failures.
    assert_eq!(
        probe(&action("/", 0), &c, LOCAL, T).await,
        ProbeOutcome::Error("invalid port number: 0".into())
    );
    assert_eq!(
        probe(&action("/", 80), &c, None, T).await,
        ProbeOutcome::Error("pod has no IP address".into())
    );
}
