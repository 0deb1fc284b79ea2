//! nodelet's own pod annotations: opt-in departures from the kubelet's
//! behaviour, read from `metadata.annotations` so a manifest stays a plain
//! Kubernetes Pod. Parsed here, purely, for both admission (every mistake
//! is a field error, nothing silently ignored) and the engine (which only
//! ever sees annotations that passed).
//!
//! - `hooks.nodelet.dev/output: events|logs` — where a hook's output goes
//!   besides its HookDelivery record: appended (bounded) to the
//!   FailedPostStartHook / FailedPreStopHook event, or written into the
//!   container's log stream.
//! - `hooks.nodelet.dev/post-start-timeout`, `hooks.nodelet.dev/pre-stop-timeout`
//!   (Go durations; pod-wide) and `...-timeout.<container>` (one container):
//!   a hook running longer fails.
//! - `hooks.nodelet.dev/delivery-id: "true"` — each delivery carries its id
//!   and attempt to the receiver (an HTTP header, an exec environment
//!   variable), so a receiver can make re-deliveries idempotent.
//! - `nodelet.dev/crashloop-backoff-max` — this pod's CrashLoopBackOff
//!   maximum (1s–300s; the node's `--crashloop-backoff-max` caps it).

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;

use crate::{FieldError, FieldErrors, FieldPath};

/// The prefix of the hook annotations; unknown keys under it are refused.
pub const HOOKS_PREFIX: &str = "hooks.nodelet.dev/";
pub const HOOK_OUTPUT: &str = "hooks.nodelet.dev/output";
pub const POST_START_TIMEOUT: &str = "hooks.nodelet.dev/post-start-timeout";
pub const PRE_STOP_TIMEOUT: &str = "hooks.nodelet.dev/pre-stop-timeout";
pub const DELIVERY_ID: &str = "hooks.nodelet.dev/delivery-id";
pub const CRASHLOOP_BACKOFF_MAX: &str = "nodelet.dev/crashloop-backoff-max";

/// The HTTP header and environment variables carrying a delivery's id and
/// attempt when `hooks.nodelet.dev/delivery-id` is on.
pub const DELIVERY_ID_HEADER: &str = "X-Nodelet-Hook-Delivery-Id";
pub const ATTEMPT_HEADER: &str = "X-Nodelet-Hook-Attempt";
pub const DELIVERY_ID_ENV: &str = "NODELET_HOOK_DELIVERY_ID";
pub const ATTEMPT_ENV: &str = "NODELET_HOOK_ATTEMPT";

/// The range the kubelet accepts for `maxContainerRestartPeriod`.
pub const BACKOFF_MAX_RANGE: (Duration, Duration) =
    (Duration::from_secs(1), Duration::from_secs(300));

/// Where hook output goes besides the delivery record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookOutput {
    /// Appended to the FailedPostStartHook / FailedPreStopHook message.
    Events,
    /// Written into the container's log, prefixed.
    Logs,
}

/// Timeouts of one hook: pod-wide and per container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HookTimeouts {
    pub pod: Option<Duration>,
    pub containers: BTreeMap<String, Duration>,
}

impl HookTimeouts {
    /// The container's own timeout, else the pod's.
    pub fn for_container(&self, container: &str) -> Option<Duration> {
        self.containers.get(container).copied().or(self.pod)
    }
}

/// Everything nodelet's annotations ask of one pod.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodSettings {
    pub hook_output: Option<HookOutput>,
    pub delivery_id: bool,
    pub post_start_timeout: HookTimeouts,
    pub pre_stop_timeout: HookTimeouts,
    pub crashloop_backoff_max: Option<Duration>,
}

/// Parses a pod's annotations; problems come back as field errors (the
/// settings then hold whatever was valid).
pub fn parse(pod: &Pod) -> (PodSettings, FieldErrors) {
    let mut settings = PodSettings::default();
    let mut errs = FieldErrors::default();
    let Some(annotations) = &pod.metadata.annotations else {
        return (settings, errs);
    };
    let containers = container_names(pod);
    let path = FieldPath::new("metadata").child("annotations");
    for (key, value) in annotations {
        let p = path.key(key);
        if key == HOOK_OUTPUT {
            match value.as_str() {
                "events" => settings.hook_output = Some(HookOutput::Events),
                "logs" => settings.hook_output = Some(HookOutput::Logs),
                _ => errs.push(FieldError::not_supported(
                    p,
                    value.as_str(),
                    &["events", "logs"],
                )),
            }
        } else if key == DELIVERY_ID {
            match value.as_str() {
                "true" => settings.delivery_id = true,
                "false" => settings.delivery_id = false,
                _ => errs.push(FieldError::not_supported(
                    p,
                    value.as_str(),
                    &["true", "false"],
                )),
            }
        } else if key == CRASHLOOP_BACKOFF_MAX {
            match duration(value) {
                Ok(d) if d >= BACKOFF_MAX_RANGE.0 && d <= BACKOFF_MAX_RANGE.1 => {
                    settings.crashloop_backoff_max = Some(d)
                }
                Ok(_) => errs.push(FieldError::invalid(
                    p,
                    value.as_str(),
                    "must be between 1s and 300s",
                )),
                Err(e) => errs.push(FieldError::invalid(p, value.as_str(), e)),
            }
        } else if let Some(rest) = timeout_key(key) {
            let (timeouts, container) = match rest {
                (TimeoutOf::PostStart, c) => (&mut settings.post_start_timeout, c),
                (TimeoutOf::PreStop, c) => (&mut settings.pre_stop_timeout, c),
            };
            let d = match duration(value) {
                Ok(d) if !d.is_zero() => d,
                Ok(_) => {
                    errs.push(FieldError::invalid(
                        p,
                        value.as_str(),
                        "must be greater than zero",
                    ));
                    continue;
                }
                Err(e) => {
                    errs.push(FieldError::invalid(p, value.as_str(), e));
                    continue;
                }
            };
            match container {
                None => timeouts.pod = Some(d),
                Some(c) if containers.iter().any(|n| n == c) => {
                    timeouts.containers.insert(c.to_owned(), d);
                }
                Some(c) => errs.push(FieldError::invalid(
                    p,
                    value.as_str(),
                    format!("this pod has no container named {c:?}"),
                )),
            }
        } else if key.starts_with(HOOKS_PREFIX) {
            errs.push(FieldError::not_supported(
                p,
                key.as_str(),
                &[
                    HOOK_OUTPUT,
                    POST_START_TIMEOUT,
                    PRE_STOP_TIMEOUT,
                    "hooks.nodelet.dev/post-start-timeout.<container>",
                    "hooks.nodelet.dev/pre-stop-timeout.<container>",
                    DELIVERY_ID,
                ],
            ));
        }
    }
    (settings, errs)
}

/// Settings of an admitted pod (its annotations passed [`parse`]).
pub fn settings(pod: &Pod) -> PodSettings {
    parse(pod).0
}

enum TimeoutOf {
    PostStart,
    PreStop,
}

/// `(hook, Some(container))` for `...-timeout.<container>`, `(hook, None)`
/// for the pod-wide key.
fn timeout_key(key: &str) -> Option<(TimeoutOf, Option<&str>)> {
    for (base, which) in [
        (POST_START_TIMEOUT, TimeoutOf::PostStart),
        (PRE_STOP_TIMEOUT, TimeoutOf::PreStop),
    ] {
        if key == base {
            return Some((which, None));
        }
        if let Some(c) = key.strip_prefix(base).and_then(|r| r.strip_prefix('.')) {
            return Some((which, Some(c)));
        }
    }
    None
}

fn duration(value: &str) -> Result<Duration, String> {
    crate::godur::parse(value).map_err(|e| e.to_string())
}

fn container_names(pod: &Pod) -> Vec<String> {
    let Some(spec) = &pod.spec else {
        return Vec::new();
    };
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .map(|c| c.name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(annotations: serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "annotations": annotations},
            "spec": {"containers": [{"name": "app"}], "initContainers": [{"name": "side"}]},
        }))
        .unwrap()
    }

    #[test]
    fn valid_annotations_become_settings() {
        let (s, errs) = parse(&pod(serde_json::json!({
            "hooks.nodelet.dev/output": "logs",
            "hooks.nodelet.dev/post-start-timeout": "2s",
            "hooks.nodelet.dev/post-start-timeout.side": "500ms",
            "hooks.nodelet.dev/pre-stop-timeout": "1m30s",
            "hooks.nodelet.dev/delivery-id": "true",
            "nodelet.dev/crashloop-backoff-max": "20s",
            "unrelated.example.com/x": "anything",
        })));
        assert!(errs.is_empty(), "{errs}");
        assert_eq!(s.hook_output, Some(HookOutput::Logs));
        assert!(s.delivery_id);
        assert_eq!(
            s.post_start_timeout.for_container("app"),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            s.post_start_timeout.for_container("side"),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            s.pre_stop_timeout.for_container("app"),
            Some(Duration::from_secs(90))
        );
        assert_eq!(s.crashloop_backoff_max, Some(Duration::from_secs(20)));
    }

    #[test]
    fn no_annotations_is_the_kubelet() {
        let (s, errs) = parse(&pod(serde_json::json!({})));
        assert!(errs.is_empty());
        assert_eq!(s, PodSettings::default());
    }

    #[test]
    fn mistakes_are_field_errors() {
        let (_, errs) = parse(&pod(serde_json::json!({
            "hooks.nodelet.dev/output": "stdout",
            "hooks.nodelet.dev/post-start-timeout": "2",
            "hooks.nodelet.dev/pre-stop-timeout": "0s",
            "hooks.nodelet.dev/pre-stop-timeout.nope": "1s",
            "hooks.nodelet.dev/post-start-timout": "1s",
            "nodelet.dev/crashloop-backoff-max": "10m",
        })));
        let text = errs.to_string();
        for want in [
            r#"metadata.annotations[hooks.nodelet.dev/output]: Unsupported value: "stdout": supported values: "events", "logs""#,
            r#"metadata.annotations[hooks.nodelet.dev/post-start-timeout]: Invalid value: "2": time: missing unit in duration "2""#,
            r#"metadata.annotations[hooks.nodelet.dev/pre-stop-timeout]: Invalid value: "0s": must be greater than zero"#,
            r#"metadata.annotations[hooks.nodelet.dev/pre-stop-timeout.nope]: Invalid value: "1s": this pod has no container named "nope""#,
            r#"metadata.annotations[hooks.nodelet.dev/post-start-timout]: Unsupported value: "hooks.nodelet.dev/post-start-timout""#,
            r#"metadata.annotations[nodelet.dev/crashloop-backoff-max]: Invalid value: "10m": must be between 1s and 300s"#,
        ] {
            assert!(text.contains(want), "missing {want}\nin {text}");
        }
    }
}
