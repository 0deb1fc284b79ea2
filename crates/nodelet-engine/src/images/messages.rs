//! The kubelet's texts for image events and waiting states, byte for
//! byte (`pkg/kubelet/images/image_manager.go`, `events.go`,
//! `kuberuntime_container.go`'s `Error: <reason>`).

use std::time::Duration;

use crate::godur::go_duration;

/// Event reasons (`pkg/kubelet/events`).
pub const PULLING: &str = "Pulling";
pub const PULLED: &str = "Pulled";
pub const FAILED: &str = "Failed";
pub const BACK_OFF: &str = "BackOff";
pub const INSPECT_FAILED: &str = "InspectFailed";
pub const ERR_IMAGE_NEVER_PULL: &str = "ErrImageNeverPull";
pub const FAILED_TO_RETRIEVE_PULL_SECRET: &str = "FailedToRetrieveImagePullSecret";

/// Waiting reasons (`images/types.go`).
pub const ERR_IMAGE_PULL: &str = "ErrImagePull";
pub const IMAGE_PULL_BACK_OFF: &str = "ImagePullBackOff";
pub const INVALID_IMAGE_NAME: &str = "InvalidImageName";
pub const REGISTRY_UNAVAILABLE: &str = "RegistryUnavailable";

/// Whether a waiting reason is one of the image manager's.
pub fn is_image_reason(reason: &str) -> bool {
    matches!(
        reason,
        ERR_IMAGE_PULL
            | IMAGE_PULL_BACK_OFF
            | ERR_IMAGE_NEVER_PULL
            | INVALID_IMAGE_NAME
            | REGISTRY_UNAVAILABLE
            | "ErrImageInspect"
    )
}

pub fn pulling(image: &str) -> String {
    format!("Pulling image \"{image}\"")
}

/// Go's `Duration.Truncate(time.Millisecond).String()`.
fn ms(d: Duration) -> String {
    go_duration(Duration::from_millis(d.as_millis() as u64))
}

pub fn pulled(image: &str, pull: Duration, including_waiting: Duration, size: u64) -> String {
    format!(
        "Successfully pulled image \"{image}\" in {} ({} including waiting). Image size: {size} bytes.",
        ms(pull),
        ms(including_waiting)
    )
}

pub fn already_present(image: &str) -> String {
    format!("Container image \"{image}\" already present on machine")
}

pub fn never_pull(image: &str) -> String {
    format!("Container image \"{image}\" is not present with pull policy of Never")
}

pub fn back_off(image: &str) -> String {
    format!("Back-off pulling image \"{image}\"")
}

pub fn failed_to_pull(image: &str, err: &str) -> String {
    format!("Failed to pull image \"{image}\": {err}")
}

pub fn invalid_name(image: &str, parse_error: &str) -> String {
    format!(
        "Failed to apply default image tag \"{image}\": couldn't parse image name \"{image}\": {parse_error}"
    )
}

pub fn missing_pull_secrets(names: &[String]) -> String {
    format!(
        "Unable to retrieve some image pull secrets ({}); attempting to pull the image may not succeed.",
        names.join(", ")
    )
}

/// `startContainer`'s event for any of the above: `Error: <reason>`.
pub fn error_event(reason: &str) -> String {
    format!("Error: {reason}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts() {
        assert_eq!(
            pulled(
                "nginx",
                Duration::from_micros(1_234_567),
                Duration::from_millis(2500),
                42
            ),
            "Successfully pulled image \"nginx\" in 1.234s (2.5s including waiting). Image size: 42 bytes."
        );
        assert_eq!(
            pulled(
                "nginx",
                Duration::from_micros(229_604),
                Duration::from_micros(229_700),
                1
            ),
            "Successfully pulled image \"nginx\" in 229ms (229ms including waiting). Image size: 1 bytes."
        );
        assert_eq!(back_off("nginx"), "Back-off pulling image \"nginx\"");
        assert_eq!(
            never_pull("x:1"),
            "Container image \"x:1\" is not present with pull policy of Never"
        );
    }
}
