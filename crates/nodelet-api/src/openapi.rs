//! OpenAPI documents for the served kinds, generated from k8s-openapi's
//! schemas (schemars), with the `x-kubernetes-group-version-kind` marks and
//! PATCH parameters kubectl looks for (`explain`, `apply`, `--validate`).

use std::sync::OnceLock;

use k8s_openapi::api::core::v1::{
    ConfigMap, Endpoints, Event, Namespace, Node, Pod, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use crate::kind::Kind;

fn gvk(group: &str, kind: &str) -> Value {
    json!([{"group": group, "version": "v1", "kind": kind}])
}

fn schemas(settings: SchemaSettings) -> Map<String, Value> {
    let mut g = settings.into_generator();
    g.subschema_for::<Pod>();
    g.subschema_for::<Service>();
    g.subschema_for::<ConfigMap>();
    g.subschema_for::<Secret>();
    g.subschema_for::<ServiceAccount>();
    g.subschema_for::<Namespace>();
    g.subschema_for::<Event>();
    g.subschema_for::<Node>();
    g.subschema_for::<Endpoints>();
    g.subschema_for::<EndpointSlice>();
    g.subschema_for::<k8s_openapi::api::events::v1::Event>();
    g.subschema_for::<k8s_openapi::api::rbac::v1::Role>();
    g.subschema_for::<k8s_openapi::api::rbac::v1::ClusterRole>();
    g.subschema_for::<k8s_openapi::api::rbac::v1::RoleBinding>();
    g.subschema_for::<k8s_openapi::api::rbac::v1::ClusterRoleBinding>();
    let mut defs = g.take_definitions(true);
    for k in Kind::ALL {
        if let Some(Value::Object(s)) = defs.get_mut(&schema_name(k)) {
            s.insert(
                "x-kubernetes-group-version-kind".into(),
                gvk(k.group(), k.name()),
            );
        }
    }
    if let Some(Value::Object(s)) = defs.get_mut("io.k8s.api.events.v1.Event") {
        s.insert(
            "x-kubernetes-group-version-kind".into(),
            gvk("events.k8s.io", "Event"),
        );
    }
    defs
}

/// The definition name of a kind's schema.
fn schema_name(kind: Kind) -> String {
    match kind.group() {
        "" => format!("io.k8s.api.core.v1.{}", kind.name()),
        g => format!(
            "io.k8s.api.{}.v1.{}",
            g.trim_end_matches(".k8s.io")
                .trim_end_matches(".authorization"),
            kind.name()
        ),
    }
}

fn query_params() -> Value {
    json!([
        {"name": "dryRun", "in": "query", "schema": {"type": "string"}, "uniqueItems": true},
        {"name": "fieldManager", "in": "query", "schema": {"type": "string"}, "uniqueItems": true},
        {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}, "uniqueItems": true},
        {"name": "force", "in": "query", "schema": {"type": "boolean"}, "uniqueItems": true},
    ])
}

/// Paths for one kind (writes advertise the PATCH parameters).
fn kind_paths(kind: Kind, group: &str, prefix: &str, paths: &mut Map<String, Value>, v3: bool) {
    let schema_ref = if v3 {
        format!("#/components/schemas/{}", schema_name(kind))
    } else {
        format!("#/definitions/{}", schema_name(kind))
    };
    let writable = kind.verbs().contains(&"patch");
    let op = |action: &str| {
        json!({
            "operationId": format!("{action}{}", kind.name()),
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": {"group": group, "version": "v1", "kind": kind.name()},
            "parameters": query_params(),
            "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": schema_ref}}}}},
        })
    };
    let item = if kind.namespaced() {
        format!(
            "{prefix}/namespaces/{{namespace}}/{}/{{name}}",
            kind.plural()
        )
    } else {
        format!("{prefix}/{}/{{name}}", kind.plural())
    };
    let mut ops = Map::new();
    ops.insert("get".into(), op("get"));
    if writable {
        ops.insert("patch".into(), op("patch"));
        ops.insert("put".into(), op("put"));
        ops.insert("delete".into(), op("delete"));
    }
    paths.insert(item, Value::Object(ops));
    let coll = if kind.namespaced() {
        format!("{prefix}/namespaces/{{namespace}}/{}", kind.plural())
    } else {
        format!("{prefix}/{}", kind.plural())
    };
    let mut ops = Map::new();
    ops.insert("get".into(), op("list"));
    if writable {
        ops.insert("post".into(), op("post"));
    }
    paths.insert(coll, Value::Object(ops));
}

/// Which `/openapi/v3` group-version document.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Doc {
    Core,
    Events,
    Discovery,
    Rbac,
}

fn v3_doc(doc: Doc) -> Value {
    let mut paths = Map::new();
    match doc {
        Doc::Core => {
            for k in Kind::ALL.into_iter().filter(|k| k.group().is_empty()) {
                kind_paths(k, "", "/api/v1", &mut paths, true);
            }
        }
        Doc::Events => kind_paths(
            Kind::Event,
            "events.k8s.io",
            "/apis/events.k8s.io/v1",
            &mut paths,
            true,
        ),
        Doc::Discovery => kind_paths(
            Kind::EndpointSlice,
            "discovery.k8s.io",
            "/apis/discovery.k8s.io/v1",
            &mut paths,
            true,
        ),
        Doc::Rbac => {
            for k in Kind::ALL
                .into_iter()
                .filter(|k| k.group() == crate::kind::RBAC_GROUP)
            {
                kind_paths(
                    k,
                    crate::kind::RBAC_GROUP,
                    "/apis/rbac.authorization.k8s.io/v1",
                    &mut paths,
                    true,
                );
            }
        }
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": crate::discovery::GIT_VERSION},
        "paths": paths,
        "components": {"schemas": schemas(SchemaSettings::openapi3())},
    })
}

/// Content hash for the `?hash=` cache-busting URLs.
fn hash(v: &Value) -> String {
    let s = v.to_string();
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016X}")
}

struct Docs {
    core: String,
    events: String,
    discovery: String,
    rbac: String,
    index: String,
    v2: String,
}

fn docs() -> &'static Docs {
    static D: OnceLock<Docs> = OnceLock::new();
    D.get_or_init(|| {
        let core = v3_doc(Doc::Core);
        let events = v3_doc(Doc::Events);
        let discovery = v3_doc(Doc::Discovery);
        let rbac = v3_doc(Doc::Rbac);
        let index = json!({"paths": {
            "apis/rbac.authorization.k8s.io/v1": {"serverRelativeURL": format!("/openapi/v3/apis/rbac.authorization.k8s.io/v1?hash={}", hash(&rbac))},
            "api/v1": {"serverRelativeURL": format!("/openapi/v3/api/v1?hash={}", hash(&core))},
            "apis/events.k8s.io/v1": {"serverRelativeURL": format!("/openapi/v3/apis/events.k8s.io/v1?hash={}", hash(&events))},
            "apis/discovery.k8s.io/v1": {"serverRelativeURL": format!("/openapi/v3/apis/discovery.k8s.io/v1?hash={}", hash(&discovery))},
        }});
        let mut paths = Map::new();
        for k in Kind::ALL
            .into_iter()
            .filter(|k| k.group() != crate::kind::NODELET_GROUP)
        {
            match k.group() {
                "" => kind_paths(k, "", "/api/v1", &mut paths, false),
                g => kind_paths(k, g, &format!("/apis/{g}/v1"), &mut paths, false),
            }
        }
        let settings = SchemaSettings::draft07().with(|s| {
            s.definitions_path = "/definitions".into();
        });
        let v2 = json!({
            "swagger": "2.0",
            "info": {"title": "Kubernetes", "version": crate::discovery::GIT_VERSION},
            "paths": paths,
            "definitions": schemas(settings),
        });
        Docs {
            core: core.to_string(),
            events: events.to_string(),
            discovery: discovery.to_string(),
            rbac: rbac.to_string(),
            index: index.to_string(),
            v2: v2.to_string(),
        }
    })
}

/// `/openapi/v3`
pub fn v3_index() -> &'static str {
    &docs().index
}
/// `/openapi/v3/api/v1`
pub fn v3_core() -> &'static str {
    &docs().core
}
/// `/openapi/v3/apis/events.k8s.io/v1`
pub fn v3_events() -> &'static str {
    &docs().events
}
/// `/openapi/v3/apis/discovery.k8s.io/v1`
pub fn v3_discovery() -> &'static str {
    &docs().discovery
}
/// `/openapi/v3/apis/rbac.authorization.k8s.io/v1`
pub fn v3_rbac() -> &'static str {
    &docs().rbac
}
/// `/openapi/v2` (JSON only)
pub fn v2() -> &'static str {
    &docs().v2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_schema_is_marked_and_patch_has_field_validation() {
        let d: Value = serde_json::from_str(v3_core()).unwrap();
        let pod = &d["components"]["schemas"]["io.k8s.api.core.v1.Pod"];
        assert_eq!(pod["x-kubernetes-group-version-kind"][0]["kind"], "Pod");
        assert!(pod["properties"]["spec"].is_object());
        let patch = &d["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"];
        assert!(
            patch["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "fieldValidation")
        );
        let idx: Value = serde_json::from_str(v3_index()).unwrap();
        assert!(
            idx["paths"]["api/v1"]["serverRelativeURL"]
                .as_str()
                .unwrap()
                .starts_with("/openapi/v3/api/v1?hash=")
        );
    }
}
