//! Probe checks (`validateProbe` and the per-kind extras).

use k8s_openapi::api::core::v1::Probe;

use super::handler::{Handler, validate_handler};
use crate::{FieldError, FieldErrors, FieldPath};

/// Which probe: each kind adds its own rule.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ProbeKind {
    Liveness,
    Readiness,
    Startup,
}

pub fn validate_probe(
    p: &Probe,
    kind: ProbeKind,
    grace: Option<i64>,
    path: &FieldPath,
) -> FieldErrors {
    let handler = Handler {
        exec: p.exec.as_ref(),
        http_get: p.http_get.as_ref(),
        tcp_socket: p.tcp_socket.as_ref(),
        grpc: p.grpc.as_ref(),
        sleep: None,
    };
    let mut errs = validate_handler(&handler, grace, path);
    let fields = [
        ("initialDelaySeconds", p.initial_delay_seconds),
        ("timeoutSeconds", p.timeout_seconds),
        ("periodSeconds", p.period_seconds),
        ("successThreshold", p.success_threshold),
        ("failureThreshold", p.failure_threshold),
    ];
    for (name, value) in fields {
        if let Some(v) = value
            && v < 0
        {
            errs.push(FieldError::invalid(
                path.child(name),
                v,
                "must be greater than or equal to 0",
            ));
        }
    }
    if let Some(g) = p.termination_grace_period_seconds
        && g <= 0
    {
        errs.push(FieldError::invalid(
            path.child("terminationGracePeriodSeconds"),
            g,
            "must be greater than 0",
        ));
    }
    match kind {
        ProbeKind::Liveness | ProbeKind::Startup => {
            let s = p.success_threshold.unwrap_or(1);
            if s != 1 {
                errs.push(FieldError::invalid(
                    path.child("successThreshold"),
                    s,
                    "must be 1",
                ));
            }
        }
        ProbeKind::Readiness => {
            if let Some(g) = p.termination_grace_period_seconds {
                errs.push(FieldError::invalid(
                    path.child("terminationGracePeriodSeconds"),
                    g,
                    "must not be set for readinessProbes",
                ));
            }
        }
    }
    errs
}
