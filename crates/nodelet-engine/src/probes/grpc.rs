//! The grpc probe (`pkg/probe/grpc`): one `grpc.health.v1.Health/Check`
//! call over plaintext HTTP/2 to the pod IP and `grpc.port`, with
//! `grpc.service` as the request's service, `timeoutSeconds` as the whole
//! call's deadline and `User-Agent: kube-probe/<version>`. Success only for
//! `SERVING`; everything else is a failure with the kubelet's message
//! (`service unhealthy (responded with "NOT_SERVING")`, `error: this server
//! does not implement the grpc health protocol (grpc.health.v1.Health):
//! ...`, `timeout: ...`).
//!
//! The two messages involved have one field each, so they are encoded by
//! hand instead of pulling in a protobuf/gRPC stack; HTTP/2 is `h2`, which
//! the HTTP client already depends on.

use std::time::Duration;

use bytes::Bytes;
use tokio::net::TcpStream;

use super::http::USER_AGENT_VALUE;
use super::outcome::ProbeOutcome;
use crate::clock::Clock;
use crate::godur::go_duration;
use crate::hooks::http::host_port;
use crate::hooks::message::go_quote;

const PATH: &str = "/grpc.health.v1.Health/Check";

/// `HealthCheckResponse.ServingStatus` names.
fn status_name(v: u64) -> String {
    match v {
        0 => "UNKNOWN".to_owned(),
        1 => "SERVING".to_owned(),
        2 => "NOT_SERVING".to_owned(),
        3 => "SERVICE_UNKNOWN".to_owned(),
        n => n.to_string(),
    }
}

/// gRPC status code names as grpc-go prints them.
fn code_name(code: u32) -> String {
    const NAMES: [&str; 17] = [
        "OK",
        "Canceled",
        "Unknown",
        "InvalidArgument",
        "DeadlineExceeded",
        "NotFound",
        "AlreadyExists",
        "PermissionDenied",
        "ResourceExhausted",
        "FailedPrecondition",
        "Aborted",
        "OutOfRange",
        "Unimplemented",
        "Internal",
        "Unavailable",
        "DataLoss",
        "Unauthenticated",
    ];
    usize::try_from(code)
        .ok()
        .and_then(|i| NAMES.get(i))
        .map(|s| (*s).to_owned())
        .unwrap_or_else(|| format!("Code({code})"))
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos)?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// A length-prefixed gRPC message holding `HealthCheckRequest{service}`.
pub fn request_frame(service: &str) -> Vec<u8> {
    let mut msg = Vec::new();
    if !service.is_empty() {
        msg.push(0x0a); // field 1, length-delimited
        put_varint(&mut msg, service.len() as u64);
        msg.extend_from_slice(service.as_bytes());
    }
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    frame.extend_from_slice(&msg);
    frame
}

/// `HealthCheckResponse.status` from a length-prefixed message (0 when
/// absent, as proto3 defaults).
pub fn response_status(frame: &[u8]) -> Result<u64, String> {
    let bad = || "grpc: failed to unmarshal the received message".to_owned();
    if frame.len() < 5 || frame[0] != 0 {
        return Err(bad());
    }
    let len = u32::from_be_bytes([frame[1], frame[2], frame[3], frame[4]]) as usize;
    let msg = frame.get(5..5 + len).ok_or_else(bad)?;
    let mut pos = 0;
    let mut status = 0;
    while pos < msg.len() {
        let key = get_varint(msg, &mut pos).ok_or_else(bad)?;
        match key & 7 {
            0 => {
                let v = get_varint(msg, &mut pos).ok_or_else(bad)?;
                if key >> 3 == 1 {
                    status = v;
                }
            }
            1 => pos += 8,
            2 => {
                let n = get_varint(msg, &mut pos).ok_or_else(bad)?;
                pos += usize::try_from(n).map_err(|_| bad())?;
            }
            5 => pos += 4,
            _ => return Err(bad()),
        }
    }
    Ok(status)
}

/// How the call went wrong, before the kubelet's wording is applied.
enum CallError {
    /// `grpc-status` other than OK, with `grpc-message`.
    Status(u32, String),
    /// Transport or protocol trouble (grpc-go: code Unavailable/Internal).
    Transport(String),
}

type Client = h2::client::SendRequest<Bytes>;

async fn connect(host: &str, port: u16) -> Result<(Client, tokio::task::JoinHandle<()>), String> {
    let tcp = TcpStream::connect((host, port))
        .await
        .map_err(|e| format!("dial tcp {}: {}", host_port(host, port), e))?;
    let (client, conn) = h2::client::handshake(tcp)
        .await
        .map_err(|e| e.to_string())?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok((client, driver))
}

async fn check(client: Client, authority: &str, service: &str) -> Result<u64, CallError> {
    let transport = |e: h2::Error| CallError::Transport(e.to_string());
    let mut client = client.ready().await.map_err(transport)?;
    let req = http::Request::builder()
        .method("POST")
        .uri(format!("http://{authority}{PATH}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("user-agent", USER_AGENT_VALUE)
        .body(())
        .map_err(|e| CallError::Transport(e.to_string()))?;
    let (response, mut send) = client.send_request(req, false).map_err(transport)?;
    send.send_data(Bytes::from(request_frame(service)), true)
        .map_err(transport)?;
    let response = response.await.map_err(transport)?;
    let (parts, mut body) = response.into_parts();
    let grpc_status = |h: &http::HeaderMap| {
        let code = h
            .get("grpc-status")?
            .to_str()
            .ok()?
            .parse::<u32>()
            .unwrap_or(2);
        let msg = h
            .get("grpc-message")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        Some((code, msg))
    };
    // Trailers-only answer (errors): the status is in the headers.
    if let Some((code, msg)) = grpc_status(&parts.headers)
        && code != 0
    {
        return Err(CallError::Status(code, msg));
    }
    if parts.status != http::StatusCode::OK {
        return Err(CallError::Status(
            14,
            format!(
                "unexpected HTTP status code received from server: {}",
                parts.status.as_u16()
            ),
        ));
    }
    let mut data = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(transport)?;
        let _ = body.flow_control().release_capacity(chunk.len());
        data.extend_from_slice(&chunk);
    }
    let trailers = body.trailers().await.map_err(transport)?;
    if let Some((code, msg)) = trailers.as_ref().and_then(grpc_status)
        && code != 0
    {
        return Err(CallError::Status(code, msg));
    }
    response_status(&data).map_err(|m| CallError::Status(13, m))
}

pub async fn probe(
    clock: &dyn Clock,
    host: &str,
    port: u16,
    service: &str,
    timeout: Duration,
) -> ProbeOutcome {
    let addr = host_port(host, port);
    let within = go_duration(timeout);
    let start = clock.instant();
    let connected = tokio::select! {
        r = connect(host, port) => r,
        () = clock.sleep(timeout) => {
            return ProbeOutcome::Failure(format!(
                "timeout: failed to connect service {} within {within}: context deadline exceeded",
                go_quote(addr.as_bytes())
            ));
        }
    };
    let (client, driver) = match connected {
        Ok(c) => c,
        Err(e) => {
            return ProbeOutcome::Failure(format!(
                "error: failed to connect service at {}: {e}",
                go_quote(addr.as_bytes())
            ));
        }
    };
    let left = timeout.saturating_sub(clock.instant().saturating_duration_since(start));
    let result = tokio::select! {
        r = check(client, &addr, service) => Some(r),
        () = clock.sleep(left) => None,
    };
    driver.abort();
    match result {
        None | Some(Err(CallError::Status(4, _))) => ProbeOutcome::Failure(format!(
            "timeout: health rpc did not complete within {within}"
        )),
        Some(Ok(1)) => ProbeOutcome::Success,
        Some(Ok(s)) => ProbeOutcome::Failure(format!(
            "service unhealthy (responded with \"{}\")",
            status_name(s)
        )),
        Some(Err(CallError::Status(12, msg))) => ProbeOutcome::Failure(format!(
            "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): {msg}"
        )),
        Some(Err(CallError::Status(code, msg))) => ProbeOutcome::Failure(format!(
            "error: health rpc probe failed: rpc error: code = {} desc = {msg}",
            code_name(code)
        )),
        Some(Err(CallError::Transport(e))) => ProbeOutcome::Failure(format!(
            "error: health rpc probe failed: rpc error: code = Unavailable desc = {e}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_encode_and_decode() {
        assert_eq!(request_frame(""), vec![0, 0, 0, 0, 0]);
        assert_eq!(
            request_frame("svc"),
            vec![0, 0, 0, 0, 5, 0x0a, 3, b's', b'v', b'c']
        );
        assert_eq!(response_status(&[0, 0, 0, 0, 2, 0x08, 1]), Ok(1));
        assert_eq!(response_status(&[0, 0, 0, 0, 0]), Ok(0));
        // Unknown fields are skipped.
        assert_eq!(
            response_status(&[0, 0, 0, 0, 6, 0x12, 2, b'h', b'i', 0x08, 2]),
            Ok(2)
        );
        assert!(response_status(&[0, 0, 0]).is_err());
        assert_eq!(status_name(3), "SERVICE_UNKNOWN");
        assert_eq!(code_name(12), "Unimplemented");
    }
}
