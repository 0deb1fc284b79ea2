//! Text rendering of pods, containers and hooks shared by `validate` and
//! `describe`, in kubectl's vocabulary (`exec [sh -c ...]`, `http-get ...`).

use std::fmt::Write;

use k8s_openapi::api::core::v1::{Container, LifecycleHandler, Pod};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use nodelet_spec::env::EnvVar;

/// `exec [a b c]`, `http-get http://:80/path`, `sleep 5s`, `tcp-socket :80`
/// — as `kubectl describe` prints handlers.
pub fn handler(h: &LifecycleHandler) -> String {
    if let Some(exec) = &h.exec {
        return format!(
            "exec [{}]",
            exec.command.clone().unwrap_or_default().join(" ")
        );
    }
    if let Some(http) = &h.http_get {
        let scheme = http.scheme.as_deref().unwrap_or("HTTP").to_lowercase();
        let host = http.host.as_deref().unwrap_or("");
        return format!(
            "http-get {scheme}://{host}:{}{}",
            port(&http.port),
            http.path.as_deref().unwrap_or("/")
        );
    }
    if let Some(sleep) = &h.sleep {
        return format!("sleep {}s", sleep.seconds);
    }
    if let Some(tcp) = &h.tcp_socket {
        return format!(
            "tcp-socket {}:{} (deprecated: fails at run time)",
            tcp.host.as_deref().unwrap_or(""),
            port(&tcp.port)
        );
    }
    "<none>".to_string()
}

fn port(p: &IntOrString) -> String {
    match p {
        IntOrString::Int(i) => i.to_string(),
        IntOrString::String(s) => s.clone(),
    }
}

pub fn pod_header(pod: &Pod, source: &str, index: usize) -> String {
    let mut s = String::new();
    let name = pod.metadata.name.as_deref().unwrap_or("");
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let _ = writeln!(s, "Pod {ns}/{name} ({source}, document {index})");
    let _ = writeln!(
        s,
        "  hostname: {}",
        nodelet_spec::hostname::pod_hostname(pod)
    );
    if let Some(spec) = &pod.spec {
        let _ = writeln!(
            s,
            "  restartPolicy: {}   terminationGracePeriodSeconds: {}",
            spec.restart_policy.as_deref().unwrap_or("Always"),
            spec.termination_grace_period_seconds.unwrap_or(30)
        );
    }
    s
}

pub fn container_block(what: &str, c: &Container) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "  {what} {}", c.name);
    let _ = writeln!(
        s,
        "    image: {} (pull: {})",
        c.image.as_deref().unwrap_or(""),
        c.image_pull_policy.as_deref().unwrap_or("")
    );
    if let Some(lc) = &c.lifecycle {
        if let Some(h) = &lc.post_start {
            let _ = writeln!(s, "    postStart: {}", handler(h));
        }
        if let Some(h) = &lc.pre_stop {
            let _ = writeln!(s, "    preStop: {}", handler(h));
        }
        if let Some(sig) = &lc.stop_signal {
            let _ = writeln!(s, "    stopSignal: {sig}");
        }
    }
    s
}

pub fn process_block(command: Option<&[String]>, args: Option<&[String]>) -> String {
    let mut s = String::new();
    match command {
        Some(c) => {
            let _ = writeln!(s, "    command: {c:?}");
        }
        None => {
            let _ = writeln!(s, "    command: (image ENTRYPOINT)");
        }
    }
    if let Some(a) = args {
        let _ = writeln!(s, "    args: {a:?}");
    }
    s
}

pub fn env_block(env: &[EnvVar]) -> String {
    let mut s = String::new();
    if env.is_empty() {
        let _ = writeln!(s, "    environment: <none>");
        return s;
    }
    let _ = writeln!(s, "    environment:");
    for e in env {
        let _ = writeln!(s, "      {}={}", e.name, e.value);
    }
    s
}
