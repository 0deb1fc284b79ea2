//! The kubelet's pod-count admission (`--max-pods`): a node refuses a pod
//! when the pods already active on it fill its capacity. Shared by node
//! mode (pods bound by an API server) and the standalone engine (pods
//! created through nodelet's own API), so both say it in the same words.

/// The reason a pod beyond `--max-pods` carries (`"OutOf" + "pods"`, as
/// the kubelet's resource admission spells it).
pub const REASON_OUT_OF_PODS: &str = "OutOfpods";

/// What precedes the rejection message in a rejected pod's status
/// (`rejectPod`).
pub const REJECTED_PREFIX: &str = "Pod was rejected: ";

/// The kubelet's message when `active` (non-terminal) pods already fill a
/// node of `max_pods`; `None` when one more fits.
pub fn out_of_pods(active: usize, max_pods: u32) -> Option<String> {
    (active as u64 >= u64::from(max_pods)).then(|| {
        format!(
            "Node didn't have enough resource: pods, requested: 1, used: {active}, capacity: {max_pods}"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_more_fits_until_capacity_is_used() {
        assert_eq!(out_of_pods(109, 110), None);
        assert_eq!(
            out_of_pods(110, 110).as_deref(),
            Some("Node didn't have enough resource: pods, requested: 1, used: 110, capacity: 110")
        );
        assert!(out_of_pods(0, 0).is_some());
    }
}
