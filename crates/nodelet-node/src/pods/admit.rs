//! Admission of a pod the API server bound to this node (the kubelet's
//! `canAdmitPod`): the API server validated it already, but nodelet also
//! refuses what it cannot run exactly as asked (the spec layer's checks).
//! A refused pod is not started; its status becomes `Failed` with the
//! reason and a `Pod was rejected: ` message, and a Warning event says
//! why, as the kubelet's `rejectPod`.

use k8s_openapi::api::core::v1::Pod;
use nodelet_spec::sysctl::{Allowlist, FORBIDDEN_REASON};

/// The reason a rejected pod's status and event carry. The kubelet's
/// admit handlers each have their own (`OutOfcpu`, `NodeAffinity`, …);
/// this one is nodelet's: a spec the agent does not support.
pub const REASON: &str = "UnsupportedPodSpec";

/// The kubelet's reason for a pod beyond `--max-pods` (`"OutOf" + "pods"`).
pub use nodelet_spec::capacity::REASON_OUT_OF_PODS;

/// Why a pod was refused: the reason of its status and event, and the
/// message after `Pod was rejected: `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: &'static str,
    pub message: String,
}

/// `Err` when nodelet cannot run the pod as specified, when it asks for a
/// sysctl `sysctls` does not allow (`SysctlForbidden`), or when `active`
/// (non-terminated) pods already fill the node's `max_pods` (the
/// kubelet's resource admission, with its message).
pub fn admit(
    pod: &Pod,
    active: usize,
    max_pods: u32,
    sysctls: &Allowlist,
) -> Result<(), Rejection> {
    os(pod)?;
    let errs = nodelet_spec::validate::validate_pod(pod);
    if !errs.is_empty() {
        return Err(Rejection {
            reason: REASON,
            message: errs.to_string(),
        });
    }
    sysctls.admit(pod).map_err(|message| Rejection {
        reason: FORBIDDEN_REASON,
        message,
    })?;
    if let Some(message) = nodelet_spec::capacity::out_of_pods(active, max_pods) {
        return Err(Rejection {
            reason: REASON_OUT_OF_PODS,
            message,
        });
    }
    Ok(())
}

/// The kubelet's OS predicates (`rejectPodAdmissionBasedOnOSSelector`,
/// `rejectPodAdmissionBasedOnOSField`): a pod labelled or specified for
/// another OS than this node's (always linux) is refused.
fn os(pod: &Pod) -> Result<(), Rejection> {
    let label = pod
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get("kubernetes.io/os"));
    if label.is_some_and(|os| os != "linux") {
        return Err(Rejection {
            reason: "PodOSSelectorNodeLabelDoesNotMatch",
            message: "Failed to admit pod as the `kubernetes.io/os` label doesn't match node label"
                .into(),
        });
    }
    let field = pod.spec.as_ref().and_then(|s| s.os.as_ref());
    if field.is_some_and(|os| os.name != "linux") {
        return Err(Rejection {
            reason: "PodOSNotSupported",
            message: "Failed to admit pod as the OS field doesn't match node OS".into(),
        });
    }
    Ok(())
}

/// The status of a rejected pod (`rejectPod`).
pub fn rejected_status(r: &Rejection) -> serde_json::Value {
    serde_json::json!({
        "phase": "Failed",
        "reason": r.reason,
        "message": format!("{}{}", nodelet_spec::capacity::REJECTED_PREFIX, r.message),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod() -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "default"},
            "spec": {"containers": [{"name": "c", "image": "busybox",
                "terminationMessagePolicy": "File", "imagePullPolicy": "Always"}],
                "restartPolicy": "Always", "dnsPolicy": "ClusterFirst"},
        }))
        .unwrap()
    }

    fn safe() -> Allowlist {
        Allowlist::for_node::<&str>(Some((6, 8)), &[]).unwrap()
    }

    #[test]
    fn unsafe_sysctls_are_forbidden_as_the_kubelet_says() {
        let with = |name: &str| {
            let mut p = pod();
            p.spec.as_mut().unwrap().security_context = Some(
                serde_json::from_value(
                    serde_json::json!({"sysctls": [{"name": name, "value": "1"}]}),
                )
                .unwrap(),
            );
            p
        };
        assert_eq!(
            admit(&with("kernel/shm_rmid_forced"), 0, 110, &safe()),
            Ok(())
        );
        let r = admit(&with("kernel.msgmax"), 0, 110, &safe()).unwrap_err();
        assert_eq!(r.reason, "SysctlForbidden");
        assert_eq!(
            r.message,
            "forbidden sysctl: \"kernel.msgmax\" not allowlisted"
        );
        assert_eq!(
            rejected_status(&r)["message"],
            "Pod was rejected: forbidden sysctl: \"kernel.msgmax\" not allowlisted"
        );
        let allowed = Allowlist::for_node(Some((6, 8)), &["kernel.msg*"]).unwrap();
        assert_eq!(admit(&with("kernel.msgmax"), 0, 110, &allowed), Ok(()));
    }

    #[test]
    fn a_pod_for_another_os_is_refused_as_the_kubelet_says() {
        let mut p = pod();
        p.spec.as_mut().unwrap().os = Some(k8s_openapi::api::core::v1::PodOS {
            name: "windows".into(),
        });
        let r = admit(&p, 0, 110, &safe()).unwrap_err();
        assert_eq!(r.reason, "PodOSNotSupported");
        assert_eq!(
            r.message,
            "Failed to admit pod as the OS field doesn't match node OS"
        );
        p.spec.as_mut().unwrap().os = Some(k8s_openapi::api::core::v1::PodOS {
            name: "linux".into(),
        });
        assert_eq!(admit(&p, 0, 110, &safe()), Ok(()));
        p.metadata.labels = Some([("kubernetes.io/os".into(), "windows".into())].into());
        assert_eq!(
            admit(&p, 0, 110, &safe()).unwrap_err().reason,
            "PodOSSelectorNodeLabelDoesNotMatch"
        );
    }

    #[test]
    fn pods_beyond_max_pods_are_out_of_pods_as_the_kubelet_says() {
        assert_eq!(admit(&pod(), 109, 110, &safe()), Ok(()));
        let r = admit(&pod(), 110, 110, &safe()).unwrap_err();
        assert_eq!(r.reason, "OutOfpods");
        assert_eq!(
            r.message,
            "Node didn't have enough resource: pods, requested: 1, used: 110, capacity: 110"
        );
        let s = rejected_status(&r);
        assert_eq!(s["phase"], "Failed");
        assert_eq!(
            s["message"],
            "Pod was rejected: Node didn't have enough resource: pods, requested: 1, used: 110, capacity: 110"
        );
        // 10,000 requested on a 110-pod node: every one past 110 refused.
        let admitted = (0..10_000)
            .filter(|n| admit(&pod(), (*n).min(110), 110, &safe()).is_ok())
            .count();
        assert_eq!(admitted, 110);
    }
}
