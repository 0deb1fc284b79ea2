//! Container restart decisions as the kubelet makes them with
//! ContainerRestartRules and RestartAllContainersOnContainerExits on (the
//! default since 1.35 / 1.36): `pkg/api/v1/pod/util.go`'s
//! `ContainerShouldRestart`, `IsContainerRestartable`,
//! `FindMatchingContainerRestartRule` and `AllContainersCouldRestart`.
//!
//! Pure, so the engine's pod worker, its phase computation and the probe
//! tasks all ask the same question the same way.

use k8s_openapi::api::core::v1::{Container, ContainerRestartRule, PodSpec};

/// `restartPolicyRules[*].action: Restart`.
pub const ACTION_RESTART: &str = "Restart";
/// `restartPolicyRules[*].action: RestartAllContainers`.
pub const ACTION_RESTART_ALL: &str = "RestartAllContainers";

/// The pod's `restartPolicy` (the API server defaults it to `Always`).
pub fn pod_policy(pod: &PodSpec) -> &str {
    pod.restart_policy.as_deref().unwrap_or("Always")
}

/// The first of the container's rules whose exit-code condition matches
/// `exit_code`. Rules without `exitCodes` or with an unknown operator
/// never match (validation refuses both).
pub fn matching_rule(container: &Container, exit_code: i32) -> Option<&ContainerRestartRule> {
    container
        .restart_policy_rules
        .iter()
        .flatten()
        .find(|rule| {
            let Some(codes) = &rule.exit_codes else {
                return false;
            };
            let listed = codes.values.iter().flatten().any(|v| *v == exit_code);
            match codes.operator.as_str() {
                "In" => listed,
                "NotIn" => !listed,
                _ => false,
            }
        })
}

/// Whether a container that exited with `exit_code` gets a new container:
/// its rules in order first, then its own `restartPolicy`, then the pod's.
/// Rules are only read when the container has a `restartPolicy` (the API
/// server requires one with rules).
pub fn container_should_restart(container: &Container, pod: &PodSpec, exit_code: i32) -> bool {
    if let Some(policy) = container.restart_policy.as_deref() {
        if let Some(rule) = matching_rule(container, exit_code)
            && (rule.action == ACTION_RESTART || rule.action == ACTION_RESTART_ALL)
        {
            return true;
        }
        match policy {
            "Always" => return true,
            "OnFailure" => return exit_code != 0,
            "Never" => return false,
            _ => {}
        }
    }
    match pod_policy(pod) {
        "OnFailure" => exit_code != 0,
        "Never" => false,
        _ => true,
    }
}

/// Whether the container may ever be restarted (`IsContainerRestartable`):
/// probes use it to decide whether a running container's failure kills it
/// for good.
pub fn container_restartable(container: &Container, pod: &PodSpec) -> bool {
    if let Some(policy) = container.restart_policy.as_deref() {
        let restart_rule = container
            .restart_policy_rules
            .iter()
            .flatten()
            .any(|r| r.action == ACTION_RESTART);
        return restart_rule || policy != "Never";
    }
    pod_policy(pod) != "Never"
}

/// Whether a container ending with `exit_code` restarts the whole pod in
/// place (a matching rule with action `RestartAllContainers`).
pub fn triggers_restart_all(container: &Container, exit_code: i32) -> bool {
    matching_rule(container, exit_code).is_some_and(|r| r.action == ACTION_RESTART_ALL)
}

/// Whether any init or regular container has a `RestartAllContainers`
/// rule (`AllContainersCouldRestart`): then every container may leave the
/// terminated state, whatever its own policy.
pub fn all_containers_could_restart(pod: &PodSpec) -> bool {
    pod.init_containers
        .iter()
        .flatten()
        .chain(pod.containers.iter())
        .flat_map(|c| c.restart_policy_rules.iter().flatten())
        .any(|r| r.action == ACTION_RESTART_ALL)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(json: serde_json::Value) -> Container {
        let mut v = json;
        v["name"] = "c".into();
        serde_json::from_value(v).expect("container")
    }

    fn pod(policy: &str) -> PodSpec {
        PodSpec {
            restart_policy: Some(policy.to_owned()),
            ..Default::default()
        }
    }

    fn rule(action: &str, op: &str, values: &[i32]) -> serde_json::Value {
        serde_json::json!({"action": action, "exitCodes": {"operator": op, "values": values}})
    }

    #[test]
    fn decision_table() {
        let rules_in_42 = serde_json::json!([rule("Restart", "In", &[42])]);
        // (container, pod policy, exit code, should restart)
        let rows: Vec<(serde_json::Value, &str, i32, bool)> = vec![
            // rule match → restart whatever the policies say
            (
                serde_json::json!({"restartPolicy": "Never", "restartPolicyRules": rules_in_42}),
                "Never",
                42,
                true,
            ),
            // rule mismatch → container policy
            (
                serde_json::json!({"restartPolicy": "Never", "restartPolicyRules": rules_in_42}),
                "Always",
                1,
                false,
            ),
            (
                serde_json::json!({"restartPolicy": "OnFailure", "restartPolicyRules": rules_in_42}),
                "Never",
                1,
                true,
            ),
            (
                serde_json::json!({"restartPolicy": "OnFailure"}),
                "Always",
                0,
                false,
            ),
            (
                serde_json::json!({"restartPolicy": "Always"}),
                "Never",
                0,
                true,
            ),
            (
                serde_json::json!({"restartPolicy": "Never"}),
                "Always",
                1,
                false,
            ),
            // no container policy → pod policy (rules alone are ignored)
            (serde_json::json!({}), "Always", 0, true),
            (serde_json::json!({}), "OnFailure", 0, false),
            (serde_json::json!({}), "OnFailure", 3, true),
            (serde_json::json!({}), "Never", 3, false),
            (
                serde_json::json!({"restartPolicyRules": rules_in_42}),
                "Never",
                42,
                false,
            ),
            // NotIn
            (
                serde_json::json!({"restartPolicy": "Never", "restartPolicyRules": [rule("Restart", "NotIn", &[0, 1])]}),
                "Never",
                2,
                true,
            ),
            (
                serde_json::json!({"restartPolicy": "Never", "restartPolicyRules": [rule("Restart", "NotIn", &[0, 1])]}),
                "Never",
                1,
                false,
            ),
            // RestartAllContainers counts as a restart of this container
            (
                serde_json::json!({"restartPolicy": "Never", "restartPolicyRules": [rule("RestartAllContainers", "In", &[42])]}),
                "Never",
                42,
                true,
            ),
            // an unknown action falls back to the container policy
            (
                serde_json::json!({"restartPolicy": "Never", "restartPolicyRules": [rule("Bogus", "In", &[42])]}),
                "Always",
                42,
                false,
            ),
            // first matching rule wins
            (
                serde_json::json!({"restartPolicy": "Always", "restartPolicyRules": [rule("Bogus", "In", &[42]), rule("Restart", "In", &[42])]}),
                "Never",
                42,
                true,
            ),
        ];
        for (i, (c, policy, code, want)) in rows.into_iter().enumerate() {
            let c = container(c);
            assert_eq!(
                container_should_restart(&c, &pod(policy), code),
                want,
                "row {i}: {c:?} pod {policy} exit {code}"
            );
        }
    }

    #[test]
    fn restartable_and_restart_all() {
        let never_with_restart = container(
            serde_json::json!({"restartPolicy": "Never", "restartPolicyRules": [rule("Restart", "In", &[1])]}),
        );
        assert!(container_restartable(&never_with_restart, &pod("Never")));
        let never_with_all = container(
            serde_json::json!({"restartPolicy": "Never", "restartPolicyRules": [rule("RestartAllContainers", "In", &[1])]}),
        );
        assert!(!container_restartable(&never_with_all, &pod("Always")));
        assert!(triggers_restart_all(&never_with_all, 1));
        assert!(!triggers_restart_all(&never_with_all, 2));
        assert!(!triggers_restart_all(&never_with_restart, 1));
        assert!(container_restartable(
            &container(serde_json::json!({})),
            &pod("OnFailure")
        ));
        assert!(!container_restartable(
            &container(serde_json::json!({})),
            &pod("Never")
        ));

        let mut spec = pod("Never");
        spec.containers = vec![never_with_restart.clone()];
        assert!(!all_containers_could_restart(&spec));
        spec.init_containers = Some(vec![never_with_all]);
        assert!(all_containers_could_restart(&spec));
    }
}
