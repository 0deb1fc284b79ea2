//! The exec probe (`pkg/probe/exec`): the command runs inside the container
//! through the runtime with `timeoutSeconds`; exit 0 is success, any other
//! exit a failure whose output (stdout then stderr, capped at 10 KiB) is the
//! message; a timeout is a failure `command "<cmd>" timed out` (kubelet with
//! ExecProbeTimeout, GA); a runtime error is an error.

use std::time::Duration;

use k8s_openapi::api::core::v1::Container;
use nodelet_runtime::{ExecRequest, Runtime, RuntimeError};
use nodelet_spec::env::expand;

use super::outcome::{ProbeOutcome, output_text};
use crate::clock::Clock;
use crate::hooks::message::go_quote;

/// `ExpandContainerCommandOnlyStatic`: `$(VAR)` resolved only against the
/// container's env entries with a literal value (not `valueFrom`).
pub fn expand_command(command: &[String], c: &Container) -> Vec<String> {
    let lookup = |name: &str| {
        c.env
            .iter()
            .flatten()
            .rev()
            .find(|e| e.name == name && e.value_from.is_none())
            .map(|e| e.value.clone().unwrap_or_default())
    };
    command.iter().map(|a| expand(a, lookup)).collect()
}

fn timed_out(command: &[String]) -> ProbeOutcome {
    ProbeOutcome::Failure(format!(
        "command {} timed out",
        go_quote(command.join(" ").as_bytes())
    ))
}

pub async fn probe(
    runtime: &dyn Runtime,
    clock: &dyn Clock,
    container_id: &str,
    command: &[String],
    timeout: Duration,
) -> ProbeOutcome {
    let req = ExecRequest {
        command: command.to_vec(),
        env: Vec::new(),
        timeout: Some(timeout),
    };
    // The runtime enforces the timeout (killing the process); the clock
    // bound is for a runtime that fails to.
    let result = tokio::select! {
        r = runtime.exec(container_id, &req) => r,
        () = clock.sleep(timeout + Duration::from_secs(1)) => return timed_out(command),
    };
    match result {
        Ok(out) => {
            let mut output = out.stdout;
            output.extend_from_slice(&out.stderr);
            if out.exit_code == 0 {
                ProbeOutcome::Success
            } else {
                ProbeOutcome::Failure(output_text(&output))
            }
        }
        Err(RuntimeError::ExecTimeout(_)) => timed_out(command),
        Err(e) => ProbeOutcome::Error(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_literal_env_values_expand() {
        let c: Container = serde_json::from_value(serde_json::json!({
            "name": "c",
            "env": [
                {"name": "F", "value": "/tmp/healthy"},
                {"name": "P", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
            ]
        }))
        .unwrap();
        let cmd: Vec<String> = ["cat", "$(F)", "$(P)", "$$(F)"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            expand_command(&cmd, &c),
            vec!["cat", "/tmp/healthy", "$(P)", "$(F)"]
        );
        assert_eq!(
            timed_out(&["sleep".into(), "5".into()]),
            ProbeOutcome::Failure("command \"sleep 5\" timed out".into())
        );
    }
}
