//! `lifecycle` checks: postStart/preStop handlers and `stopSignal`.

use k8s_openapi::api::core::v1::{Lifecycle, LifecycleHandler};

use super::handler::{Handler, validate_handler};
use crate::signal::Signal;
use crate::{FieldError, FieldErrors, FieldPath};

fn handler(h: &LifecycleHandler) -> Handler<'_> {
    Handler {
        exec: h.exec.as_ref(),
        http_get: h.http_get.as_ref(),
        tcp_socket: h.tcp_socket.as_ref(),
        grpc: None,
        sleep: h.sleep.as_ref(),
    }
}

/// Both hooks; `grace` is the pod's terminationGracePeriodSeconds.
pub fn validate_lifecycle(lc: &Lifecycle, grace: Option<i64>, path: &FieldPath) -> FieldErrors {
    let mut errs = FieldErrors::default();
    if let Some(h) = &lc.post_start {
        errs.extend(validate_handler(
            &handler(h),
            grace,
            &path.child("postStart"),
        ));
    }
    if let Some(h) = &lc.pre_stop {
        errs.extend(validate_handler(&handler(h), grace, &path.child("preStop")));
    }
    errs
}

/// `stopSignal` needs `spec.os.name` to know which signals exist; Windows
/// only knows SIGTERM and SIGKILL.
pub fn validate_stop_signal(signal: &str, os: Option<&str>, path: &FieldPath) -> FieldErrors {
    let mut errs = FieldErrors::default();
    match os {
        None | Some("") => errs.push(FieldError::forbidden(
            path.clone(),
            "may not be set for containers with empty `spec.os.name`",
        )),
        Some("linux") if !is_canonical_linux_signal(signal) => {
            let supported = linux_signal_names();
            let refs: Vec<&str> = supported.iter().map(String::as_str).collect();
            errs.push(FieldError::not_supported(path.clone(), signal, &refs));
        }
        Some("windows") if !matches!(signal, "SIGKILL" | "SIGTERM") => {
            errs.push(FieldError::not_supported(
                path.clone(),
                signal,
                &["SIGKILL", "SIGTERM"],
            ));
        }
        Some(_) => {}
    }
    errs
}

/// The API takes signals spelled exactly as in its enum (`SIGTERM`,
/// `SIGRTMIN+3`), not `TERM` or `15`.
fn is_canonical_linux_signal(s: &str) -> bool {
    linux_signal_names().iter().any(|n| n == s)
}

/// Upstream's supported Linux stop signals, sorted as `sets.List` prints them.
fn linux_signal_names() -> Vec<String> {
    let mut names: Vec<String> = (1..=31)
        .filter_map(|n| Signal::parse(&n.to_string()))
        .map(Signal::name)
        .collect();
    // Aliases the API enum also lists.
    names.extend(["SIGIOT", "SIGCLD", "SIGPOLL"].map(String::from));
    names.push("SIGRTMIN".into());
    names.extend((1..=15).map(|i| format!("SIGRTMIN+{i}")));
    names.extend((1..=14).map(|i| format!("SIGRTMAX-{i}")));
    names.push("SIGRTMAX".into());
    names.sort();
    names.dedup();
    names
}
