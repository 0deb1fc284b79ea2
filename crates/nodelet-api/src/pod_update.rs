//! Pod writes as the API server's pod strategy does them, for the main
//! resource (PUT and the four PATCH types of `pods/{name}`) and for the
//! `pods/{name}/resize` and `pods/{name}/ephemeralcontainers` subresources: the request is decoded strictly and
//! defaulted, the server-owned fields come from the stored pod
//! (`prepare_update` / `prepare_resize`, generation bumped on a spec
//! change), and `ValidatePodUpdate` / `ValidatePodResize` decide — 422
//! with the API server's messages, nothing changed. An accepted pod goes
//! to the backend (the engine's one update path, `Engine::update_pod`),
//! with the caller's resourceVersion as a precondition (409).

use k8s_openapi::api::core::v1::Pod;
use nodelet_spec::Object;
use nodelet_spec::validate::update::{
    prepare_ephemeral, prepare_resize, prepare_update, validate_pod_ephemeral_update,
    validate_pod_resize, validate_pod_update,
};
use serde_json::Value;

use crate::backend::Backend;
use crate::error::ApiError;
use crate::kind::Kind;
use crate::objects;

/// A new pod's server-set metadata (`podStrategy.PrepareForCreate`).
pub fn prepare_create(obj: &mut Object) {
    if let Object::Pod(p) = obj {
        p.metadata.generation = Some(1);
    }
}

fn stored(old: &Value) -> Result<Pod, ApiError> {
    serde_json::from_value(old.clone())
        .map_err(|e| ApiError::internal(format!("decoding the stored pod: {e}")))
}

/// The pod in `new` (JSON), decoded strictly, placed and defaulted.
fn decoded(ns: &str, name: &str, new: &Value) -> Result<Pod, ApiError> {
    let bytes = serde_json::to_vec(new).map_err(|e| ApiError::internal(e.to_string()))?;
    let mut obj = objects::decode(Kind::Pod, &bytes)?;
    objects::place(&mut obj, ns, Some(name))?;
    nodelet_spec::defaults::default_object(&mut obj);
    match obj {
        Object::Pod(p) => Ok(*p),
        _ => Err(ApiError::internal("pod expected")),
    }
}

async fn store(
    backend: &dyn Backend,
    pod: Pod,
    expected_rv: Option<u64>,
    dry_run: bool,
) -> Result<Value, ApiError> {
    if dry_run {
        return serde_json::to_value(&pod).map_err(|e| ApiError::internal(e.to_string()));
    }
    backend
        .replace(Object::Pod(Box::new(pod)), expected_rv)
        .await
}

/// An update of the pod itself: `new` is the whole object (status and
/// identity already carried over from `old` by the caller).
pub async fn update(
    backend: &dyn Backend,
    ns: &str,
    name: &str,
    old: &Value,
    new: &Value,
    expected_rv: Option<u64>,
    dry_run: bool,
) -> Result<Value, ApiError> {
    let old = stored(old)?;
    let mut pod = decoded(ns, name, new)?;
    prepare_update(&mut pod, &old);
    let errs = validate_pod_update(&pod, &old);
    if !errs.is_empty() {
        return Err(ApiError::invalid("Pod", name, &errs));
    }
    store(backend, pod, expected_rv, dry_run).await
}

/// A write to `pods/{name}/resize`: only the containers' resources and
/// resize policies of `new` are taken.
pub async fn resize(
    backend: &dyn Backend,
    ns: &str,
    name: &str,
    old: &Value,
    new: &Value,
    expected_rv: Option<u64>,
    dry_run: bool,
) -> Result<Value, ApiError> {
    let old = stored(old)?;
    let requested = decoded(ns, name, new)?;
    let pod = prepare_resize(&requested, &old);
    let errs = validate_pod_resize(&pod, &old);
    if !errs.is_empty() {
        return Err(ApiError::invalid("Pod", name, &errs));
    }
    store(backend, pod, expected_rv, dry_run).await
}

/// A write to `pods/{name}/ephemeralcontainers`: only the ephemeral
/// containers of `new` are taken; they may be added, not changed.
pub async fn ephemeral(
    backend: &dyn Backend,
    ns: &str,
    name: &str,
    old: &Value,
    new: &Value,
    expected_rv: Option<u64>,
    dry_run: bool,
) -> Result<Value, ApiError> {
    let old = stored(old)?;
    let requested = decoded(ns, name, new)?;
    let pod = prepare_ephemeral(&requested, &old);
    let errs = validate_pod_ephemeral_update(&pod, &old);
    if !errs.is_empty() {
        return Err(ApiError::invalid("Pod", name, &errs));
    }
    store(backend, pod, expected_rv, dry_run).await
}
