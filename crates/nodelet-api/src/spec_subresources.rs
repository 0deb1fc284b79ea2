//! The `pods/{name}/resize` subresource (in-place resize, GA in 1.35):
//! GET returns the pod; PUT and the four PATCH types change the
//! containers' `resources` (and `resizePolicy`) only — what `kubectl patch
//! --subresource resize` and `kubectl edit --subresource resize` send. A
//! resourceVersion in the request is a precondition, as on the main
//! resource. What the node then does (allocate, apply in place or restart,
//! report `PodResizePending`/`PodResizeInProgress`) is the engine's.

use serde_json::Value;

use crate::backend::Backend;
use crate::error::ApiError;
use crate::kind::Kind;
use crate::patch::{self, PatchType};
use crate::{objects, pod_update};

fn rv_of(v: &Value) -> Result<Option<u64>, ApiError> {
    match v["metadata"]["resourceVersion"].as_str() {
        None | Some("") => Ok(None),
        Some(s) => s
            .parse()
            .map(Some)
            .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {s:?}"))),
    }
}

/// Which spec-narrowing subresource a write goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Resize,
    EphemeralContainers,
}

impl Part {
    pub fn from_subresource(s: &str) -> Option<Part> {
        match s {
            "resize" => Some(Part::Resize),
            "ephemeralcontainers" => Some(Part::EphemeralContainers),
            _ => None,
        }
    }
}

async fn write(
    part: Part,
    backend: &dyn Backend,
    ns: &str,
    name: &str,
    (old, new): (&Value, &Value),
    expected: Option<u64>,
    dry_run: bool,
) -> Result<Value, ApiError> {
    match part {
        Part::Resize => pod_update::resize(backend, ns, name, old, new, expected, dry_run).await,
        Part::EphemeralContainers => {
            pod_update::ephemeral(backend, ns, name, old, new, expected, dry_run).await
        }
    }
}

/// PUT `pods/{name}/<part>`.
pub async fn replace(
    part: Part,
    backend: &dyn Backend,
    ns: &str,
    name: &str,
    body: &[u8],
    dry_run: bool,
) -> Result<Value, ApiError> {
    let new = objects::parse_value(Kind::Pod, body)?;
    let (old, _) = backend.get(Kind::Pod, ns, name).await?;
    let expected = rv_of(&new)?;
    write(part, backend, ns, name, (&old, &new), expected, dry_run).await
}

/// PATCH `pods/{name}/<part>` (JSON, merge, strategic merge, apply).
pub async fn patch(
    part: Part,
    backend: &dyn Backend,
    ns: &str,
    name: &str,
    pt: PatchType,
    body: &[u8],
    dry_run: bool,
) -> Result<Value, ApiError> {
    let p = patch::parse_body(pt, body)?;
    let (old, cur_rv) = backend.get(Kind::Pod, ns, name).await?;
    let mut doc = old.clone();
    patch::apply(pt, &mut doc, &p)?;
    let expected = match rv_of(&doc)? {
        Some(rv) if Some(rv) != rv_of(&old)? => {
            return Err(ApiError::conflict("pods", name));
        }
        Some(_) if p.pointer("/metadata/resourceVersion").is_some() => Some(cur_rv),
        _ => None,
    };
    write(part, backend, ns, name, (&old, &doc), expected, dry_run).await
}
