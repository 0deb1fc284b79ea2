//! API-server style warnings: accepted, but the user should know.

use k8s_openapi::api::core::v1::{Lifecycle, Pod};

use crate::FieldPath;

/// Warnings for a pod, as `kubectl apply` prints them (`Warning: ...`).
pub fn pod_warnings(pod: &Pod) -> Vec<String> {
    let mut out = Vec::new();
    let Some(spec) = &pod.spec else {
        return out;
    };
    let spec_path = FieldPath::new("spec");
    let groups = [
        (
            "initContainers",
            spec.init_containers.as_deref().unwrap_or(&[]),
        ),
        ("containers", spec.containers.as_slice()),
    ];
    for (field, containers) in groups {
        for (i, c) in containers.iter().enumerate() {
            if let Some(lc) = &c.lifecycle {
                lifecycle_warnings(
                    lc,
                    &spec_path.child(field).index(i).child("lifecycle"),
                    &mut out,
                );
            }
        }
    }
    out
}

/// The kubelet has no tcpSocket hook runner: such a hook always fails.
fn lifecycle_warnings(lc: &Lifecycle, path: &FieldPath, out: &mut Vec<String>) {
    let hooks = [("postStart", &lc.post_start), ("preStop", &lc.pre_stop)];
    for (name, hook) in hooks {
        if hook.as_ref().is_some_and(|h| h.tcp_socket.is_some()) {
            out.push(format!(
                "{}: deprecated and not supported",
                path.child(name).child("tcpSocket")
            ));
        }
    }
}
