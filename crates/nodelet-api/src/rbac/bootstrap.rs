//! The roles the API server ships and reconciles at start: `cluster-admin`
//! (bound to `system:masters`), the user-facing `admin`, `edit` and `view`
//! (upstream's rule sets, trimmed to the resources nodelet serves), and
//! the discovery roles every authenticated user holds.

use serde_json::{Value, json};

use crate::backend::Backend;
use crate::error::ApiError;
use crate::kind::Kind;

const READ: [&str; 3] = ["get", "list", "watch"];
const WRITE: [&str; 5] = ["create", "delete", "deletecollection", "patch", "update"];

fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> Value {
    json!({"verbs": verbs, "apiGroups": groups, "resources": resources})
}

fn urls(verbs: &[&str], urls: &[&str]) -> Value {
    json!({"verbs": verbs, "nonResourceURLs": urls})
}

/// `view`: read everything but secrets (and RBAC).
fn view_rules() -> Vec<Value> {
    vec![
        rule(
            &READ,
            &[""],
            &[
                "configmaps",
                "endpoints",
                "pods",
                "serviceaccounts",
                "services",
                "services/status",
            ],
        ),
        rule(
            &READ,
            &[""],
            &["events", "namespaces/status", "pods/log", "pods/status"],
        ),
        rule(&READ, &[""], &["namespaces"]),
        rule(&READ, &["discovery.k8s.io"], &["endpointslices"]),
        rule(&READ, &["events.k8s.io"], &["events"]),
    ]
}

/// `edit`: `view` plus writing workloads, secrets and exec/attach.
fn edit_rules() -> Vec<Value> {
    let mut r = vec![
        rule(
            &WRITE,
            &[""],
            &["pods", "pods/attach", "pods/exec", "pods/portforward"],
        ),
        rule(
            &WRITE,
            &[""],
            &[
                "configmaps",
                "endpoints",
                "secrets",
                "serviceaccounts",
                "services",
            ],
        ),
        rule(&["create"], &[""], &["serviceaccounts/token"]),
        rule(
            &READ,
            &[""],
            &["pods/attach", "pods/exec", "pods/portforward", "secrets"],
        ),
        rule(&["impersonate"], &[""], &["serviceaccounts"]),
    ];
    r.extend(view_rules());
    r
}

/// `admin`: `edit` plus roles and bindings of the namespace.
fn admin_rules() -> Vec<Value> {
    let mut r = edit_rules();
    r.push(rule(
        &[
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ],
        &["rbac.authorization.k8s.io"],
        &["rolebindings", "roles"],
    ));
    r.push(rule(
        &["create"],
        &["authorization.k8s.io"],
        &["localsubjectaccessreviews"],
    ));
    r
}

fn meta(name: &str) -> Value {
    json!({
        "name": name,
        "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
        "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
    })
}

fn cluster_role(name: &str, rules: Vec<Value>) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
           "metadata": meta(name), "rules": rules})
}

fn binding(name: &str, role: &str, groups: &[&str]) -> Value {
    let subjects: Vec<Value> = groups
        .iter()
        .map(|g| json!({"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": g}))
        .collect();
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
           "metadata": meta(name),
           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
           "subjects": subjects})
}

/// The bootstrap ClusterRoles.
pub fn cluster_roles() -> Vec<Value> {
    vec![
        cluster_role(
            "cluster-admin",
            vec![rule(&["*"], &["*"], &["*"]), urls(&["*"], &["*"])],
        ),
        cluster_role("admin", admin_rules()),
        cluster_role("edit", edit_rules()),
        cluster_role("view", view_rules()),
        cluster_role(
            "system:discovery",
            vec![urls(
                &["get"],
                &[
                    "/api",
                    "/api/*",
                    "/apis",
                    "/apis/*",
                    "/healthz",
                    "/livez",
                    "/openapi",
                    "/openapi/*",
                    "/readyz",
                    "/version",
                    "/version/",
                ],
            )],
        ),
        cluster_role(
            "system:basic-user",
            vec![rule(
                &["create"],
                &["authorization.k8s.io"],
                &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
            )],
        ),
        cluster_role(
            "system:public-info-viewer",
            vec![urls(
                &["get"],
                &["/healthz", "/livez", "/readyz", "/version", "/version/"],
            )],
        ),
    ]
}

/// The bootstrap ClusterRoleBindings.
pub fn cluster_role_bindings() -> Vec<Value> {
    vec![
        binding("cluster-admin", "cluster-admin", &["system:masters"]),
        binding(
            "system:discovery",
            "system:discovery",
            &["system:authenticated"],
        ),
        binding(
            "system:basic-user",
            "system:basic-user",
            &["system:authenticated"],
        ),
        binding(
            "system:public-info-viewer",
            "system:public-info-viewer",
            &["system:authenticated", "system:unauthenticated"],
        ),
    ]
}

/// Creates the bootstrap roles and bindings that are missing (as the API
/// server's reconciler does at start; ones that exist are left as the
/// admin changed them).
pub async fn ensure(backend: &dyn Backend) -> Result<(), ApiError> {
    let all = cluster_roles()
        .into_iter()
        .map(|v| (Kind::ClusterRole, v))
        .chain(
            cluster_role_bindings()
                .into_iter()
                .map(|v| (Kind::ClusterRoleBinding, v)),
        );
    for (kind, mut v) in all {
        let name = v["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        match backend.get(kind, "", &name).await {
            Ok(_) => continue,
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
        v["metadata"]["uid"] = json!(uuid::Uuid::new_v4().to_string());
        v["metadata"]["creationTimestamp"] = json!(jiff::Timestamp::now().to_string());
        match backend.put_plain(kind, "", &name, v, true, None).await {
            Ok(_) => {}
            Err(e) if e.code == 409 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
