//! httpGet hooks against real local servers on 127.0.0.1: a tiny HTTP/1.1
//! server that records every request, optionally behind TLS with a
//! self-signed certificate (rcgen + tokio-rustls).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::{Container, LifecycleHandler};
use nodelet_engine::clock::SystemClock;
use nodelet_engine::events::EventType;
use nodelet_engine::hooks::{HookEvent, HookKind, HookOptions, HookResult, HookRunner, HookTarget};
use nodelet_runtime::fake::FakeRuntime;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

#[derive(Debug, Clone)]
struct Seen {
    target: String,
    headers: Vec<(String, String)>,
    tls: bool,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Clone)]
struct Server {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    /// Plain HTTP; a TLS ClientHello gets Go's plain-text 400 answer.
    async fn plain() -> Server {
        Self::start(None).await
    }

    async fn tls() -> Server {
        let key = rcgen::generate_simple_self_signed(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
        ])
        .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![key.cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.signing_key.serialize_der().into()),
            )
            .unwrap();
        Self::start(Some(tokio_rustls::TlsAcceptor::from(Arc::new(config)))).await
    }

    async fn start(tls: Option<tokio_rustls::TlsAcceptor>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = Server {
            port: listener.local_addr().unwrap().port(),
            seen: Arc::default(),
        };
        let s = server.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let s = s.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                s.serve(stream, true).await;
                            }
                        }
                        None => {
                            let mut first = [0u8; 1];
                            if stream.peek(&mut first).await.ok() == Some(1) && first[0] == 0x16 {
                                // What Go's net/http says to a TLS client.
                                let mut stream = stream;
                                let _ = stream
                                    .write_all(b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
                                    .await;
                                return;
                            }
                            s.serve(stream, false).await;
                        }
                    }
                });
            }
        });
        server
    }

    /// One request per connection, answered then closed.
    async fn serve(&self, mut stream: impl AsyncRead + AsyncWrite + Unpin, tls: bool) {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1024];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let head = String::from_utf8_lossy(&buf).to_string();
        let mut lines = head.split("\r\n");
        let target = lines
            .next()
            .unwrap_or("")
            .split(' ')
            .nth(1)
            .unwrap_or("")
            .to_string();
        let headers = lines
            .take_while(|l| !l.is_empty())
            .filter_map(|l| l.split_once(": "))
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        self.seen.lock().unwrap().push(Seen {
            target: target.clone(),
            headers,
            tls,
        });
        let scheme = if tls { "https" } else { "http" };
        let port = self.port;
        let (status, location) = if let Some(code) = target.strip_prefix("/status/") {
            (code.parse().unwrap_or(500), None)
        } else if target == "/redirect-same" {
            (
                302,
                Some(format!("{scheme}://127.0.0.1:{port}/final?from=same")),
            )
        } else if target == "/redirect-other" {
            (
                302,
                Some(format!("{scheme}://localhost:{port}/final?from=other")),
            )
        } else if target == "/loop" {
            (302, Some("/loop".to_string()))
        } else {
            (200, None)
        };
        let location = location
            .map(|l| format!("Location: {l}\r\n"))
            .unwrap_or_default();
        let resp = format!(
            "HTTP/1.1 {status} X\r\n{location}Content-Length: 2\r\nConnection: close\r\n\r\nok"
        );
        let _ = stream.write_all(resp.as_bytes()).await;
        let _ = stream.shutdown().await;
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn targets(&self) -> Vec<String> {
        self.seen().into_iter().map(|s| s.target).collect()
    }
}

fn container(ports: serde_json::Value) -> Container {
    serde_json::from_value(json!({"name": "app", "ports": ports})).unwrap()
}

async fn run_with(
    options: HookOptions,
    handler: serde_json::Value,
    container: &Container,
    pod_ip: Option<IpAddr>,
) -> HookResult {
    let runner =
        HookRunner::with_options(Arc::new(FakeRuntime::new()), Arc::new(SystemClock), options);
    let handler: LifecycleHandler = serde_json::from_value(handler).unwrap();
    let target = HookTarget {
        pod_name: "web",
        pod_namespace: "default",
        pod_uid: "uid-1",
        container,
        container_id: "cid",
        pod_ip,
    };
    runner
        .run(
            HookKind::PreStop,
            &handler,
            &target,
            &CancellationToken::new(),
        )
        .await
}

async fn run(handler: serde_json::Value, pod_ip: Option<IpAddr>) -> HookResult {
    run_with(
        HookOptions::default(),
        handler,
        &container(json!([])),
        pod_ip,
    )
    .await
}

fn failed(path: &str, err: &str) -> String {
    format!(
        "HTTP lifecycle hook ({path}) for Container \"app\" in Pod \"web_default(uid-1)\" failed - error: {err}"
    )
}

#[tokio::test]
async fn request_carries_path_query_headers_host_and_user_agent() {
    let s = Server::plain().await;
    let r = run(
        json!({"httpGet": {"host": "127.0.0.1", "port": s.port, "path": "/echo?msg=poststart",
            "httpHeaders": [{"name": "X-Custom", "value": "v1"}, {"name": "Host", "value": "hooks.example"}]}}),
        None,
    )
    .await;
    assert_eq!(r.outcome, Ok(()));
    assert!(r.events.is_empty());
    let seen = s.seen();
    assert_eq!(seen.len(), 1);
    let req = &seen[0];
    assert_eq!(req.target, "/echo?msg=poststart");
    assert_eq!(req.header("host"), Some("hooks.example"));
    assert_eq!(req.header("user-agent"), Some("kube-lifecycle/1.37"));
    assert_eq!(req.header("accept"), Some("*/*"));
    assert_eq!(req.header("x-custom"), Some("v1"));
}

#[tokio::test]
async fn user_agent_can_be_overridden() {
    let s = Server::plain().await;
    let r = run(
        json!({"httpGet": {"port": s.port, "path": "/",
            "httpHeaders": [{"name": "User-Agent", "value": "mine"}, {"name": "Accept", "value": ""}]}}),
        Some(LOCALHOST),
    )
    .await;
    assert_eq!(r.outcome, Ok(()));
    let req = &s.seen()[0];
    assert_eq!(req.header("user-agent"), Some("mine"));
    // The kubelet removes an empty Accept; reqwest always sends one, and an
    // absent Accept means `*/*` to a server anyway (documented deviation).
    assert_eq!(req.header("accept"), Some("*/*"));
}

#[tokio::test]
async fn default_host_is_the_pod_ip_and_named_ports_resolve() {
    let s = Server::plain().await;
    let c = container(
        json!([{"name": "other", "containerPort": 1}, {"name": "web", "containerPort": s.port}]),
    );
    let r = run_with(
        HookOptions::default(),
        json!({"httpGet": {"port": "web", "path": "/named"}}),
        &c,
        Some(LOCALHOST),
    )
    .await;
    assert_eq!(r.outcome, Ok(()));
    let req = &s.seen()[0];
    assert_eq!(req.target, "/named");
    assert_eq!(
        req.header("host"),
        Some(format!("127.0.0.1:{}", s.port).as_str())
    );
}

#[tokio::test]
async fn unknown_port_name_and_missing_pod_ip_fail_with_kubelets_errors() {
    let r = run(
        json!({"httpGet": {"port": "nope", "path": "/x"}}),
        Some(LOCALHOST),
    )
    .await;
    assert_eq!(
        r.outcome.unwrap_err(),
        failed("/x", "strconv.Atoi: parsing \"nope\": invalid syntax")
    );
    let r = run(
        json!({"httpGet": {"port": 0, "path": "/x"}}),
        Some(LOCALHOST),
    )
    .await;
    assert_eq!(
        r.outcome.unwrap_err(),
        failed("/x", "invalid port number: 0")
    );
    let r = run(json!({"httpGet": {"port": 80, "path": "/x"}}), None).await;
    let msg = r.outcome.unwrap_err();
    assert!(
        msg.starts_with(&failed("/x", "failed to find networking container")),
        "{msg}"
    );
}

#[tokio::test]
async fn status_code_is_not_checked_unless_strict() {
    let s = Server::plain().await;
    let h = json!({"httpGet": {"host": "127.0.0.1", "port": s.port, "path": "/status/500"}});
    let r = run(h.clone(), None).await;
    assert_eq!(r.outcome, Ok(()), "kubelet: any HTTP answer is success");
    let strict = HookOptions {
        strict_http_status: true,
        ..Default::default()
    };
    let r = run_with(strict, h, &container(json!([])), None).await;
    assert_eq!(
        r.outcome.unwrap_err(),
        failed(
            "/status/500",
            "HTTP status 500 is not 2xx or 3xx (strict HTTP status checks are enabled)"
        )
    );
    let r = run_with(
        strict,
        json!({"httpGet": {"host": "127.0.0.1", "port": s.port, "path": "/status/204"}}),
        &container(json!([])),
        None,
    )
    .await;
    assert_eq!(r.outcome, Ok(()));
}

#[tokio::test]
async fn same_host_redirects_are_followed_cross_host_ones_are_the_answer() {
    let s = Server::plain().await;
    let r = run(
        json!({"httpGet": {"port": s.port, "path": "/redirect-same"}}),
        Some(LOCALHOST),
    )
    .await;
    assert_eq!(r.outcome, Ok(()));
    assert_eq!(s.targets(), ["/redirect-same", "/final?from=same"]);

    let s = Server::plain().await;
    let r = run(
        json!({"httpGet": {"port": s.port, "path": "/redirect-other"}}),
        Some(LOCALHOST),
    )
    .await;
    assert_eq!(
        r.outcome,
        Ok(()),
        "the 302 itself is the (successful) answer"
    );
    assert_eq!(s.targets(), ["/redirect-other"]);
}

#[tokio::test]
async fn redirect_loops_stop_after_ten() {
    let s = Server::plain().await;
    let r = run(
        json!({"httpGet": {"port": s.port, "path": "/loop"}}),
        Some(LOCALHOST),
    )
    .await;
    let msg = r.outcome.unwrap_err();
    assert!(
        msg.starts_with(&failed(
            "/loop",
            &format!("Get \"http://127.0.0.1:{}/loop\": ", s.port)
        )),
        "{msg}"
    );
    assert!(msg.contains("stopped after 10 redirects"), "{msg}");
    // Go's checker errors when 10 requests are behind it: 10 in all.
    assert_eq!(s.targets().len(), 10);
}

#[tokio::test]
async fn https_with_a_self_signed_certificate_is_not_verified() {
    let s = Server::tls().await;
    let r = run(
        json!({"httpGet": {"scheme": "HTTPS", "port": s.port, "path": "/secure"}}),
        Some(LOCALHOST),
    )
    .await;
    assert_eq!(r.outcome, Ok(()));
    assert!(r.events.is_empty());
    let seen = s.seen();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].tls);
    assert_eq!(seen[0].target, "/secure");
}

#[tokio::test]
async fn https_answered_in_plain_http_falls_back_with_a_warning() {
    let s = Server::plain().await;
    let r = run(
        json!({"httpGet": {"scheme": "HTTPS", "port": s.port, "path": "/echo?msg=prestop",
            "httpHeaders": [{"name": "Authorization", "value": "Bearer secret"}, {"name": "X-Keep", "value": "1"}]}}),
        Some(LOCALHOST),
    )
    .await;
    assert_eq!(r.outcome, Ok(()));
    assert_eq!(
        r.events,
        vec![HookEvent {
            event_type: EventType::Warning,
            reason: "LifecycleHTTPFallback".into(),
            message: format!(
                "request to HTTPS lifecycle hook 127.0.0.1:{} got HTTP response, retry with HTTP succeeded",
                s.port
            ),
        }]
    );
    let seen = s.seen();
    assert_eq!(seen.len(), 1, "only the plain retry is a parsed request");
    assert_eq!(seen[0].target, "/echo?msg=prestop");
    assert_eq!(
        seen[0].header("authorization"),
        None,
        "credentials are not sent over plain HTTP"
    );
    assert_eq!(seen[0].header("x-keep"), Some("1"));
}

#[tokio::test]
async fn connection_refused_fails_with_gos_message() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let r = run(
        json!({"httpGet": {"port": port, "path": "/hook"}}),
        Some(LOCALHOST),
    )
    .await;
    assert_eq!(
        r.outcome.unwrap_err(),
        failed(
            "/hook",
            &format!(
                "Get \"http://127.0.0.1:{port}/hook\": dial tcp 127.0.0.1:{port}: connect: connection refused"
            )
        )
    );
    assert!(r.events.is_empty());
}

#[tokio::test]
async fn https_answered_in_http_whose_retry_fails_reports_gos_error() {
    // Answers a TLS ClientHello in plain HTTP, hangs up on plain requests.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut first = [0u8; 1];
            if stream.peek(&mut first).await.ok() == Some(1) && first[0] == 0x16 {
                let _ = stream.write_all(b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n").await;
            }
        }
    });
    let r = run(
        json!({"httpGet": {"scheme": "HTTPS", "port": port, "path": "/x"}}),
        Some(LOCALHOST),
    )
    .await;
    assert_eq!(
        r.outcome.unwrap_err(),
        failed(
            "/x",
            &format!(
                "Get \"https://127.0.0.1:{port}/x\": http: server gave HTTP response to HTTPS client"
            )
        )
    );
    assert!(
        r.events.is_empty(),
        "no fallback event when the retry failed"
    );
}

#[tokio::test]
async fn pod_only_host_policy_refuses_other_hosts_without_connecting() {
    use nodelet_engine::hooks::host_policy::HostPolicy;
    let s = Server::plain().await;
    let pod_only = HookOptions {
        host_policy: HostPolicy::PodOnly,
        ..Default::default()
    };
    let pod_ip: IpAddr = "10.244.0.9".parse().unwrap();
    // The node itself (or a metadata service) named in `host`: refused,
    // and nothing was sent.
    let r = run_with(
        pod_only,
        json!({"httpGet": {"host": "127.0.0.1", "port": s.port, "path": "/steal"}}),
        &container(json!([])),
        Some(pod_ip),
    )
    .await;
    assert_eq!(
        r.outcome.unwrap_err(),
        failed(
            "/steal",
            "host \"127.0.0.1\" refused by --hook-host-policy=pod-only: only the pod's own IP (10.244.0.9) may be targeted"
        )
    );
    assert!(s.seen().is_empty(), "the agent connected anyway");
    // The default (as the kubelet) connects.
    let r = run(
        json!({"httpGet": {"host": "127.0.0.1", "port": s.port, "path": "/ok"}}),
        Some(pod_ip),
    )
    .await;
    assert_eq!(r.outcome, Ok(()));
    // pod-only with no host: the pod IP, allowed.
    let r = run_with(
        pod_only,
        json!({"httpGet": {"port": s.port, "path": "/own"}}),
        &container(json!([])),
        Some(LOCALHOST),
    )
    .await;
    assert_eq!(r.outcome, Ok(()));
    assert_eq!(s.targets(), vec!["/ok", "/own"]);
}
