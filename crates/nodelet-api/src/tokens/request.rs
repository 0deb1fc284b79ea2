//! `POST /api/v1/namespaces/<ns>/serviceaccounts/<name>/token`
//! (authentication.k8s.io/v1 `TokenRequest`, what `kubectl create token`
//! and a kubelet call), with the API server's defaults and validation.

use jiff::Timestamp;
use k8s_openapi::api::authentication::v1::TokenRequest as ApiTokenRequest;
use nodelet_engine::sources::{BoundPod, TokenRequest};
use nodelet_spec::{FieldError, FieldErrors, FieldPath};
use serde_json::{Value, json};

use super::TokenAuthority;
use crate::backend::Backend;
use crate::error::ApiError;
use crate::kind::Kind;

const DEFAULT_EXPIRATION: i64 = 3600;

pub async fn create(
    authority: &TokenAuthority,
    backend: &dyn Backend,
    ns: &str,
    name: &str,
    body: &[u8],
) -> Result<Value, ApiError> {
    let tr: ApiTokenRequest = if crate::protobuf::is_protobuf(body) {
        serde_json::from_value(crate::protobuf::token_request_to_json(body)?)
    } else {
        serde_json::from_slice(body)
    }
    .map_err(|e| ApiError::bad_request(format!("decoding TokenRequest: {e}")))?;
    let spec = tr.spec.unwrap_or_default();
    let exp = spec.expiration_seconds.unwrap_or(DEFAULT_EXPIRATION);
    let mut errs = FieldErrors::default();
    if exp < 600 {
        errs.push(FieldError::invalid(
            FieldPath::new("spec.expirationSeconds"),
            exp,
            "may not specify a duration less than 10 minutes",
        ));
    }
    if exp > 1 << 32 {
        errs.push(FieldError::invalid(
            FieldPath::new("spec.expirationSeconds"),
            exp,
            "may not specify a duration larger than 2^32 seconds",
        ));
    }
    if !errs.is_empty() {
        return Err(ApiError::invalid(
            "TokenRequest.authentication.k8s.io",
            name,
            &errs,
        ));
    }
    authority.service_account_uid(ns, name)?;
    let bound_pod = match &spec.bound_object_ref {
        None => None,
        Some(r) if r.kind.as_deref() == Some("Pod") => {
            let pod_name = r.name.clone().unwrap_or_default();
            let (pod, _) = backend.get(Kind::Pod, ns, &pod_name).await?;
            let uid = pod["metadata"]["uid"].as_str().unwrap_or("").to_owned();
            if let Some(want) = r.uid.as_deref().filter(|u| !u.is_empty())
                && want != uid
            {
                return Err(ApiError::new(
                    409,
                    "Conflict",
                    format!(
                        "Operation cannot be fulfilled on serviceaccounts \"{name}\": the UID in the bound object reference ({want}) does not match the UID in record. The object might have been deleted and then recreated"
                    ),
                ));
            }
            Some(BoundPod {
                name: pod_name,
                uid,
            })
        }
        Some(r) => {
            return Err(ApiError::bad_request(format!(
                "cannot bind a token to a {}: nodelet binds tokens to pods only",
                r.kind.as_deref().unwrap_or("<no kind>")
            )));
        }
    };
    let audiences = spec.audiences.clone().unwrap_or_default();
    let req = TokenRequest {
        namespace: ns.to_owned(),
        service_account: name.to_owned(),
        audiences: audiences.clone(),
        expiration_seconds: exp,
        bound_pod: bound_pod.clone(),
    };
    let now = Timestamp::now();
    let (token, expires) = authority.issue_at(&req, now)?;
    let audiences = if audiences.is_empty() {
        authority.audiences.clone()
    } else {
        audiences
    };
    let mut out_spec = json!({"audiences": audiences, "expirationSeconds": exp});
    if let Some(r) = &spec.bound_object_ref {
        out_spec["boundObjectRef"] = json!({
            "kind": "Pod", "apiVersion": r.api_version.clone().unwrap_or_else(|| "v1".into()),
            "name": r.name, "uid": bound_pod.map(|b| b.uid),
        });
    }
    Ok(json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": now.to_string()},
        "spec": out_spec,
        "status": {"token": token, "expirationTimestamp": expires.to_string()},
    }))
}
