//! Ephemeral (debug) containers as the rest of nodelet sees them.
//!
//! The API has a type of its own for them (`EphemeralContainer`: the
//! fields of a `Container` plus `targetContainerName`), but once added to
//! a pod they are created, started, exec'd into and logged like any other
//! container — the kubelet converts them the same way
//! (`(*v1.Container)(&ec.EphemeralContainerCommon)`), so one conversion here
//! keeps the engine and runtime speaking `Container` only.

use k8s_openapi::api::core::v1::{Container, EphemeralContainer};

/// The container an ephemeral container runs as (its target aside).
pub fn as_container(e: &EphemeralContainer) -> Container {
    Container {
        args: e.args.clone(),
        command: e.command.clone(),
        env: e.env.clone(),
        env_from: e.env_from.clone(),
        image: e.image.clone(),
        image_pull_policy: e.image_pull_policy.clone(),
        lifecycle: e.lifecycle.clone(),
        liveness_probe: e.liveness_probe.clone(),
        name: e.name.clone(),
        ports: e.ports.clone(),
        readiness_probe: e.readiness_probe.clone(),
        resize_policy: e.resize_policy.clone(),
        resources: e.resources.clone(),
        restart_policy: e.restart_policy.clone(),
        restart_policy_rules: e.restart_policy_rules.clone(),
        security_context: e.security_context.clone(),
        startup_probe: e.startup_probe.clone(),
        stdin: e.stdin,
        stdin_once: e.stdin_once,
        termination_message_path: e.termination_message_path.clone(),
        termination_message_policy: e.termination_message_policy.clone(),
        tty: e.tty,
        volume_devices: e.volume_devices.clone(),
        volume_mounts: e.volume_mounts.clone(),
        working_dir: e.working_dir.clone(),
    }
}

/// The container whose process namespace `e` joins (`targetContainerName`;
/// `None`: the pod's own, as for any container).
pub fn target(e: &EphemeralContainer) -> Option<&str> {
    e.target_container_name.as_deref().filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_every_common_field_and_drops_the_target() {
        let e: EphemeralContainer = serde_json::from_value(serde_json::json!({
            "name": "debugger", "image": "busybox", "command": ["sh"], "args": ["-c", "true"],
            "stdin": true, "tty": true, "targetContainerName": "app",
            "terminationMessagePolicy": "File", "imagePullPolicy": "IfNotPresent",
            "volumeMounts": [{"name": "v", "mountPath": "/v"}]
        }))
        .expect("valid ephemeral container");
        let c = as_container(&e);
        let mut back = serde_json::to_value(&c).expect("serializable");
        back["targetContainerName"] = "app".into();
        assert_eq!(
            back,
            serde_json::to_value(&e).expect("serializable"),
            "every field but the target carried over"
        );
        assert_eq!(target(&e), Some("app"));
    }
}
