//! The `httpGet` handler: one GET from the agent to the pod, built the way
//! the kubelet builds it (`pkg/probe/http/request.go`) and judged the way
//! `runHTTPHandler` judges it: any HTTP answer is success (the status code is
//! not checked unless [`super::HookOptions::strict_http_status`]), only
//! transport errors fail. No client timeout: the caller bounds the hook
//! (preStop by the grace period) and may drop the future.
//!
//! Errors read like Go's `*url.Error` (`Get "<url>": <cause>`), so messages
//! match what users know from the kubelet.

use std::net::IpAddr;

use k8s_openapi::api::core::v1::{Container, HTTPGetAction};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use reqwest::header::{
    ACCEPT, AUTHORIZATION, HOST, HeaderMap, HeaderName, HeaderValue, USER_AGENT,
};
use reqwest::redirect;

/// `kube-lifecycle/<major>.<minor>` of the Kubernetes version we follow.
pub const USER_AGENT_VALUE: &str = "kube-lifecycle/1.37";

/// What one HTTP hook delivery did.
pub(super) struct HttpOutcome {
    /// `Err` holds the `%v` error part of the kubelet's failure message.
    pub result: Result<(), String>,
    /// `host:port` when an HTTPS request got a plain HTTP answer and the
    /// retry over HTTP succeeded (a Warning event must be emitted).
    pub fell_back_to_http: Option<String>,
    /// The answer's status, when there was one.
    pub status: Option<u16>,
    /// The start and end of the answer's body (for the record only).
    pub body: super::capture::Capture,
}

/// Most body bytes read for the record; the kubelet reads none, and the
/// outcome never depends on it.
const BODY_READ_MAX: usize = 1 << 20;
/// How long reading the body may add to a delivery.
const BODY_READ_TIME: std::time::Duration = std::time::Duration::from_secs(1);

/// The shared client: unverified TLS, kubelet's redirect rule, no proxy
/// (hooks target pod IPs; an agent-wide HTTP_PROXY must not capture them).
pub(super) fn build_client() -> Result<reqwest::Client, String> {
    let tls = super::tls::unverified_client_config().map_err(|e| format!("TLS setup: {e}"))?;
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(redirect::Policy::custom(kubelet_redirect_rule))
        .no_proxy()
        .build()
        .map_err(|e| format!("HTTP client setup: {}", error_chain(&e)))
}

/// `RedirectChecker(false)`: a redirect to another host ends the chain and
/// its 3xx is the answer; same-host redirects are followed up to 10.
pub(crate) fn kubelet_redirect_rule(attempt: redirect::Attempt<'_>) -> redirect::Action {
    let first_host = attempt
        .previous()
        .first()
        .and_then(|u| u.host_str().map(str::to_owned));
    if attempt.url().host_str().map(str::to_owned) != first_host {
        attempt.stop()
    } else if attempt.previous().len() >= 10 {
        attempt.error("stopped after 10 redirects")
    } else {
        attempt.follow()
    }
}

/// `probe.ResolveContainerPort`: an int as is; a string as the name of one of
/// the container's ports, else parsed as a number (`strconv.Atoi`); then
/// 1–65535.
pub fn resolve_port(port: &IntOrString, container: &Container) -> Result<u16, String> {
    let n: i64 = match port {
        IntOrString::Int(i) => i64::from(*i),
        IntOrString::String(name) => {
            let by_name = container
                .ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref().unwrap_or("") == name)
                .map(|p| i64::from(p.container_port));
            match by_name {
                Some(n) => n,
                None => go_atoi(name)?,
            }
        }
    };
    match u16::try_from(n) {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("invalid port number: {n}")),
    }
}

/// Go's `strconv.Atoi` on 64-bit, with its error text.
fn go_atoi(s: &str) -> Result<i64, String> {
    let err = |what: &str| {
        format!(
            "strconv.Atoi: parsing {}: {what}",
            super::message::go_quote(s.as_bytes())
        )
    };
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err("invalid syntax"));
    }
    s.parse::<i64>().map_err(|_| err("value out of range"))
}

/// The request URL as `formatURL` makes it: `scheme://host:port` + path
/// (which may carry a query), with a `/` between when the path lacks one.
pub(crate) fn request_url(scheme: &str, host: &str, port: u16, path: &str) -> String {
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    let sep = if path.is_empty() || path.starts_with('/') {
        ""
    } else {
        "/"
    };
    format!("{scheme}://{host}:{port}{sep}{path}")
}

/// Headers as `newProbeRequest` sets them: the handler's, then a default
/// User-Agent and `Accept: */*` unless given. The kubelet drops an empty
/// Accept; reqwest then adds its own `*/*`, which a server reads the same as
/// no Accept at all.
/// Only the first `Host` value counts (Go's `req.Host = headers.Get("Host")`).
fn request_headers(action: &HTTPGetAction) -> Result<HeaderMap, String> {
    request_headers_with_agent(action, USER_AGENT_VALUE)
}

/// [`request_headers`] with another default User-Agent (probes send
/// `kube-probe/<version>`).
pub(crate) fn request_headers_with_agent(
    action: &HTTPGetAction,
    user_agent: &'static str,
) -> Result<HeaderMap, String> {
    let mut headers = HeaderMap::new();
    for h in action.http_headers.iter().flatten() {
        let name = HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| {
            format!(
                "net/http: invalid header field name {}",
                super::message::go_quote(h.name.as_bytes())
            )
        })?;
        let value = HeaderValue::from_str(&h.value).map_err(|_| {
            format!(
                "net/http: invalid header field value for {}",
                super::message::go_quote(h.name.as_bytes())
            )
        })?;
        if name == HOST && headers.contains_key(HOST) {
            continue;
        }
        headers.append(name, value);
    }
    if !headers.contains_key(USER_AGENT) {
        headers.insert(USER_AGENT, HeaderValue::from_static(user_agent));
    }
    match headers.get(ACCEPT) {
        None => {
            headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
        }
        Some(v) if v.is_empty() => {
            headers.remove(ACCEPT);
        }
        Some(_) => {}
    }
    Ok(headers)
}

pub(super) async fn run(
    client: &reqwest::Client,
    action: &HTTPGetAction,
    container: &Container,
    pod_ip: Option<IpAddr>,
    pod_desc: &str,
    strict_status: bool,
    tag: Option<&super::DeliveryTag>,
) -> HttpOutcome {
    let fail = |e: String| HttpOutcome {
        result: Err(e),
        fell_back_to_http: None,
        status: None,
        body: Default::default(),
    };
    let host = match action.host.as_deref().filter(|h| !h.is_empty()) {
        Some(h) => h.to_string(),
        None => match pod_ip {
            Some(ip) => ip.to_string(),
            None => {
                return fail(format!(
                    "failed to find networking container: pod {pod_desc} has no IP"
                ));
            }
        },
    };
    let scheme = action.scheme.as_deref().unwrap_or("").to_ascii_lowercase();
    let scheme = if scheme.is_empty() {
        "http".to_string()
    } else {
        scheme
    };
    let port = match resolve_port(&action.port, container) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    let path = action.path.as_deref().unwrap_or("");
    let url = request_url(&scheme, &host, port, path);
    let mut headers = match request_headers(action) {
        Ok(h) => h,
        Err(e) => return fail(e),
    };
    if let Some(tag) = tag {
        use nodelet_spec::annotations::{ATTEMPT_HEADER, DELIVERY_ID_HEADER};
        if let Ok(v) = HeaderValue::from_str(&tag.id) {
            headers.insert(DELIVERY_ID_HEADER, v);
        }
        headers.insert(ATTEMPT_HEADER, HeaderValue::from(tag.attempt));
    }

    match get(client, &url, headers.clone(), strict_status).await {
        Err(GetError::Transport(e)) if scheme == "https" && is_http_answer_to_tls(&e) => {
            // runHTTPHandler: retry over HTTP without credentials.
            let http_url = request_url("http", &host, port, path);
            let mut headers = headers;
            headers.remove(AUTHORIZATION);
            match get(client, &http_url, headers, strict_status).await {
                Ok((status, body)) => HttpOutcome {
                    result: Ok(()),
                    fell_back_to_http: Some(host_port(&host, port)),
                    status: Some(status),
                    body,
                },
                // The retry failed: the kubelet reports the original error,
                // which Go words as below.
                Err(_) => fail(format!(
                    "Get {}: http: server gave HTTP response to HTTPS client",
                    super::message::go_quote(url.as_bytes())
                )),
            }
        }
        Err(e) => {
            let mut out = fail(e.message(&url));
            if let GetError::Status(code, body) = e {
                out.status = Some(code);
                out.body = body;
            }
            out
        }
        Ok((status, body)) => HttpOutcome {
            result: Ok(()),
            fell_back_to_http: None,
            status: Some(status),
            body,
        },
    }
}

pub(crate) fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

enum GetError {
    Transport(reqwest::Error),
    Status(u16, super::capture::Capture),
}

impl GetError {
    fn message(&self, url: &str) -> String {
        match self {
            GetError::Transport(e) => go_url_error(url, e),
            GetError::Status(code, _) => {
                format!(
                    "HTTP status {code} is not 2xx or 3xx (strict HTTP status checks are enabled)"
                )
            }
        }
    }
}

async fn get(
    client: &reqwest::Client,
    url: &str,
    headers: HeaderMap,
    strict_status: bool,
) -> Result<(u16, super::capture::Capture), GetError> {
    let mut resp = client
        .get(url)
        .headers(headers)
        .send()
        .await
        .map_err(GetError::Transport)?;
    let status = resp.status().as_u16();
    // Like the kubelet, the answer alone decides; the body is read (bounded
    // in size and time) only for the delivery record.
    let mut body = super::capture::Capture::default();
    let read = async {
        while let Ok(Some(chunk)) = resp.chunk().await {
            body.push(&chunk);
            if body.total() as usize >= BODY_READ_MAX {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(BODY_READ_TIME, read).await;
    if strict_status && !(200..400).contains(&status) {
        return Err(GetError::Status(status, body));
    }
    Ok((status, body))
}

/// Whether a TLS handshake failed because the server answered in plain HTTP:
/// rustls then sees the bytes `HTTP/` as a record of an invalid content type.
/// (Go reports this as "server gave HTTP response to HTTPS client".)
fn is_http_answer_to_tls(e: &reqwest::Error) -> bool {
    use rustls::{Error as TlsError, InvalidMessage};
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        // io::Error::source() skips its payload, so look inside explicitly.
        let payload = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|inner| inner as &(dyn std::error::Error + 'static));
        for candidate in [Some(err), payload].into_iter().flatten() {
            if let Some(TlsError::InvalidMessage(InvalidMessage::InvalidContentType)) =
                candidate.downcast_ref::<TlsError>()
            {
                return true;
            }
        }
        if err.to_string().contains("InvalidContentType") {
            return true;
        }
        cur = err.source();
    }
    false
}

/// `Get "<url>": <cause>` as Go's `*url.Error` prints it; a refused
/// connection reads `dial tcp <addr>: connect: connection refused`.
pub(crate) fn go_url_error(url: &str, e: &reqwest::Error) -> String {
    let url = e
        .url()
        .map(|u| u.as_str().to_string())
        .unwrap_or_else(|| url.to_string());
    let refused = std::iter::successors(Some(e as &(dyn std::error::Error + 'static)), |e| {
        e.source()
    })
    .filter_map(|e| e.downcast_ref::<std::io::Error>())
    .any(|io| io.kind() == std::io::ErrorKind::ConnectionRefused);
    let cause = if refused {
        let addr = reqwest::Url::parse(&url)
            .ok()
            .and_then(|u| Some(host_port(u.host_str()?, u.port_or_known_default()?)))
            .unwrap_or_default();
        format!("dial tcp {addr}: connect: connection refused")
    } else {
        error_chain(e)
    };
    format!("Get {}: {cause}", super::message::go_quote(url.as_bytes()))
}

/// The causes under reqwest's own "error sending request for url (...)",
/// joined Go-style with ": ", without repeats.
pub(crate) fn error_chain(e: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur = std::error::Error::source(e);
    while let Some(err) = cur {
        let s = err.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = err.source();
    }
    if parts.is_empty() {
        e.to_string()
    } else {
        parts.join(": ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ContainerPort;

    fn container_with_ports(ports: &[(&str, i32)]) -> Container {
        Container {
            name: "app".into(),
            ports: Some(
                ports
                    .iter()
                    .map(|(n, p)| ContainerPort {
                        name: Some(n.to_string()),
                        container_port: *p,
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }
    }

    #[test]
    fn ports_resolve_like_probe_resolve_container_port() {
        let c = container_with_ports(&[("http", 8080), ("bad", 70000)]);
        assert_eq!(resolve_port(&IntOrString::Int(80), &c), Ok(80));
        assert_eq!(
            resolve_port(&IntOrString::String("http".into()), &c),
            Ok(8080)
        );
        assert_eq!(
            resolve_port(&IntOrString::String("9090".into()), &c),
            Ok(9090)
        );
        assert_eq!(
            resolve_port(&IntOrString::String("nope".into()), &c),
            Err("strconv.Atoi: parsing \"nope\": invalid syntax".into())
        );
        assert_eq!(
            resolve_port(&IntOrString::Int(0), &c),
            Err("invalid port number: 0".into())
        );
        assert_eq!(
            resolve_port(&IntOrString::String("bad".into()), &c),
            Err("invalid port number: 70000".into())
        );
        assert_eq!(
            resolve_port(&IntOrString::String("-5".into()), &c),
            Err("invalid port number: -5".into())
        );
        assert_eq!(
            resolve_port(&IntOrString::String("99999999999999999999".into()), &c),
            Err("strconv.Atoi: parsing \"99999999999999999999\": value out of range".into())
        );
    }

    #[test]
    fn urls_like_format_url() {
        assert_eq!(
            request_url("http", "10.0.0.1", 80, "/a?b=c"),
            "http://10.0.0.1:80/a?b=c"
        );
        assert_eq!(request_url("https", "h", 443, "x"), "https://h:443/x");
        assert_eq!(request_url("http", "::1", 8080, "/"), "http://[::1]:8080/");
        assert_eq!(request_url("http", "h", 1, ""), "http://h:1");
    }
}
