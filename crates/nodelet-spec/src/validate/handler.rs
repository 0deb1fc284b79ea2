//! Handler checks shared by lifecycle hooks and probes (`validateHandler`).

use k8s_openapi::api::core::v1::{
    ExecAction, GRPCAction, HTTPGetAction, SleepAction, TCPSocketAction,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{names, push_msgs};
use crate::{FieldError, FieldErrors, FieldPath};

/// The handler fields of a lifecycle hook or probe, borrowed.
#[derive(Default)]
pub struct Handler<'a> {
    pub exec: Option<&'a ExecAction>,
    pub http_get: Option<&'a HTTPGetAction>,
    pub tcp_socket: Option<&'a TCPSocketAction>,
    pub grpc: Option<&'a GRPCAction>,
    pub sleep: Option<&'a SleepAction>,
}

const MORE_THAN_ONE: &str = "may not specify more than 1 handler type";

/// Exactly one handler type, each checked; in upstream's order.
pub fn validate_handler(h: &Handler<'_>, grace: Option<i64>, path: &FieldPath) -> FieldErrors {
    let mut errs = FieldErrors::default();
    let mut count = 0;
    let mut one =
        |errs: &mut FieldErrors, name: &str, check: &dyn Fn(&FieldPath) -> FieldErrors| {
            let p = path.child(name);
            if count > 0 {
                errs.push(FieldError::forbidden(p, MORE_THAN_ONE));
            } else {
                count += 1;
                errs.extend(check(&p));
            }
        };
    if let Some(exec) = h.exec {
        one(&mut errs, "exec", &|p| validate_exec(exec, p));
    }
    if let Some(http) = h.http_get {
        one(&mut errs, "httpGet", &|p| validate_http_get(http, p));
    }
    if let Some(tcp) = h.tcp_socket {
        one(&mut errs, "tcpSocket", &|p| {
            port_num_or_name(&tcp.port, &p.child("port"))
        });
    }
    if let Some(grpc) = h.grpc {
        one(&mut errs, "grpc", &|p| {
            let mut e = FieldErrors::default();
            push_msgs(
                &mut e,
                p.child("port"),
                grpc.port,
                names::port_num(grpc.port.into()),
            );
            e
        });
    }
    if let Some(sleep) = h.sleep {
        one(&mut errs, "sleep", &|p| validate_sleep(sleep, grace, p));
    }
    if count == 0 {
        errs.push(FieldError::required(
            path.clone(),
            "must specify a handler type",
        ));
    }
    errs
}

fn validate_exec(exec: &ExecAction, path: &FieldPath) -> FieldErrors {
    let mut errs = FieldErrors::default();
    if exec.command.as_ref().is_none_or(Vec::is_empty) {
        errs.push(FieldError::required(path.child("command"), ""));
    }
    errs
}

fn validate_http_get(http: &HTTPGetAction, path: &FieldPath) -> FieldErrors {
    let mut errs = FieldErrors::default();
    if http.path.as_deref().unwrap_or("").is_empty() {
        errs.push(FieldError::required(path.child("path"), ""));
    }
    errs.extend(port_num_or_name(&http.port, &path.child("port")));
    let scheme = http.scheme.as_deref().unwrap_or("");
    if !matches!(scheme, "HTTP" | "HTTPS") {
        errs.push(FieldError::not_supported(
            path.child("scheme"),
            scheme,
            &["HTTP", "HTTPS"],
        ));
    }
    for header in http.http_headers.iter().flatten() {
        let msgs = names::http_header_name(&header.name);
        push_msgs(
            &mut errs,
            path.child("httpHeaders"),
            header.name.as_str(),
            msgs,
        );
    }
    errs
}

/// `seconds > grace` is the upstream test: equal to the grace is allowed.
fn validate_sleep(sleep: &SleepAction, grace: Option<i64>, path: &FieldPath) -> FieldErrors {
    let mut errs = FieldErrors::default();
    if let Some(grace) = grace
        && (sleep.seconds < 0 || sleep.seconds > grace)
    {
        errs.push(FieldError::invalid(
            path.clone(),
            sleep.seconds,
            format!("must be non-negative and less than terminationGracePeriodSeconds ({grace})"),
        ));
    }
    errs
}

/// A port given as a number (1–65535) or an IANA service name.
pub fn port_num_or_name(port: &IntOrString, path: &FieldPath) -> FieldErrors {
    let mut errs = FieldErrors::default();
    match port {
        IntOrString::Int(n) => push_msgs(&mut errs, path.clone(), *n, names::port_num((*n).into())),
        IntOrString::String(s) => {
            push_msgs(&mut errs, path.clone(), s.as_str(), names::port_name(s))
        }
    }
    errs
}
