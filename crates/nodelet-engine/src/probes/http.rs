//! The httpGet probe (`pkg/probe/http`): a GET from the agent with
//! `timeoutSeconds` as the whole request's deadline, built like the hook's
//! request (same URL, port and header rules, see
//! [`crate::hooks::http`]) but with `User-Agent: kube-probe/<version>` and
//! judged by status: 200–399 success (a 3xx is a redirect the kubelet would
//! not follow: success with a `ProbeWarning`), anything else a failure
//! `HTTP probe failed with statuscode: <code>`; a transport error is a
//! failure with Go's `*url.Error` text. TLS is not verified, keep-alives
//! are off (every probe opens a fresh connection, as the kubelet's).

use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, HTTPGetAction};

use super::outcome::{ProbeOutcome, output_text};
use crate::hooks::http::{
    go_url_error, kubelet_redirect_rule, request_headers_with_agent, request_url, resolve_port,
};
use crate::hooks::message::go_quote;

/// `kube-probe/<major>.<minor>` of the Kubernetes version we follow.
pub const USER_AGENT_VALUE: &str = "kube-probe/1.37";

/// One client for every probe: building one (TLS config) per probe would
/// cost more than the probe.
fn client() -> &'static Result<reqwest::Client, String> {
    static CLIENT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    CLIENT.get_or_init(|| {
        let tls =
            crate::hooks::tls::unverified_client_config().map_err(|e| format!("TLS setup: {e}"))?;
        reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .redirect(reqwest::redirect::Policy::custom(kubelet_redirect_rule))
            .no_proxy()
            .pool_max_idle_per_host(0)
            .build()
            .map_err(|e| format!("HTTP client setup: {e}"))
    })
}

pub async fn probe(
    action: &HTTPGetAction,
    container: &Container,
    pod_ip: Option<IpAddr>,
    timeout: Duration,
) -> ProbeOutcome {
    let client = match client() {
        Ok(c) => c,
        Err(e) => return ProbeOutcome::Error(e.clone()),
    };
    let host = match action.host.as_deref().filter(|h| !h.is_empty()) {
        Some(h) => h.to_owned(),
        None => match pod_ip {
            Some(ip) => ip.to_string(),
            None => return ProbeOutcome::Error("pod has no IP address".to_owned()),
        },
    };
    let scheme = match action.scheme.as_deref().map(str::to_ascii_lowercase) {
        Some(s) if !s.is_empty() => s,
        _ => "http".to_owned(),
    };
    let port = match resolve_port(&action.port, container) {
        Ok(p) => p,
        Err(e) => return ProbeOutcome::Error(e),
    };
    let url = request_url(&scheme, &host, port, action.path.as_deref().unwrap_or(""));
    let headers = match request_headers_with_agent(action, USER_AGENT_VALUE) {
        Ok(h) => h,
        Err(e) => return ProbeOutcome::Error(e),
    };
    let sent = client
        .get(&url)
        .headers(headers)
        .timeout(timeout)
        .send()
        .await;
    let resp = match sent {
        Ok(r) => r,
        Err(e) if e.is_timeout() => {
            return ProbeOutcome::Failure(format!(
                "Get {}: context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
                go_quote(url.as_bytes())
            ));
        }
        Err(e) => return ProbeOutcome::Failure(go_url_error(&url, &e)),
    };
    let code = resp.status().as_u16();
    if !(200..400).contains(&code) {
        return ProbeOutcome::Failure(format!("HTTP probe failed with statuscode: {code}"));
    }
    if code >= 300 {
        let body = read_capped(resp).await;
        return ProbeOutcome::Warning(format!("Probe terminated redirects, Response body: {body}"));
    }
    ProbeOutcome::Success
}

/// The first 10 KiB of the body (the request's timeout bounds the read).
async fn read_capped(mut resp: reqwest::Response) -> String {
    let mut body = Vec::new();
    while body.len() < super::outcome::MAX_OUTPUT {
        match resp.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    output_text(&body)
}
