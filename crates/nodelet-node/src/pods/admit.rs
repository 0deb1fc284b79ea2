//! Admission of a pod the API server bound to this node (the kubelet's
//! `canAdmitPod`): the API server validated it already, but nodelet also
//! refuses what it cannot run exactly as asked (the spec layer's checks).
//! A refused pod is not started; its status becomes `Failed` with the
//! reason and a `Pod was rejected: ` message, and a Warning event says
//! why, as the kubelet's `rejectPod`.

use k8s_openapi::api::core::v1::Pod;

/// The reason a rejected pod's status and event carry. The kubelet's
/// admit handlers each have their own (`OutOfcpu`, `NodeAffinity`, …);
/// this one is nodelet's: a spec the agent does not support.
pub const REASON: &str = "UnsupportedPodSpec";

/// `Err(message)` when nodelet cannot run the pod as specified.
pub fn admit(pod: &Pod) -> Result<(), String> {
    let errs = nodelet_spec::validate::validate_pod(pod);
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs.to_string())
    }
}

/// The status of a rejected pod (`rejectPod`).
pub fn rejected_status(message: &str) -> serde_json::Value {
    serde_json::json!({
        "phase": "Failed",
        "reason": REASON,
        "message": format!("Pod was rejected: {message}"),
    })
}
