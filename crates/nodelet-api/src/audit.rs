//! The audit log: one audit.k8s.io/v1 `Event` JSON line per mutating
//! request at level Metadata (who, what, when, the answer's code), as the
//! API server's log backend writes them. Never a request or response body,
//! so no secret value ever reaches it. The file is created 0600.

use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use jiff::Timestamp;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::query::Query;
use crate::rbac::{Attributes, UserInfo};

/// The remote address of the connection a request came on (TCP only).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// An open audit log file.
pub struct AuditLog {
    file: Mutex<std::fs::File>,
}

impl AuditLog {
    /// Opens (appending) or creates `path` with mode 0600.
    pub fn open(path: &Path) -> Result<Self, ApiError> {
        let err = |e: std::io::Error| {
            ApiError::internal(format!("opening the audit log {}: {e}", path.display()))
        };
        let file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(path)
            .map_err(err)?;
        // An existing file keeps its mode on open; make it private too.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
        Ok(AuditLog {
            file: Mutex::new(file),
        })
    }

    fn write(&self, event: &Value) {
        let mut line = event.to_string();
        line.push('\n');
        let mut f = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = f.write_all(line.as_bytes()) {
            tracing::warn!("writing the audit log: {e}");
        }
    }
}

/// RFC 3339 with microseconds, as the API server's audit timestamps.
fn micro(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// The Event of one request (level Metadata, stage ResponseComplete).
#[allow(clippy::too_many_arguments)]
pub fn event(
    a: &Attributes,
    user: &UserInfo,
    request_uri: &str,
    peer: Option<SocketAddr>,
    user_agent: Option<&str>,
    code: u16,
    received: Timestamp,
    done: Timestamp,
) -> Value {
    let mut ev = json!({
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "auditID": uuid::Uuid::new_v4().to_string(),
        "stage": "ResponseComplete",
        "requestURI": request_uri,
        "verb": a.verb,
        "user": {"username": user.name, "groups": user.groups},
        "responseStatus": {"metadata": {}, "code": code},
        "requestReceivedTimestamp": micro(received),
        "stageTimestamp": micro(done),
    });
    if let Some(p) = peer {
        ev["sourceIPs"] = json!([p.ip().to_string()]);
    }
    if let Some(ua) = user_agent {
        ev["userAgent"] = json!(ua);
    }
    if a.resource_request {
        let mut r = json!({"resource": a.resource, "apiVersion": a.api_version});
        for (k, v) in [
            ("namespace", &a.namespace),
            ("name", &a.name),
            ("apiGroup", &a.api_group),
            ("subresource", &a.subresource),
        ] {
            if !v.is_empty() {
                r[k] = json!(v);
            }
        }
        ev["objectRef"] = r;
    }
    ev
}

pub async fn audit(State(log): State<Option<Arc<AuditLog>>>, req: Request, next: Next) -> Response {
    let Some(log) = log else {
        return next.run(req).await;
    };
    let a = Attributes::of(
        req.method(),
        req.uri().path(),
        &Query::parse(req.uri().query()),
    );
    if !a.is_mutating() {
        return next.run(req).await;
    }
    let received = Timestamp::now();
    let user = req
        .extensions()
        .get::<UserInfo>()
        .cloned()
        .unwrap_or_else(|| UserInfo::new("system:anonymous", Vec::new()));
    let peer = req.extensions().get::<Peer>().map(|p| p.0);
    let ua = req
        .headers()
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let uri = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let resp = next.run(req).await;
    log.write(&event(
        &a,
        &user,
        &uri,
        peer,
        ua.as_deref(),
        resp.status().as_u16(),
        received,
        Timestamp::now(),
    ));
    resp
}
