//! `/metrics` (the kubelet's own metrics, by the kubelet's names where
//! nodelet has the same thing) and `/metrics/resource` (the resource
//! metrics endpoint metrics-server scrapes for `kubectl top`), in the
//! Prometheus text format.

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;

use super::ServerState;

const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Counters node mode keeps for `/metrics`.
#[derive(Default)]
pub struct NodeMetrics {
    /// Lease renewals that succeeded (shared with the lease controller).
    pub lease_renewals: Arc<AtomicU64>,
    /// Requests to the API server (shared with the client's layer).
    pub requests: Arc<crate::client_metrics::RequestCounts>,
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `GET /metrics`.
pub async fn metrics(State(st): State<ServerState>) -> Response {
    let pods = st.engine.list_pods();
    let mut states: std::collections::BTreeMap<&'static str, u64> = [
        ("created", 0),
        ("exited", 0),
        ("running", 0),
        ("unknown", 0),
    ]
    .into_iter()
    .collect();
    let mut running_pods = 0;
    for p in &pods {
        let statuses: Vec<_> = p
            .status
            .iter()
            .flat_map(|s| {
                s.container_statuses
                    .iter()
                    .flatten()
                    .chain(s.init_container_statuses.iter().flatten())
            })
            .collect();
        let mut any_running = false;
        for c in statuses {
            let state = c.state.as_ref();
            let key = if state.is_some_and(|s| s.running.is_some()) {
                any_running = true;
                "running"
            } else if state.is_some_and(|s| s.terminated.is_some()) {
                "exited"
            } else if c.container_id.is_some() {
                "created"
            } else {
                continue;
            };
            *states.entry(key).or_default() += 1;
        }
        if any_running {
            running_pods += 1;
        }
    }
    let mut out = String::new();
    family(
        &mut out,
        "kubelet_node_name",
        "gauge",
        "[ALPHA] The node's name. The count is always 1.",
    );
    let _ = writeln!(out, "kubelet_node_name{{node=\"{}\"}} 1", esc(&st.node));
    family(
        &mut out,
        "kubelet_running_pods",
        "gauge",
        "[ALPHA] Number of pods that have a running pod sandbox",
    );
    let _ = writeln!(out, "kubelet_running_pods {running_pods}");
    family(
        &mut out,
        "kubelet_running_containers",
        "gauge",
        "[ALPHA] Number of containers currently running",
    );
    for (state, n) in &states {
        let _ = writeln!(
            out,
            "kubelet_running_containers{{container_state=\"{state}\"}} {n}"
        );
    }
    family(
        &mut out,
        "nodelet_node_lease_renewals_total",
        "counter",
        "Node Lease renewals that succeeded.",
    );
    let _ = writeln!(
        out,
        "nodelet_node_lease_renewals_total {}",
        st.metrics.lease_renewals.load(Ordering::Relaxed)
    );
    family(
        &mut out,
        "rest_client_requests_total",
        "counter",
        "[ALPHA] Number of HTTP requests, partitioned by status code, method, and host.",
    );
    for ((code, host, method), n) in st.metrics.requests.snapshot() {
        let _ = writeln!(
            out,
            "rest_client_requests_total{{code=\"{}\",host=\"{}\",method=\"{}\"}} {n}",
            esc(&code),
            esc(&host),
            esc(&method)
        );
    }
    family(
        &mut out,
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
    );
    let _ = writeln!(
        out,
        "process_start_time_seconds {}",
        st.stats.started.as_second()
    );
    if let Some(rss) = rss_bytes() {
        family(
            &mut out,
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
        );
        let _ = writeln!(out, "process_resident_memory_bytes {rss}");
    }
    ([("content-type", TEXT)], out).into_response()
}

fn rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|k| k * 1024)
}

/// `GET /metrics/resource`: the kubelet's resource metrics, each sample
/// with its timestamp in milliseconds.
pub async fn resource(State(st): State<ServerState>) -> Response {
    let ms = Timestamp::now().as_millisecond();
    let node = st.stats.node();
    let pods = st.stats.pods(&st.engine.list_pods()).await;
    let mut out = String::new();
    family(
        &mut out,
        "container_cpu_usage_seconds_total",
        "counter",
        "[STABLE] Cumulative cpu time consumed by the container in core-seconds",
    );
    for p in &pods {
        for c in &p.containers {
            let _ = writeln!(
                out,
                "container_cpu_usage_seconds_total{{container=\"{}\",namespace=\"{}\",pod=\"{}\"}} {} {ms}",
                esc(&c.name),
                esc(&p.namespace),
                esc(&p.name),
                c.cpu_nanos as f64 / 1e9
            );
        }
    }
    family(
        &mut out,
        "container_memory_working_set_bytes",
        "gauge",
        "[STABLE] Current working set of the container in bytes",
    );
    for p in &pods {
        for c in &p.containers {
            let _ = writeln!(
                out,
                "container_memory_working_set_bytes{{container=\"{}\",namespace=\"{}\",pod=\"{}\"}} {} {ms}",
                esc(&c.name),
                esc(&p.namespace),
                esc(&p.name),
                c.memory_bytes
            );
        }
    }
    family(
        &mut out,
        "container_start_time_seconds",
        "gauge",
        "[STABLE] Start time of the container since unix epoch in seconds",
    );
    for p in &pods {
        for c in &p.containers {
            if let Some(t) = c.start.as_deref().and_then(|s| s.parse::<Timestamp>().ok()) {
                let _ = writeln!(
                    out,
                    "container_start_time_seconds{{container=\"{}\",namespace=\"{}\",pod=\"{}\"}} {} {ms}",
                    esc(&c.name),
                    esc(&p.namespace),
                    esc(&p.name),
                    t.as_second()
                );
            }
        }
    }
    family(
        &mut out,
        "node_cpu_usage_seconds_total",
        "counter",
        "[STABLE] Cumulative cpu time consumed by the node in core-seconds",
    );
    let _ = writeln!(
        out,
        "node_cpu_usage_seconds_total {} {ms}",
        node.cpu_nanos as f64 / 1e9
    );
    family(
        &mut out,
        "node_memory_working_set_bytes",
        "gauge",
        "[STABLE] Current working set of the node in bytes",
    );
    let _ = writeln!(
        out,
        "node_memory_working_set_bytes {} {ms}",
        node.memory_total.saturating_sub(node.memory_available)
    );
    family(
        &mut out,
        "pod_cpu_usage_seconds_total",
        "counter",
        "[STABLE] Cumulative cpu time consumed by the pod in core-seconds",
    );
    for p in &pods {
        let cpu: u64 = p.containers.iter().map(|c| c.cpu_nanos).sum();
        let _ = writeln!(
            out,
            "pod_cpu_usage_seconds_total{{namespace=\"{}\",pod=\"{}\"}} {} {ms}",
            esc(&p.namespace),
            esc(&p.name),
            cpu as f64 / 1e9
        );
    }
    family(
        &mut out,
        "pod_memory_working_set_bytes",
        "gauge",
        "[STABLE] Current working set of the pod in bytes",
    );
    for p in &pods {
        let mem: u64 = p.containers.iter().map(|c| c.memory_bytes).sum();
        let _ = writeln!(
            out,
            "pod_memory_working_set_bytes{{namespace=\"{}\",pod=\"{}\"}} {mem} {ms}",
            esc(&p.namespace),
            esc(&p.name)
        );
    }
    family(
        &mut out,
        "resource_scrape_error",
        "gauge",
        "[STABLE] 1 if there was an error while getting container metrics, 0 otherwise",
    );
    let _ = writeln!(out, "resource_scrape_error 0");
    ([("content-type", TEXT)], out).into_response()
}
