//! The kubelet's volume event texts, byte for byte.

/// `MountVolume.SetUp failed for volume "<name>" : <err>` (the operation
/// generator's simple message: details are empty, hence the space).
pub fn setup_failed(volume: &str, err: &str) -> String {
    format!("MountVolume.SetUp failed for volume \"{volume}\" : {err}")
}

/// `SyncPod`'s event when `WaitForAttachAndMount` timed out.
pub fn timed_out(unmounted: &[String]) -> String {
    format!(
        "Unable to attach or mount volumes: unmounted volumes=[{}], unattached volumes=[], failed to process volumes=[]: timed out waiting for the condition",
        unmounted.join(" ")
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn texts() {
        assert_eq!(
            super::setup_failed("cfg", "configmap \"c\" not found"),
            "MountVolume.SetUp failed for volume \"cfg\" : configmap \"c\" not found"
        );
        assert_eq!(
            super::timed_out(&["a".into(), "b".into()]),
            "Unable to attach or mount volumes: unmounted volumes=[a b], unattached volumes=[], failed to process volumes=[]: timed out waiting for the condition"
        );
    }
}
