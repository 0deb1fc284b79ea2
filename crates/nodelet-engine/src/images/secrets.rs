//! The pod's `imagePullSecrets`, looked up through the engine's
//! [`crate::sources::Sources`] (the kubelet's `getPullSecretsForPod`):
//! secrets that cannot be found are named in one
//! `FailedToRetrieveImagePullSecret` warning and the pull goes on without
//! them. Only the docker configs of secrets of type
//! `kubernetes.io/dockerconfigjson` (`.dockerconfigjson`) and
//! `kubernetes.io/dockercfg` (`.dockercfg`) become credentials, as in
//! the kubelet's `MakeDockerKeyring`; other secrets are ignored.

use k8s_openapi::api::core::v1::{Pod, Secret};
use nodelet_runtime::{PullCredentials, PullSecret, PullSecretKind};

use crate::sources::Sources;

/// The pull credentials of `pod`, and the names of the secrets that could
/// not be retrieved.
pub async fn pull_credentials(sources: &dyn Sources, pod: &Pod) -> (PullCredentials, Vec<String>) {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let mut creds = PullCredentials::default();
    let mut missing = Vec::new();
    let refs = pod
        .spec
        .as_ref()
        .and_then(|s| s.image_pull_secrets.clone())
        .unwrap_or_default();
    for r in refs {
        // The API server allows empty names; the kubelet skips them.
        if r.name.is_empty() {
            continue;
        }
        match sources.secret(&namespace, &r.name).await {
            Ok(Some(secret)) => {
                if let Some(s) = docker_config(&namespace, &secret) {
                    creds.secrets.push(s);
                }
            }
            Ok(None) => missing.push(r.name.clone()),
            Err(e) => {
                tracing::info!(secret = %r.name, error = %e, "unable to retrieve pull secret");
                missing.push(r.name.clone());
            }
        }
    }
    (creds, missing)
}

fn docker_config(namespace: &str, secret: &Secret) -> Option<PullSecret> {
    let (kind, key) = match secret.type_.as_deref() {
        Some("kubernetes.io/dockerconfigjson") => {
            (PullSecretKind::DockerConfigJson, ".dockerconfigjson")
        }
        Some("kubernetes.io/dockercfg") => (PullSecretKind::DockerCfg, ".dockercfg"),
        _ => return None,
    };
    let data = secret.data.as_ref()?.get(key)?.0.clone();
    if data.is_empty() {
        return None;
    }
    Some(PullSecret {
        namespace: namespace.to_string(),
        name: secret.metadata.name.clone().unwrap_or_default(),
        kind,
        data,
    })
}
