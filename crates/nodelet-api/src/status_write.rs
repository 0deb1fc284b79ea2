//! Writes of `pods/{name}/status` (PUT and the four PATCH types), as the
//! API server's pod status strategy does them: only `.status` is taken from
//! the request — spec and metadata stay as stored — a resourceVersion in
//! the request is a precondition (409 on mismatch), conditions are
//! validated. What the write does to a running pod is the backend's: the
//! node agent owns status, keeps the conditions it does not compute
//! (readiness gates) and recomputes the rest (see
//! `Backend::update_status`).

use nodelet_spec::{FieldError, FieldErrors, FieldPath};
use serde_json::{Value, json};

use crate::backend::Backend;
use crate::error::ApiError;
use crate::kind::Kind;
use crate::patch::{self, PatchType};

const CONDITION_STATUSES: [&str; 3] = ["True", "False", "Unknown"];

/// The status of `doc`, checked as `ValidatePodStatusUpdate` checks the
/// parts clients write (condition types and statuses).
fn checked_status(doc: &Value, name: &str) -> Result<Value, ApiError> {
    let status = match &doc["status"] {
        Value::Null => json!({}),
        s => s.clone(),
    };
    let parsed: k8s_openapi::api::core::v1::PodStatus = serde_json::from_value(status.clone())
        .map_err(|e| ApiError::bad_request(format!("decoding status: {e}")))?;
    let mut errs = FieldErrors::default();
    for (i, c) in parsed.conditions.iter().flatten().enumerate() {
        let path = FieldPath::new("status.conditions").index(i);
        if c.type_.is_empty() {
            errs.push(FieldError::required(path.child("type"), ""));
        }
        if !CONDITION_STATUSES.contains(&c.status.as_str()) {
            errs.push(FieldError::not_supported(
                path.child("status"),
                c.status.as_str(),
                &CONDITION_STATUSES,
            ));
        }
    }
    if errs.is_empty() {
        Ok(status)
    } else {
        Err(ApiError::invalid("Pod", name, &errs))
    }
}

fn rv_of(v: &Value) -> Result<Option<u64>, ApiError> {
    match v["metadata"]["resourceVersion"].as_str() {
        None | Some("") => Ok(None),
        Some(s) => s
            .parse()
            .map(Some)
            .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {s:?}"))),
    }
}

fn pods_only(kind: Kind) -> Result<(), ApiError> {
    if kind == Kind::Pod {
        Ok(())
    } else {
        Err(ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        ))
    }
}

async fn store(
    backend: &dyn Backend,
    ns: &str,
    name: &str,
    old: Value,
    status: Value,
    expected_rv: Option<u64>,
    dry_run: bool,
) -> Result<Value, ApiError> {
    if dry_run {
        let mut v = old;
        v["status"] = status;
        return Ok(v);
    }
    backend.update_status(ns, name, status, expected_rv).await
}

/// PUT `pods/{name}/status`: the body is a whole Pod.
pub async fn replace(
    backend: &dyn Backend,
    kind: Kind,
    ns: &str,
    name: &str,
    body: &[u8],
    dry_run: bool,
) -> Result<Value, ApiError> {
    pods_only(kind)?;
    let new = crate::objects::parse_value(kind, body)?;
    if let Some(n) = new["metadata"]["name"].as_str()
        && n != name
    {
        return Err(ApiError::bad_request(
            "the name of the object does not match the name on the URL",
        ));
    }
    if let Some(n) = new["metadata"]["namespace"].as_str()
        && !n.is_empty()
        && n != ns
    {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    let (old, _) = backend.get(kind, ns, name).await?;
    let status = checked_status(&new, name)?;
    let expected = rv_of(&new)?;
    if expected.is_some() && expected != rv_of(&old)? {
        return Err(ApiError::conflict(kind.plural(), name));
    }
    store(backend, ns, name, old, status, expected, dry_run).await
}

/// PATCH `pods/{name}/status` (json, merge, strategic, apply): the patch
/// applies to the whole pod; only the resulting status is kept.
#[allow(clippy::too_many_arguments)]
pub async fn patch(
    backend: &dyn Backend,
    kind: Kind,
    ns: &str,
    name: &str,
    pt: PatchType,
    body: &[u8],
    dry_run: bool,
    field_manager: Option<&str>,
) -> Result<Value, ApiError> {
    pods_only(kind)?;
    let p = patch::parse_body(pt, body)?;
    if pt == PatchType::Apply && field_manager.unwrap_or("").is_empty() {
        return Err(ApiError::bad_request(
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
        ));
    }
    // No create through the status subresource, whatever the patch type.
    let (old, cur_rv) = backend.get(kind, ns, name).await?;
    let mut doc = old.clone();
    patch::apply(pt, &mut doc, &p)?;
    let expected = match rv_of(&doc)? {
        Some(rv) if Some(rv) != rv_of(&old)? => {
            return Err(ApiError::conflict(kind.plural(), name));
        }
        Some(_) if p.pointer("/metadata/resourceVersion").is_some() => Some(cur_rv),
        _ => None,
    };
    let status = checked_status(&doc, name)?;
    store(backend, ns, name, old, status, expected, dry_run).await
}
