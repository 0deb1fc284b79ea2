//! The ServiceAccount admission plugin for pods (mutating): run after
//! defaulting and before validation, only when the API issues service
//! account tokens.

use nodelet_spec::Object;
use nodelet_spec::admission::service_account::{admit_pod, service_account_name};

use crate::backend::Backend;
use crate::error::ApiError;
use crate::kind::Kind;

/// `pods "<name>" is forbidden: <why>` (admission.NewForbidden).
fn forbidden(name: &str, why: String) -> ApiError {
    let mut e = ApiError::new(
        403,
        "Forbidden",
        format!("pods \"{name}\" is forbidden: {why}"),
    );
    e.details.name = Some(name.to_owned());
    e.details.kind = Some("pods".to_owned());
    e
}

/// Admits a pod being created: its service account must exist (the
/// `default` one always does); the API access volume is added unless
/// automounting is off. Other kinds pass unchanged.
pub async fn admit(backend: &dyn Backend, obj: &mut Object) -> Result<(), ApiError> {
    let Object::Pod(pod) = obj else {
        return Ok(());
    };
    let ns = pod
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let name = pod.metadata.name.clone().unwrap_or_default();
    let sa_name = service_account_name(pod);
    let sa = match backend.get(Kind::ServiceAccount, &ns, &sa_name).await {
        Ok((v, _)) => serde_json::from_value(v).map_err(|e| ApiError::internal(e.to_string()))?,
        Err(e) if e.code == 404 => {
            return Err(forbidden(
                &name,
                format!(
                    "error looking up service account {ns}/{sa_name}: serviceaccount \"{sa_name}\" not found"
                ),
            ));
        }
        Err(e) => return Err(e),
    };
    admit_pod(pod, &sa, &crate::objects::random_suffix());
    Ok(())
}
