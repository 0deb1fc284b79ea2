//! `meta.k8s.io/v1 Table` responses for `kubectl get`, with the columns
//! kubectl's server-side printers use (priority 1 = shown with `-o wide`).

use axum::http::HeaderMap;
use jiff::Timestamp;
use serde_json::{Value, json};

use crate::age::since;
use crate::kind::Kind;
use crate::podstatus;

/// Whether `Accept` asks for a Table (`as=Table;v=v1;g=meta.k8s.io`).
pub fn wants_table(headers: &HeaderMap) -> bool {
    headers
        .get_all("accept")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("as=Table"))
}

/// `includeObject` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    None,
    #[default]
    Metadata,
    Object,
}

impl IncludeObject {
    pub fn parse(s: Option<&str>) -> Self {
        match s {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        }
    }
}

fn col(name: &str, ty: &str, format: &str, priority: u8, description: &str) -> Value {
    json!({"name": name, "type": ty, "format": format, "description": description, "priority": priority})
}

const NAME_DESC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const AGE_DESC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.";

pub fn columns(kind: Kind) -> Vec<Value> {
    let name = col("Name", "string", "name", 0, NAME_DESC);
    let age = col("Age", "string", "", 0, AGE_DESC);
    match kind {
        Kind::Role | Kind::ClusterRole => vec![name, col("Created At", "date", "", 0, AGE_DESC)],
        Kind::RoleBinding | Kind::ClusterRoleBinding => vec![
            name,
            col("Role", "string", "", 0, "RoleRef references a role"),
            age,
            col("Users", "string", "", 1, "Users in the binding"),
            col("Groups", "string", "", 1, "Groups in the binding"),
            col(
                "ServiceAccounts",
                "string",
                "",
                1,
                "ServiceAccounts in the binding",
            ),
        ],
        Kind::Pod => vec![
            name,
            col(
                "Ready",
                "string",
                "",
                0,
                "The aggregate readiness state of this pod for accepting traffic.",
            ),
            col(
                "Status",
                "string",
                "",
                0,
                "The aggregate status of the containers in this pod.",
            ),
            col(
                "Restarts",
                "string",
                "",
                0,
                "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
            ),
            age,
            col(
                "IP",
                "string",
                "",
                1,
                "IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.",
            ),
            col(
                "Node",
                "string",
                "",
                1,
                "NodeName is a request to schedule this pod onto a specific node.",
            ),
            col(
                "Nominated Node",
                "string",
                "",
                1,
                "nominatedNodeName is set when this pod preempts other pods on the node.",
            ),
            col(
                "Readiness Gates",
                "string",
                "",
                1,
                "If specified, all readiness gates will be evaluated for pod readiness.",
            ),
        ],
        Kind::Service => vec![
            name,
            col(
                "Type",
                "string",
                "",
                0,
                "type determines how the Service is exposed.",
            ),
            col(
                "Cluster-IP",
                "string",
                "",
                0,
                "clusterIP is the IP address of the service.",
            ),
            col(
                "External-IP",
                "string",
                "",
                0,
                "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.",
            ),
            col(
                "Port(s)",
                "string",
                "",
                0,
                "The list of ports that are exposed by this service.",
            ),
            age,
            col(
                "Selector",
                "string",
                "",
                1,
                "Route service traffic to pods with label keys and values matching this selector.",
            ),
        ],
        Kind::ConfigMap => vec![
            name,
            col(
                "Data",
                "string",
                "",
                0,
                "Data contains the configuration data.",
            ),
            age,
        ],
        Kind::Secret => vec![
            name,
            col(
                "Type",
                "string",
                "",
                0,
                "Used to facilitate programmatic handling of secret data.",
            ),
            col("Data", "string", "", 0, "Data contains the secret data."),
            age,
        ],
        Kind::ServiceAccount => vec![
            name,
            col(
                "Secrets",
                "string",
                "",
                0,
                "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.",
            ),
            age,
        ],
        Kind::Namespace => vec![
            name,
            col("Status", "string", "", 0, "The status of the namespace"),
            age,
        ],
        Kind::Node => vec![
            name,
            col("Status", "string", "", 0, "The status of the node"),
            col("Roles", "string", "", 0, "The roles of the node"),
            age,
            col(
                "Version",
                "string",
                "",
                0,
                "Kubelet Version reported by the node.",
            ),
            col(
                "Internal-IP",
                "string",
                "",
                1,
                "List of addresses reachable to the node.",
            ),
            col(
                "External-IP",
                "string",
                "",
                1,
                "List of addresses reachable to the node.",
            ),
            col(
                "OS-Image",
                "string",
                "",
                1,
                "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
            ),
            col(
                "Kernel-Version",
                "string",
                "",
                1,
                "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
            ),
            col(
                "Container-Runtime",
                "string",
                "",
                1,
                "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
            ),
        ],
        Kind::Endpoints => [
            vec![name],
            crate::table_endpoints::endpoints_columns(),
            vec![age],
        ]
        .concat(),
        Kind::EndpointSlice => [
            vec![name],
            crate::table_endpoints::slice_columns(),
            vec![age],
        ]
        .concat(),
        Kind::PodTimeline => vec![
            name,
            col(
                "Marks",
                "integer",
                "",
                0,
                "Lifecycle marks recorded for the pod.",
            ),
            age,
        ],
        Kind::HookDelivery => vec![
            name,
            col(
                "Pod",
                "string",
                "",
                0,
                "The pod whose container the hook ran for.",
            ),
            col(
                "Container",
                "string",
                "",
                0,
                "The container the hook ran for.",
            ),
            col("Hook", "string", "", 0, "PostStart or PreStop."),
            col(
                "Handler",
                "string",
                "",
                0,
                "Exec, HTTPGet, Sleep or TCPSocket.",
            ),
            col(
                "Attempt",
                "integer",
                "",
                0,
                "Deliveries of this hook so far (more than 1 after an agent restart interrupted one).",
            ),
            col(
                "Result",
                "string",
                "",
                0,
                "Running, Succeeded, Failed, TimedOut or Cancelled.",
            ),
            col(
                "Duration",
                "string",
                "",
                0,
                "How long the latest attempt ran.",
            ),
            col(
                "Exit",
                "string",
                "",
                1,
                "Exit code (exec) or HTTP status (httpGet).",
            ),
            col(
                "Restart",
                "integer",
                "",
                1,
                "The container's restart count when the hook ran.",
            ),
            age,
        ],
        Kind::Event => vec![
            col(
                "Last Seen",
                "string",
                "",
                0,
                "LastSeen is the time when the event was last observed.",
            ),
            col(
                "Type",
                "string",
                "",
                0,
                "Type of this event (Normal, Warning), new types could be added in the future.",
            ),
            col(
                "Reason",
                "string",
                "",
                0,
                "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
            ),
            col(
                "Object",
                "string",
                "",
                0,
                "The object that this event is about.",
            ),
            col(
                "Subobject",
                "string",
                "",
                1,
                "The subobject that this event is about.",
            ),
            col(
                "Source",
                "string",
                "",
                1,
                "The component reporting this event. Should be a short machine understandable string.",
            ),
            col(
                "Message",
                "string",
                "",
                0,
                "A human-readable description of the status of this operation.",
            ),
            col(
                "First Seen",
                "string",
                "",
                1,
                "FirstSeen is the time when the event was first observed.",
            ),
            col(
                "Count",
                "string",
                "",
                1,
                "The number of times this event has occurred.",
            ),
            col("Name", "string", "name", 1, NAME_DESC),
        ],
    }
}

fn st<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

fn or_none(s: &str) -> String {
    if s.is_empty() {
        "<none>".into()
    } else {
        s.to_string()
    }
}

fn sorted_pairs(m: &Value) -> String {
    let mut pairs: Vec<String> = m
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    pairs.sort();
    pairs.join(",")
}

fn count(v: &Value) -> usize {
    v.as_object().map_or(0, |o| o.len())
}

fn service_ports(svc: &Value) -> String {
    let ports = svc["spec"]["ports"].as_array().cloned().unwrap_or_default();
    if ports.is_empty() {
        return "<none>".into();
    }
    ports
        .iter()
        .map(|p| {
            let proto = p["protocol"].as_str().unwrap_or("TCP");
            match p["nodePort"].as_i64() {
                Some(np) if np != 0 => format!("{}:{np}/{proto}", p["port"]),
                _ => format!("{}/{proto}", p["port"]),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn event_source(ev: &Value) -> String {
    let comp = {
        let c = st(ev, "/source/component");
        if c.is_empty() {
            st(ev, "/reportingComponent")
        } else {
            c
        }
    };
    let host = {
        let h = st(ev, "/source/host");
        if h.is_empty() {
            st(ev, "/reportingInstance")
        } else {
            h
        }
    };
    match (comp.is_empty(), host.is_empty()) {
        (true, _) => "<none>".into(),
        (false, true) => comp.into(),
        (false, false) => format!("{comp}, {host}"),
    }
}

/// The cells of one row.
pub fn cells(kind: Kind, obj: &Value, now: Timestamp) -> Vec<Value> {
    let name = st(obj, "/metadata/name").to_string();
    let age = since(&obj["metadata"]["creationTimestamp"], now);
    match kind {
        Kind::Role | Kind::ClusterRole => {
            vec![json!(name), obj["metadata"]["creationTimestamp"].clone()]
        }
        Kind::RoleBinding | Kind::ClusterRoleBinding => {
            let subjects = |k: &str| -> String {
                obj["subjects"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|s| s["kind"] == k)
                    .map(|s| match (k, s["namespace"].as_str()) {
                        ("ServiceAccount", Some(ns)) => {
                            format!("{ns}/{}", st(s, "/name"))
                        }
                        _ => st(s, "/name").to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            vec![
                json!(name),
                json!(format!(
                    "{}/{}",
                    st(obj, "/roleRef/kind"),
                    st(obj, "/roleRef/name")
                )),
                json!(age),
                json!(subjects("User")),
                json!(subjects("Group")),
                json!(subjects("ServiceAccount")),
            ]
        }
        Kind::Pod => {
            let sum = podstatus::summarize(obj, now);
            let gates = obj["spec"]["readinessGates"]
                .as_array()
                .map_or(0, |g| g.len());
            let gates = if gates == 0 {
                "<none>".to_string()
            } else {
                let conds = obj["status"]["conditions"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let ok = obj["spec"]["readinessGates"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|g| {
                        conds
                            .iter()
                            .any(|c| c["type"] == g["conditionType"] && c["status"] == "True")
                    })
                    .count();
                format!("{ok}/{gates}")
            };
            vec![
                json!(name),
                json!(sum.ready),
                json!(sum.status),
                json!(sum.restarts),
                json!(age),
                json!(or_none(st(obj, "/status/podIP"))),
                json!(or_none(st(obj, "/spec/nodeName"))),
                json!(or_none(st(obj, "/status/nominatedNodeName"))),
                json!(gates),
            ]
        }
        Kind::Service => {
            let ty = st(obj, "/spec/type");
            let ext: Vec<String> = obj["spec"]["externalIPs"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            let ext = if ty == "ExternalName" {
                st(obj, "/spec/externalName").to_string()
            } else if !ext.is_empty() {
                ext.join(",")
            } else if ty == "LoadBalancer" {
                "<pending>".into()
            } else {
                "<none>".into()
            };
            let sel = sorted_pairs(&obj["spec"]["selector"]);
            vec![
                json!(name),
                json!(ty),
                json!(or_none(st(obj, "/spec/clusterIP"))),
                json!(ext),
                json!(service_ports(obj)),
                json!(age),
                json!(or_none(&sel)),
            ]
        }
        Kind::Endpoints => vec![
            json!(name),
            json!(crate::table_endpoints::format_endpoints(obj)),
            json!(age),
        ],
        Kind::EndpointSlice => vec![
            json!(name),
            json!(st(obj, "/addressType")),
            json!(crate::table_endpoints::format_slice_ports(obj)),
            json!(crate::table_endpoints::format_slice_endpoints(obj)),
            json!(age),
        ],
        Kind::ConfigMap => vec![
            json!(name),
            json!(count(&obj["data"]) + count(&obj["binaryData"])),
            json!(age),
        ],
        Kind::Secret => vec![
            json!(name),
            json!(st(obj, "/type")),
            json!(count(&obj["data"])),
            json!(age),
        ],
        Kind::ServiceAccount => vec![json!(name), json!(count(&obj["secrets"])), json!(age)],
        Kind::Namespace => vec![json!(name), json!(st(obj, "/status/phase")), json!(age)],
        Kind::Node => {
            let ready = obj["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["type"] == "Ready")
                .map(|c| {
                    if c["status"] == "True" {
                        "Ready"
                    } else {
                        "NotReady"
                    }
                })
                .unwrap_or("Unknown");
            let addr = |t: &str| {
                obj["status"]["addresses"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|a| a["type"] == t)
                    .and_then(|a| a["address"].as_str())
                    .unwrap_or("<none>")
                    .to_string()
            };
            let roles: Vec<String> = obj["metadata"]["labels"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(k, _)| {
                    k.strip_prefix("node-role.kubernetes.io/")
                        .map(str::to_string)
                })
                .collect();
            vec![
                json!(name),
                json!(ready),
                json!(if roles.is_empty() {
                    "<none>".into()
                } else {
                    roles.join(",")
                }),
                json!(age),
                json!(st(obj, "/status/nodeInfo/kubeletVersion")),
                json!(addr("InternalIP")),
                json!(addr("ExternalIP")),
                json!(st(obj, "/status/nodeInfo/osImage")),
                json!(st(obj, "/status/nodeInfo/kernelVersion")),
                json!(st(obj, "/status/nodeInfo/containerRuntimeVersion")),
            ]
        }
        Kind::PodTimeline => vec![
            json!(name),
            json!(obj["marks"].as_array().map_or(0, Vec::len)),
            json!(age),
        ],
        Kind::HookDelivery => {
            let status = &obj["status"];
            let duration = status["durationSeconds"]
                .as_f64()
                .map_or_else(|| "<none>".to_string(), |d| format!("{d:.3}s"));
            let exit = match (status["exitCode"].as_i64(), status["httpStatus"].as_i64()) {
                (Some(c), _) => c.to_string(),
                (None, Some(h)) => format!("HTTP {h}"),
                _ => "<none>".to_string(),
            };
            vec![
                json!(name),
                json!(st(obj, "/spec/podName")),
                json!(st(obj, "/spec/containerName")),
                json!(st(obj, "/spec/hook")),
                json!(st(obj, "/spec/handler/type")),
                json!(status["attempt"].as_i64().unwrap_or(1)),
                json!(st(obj, "/status/phase")),
                json!(duration),
                json!(exit),
                json!(obj["spec"]["restartCount"].as_i64().unwrap_or(0)),
                json!(age),
            ]
        }
        Kind::Event => {
            let mut first = since(&obj["firstTimestamp"], now);
            if obj["firstTimestamp"].is_null() {
                first = since(&obj["eventTime"], now);
            }
            let mut last = since(&obj["lastTimestamp"], now);
            if obj["lastTimestamp"].is_null() {
                last = first.clone();
            }
            let mut n = obj["count"].as_i64().unwrap_or(0);
            if obj["series"].is_object() {
                last = since(&obj["series"]["lastObservedTime"], now);
                n = obj["series"]["count"].as_i64().unwrap_or(0);
            } else if n == 0 {
                n = 1;
            }
            let object = format!(
                "{}/{}",
                st(obj, "/involvedObject/kind").to_lowercase(),
                st(obj, "/involvedObject/name")
            );
            vec![
                json!(last),
                json!(st(obj, "/type")),
                json!(st(obj, "/reason")),
                json!(object),
                json!(st(obj, "/involvedObject/fieldPath")),
                json!(event_source(obj)),
                json!(st(obj, "/message").trim()),
                json!(first),
                json!(n),
                json!(name),
            ]
        }
    }
}

fn row_object(obj: &Value, inc: IncludeObject) -> Value {
    match inc {
        IncludeObject::None => Value::Null,
        IncludeObject::Object => obj.clone(),
        IncludeObject::Metadata => json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj["metadata"],
        }),
    }
}

/// A Table for `objs` (already filtered).
pub fn table(kind: Kind, objs: &[Value], rv: u64, inc: IncludeObject, now: Timestamp) -> Value {
    let rows: Vec<Value> = objs
        .iter()
        .map(|o| json!({"cells": cells(kind, o, now), "object": row_object(o, inc)}))
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": rv.to_string()},
        "columnDefinitions": columns(kind),
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_row_has_wide_columns_and_none_defaults() {
        let now: Timestamp = "2026-01-01T00:10:00Z".parse().unwrap();
        let p = json!({"metadata": {"name": "web", "creationTimestamp": "2026-01-01T00:05:00Z"},
            "spec": {"containers": [{"name": "a"}], "nodeName": "n1"},
            "status": {"phase": "Pending"}});
        let t = table(Kind::Pod, &[p], 7, IncludeObject::Metadata, now);
        assert_eq!(t["columnDefinitions"].as_array().unwrap().len(), 9);
        assert_eq!(
            t["rows"][0]["cells"],
            json!([
                "web", "0/1", "Pending", "0", "5m", "<none>", "n1", "<none>", "<none>"
            ])
        );
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        assert_eq!(t["metadata"]["resourceVersion"], "7");
    }

    #[test]
    fn event_and_service_rows() {
        let now: Timestamp = "2026-01-01T00:10:00Z".parse().unwrap();
        let e = json!({"metadata": {"name": "web.1"}, "involvedObject": {"kind": "Pod", "name": "web"},
            "type": "Warning", "reason": "BackOff", "message": "Back-off restarting failed container",
            "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:09:00Z", "count": 4,
            "source": {"component": "kubelet", "host": "n1"}});
        let c = cells(Kind::Event, &e, now);
        assert_eq!(c[0], "60s");
        assert_eq!(c[3], "pod/web");
        assert_eq!(c[5], "kubelet, n1");
        assert_eq!(c[8], 4);
        let s = json!({"metadata": {"name": "svc"}, "spec": {"type": "NodePort", "clusterIP": "10.0.0.1",
            "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}], "selector": {"b": "2", "a": "1"}}});
        let c = cells(Kind::Service, &s, now);
        assert_eq!(c[4], "80:30080/TCP");
        assert_eq!(c[6], "a=1,b=2");
    }
}
