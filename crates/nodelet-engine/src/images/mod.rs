//! Images for a pod's containers, as the kubelet's image manager provides
//! them (`pkg/kubelet/images/image_manager.go`, `EnsureImageExists`):
//! the reference is checked (`InvalidImageName`), the pull policy decides
//! (`Never` + absent: `ErrImageNeverPull`), a pull that failed recently is
//! not retried before its back-off ends (`ImagePullBackOff`, 10 s doubling
//! to 300 s per image), and the kubelet's events are recorded: `Pulling`,
//! `Pulled` (with the pull time, the time including waiting, and the image
//! size), `Failed`, `BackOff`.
//!
//! The runtime does the pull ([`nodelet_runtime::Runtime::ensure_image`],
//! with the pod's pull secrets); this module only decides and reports.

pub mod backoff;
pub mod messages;
pub mod secrets;

use std::collections::HashMap;

use k8s_openapi::api::core::v1::{Container, Pod};
use nodelet_runtime::{ImageInfo, ImageRequest, PullEvent, PullPolicy, RuntimeError};
use tokio::sync::mpsc;

use crate::events::EventType;
use crate::worker::shared::Shared;
pub use backoff::ImageBackoff;

/// How a container's image could not be made ready: the waiting reason
/// and message its status shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFailure {
    pub reason: String,
    pub message: String,
}

/// One pod worker's image state: the back-off per image and the last pull
/// error per image (shown during the back-off, as the kubelet's
/// `prevPullErrMsg`).
#[derive(Debug, Default)]
pub struct ImagePulls {
    backoff: ImageBackoff,
    prev_error: HashMap<String, String>,
}

fn pull_policy(c: &Container) -> PullPolicy {
    match c.image_pull_policy.as_deref() {
        Some("Always") => PullPolicy::Always,
        Some("Never") => PullPolicy::Never,
        _ => PullPolicy::IfNotPresent,
    }
}

impl ImagePulls {
    /// Makes slot `i`'s image ready, recording the kubelet's events.
    pub async fn ensure(
        &mut self,
        shared: &Shared,
        i: usize,
        spec: &Container,
        pod: &Pod,
    ) -> Result<ImageInfo, ImageFailure> {
        let image = spec.image.clone().unwrap_or_default();
        let fail = |reason: &str, message: String| ImageFailure {
            reason: reason.to_string(),
            message,
        };
        if nodelet_runtime::image::parse_reference(&image).is_err() {
            let msg = messages::invalid_name(
                &image,
                &nodelet_runtime::image::reference::docker_parse_error(&image),
            );
            shared.event(Some(i), EventType::Warning, messages::INSPECT_FAILED, &msg);
            return Err(fail(messages::INVALID_IMAGE_NAME, msg));
        }
        let policy = pull_policy(spec);
        let ctx = &shared.ctx;
        let (credentials, missing) = if policy == PullPolicy::Never {
            Default::default()
        } else {
            secrets::pull_credentials(ctx.sources.as_ref(), pod).await
        };
        if !missing.is_empty() {
            shared.event(
                None,
                EventType::Warning,
                messages::FAILED_TO_RETRIEVE_PULL_SECRET,
                &messages::missing_pull_secrets(&missing),
            );
        }
        let now = ctx.clock.instant();
        if policy != PullPolicy::Never && self.backoff.in_backoff(&image, now) {
            // In back-off: only an image already present (IfNotPresent)
            // may be used; nothing is pulled.
            if policy == PullPolicy::IfNotPresent {
                let probe = ImageRequest::new(&image, PullPolicy::Never);
                match ctx.runtime.ensure_image(&probe).await {
                    Ok(info) => {
                        let msg = messages::already_present(&image);
                        shared.event(Some(i), EventType::Normal, messages::PULLED, &msg);
                        return Ok(info);
                    }
                    Err(RuntimeError::ImageNeverPull(_)) => {}
                    Err(e) => {
                        let msg = format!("Failed to inspect image \"{image}\": {e}");
                        shared.event(Some(i), EventType::Warning, messages::INSPECT_FAILED, &msg);
                        return Err(fail("ErrImageInspect", msg));
                    }
                }
            }
            let mut msg = messages::back_off(&image);
            shared.event(Some(i), EventType::Normal, messages::BACK_OFF, &msg);
            if let Some(prev) = self.prev_error.get(&image) {
                msg = format!("{msg}: {prev}");
            }
            return Err(fail(messages::IMAGE_PULL_BACK_OFF, msg));
        }
        self.prev_error.remove(&image);

        let (tx, mut rx) = mpsc::unbounded_channel();
        let req = ImageRequest {
            image: image.clone(),
            policy,
            credentials,
            progress: Some(tx),
        };
        let mut pulling_since = None;
        let on_event = |ev: PullEvent, pulling_since: &mut Option<tokio::time::Instant>| {
            if ev == PullEvent::Started && pulling_since.is_none() {
                *pulling_since = Some(ctx.clock.instant());
                shared.event(
                    Some(i),
                    EventType::Normal,
                    messages::PULLING,
                    &messages::pulling(&image),
                );
            }
        };
        let result = {
            let fut = ctx.runtime.ensure_image(&req);
            tokio::pin!(fut);
            loop {
                tokio::select! {
                    biased;
                    Some(ev) = rx.recv() => on_event(ev, &mut pulling_since),
                    res = &mut fut => break res,
                }
            }
        };
        while let Ok(ev) = rx.try_recv() {
            on_event(ev, &mut pulling_since);
        }
        match result {
            Ok(info) => {
                if info.pulled {
                    let started = match pulling_since {
                        Some(t) => t,
                        None => {
                            on_event(PullEvent::Started, &mut pulling_since);
                            ctx.clock.instant()
                        }
                    };
                    let waited = ctx.clock.instant().saturating_duration_since(started);
                    let pull = info.pull_duration.unwrap_or_default();
                    let msg = messages::pulled(&image, pull, waited.max(pull), info.size);
                    shared.event(Some(i), EventType::Normal, messages::PULLED, &msg);
                    self.backoff.gc(ctx.clock.instant());
                } else {
                    let msg = messages::already_present(&image);
                    shared.event(Some(i), EventType::Normal, messages::PULLED, &msg);
                }
                Ok(info)
            }
            Err(RuntimeError::ImageNeverPull(_)) => {
                let msg = messages::never_pull(&image);
                shared.event(
                    Some(i),
                    EventType::Warning,
                    messages::ERR_IMAGE_NEVER_PULL,
                    &msg,
                );
                Err(fail(messages::ERR_IMAGE_NEVER_PULL, msg))
            }
            Err(e) => {
                let text = e.to_string();
                shared.event(
                    Some(i),
                    EventType::Warning,
                    messages::FAILED,
                    &messages::failed_to_pull(&image, &text),
                );
                self.backoff.next(&image, ctx.clock.instant());
                // evalCRIPullErr: a runtime's "RegistryUnavailable" prefix
                // is its own reason; anything else is ErrImagePull.
                let (reason, msg) = match text.strip_prefix(messages::REGISTRY_UNAVAILABLE) {
                    Some(rest) => (
                        messages::REGISTRY_UNAVAILABLE,
                        format!(
                            "image pull failed for {image} because the registry is unavailable{rest}"
                        ),
                    ),
                    None => (messages::ERR_IMAGE_PULL, text),
                };
                self.prev_error
                    .insert(image.clone(), format!("{reason}: {msg}"));
                Err(fail(reason, msg))
            }
        }
    }
}
