//! The runtime's side of `ensure_image`: the pull policy against the
//! store, and a registry pull when the policy asks for one. Kept apart
//! from the OCI runtime so that it is tested against a real registry
//! without containers.

use std::sync::Arc;

use super::registry::{LOCAL_REGISTRY, Puller};
use super::store::{ImageStore, ResolvedImage};
use crate::error::{Result, RuntimeError};
use crate::types::{ImageInfo, ImageRequest, PullPolicy};

fn info(image: &str, r: ResolvedImage, pulled: Option<(u64, std::time::Duration)>) -> ImageInfo {
    ImageInfo {
        reference: image.to_string(),
        image_ref: r.repo_digest.clone().unwrap_or_else(|| r.id.clone()),
        id: r.id.clone(),
        size: pulled.map_or(r.size, |(size, _)| size),
        stop_signal: r.config.stop_signal.clone(),
        pulled: pulled.is_some(),
        pull_duration: pulled.map(|(_, d)| d),
        user: r.config.user.clone(),
    }
}

/// `IfNotPresent`/`Never` use what the store has; `Always` (and a missing
/// image under `IfNotPresent`) pulls. `nodelet.local/...` images are only
/// ever loaded: present is enough whatever the policy, absent is an error
/// that says how to load them.
pub async fn ensure_image(
    store: &Arc<ImageStore>,
    puller: &Arc<Puller>,
    req: &ImageRequest,
) -> Result<ImageInfo> {
    let image = req.image.as_str();
    let reference = super::parse_reference(image)?;
    let local_only = reference.registry == LOCAL_REGISTRY;
    if req.policy != PullPolicy::Always || local_only {
        if let Some(r) = resolve(store, image).await? {
            return Ok(info(image, r, None));
        }
        if req.policy == PullPolicy::Never {
            return Err(RuntimeError::ImageNeverPull(image.to_string()));
        }
    }
    let pulled = puller
        .pull(image, &req.credentials, req.progress.clone())
        .await?;
    let resolved = resolve(store, image).await?.ok_or_else(|| {
        RuntimeError::ImagePull(format!(
            "image {image:?} was pulled but is not in the store (removed meanwhile?)"
        ))
    })?;
    Ok(info(image, resolved, Some((pulled.size, pulled.duration))))
}

/// The store lookup off the async workers (it may unpack missing layers).
async fn resolve(store: &Arc<ImageStore>, image: &str) -> Result<Option<ResolvedImage>> {
    let (store, image) = (store.clone(), image.to_string());
    tokio::task::spawn_blocking(move || store.resolve(&image))
        .await
        .map_err(|e| RuntimeError::Other(format!("image lookup task: {e}")))?
}
