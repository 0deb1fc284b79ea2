//! Resource usage of the node and its pods, for `/stats/summary` (the
//! kubelet's Summary API, `k8s.io/kubelet/pkg/apis/stats/v1alpha1`) and
//! `/metrics/resource` (what metrics-server scrapes for `kubectl top`).
//!
//! Read when asked, not sampled in the background: containers from their
//! cgroups (the runtime's `stats`: cumulative CPU time, memory usage), the
//! node from `/proc/stat` and `/proc/meminfo`, the file system from
//! statvfs. The CPU rate (`usageNanoCores`) is the change since the
//! previous read of the same thing (so the first read has none), where
//! the kubelet's cadvisor computes it between housekeeping samples.
//! Memory "working set" is the cgroup's usage (page cache included) for
//! containers and `MemTotal - MemAvailable` for the node.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use nodelet_runtime::Runtime;
use serde_json::{Value, json};

use super::ServerState;

/// One container's usage now.
#[derive(Debug, Clone)]
pub struct ContainerUsage {
    pub name: String,
    pub start: Option<String>,
    pub cpu_nanos: u64,
    pub memory_bytes: u64,
}

/// One pod's usage now.
#[derive(Debug, Clone)]
pub struct PodUsage {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub start: Option<String>,
    pub containers: Vec<ContainerUsage>,
}

pub struct NodeUsage {
    pub cpu_nanos: u64,
    pub memory_total: u64,
    pub memory_available: u64,
    pub fs: Option<(u64, u64, u64, u64)>,
}

pub struct Stats {
    runtime: Arc<dyn Runtime>,
    root: std::path::PathBuf,
    /// Last cumulative CPU read per key, for rates: (nanos, when).
    last: Mutex<HashMap<String, (u64, Timestamp)>>,
    pub started: Timestamp,
}

fn meminfo(field: &str) -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
}

/// CPU time of the whole machine but idle and iowait, in nanoseconds
/// (`/proc/stat` counts USER_HZ ticks, 100 per second on Linux).
fn node_cpu_nanos() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return 0;
    };
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return 0;
    };
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    let busy: u64 = v
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4 && *i < 8)
        .map(|(_, x)| *x)
        .sum();
    busy * 10_000_000
}

fn runtime_id(url: &str) -> &str {
    url.split_once("://").map_or(url, |(_, id)| id)
}

impl Stats {
    pub fn new(runtime: Arc<dyn Runtime>, root: std::path::PathBuf) -> Self {
        Stats {
            runtime,
            root,
            last: Mutex::new(HashMap::new()),
            started: Timestamp::now(),
        }
    }

    pub fn node(&self) -> NodeUsage {
        let total = meminfo("MemTotal").unwrap_or(0);
        NodeUsage {
            cpu_nanos: node_cpu_nanos(),
            memory_total: total,
            memory_available: meminfo("MemAvailable").unwrap_or(total),
            fs: crate::host::fs_usage(&self.root),
        }
    }

    /// Usage of the running containers of `pods`.
    pub async fn pods(&self, pods: &[Pod]) -> Vec<PodUsage> {
        let mut out = Vec::new();
        for p in pods {
            let Some(st) = &p.status else { continue };
            let mut containers = Vec::new();
            for c in st.container_statuses.iter().flatten() {
                let Some(running) = c.state.as_ref().and_then(|s| s.running.as_ref()) else {
                    continue;
                };
                let Some(id) = c.container_id.as_deref() else {
                    continue;
                };
                let Ok(s) = self.runtime.stats(runtime_id(id)).await else {
                    continue;
                };
                containers.push(ContainerUsage {
                    name: c.name.clone(),
                    start: running.started_at.as_ref().map(|t| t.0.to_string()),
                    cpu_nanos: s.cpu_usage_nanos,
                    memory_bytes: s.memory_usage_bytes,
                });
            }
            out.push(PodUsage {
                namespace: p.metadata.namespace.clone().unwrap_or_default(),
                name: p.metadata.name.clone().unwrap_or_default(),
                uid: p.metadata.uid.clone().unwrap_or_default(),
                start: st.start_time.as_ref().map(|t| t.0.to_string()),
                containers,
            });
        }
        out
    }

    /// Cores used since the previous read of `key`, in nanocores.
    fn rate(&self, key: String, nanos: u64, now: Timestamp) -> Option<u64> {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let prev = last.insert(key, (nanos, now))?;
        let dt = now.duration_since(prev.1).as_secs_f64();
        if dt <= 0.0 || nanos < prev.0 {
            return None;
        }
        Some(((nanos - prev.0) as f64 / dt) as u64)
    }
}

fn cpu_json(time: &str, nanos: u64, rate: Option<u64>) -> Value {
    let mut v = json!({"time": time, "usageCoreNanoSeconds": nanos});
    if let Some(r) = rate {
        v["usageNanoCores"] = json!(r);
    }
    v
}

/// `GET /stats/summary`.
pub async fn summary(State(st): State<ServerState>) -> Response {
    let now = Timestamp::now();
    let t = now.to_string();
    let stats = &st.stats;
    let node = stats.node();
    let node_rate = stats.rate("node".into(), node.cpu_nanos, now);
    let used = node.memory_total.saturating_sub(node.memory_available);
    let mut n = json!({
        "nodeName": st.node,
        "startTime": stats.started.to_string(),
        "cpu": cpu_json(&t, node.cpu_nanos, node_rate),
        "memory": {
            "time": t,
            "availableBytes": node.memory_available,
            "usageBytes": used,
            "workingSetBytes": used,
        },
    });
    if let Some((cap, avail, inodes, ifree)) = node.fs {
        n["fs"] = json!({
            "time": t,
            "availableBytes": avail,
            "capacityBytes": cap,
            "usedBytes": cap.saturating_sub(avail),
            "inodesFree": ifree,
            "inodes": inodes,
            "inodesUsed": inodes.saturating_sub(ifree),
        });
    }
    let pods = stats.pods(&st.engine.list_pods()).await;
    let pods: Vec<Value> = pods
        .iter()
        .map(|p| {
            let containers: Vec<Value> = p
                .containers
                .iter()
                .map(|c| {
                    let rate = stats.rate(format!("{}/{}", p.uid, c.name), c.cpu_nanos, now);
                    json!({
                        "name": c.name,
                        "startTime": c.start,
                        "cpu": cpu_json(&t, c.cpu_nanos, rate),
                        "memory": {"time": t, "usageBytes": c.memory_bytes, "workingSetBytes": c.memory_bytes},
                    })
                })
                .collect();
            let cpu: u64 = p.containers.iter().map(|c| c.cpu_nanos).sum();
            let mem: u64 = p.containers.iter().map(|c| c.memory_bytes).sum();
            let rate = stats.rate(p.uid.clone(), cpu, now);
            json!({
                "podRef": {"name": p.name, "namespace": p.namespace, "uid": p.uid},
                "startTime": p.start,
                "containers": containers,
                "cpu": cpu_json(&t, cpu, rate),
                "memory": {"time": t, "usageBytes": mem, "workingSetBytes": mem},
            })
        })
        .collect();
    axum::Json(json!({"node": n, "pods": pods})).into_response()
}
