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

/// PUT `pods/{name}/resize`.
pub async fn replace(
    backend: &dyn Backend,
    ns: &str,
    name: &str,
    body: &[u8],
    dry_run: bool,
) -> Result<Value, ApiError> {
    let new = objects::parse_value(Kind::Pod, body)?;
    let (old, _) = backend.get(Kind::Pod, ns, name).await?;
    let expected = rv_of(&new)?;
    pod_update::resize(backend, ns, name, &old, &new, expected, dry_run).await
}

/// PATCH `pods/{name}/resize` (JSON, merge, strategic merge, apply).
pub async fn patch(
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
    pod_update::resize(backend, ns, name, &old, &doc, expected, dry_run).await
}
