//! Discovery: `/version`, `/api`, `/api/v1`, `/apis`, the events.k8s.io
//! and nodelet.dev groups, and aggregated discovery (apidiscovery.k8s.io/v2) when the client
//! asks for it in `Accept`, as kubectl does first.

use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::kind::Kind;

/// The version this API reports (`kubectl version`).
pub const GIT_VERSION: &str = "v1.37.0-nodelet";

pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "37",
        "emulationMajor": "1",
        "emulationMinor": "37",
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": "36",
        "gitVersion": GIT_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "rust",
        "compiler": "rustc",
        "platform": format!("linux/{}", node_arch()),
    })
}

pub fn node_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// Subresources of a kind: (name, verbs).
fn subresources(kind: Kind) -> &'static [(&'static str, &'static [&'static str])] {
    match kind {
        Kind::Pod => &[
            ("attach", &["create", "get"]),
            ("ephemeralcontainers", &["get", "patch", "update"]),
            ("exec", &["create", "get"]),
            ("log", &["get"]),
            ("portforward", &["create", "get"]),
            ("resize", &["get", "patch", "update"]),
            ("status", &["get", "patch", "update"]),
        ],
        Kind::ServiceAccount => &[("token", &["create"])],
        _ => &[],
    }
}

const CORE_KINDS: [Kind; 9] = [
    Kind::ConfigMap,
    Kind::Endpoints,
    Kind::Event,
    Kind::Namespace,
    Kind::Node,
    Kind::Pod,
    Kind::Secret,
    Kind::Service,
    Kind::ServiceAccount,
];

/// The kind a subresource answers with.
fn sub_kind(kind: Kind, sub: &str) -> &'static str {
    match sub {
        "exec" | "attach" => "PodExecOptions",
        "portforward" => "PodPortForwardOptions",
        _ => kind.name(),
    }
}

fn legacy_resource(kind: Kind) -> Value {
    json!({
        "name": kind.plural(),
        "singularName": kind.singular(),
        "namespaced": kind.namespaced(),
        "kind": kind.name(),
        "verbs": kind.verbs(),
        "shortNames": kind.short_names(),
        "categories": kind.categories(),
    })
}

pub fn api_v1_resources() -> Value {
    let mut res = Vec::new();
    for k in CORE_KINDS {
        res.push(legacy_resource(k));
        for (sub, verbs) in subresources(k) {
            let mut r = json!({
                "name": format!("{}/{sub}", k.plural()),
                "singularName": "",
                "namespaced": k.namespaced(),
                "kind": sub_kind(k, sub).to_string(),
                "verbs": verbs,
            });
            if *sub == "token" {
                r["group"] = json!("authentication.k8s.io");
                r["version"] = json!("v1");
                r["kind"] = json!("TokenRequest");
            }
            res.push(r);
        }
    }
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "v1", "resources": res})
}

pub fn events_v1_resources() -> Value {
    json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": "events.k8s.io/v1",
        "resources": [{
            "name": "events", "singularName": "event", "namespaced": true, "kind": "Event",
            "verbs": ["get", "list", "watch"], "shortNames": ["ev"],
        }],
    })
}

fn events_group() -> Value {
    json!({
        "name": "events.k8s.io",
        "versions": [{"groupVersion": "events.k8s.io/v1", "version": "v1"}],
        "preferredVersion": {"groupVersion": "events.k8s.io/v1", "version": "v1"},
    })
}

pub fn api_versions() -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}],
    })
}

fn discovery_group() -> Value {
    json!({
        "name": "discovery.k8s.io",
        "versions": [{"groupVersion": "discovery.k8s.io/v1", "version": "v1"}],
        "preferredVersion": {"groupVersion": "discovery.k8s.io/v1", "version": "v1"},
    })
}

pub fn discovery_group_doc() -> Value {
    let mut g = discovery_group();
    g["kind"] = json!("APIGroup");
    g["apiVersion"] = json!("v1");
    g
}

pub fn discovery_v1_resources() -> Value {
    let k = Kind::EndpointSlice;
    json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": "discovery.k8s.io/v1",
        "resources": [{
            "name": k.plural(), "singularName": k.singular(), "namespaced": true, "kind": k.name(),
            "verbs": k.verbs(),
        }],
    })
}

pub fn api_groups() -> Value {
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [
        discovery_group(), events_group(), nodelet_group(),
        group("authorization.k8s.io"), group(crate::kind::RBAC_GROUP),
    ]})
}

/// A group served at v1 only.
fn group(name: &str) -> Value {
    json!({
        "name": name,
        "versions": [{"groupVersion": format!("{name}/v1"), "version": "v1"}],
        "preferredVersion": {"groupVersion": format!("{name}/v1"), "version": "v1"},
    })
}

fn group_doc(name: &str) -> Value {
    let mut g = group(name);
    g["kind"] = json!("APIGroup");
    g["apiVersion"] = json!("v1");
    g
}

const RBAC_KINDS: [Kind; 4] = [
    Kind::ClusterRoleBinding,
    Kind::ClusterRole,
    Kind::RoleBinding,
    Kind::Role,
];

pub fn rbac_group_doc() -> Value {
    group_doc(crate::kind::RBAC_GROUP)
}

pub fn rbac_v1_resources() -> Value {
    let res: Vec<Value> = RBAC_KINDS.iter().map(|k| legacy_resource(*k)).collect();
    json!({"kind": "APIResourceList", "apiVersion": "v1",
           "groupVersion": "rbac.authorization.k8s.io/v1", "resources": res})
}

pub fn authorization_group_doc() -> Value {
    group_doc("authorization.k8s.io")
}

/// The access reviews kubectl auth can-i posts (create only).
const REVIEWS: [(&str, &str); 2] = [
    ("selfsubjectaccessreviews", "SelfSubjectAccessReview"),
    ("selfsubjectrulesreviews", "SelfSubjectRulesReview"),
];

pub fn authorization_v1_resources() -> Value {
    let res: Vec<Value> = REVIEWS
        .iter()
        .map(|(plural, kind)| {
            json!({"name": plural, "singularName": "", "namespaced": false, "kind": kind, "verbs": ["create"]})
        })
        .collect();
    json!({"kind": "APIResourceList", "apiVersion": "v1",
           "groupVersion": "authorization.k8s.io/v1", "resources": res})
}

/// nodelet's own group (`nodelet.dev/v1`: hookdeliveries).
fn nodelet_group() -> Value {
    json!({
        "name": crate::kind::NODELET_GROUP,
        "versions": [{"groupVersion": "nodelet.dev/v1", "version": "v1"}],
        "preferredVersion": {"groupVersion": "nodelet.dev/v1", "version": "v1"},
    })
}

pub fn nodelet_group_doc() -> Value {
    let mut g = nodelet_group();
    g["kind"] = json!("APIGroup");
    g["apiVersion"] = json!("v1");
    g
}

pub fn nodelet_v1_resources() -> Value {
    json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": "nodelet.dev/v1",
        "resources": [legacy_resource(Kind::HookDelivery), legacy_resource(Kind::PodTimeline)],
    })
}

pub fn events_group_doc() -> Value {
    let mut g = events_group();
    g["kind"] = json!("APIGroup");
    g["apiVersion"] = json!("v1");
    g
}

fn aggregated_resource(kind: Kind, group: &str) -> Value {
    let subs: Vec<Value> = subresources(kind)
        .iter()
        .map(|(s, verbs)| {
            json!({
                "subresource": s,
                "responseKind": match *s {
                    "token" => json!({"group": "authentication.k8s.io", "version": "v1", "kind": "TokenRequest"}),
                    _ => json!({"group": "", "version": "v1", "kind": sub_kind(kind, s)}),
                },
                "verbs": verbs,
            })
        })
        .collect();
    let mut r = json!({
        "resource": kind.plural(),
        "responseKind": {"group": group, "version": "v1", "kind": kind.name()},
        "scope": if kind.namespaced() { "Namespaced" } else { "Cluster" },
        "singularResource": kind.singular(),
        "verbs": kind.verbs(),
        "shortNames": kind.short_names(),
        "categories": kind.categories(),
    });
    if !subs.is_empty() {
        r["subresources"] = Value::Array(subs);
    }
    r
}

const AGGREGATED_V2: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Whether `Accept` asks for aggregated discovery v2.
pub fn wants_aggregated(headers: &HeaderMap) -> bool {
    headers
        .get_all("accept")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            let t: String = t.chars().filter(|c| !c.is_whitespace()).collect();
            t.contains("g=apidiscovery.k8s.io") && t.contains("v=v2;")
                || t.ends_with("v=v2") && t.contains("g=apidiscovery.k8s.io")
        })
}

fn aggregated(items: Vec<Value>) -> Response {
    let body = json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    });
    ([("content-type", AGGREGATED_V2)], body.to_string()).into_response()
}

fn plain(v: Value) -> Response {
    ([("content-type", "application/json")], v.to_string()).into_response()
}

/// `/api`
pub fn api(headers: &HeaderMap) -> Response {
    if !wants_aggregated(headers) {
        return plain(api_versions());
    }
    let resources: Vec<Value> = CORE_KINDS
        .iter()
        .map(|k| aggregated_resource(*k, ""))
        .collect();
    aggregated(vec![json!({
        "metadata": {"creationTimestamp": null},
        "versions": [{"version": "v1", "resources": resources, "freshness": "Current"}],
    })])
}

/// `/apis`
pub fn apis(headers: &HeaderMap) -> Response {
    if !wants_aggregated(headers) {
        return plain(api_groups());
    }
    let reviews: Vec<Value> = REVIEWS
        .iter()
        .map(|(plural, kind)| {
            json!({"resource": plural, "responseKind": {"group": "authorization.k8s.io", "version": "v1", "kind": kind},
                   "scope": "Cluster", "singularResource": plural.trim_end_matches('s'), "verbs": ["create"]})
        })
        .collect();
    let rbac: Vec<Value> = RBAC_KINDS
        .iter()
        .map(|k| aggregated_resource(*k, crate::kind::RBAC_GROUP))
        .collect();
    aggregated(vec![
        json!({
            "metadata": {"name": "authorization.k8s.io", "creationTimestamp": null},
            "versions": [{"version": "v1", "resources": reviews, "freshness": "Current"}],
        }),
        json!({
            "metadata": {"name": crate::kind::RBAC_GROUP, "creationTimestamp": null},
            "versions": [{"version": "v1", "resources": rbac, "freshness": "Current"}],
        }),
        json!({
            "metadata": {"name": "discovery.k8s.io", "creationTimestamp": null},
            "versions": [{
                "version": "v1",
                "resources": [aggregated_resource(Kind::EndpointSlice, "discovery.k8s.io")],
                "freshness": "Current",
            }],
        }),
        json!({
            "metadata": {"name": "events.k8s.io", "creationTimestamp": null},
            "versions": [{
                "version": "v1",
                "resources": [aggregated_resource(Kind::Event, "events.k8s.io")],
                "freshness": "Current",
            }],
        }),
        json!({
            "metadata": {"name": crate::kind::NODELET_GROUP, "creationTimestamp": null},
            "versions": [{
                "version": "v1",
                "resources": [
                    aggregated_resource(Kind::HookDelivery, crate::kind::NODELET_GROUP),
                    aggregated_resource(Kind::PodTimeline, crate::kind::NODELET_GROUP),
                ],
                "freshness": "Current",
            }],
        }),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_negotiation() {
        let mut h = HeaderMap::new();
        h.insert("accept", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json".parse().unwrap());
        assert!(wants_aggregated(&h));
        let mut h = HeaderMap::new();
        h.insert("accept", "application/json, */*".parse().unwrap());
        assert!(!wants_aggregated(&h));
    }

    #[test]
    fn v1_resources_list_pods_with_short_names_and_subresources() {
        let r = api_v1_resources();
        let res = r["resources"].as_array().unwrap();
        let pods = res.iter().find(|r| r["name"] == "pods").unwrap();
        assert_eq!(pods["shortNames"], json!(["po"]));
        assert!(res.iter().any(|r| r["name"] == "pods/exec"));
        assert!(
            res.iter()
                .any(|r| r["name"] == "nodes" && r["namespaced"] == false)
        );
    }
}
