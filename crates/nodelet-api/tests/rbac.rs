//! Authorization, limits and the audit log through the real router over the
//! in-memory backend: 401/403 per verb and role with the API server's
//! messages, bootstrap roles, escalation prevention, access reviews
//! (`kubectl auth can-i`), 413, 429 with Retry-After, the watch bound, a
//! slow client cut, and the audit lines' shape.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use nodelet_api::{ApiOptions, CertUser, ConnAuth, UserInfo};
use serde_json::{Value, json};
use support::mem::{Mem, MemBackend};
use tower::ServiceExt;

struct T {
    router: axum::Router,
    dir: tempfile::TempDir,
}

async fn setup_with(opts: ApiOptions) -> T {
    let dir = tempfile::tempdir().unwrap();
    let backend = Arc::new(Mem(MemBackend::new(dir.path().to_path_buf())));
    nodelet_api::rbac::bootstrap::ensure(&*backend)
        .await
        .unwrap();
    T {
        router: nodelet_api::router_full(
            backend,
            "admin-token",
            None,
            nodelet_api::admission::PodSecurityConfig::default(),
            opts,
        ),
        dir,
    }
}

async fn setup() -> T {
    setup_with(ApiOptions::default()).await
}

fn user(name: &str, groups: &[&str]) -> UserInfo {
    UserInfo::new(name, groups.iter().map(|g| g.to_string()))
}

fn admin() -> UserInfo {
    UserInfo::admin()
}

fn req(who: &UserInfo, method: &str, uri: &str, body: impl Into<String>) -> Request<Body> {
    let mut r = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(Body::from(body.into()))
        .unwrap();
    r.extensions_mut().insert(ConnAuth::ClientCert);
    r.extensions_mut().insert(CertUser(who.clone()));
    r
}

impl T {
    async fn send(&self, r: Request<Body>) -> (StatusCode, Value) {
        let resp = self.router.clone().oneshot(r).await.unwrap();
        let code = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let v = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
        (code, v)
    }
    async fn call(
        &self,
        who: &UserInfo,
        method: &str,
        uri: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        self.send(req(who, method, uri, body)).await
    }
}

fn cm(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}})
}

fn crb(name: &str, role: &str, group: &str) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
           "metadata": {"name": name},
           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
           "subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": group}]})
}

fn rb(name: &str, role_kind: &str, role: &str, user: &str) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
           "metadata": {"name": name},
           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
           "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": user}]})
}

const RBAC: &str = "/apis/rbac.authorization.k8s.io/v1";

#[tokio::test]
async fn unauthenticated_is_401_and_admin_is_cluster_admin() {
    let t = setup().await;
    let mut r = Request::builder()
        .uri("/api/v1/namespaces/default/pods")
        .body(Body::empty())
        .unwrap();
    r.extensions_mut().insert(ConnAuth::None);
    assert_eq!(t.send(r).await.0, StatusCode::UNAUTHORIZED);
    // A verified certificate without a subject the API can read: 401 too.
    let mut r = Request::builder()
        .uri("/api/v1/namespaces/default/pods")
        .body(Body::empty())
        .unwrap();
    r.extensions_mut().insert(ConnAuth::ClientCert);
    assert_eq!(t.send(r).await.0, StatusCode::UNAUTHORIZED);
    let (code, _) = t
        .call(
            &admin(),
            "POST",
            "/api/v1/namespaces/default/configmaps",
            cm("a"),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED);
    // The bootstrap roles are objects like any other.
    let (code, v) = t
        .call(
            &admin(),
            "GET",
            &format!("{RBAC}/clusterroles"),
            Value::Null,
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    let names: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["metadata"]["name"].as_str().unwrap())
        .collect();
    for n in ["cluster-admin", "admin", "edit", "view", "system:discovery"] {
        assert!(names.contains(&n), "{n} in {names:?}");
    }
    let (code, v) = t
        .call(
            &admin(),
            "GET",
            &format!("{RBAC}/clusterrolebindings/cluster-admin"),
            Value::Null,
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(v["subjects"][0]["name"], "system:masters");
    assert_eq!(v["kind"], "ClusterRoleBinding");
}

#[tokio::test]
async fn view_reads_but_every_write_is_403_with_the_api_servers_message() {
    let t = setup().await;
    let alice = user("alice", &["viewers"]);
    // Nothing bound yet: only discovery.
    let (code, v) = t
        .call(
            &alice,
            "GET",
            "/api/v1/namespaces/default/pods",
            Value::Null,
        )
        .await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    assert_eq!(
        v["message"],
        "pods is forbidden: User \"alice\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\""
    );
    assert_eq!(v["reason"], "Forbidden");
    assert_eq!(
        t.call(&alice, "GET", "/version", Value::Null).await.0,
        StatusCode::OK
    );
    assert_eq!(
        t.call(&alice, "GET", "/api", Value::Null).await.0,
        StatusCode::OK
    );
    let (code, v) = t.call(&alice, "GET", "/metrics", Value::Null).await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    assert_eq!(
        v["message"],
        "forbidden: User \"alice\" cannot get path \"/metrics\""
    );

    let (code, _) = t
        .call(
            &admin(),
            "POST",
            &format!("{RBAC}/clusterrolebindings"),
            crb("viewers", "view", "viewers"),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED);
    t.call(
        &admin(),
        "POST",
        "/api/v1/namespaces/default/configmaps",
        cm("c"),
    )
    .await;
    for uri in [
        "/api/v1/namespaces/default/pods",
        "/api/v1/namespaces/default/configmaps/c",
        "/api/v1/pods",
        "/api/v1/namespaces",
    ] {
        assert_eq!(
            t.call(&alice, "GET", uri, Value::Null).await.0,
            StatusCode::OK,
            "{uri}"
        );
    }
    let (code, v) = t
        .call(&alice, "POST", "/api/v1/namespaces/default/pods", json!({}))
        .await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    assert_eq!(
        v["message"],
        "pods is forbidden: User \"alice\" cannot create resource \"pods\" in API group \"\" in the namespace \"default\""
    );
    let (code, v) = t
        .call(
            &alice,
            "DELETE",
            "/api/v1/namespaces/default/configmaps/c",
            Value::Null,
        )
        .await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    assert_eq!(
        v["message"],
        "configmaps \"c\" is forbidden: User \"alice\" cannot delete resource \"configmaps\" in API group \"\" in the namespace \"default\""
    );
    assert_eq!(v["details"], json!({"name": "c", "kind": "configmaps"}));
    for (m, uri) in [
        ("PUT", "/api/v1/namespaces/default/configmaps/c"),
        ("PATCH", "/api/v1/namespaces/default/configmaps/c"),
        ("DELETE", "/api/v1/namespaces/default/configmaps"),
        ("GET", "/api/v1/namespaces/default/secrets"),
        ("GET", "/api/v1/namespaces/default/pods/p/exec?command=sh"),
    ] {
        assert_eq!(
            t.call(&alice, m, uri, json!({})).await.0,
            StatusCode::FORBIDDEN,
            "{m} {uri}"
        );
    }
    let (code, v) = t
        .call(
            &alice,
            "GET",
            "/api/v1/namespaces/default/pods/p/exec?command=sh",
            Value::Null,
        )
        .await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("cannot create resource \"pods/exec\""),
        "{v}"
    );
    let (code, v) = t
        .call(
            &alice,
            "POST",
            &format!("{RBAC}/clusterroles"),
            json!({"metadata": {"name": "x"}}),
        )
        .await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    assert_eq!(
        v["message"],
        "clusterroles.rbac.authorization.k8s.io is forbidden: User \"alice\" cannot create resource \"clusterroles\" in API group \"rbac.authorization.k8s.io\" at the cluster scope"
    );
}

#[tokio::test]
async fn edit_writes_workloads_but_not_roles_and_admin_is_scoped_by_its_rolebinding() {
    let t = setup().await;
    let ed = user("ed", &["editors"]);
    t.call(
        &admin(),
        "POST",
        &format!("{RBAC}/clusterrolebindings"),
        crb("editors", "edit", "editors"),
    )
    .await;
    assert_eq!(
        t.call(
            &ed,
            "POST",
            "/api/v1/namespaces/default/configmaps",
            cm("e")
        )
        .await
        .0,
        StatusCode::CREATED
    );
    assert_eq!(
        t.call(
            &ed,
            "GET",
            "/api/v1/namespaces/default/secrets",
            Value::Null
        )
        .await
        .0,
        StatusCode::OK
    );
    let role = json!({"metadata": {"name": "r"}, "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]});
    let (code, v) = t
        .call(
            &ed,
            "POST",
            &format!("{RBAC}/namespaces/default/roles"),
            role.clone(),
        )
        .await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(
        v["message"],
        "roles.rbac.authorization.k8s.io is forbidden: User \"ed\" cannot create resource \"roles\" in API group \"rbac.authorization.k8s.io\" in the namespace \"default\""
    );

    // ada is admin of "kube-public" only.
    let ada = user("ada", &[]);
    let (code, v) = t
        .call(
            &admin(),
            "POST",
            &format!("{RBAC}/namespaces/kube-public/rolebindings"),
            rb("ada-admin", "ClusterRole", "admin", "ada"),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{v}");
    assert_eq!(v["metadata"]["namespace"], "kube-public");
    assert_eq!(
        t.call(
            &ada,
            "POST",
            &format!("{RBAC}/namespaces/kube-public/roles"),
            role.clone()
        )
        .await
        .0,
        StatusCode::CREATED
    );
    assert_eq!(
        t.call(
            &ada,
            "POST",
            "/api/v1/namespaces/kube-public/configmaps",
            cm("t")
        )
        .await
        .0,
        StatusCode::CREATED
    );
    assert_eq!(
        t.call(
            &ada,
            "POST",
            &format!("{RBAC}/namespaces/default/roles"),
            role.clone()
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        t.call(
            &ada,
            "GET",
            "/api/v1/namespaces/default/configmaps",
            Value::Null
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    // A Role of the namespace, bound there, grants exactly its rules.
    let (code, _) = t
        .call(
            &ada,
            "POST",
            &format!("{RBAC}/namespaces/kube-public/rolebindings"),
            rb("bob-r", "Role", "r", "bob"),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED);
    let bob = user("bob", &[]);
    assert_eq!(
        t.call(
            &bob,
            "GET",
            "/api/v1/namespaces/kube-public/pods/x",
            Value::Null
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.call(
            &bob,
            "GET",
            "/api/v1/namespaces/kube-public/pods",
            Value::Null
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    // Escalation: ada cannot grant what she does not hold.
    let nodes = json!({"metadata": {"name": "n"}, "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["nodes"]}]});
    let (code, v) = t
        .call(
            &ada,
            "POST",
            &format!("{RBAC}/namespaces/kube-public/roles"),
            nodes,
        )
        .await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(
        v["message"],
        "roles.rbac.authorization.k8s.io \"n\" is forbidden: user \"ada\" (groups=[\"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[\"\"], Resources:[\"nodes\"], Verbs:[\"get\"]}"
    );
    let (code, _) = t
        .call(
            &ada,
            "POST",
            &format!("{RBAC}/namespaces/kube-public/rolebindings"),
            rb("ada-ca", "ClusterRole", "cluster-admin", "ada"),
        )
        .await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    // roleRef cannot change; validation answers 422.
    let (code, v) = t
        .call(
            &admin(),
            "PUT",
            &format!("{RBAC}/namespaces/kube-public/rolebindings/bob-r"),
            rb("bob-r", "ClusterRole", "view", "bob"),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let bad = json!({"metadata": {"name": "b"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Pod", "name": "x"}});
    assert_eq!(
        t.call(
            &admin(),
            "POST",
            &format!("{RBAC}/namespaces/kube-public/rolebindings"),
            bad
        )
        .await
        .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    // Delete, then the grant is gone.
    assert_eq!(
        t.call(
            &admin(),
            "DELETE",
            &format!("{RBAC}/namespaces/kube-public/rolebindings/bob-r"),
            Value::Null
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_eq!(
        t.call(
            &bob,
            "GET",
            "/api/v1/namespaces/kube-public/pods/x",
            Value::Null
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn access_reviews_answer_can_i_and_list() {
    let t = setup().await;
    t.call(
        &admin(),
        "POST",
        &format!("{RBAC}/clusterrolebindings"),
        crb("viewers", "view", "viewers"),
    )
    .await;
    let alice = user("alice", &["viewers"]);
    let ssar = |verb: &str, res: &str| {
        json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"namespace": "default", "verb": verb, "resource": res}}})
    };
    let uri = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";
    let (code, v) = t.call(&alice, "POST", uri, ssar("list", "pods")).await;
    assert_eq!(code, StatusCode::CREATED);
    assert_eq!(v["status"]["allowed"], true);
    assert_eq!(
        v["status"]["reason"],
        "RBAC: allowed by ClusterRoleBinding \"viewers\" of ClusterRole \"view\" to Group \"viewers\""
    );
    let (_, v) = t.call(&alice, "POST", uri, ssar("create", "pods")).await;
    assert_eq!(v["status"]["allowed"], false);
    let (_, v) = t.call(&admin(), "POST", uri, ssar("delete", "nodes")).await;
    assert_eq!(v["status"]["allowed"], true);
    let (code, v) = t
        .call(
            &alice,
            "POST",
            "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
            json!({"spec": {"namespace": "default"}}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED);
    let rules = v["status"]["resourceRules"].as_array().unwrap();
    assert!(
        rules.iter().any(
            |r| r["resources"].as_array().unwrap().contains(&json!("pods"))
                && r["verbs"] == json!(["get", "list", "watch"])
        ),
        "{v}"
    );
    assert!(
        v["status"]["nonResourceRules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["nonResourceURLs"]
                .as_array()
                .unwrap()
                .contains(&json!("/version")))
    );
    assert_eq!(v["status"]["incomplete"], false);
    // Discovery lists both groups.
    let (_, v) = t.call(&alice, "GET", "/apis", Value::Null).await;
    let groups: Vec<&str> = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert!(
        groups.contains(&"rbac.authorization.k8s.io") && groups.contains(&"authorization.k8s.io"),
        "{groups:?}"
    );
}

#[tokio::test]
async fn oversize_body_is_413_as_the_api_server_says() {
    let t = setup().await;
    let big = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}, "data": {"k": "x".repeat(3 * 1024 * 1024)}});
    let (code, v) = t
        .call(
            &admin(),
            "POST",
            "/api/v1/namespaces/default/configmaps",
            big,
        )
        .await;
    assert_eq!(code, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(v["message"], "Request entity too large: limit is 3145728");
    assert_eq!(v["reason"], "RequestEntityTooLarge");
    // Under the limit the body is read (axum's own 2 MB limit is off) and
    // reaches validation, which refuses a ConfigMap over 1 MiB.
    let ok = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ok"}, "data": {"k": "x".repeat(2_500_000)}});
    assert_eq!(
        t.call(
            &admin(),
            "POST",
            "/api/v1/namespaces/default/configmaps",
            ok
        )
        .await
        .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[tokio::test]
async fn rate_limit_is_429_with_retry_after_per_user() {
    let t = setup_with(ApiOptions {
        limits: nodelet_api::limits::Limits {
            requests_per_second: 2.0,
            ..Default::default()
        },
        audit: None,
    })
    .await;
    let a = user("a", &[]);
    assert_eq!(
        t.call(&a, "GET", "/version", Value::Null).await.0,
        StatusCode::OK
    );
    assert_eq!(
        t.call(&a, "GET", "/version", Value::Null).await.0,
        StatusCode::OK
    );
    let resp = t
        .router
        .clone()
        .oneshot(req(&a, "GET", "/version", ""))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp.headers()["retry-after"], "1");
    let v: Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(v["message"], "Too many requests, please try again later.");
    assert_eq!(v["details"]["retryAfterSeconds"], 1);
    // Another user has its own bucket; the first one refills.
    assert_eq!(
        t.call(&user("b", &[]), "GET", "/version", Value::Null)
            .await
            .0,
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        t.call(&a, "GET", "/version", Value::Null).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn watches_per_user_are_bounded() {
    let t = setup_with(ApiOptions {
        limits: nodelet_api::limits::Limits {
            max_watches_per_user: 1,
            ..Default::default()
        },
        audit: None,
    })
    .await;
    let uri = "/api/v1/namespaces/default/configmaps?watch=true";
    let first = t
        .router
        .clone()
        .oneshot(req(&admin(), "GET", uri, ""))
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let (code, v) = t.call(&admin(), "GET", uri, Value::Null).await;
    assert_eq!(code, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        v["message"],
        "too many watches: user \"nodelet-admin\" already has 1 open (--max-watches-per-user)"
    );
    drop(first);
    let again = t
        .router
        .clone()
        .oneshot(req(&admin(), "GET", uri, ""))
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::OK);
}

#[tokio::test]
async fn audit_lines_have_the_api_servers_shape_and_no_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let log = Arc::new(nodelet_api::audit::AuditLog::open(&path).unwrap());
    let t = setup_with(ApiOptions {
        limits: Default::default(),
        audit: Some(log),
    })
    .await;
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"password": "hunter2-audit"}});
    assert_eq!(
        t.call(
            &admin(),
            "POST",
            "/api/v1/namespaces/default/secrets",
            secret
        )
        .await
        .0,
        StatusCode::CREATED
    );
    t.call(
        &admin(),
        "GET",
        "/api/v1/namespaces/default/secrets/s",
        Value::Null,
    )
    .await;
    let alice = user("alice", &["g"]);
    t.call(
        &alice,
        "DELETE",
        "/api/v1/namespaces/default/secrets/s",
        Value::Null,
    )
    .await;
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("hunter2"), "{text}");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "reads are not recorded: {text}");
    let c = &lines[0];
    assert_eq!(c["kind"], "Event");
    assert_eq!(c["apiVersion"], "audit.k8s.io/v1");
    assert_eq!(c["level"], "Metadata");
    assert_eq!(c["stage"], "ResponseComplete");
    assert_eq!(c["verb"], "create");
    assert_eq!(c["user"]["username"], "nodelet-admin");
    assert_eq!(
        c["objectRef"],
        json!({"resource": "secrets", "namespace": "default", "apiVersion": "v1"})
    );
    assert_eq!(c["responseStatus"]["code"], 201);
    assert_eq!(c["requestURI"], "/api/v1/namespaces/default/secrets");
    assert_eq!(c["auditID"].as_str().unwrap().len(), 36);
    for k in ["requestReceivedTimestamp", "stageTimestamp"] {
        let ts = c[k].as_str().unwrap();
        assert!(ts.ends_with('Z') && ts.len() == 27, "{k}: {ts}");
    }
    let d = &lines[1];
    assert_eq!(d["verb"], "delete");
    assert_eq!(
        d["user"],
        json!({"username": "alice", "groups": ["g", "system:authenticated"]})
    );
    assert_eq!(d["objectRef"]["name"], "s");
    assert_eq!(d["responseStatus"]["code"], 403);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    drop(t.dir);
}

/// The real server on a unix socket: a client that stops half-way through
/// its head is disconnected, and one that trickles its body gets 408.
#[tokio::test]
async fn slow_clients_are_cut() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let backend = Arc::new(Mem(MemBackend::new(dir.path().to_path_buf())));
    let mut cfg = nodelet_api::ServeConfig::new(dir.path().to_path_buf());
    cfg.listen = None;
    cfg.limits.header_read_timeout = Duration::from_millis(500);
    cfg.limits.body_read_timeout = Duration::from_millis(500);
    let sock = cfg.unix_socket.clone().unwrap();
    let stop = cfg.shutdown.clone();
    let server = tokio::spawn(nodelet_api::serve(backend, cfg));
    for _ in 0..100 {
        if sock.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Half a head, then silence: the connection is closed.
    let mut c = tokio::net::UnixStream::connect(&sock).await.unwrap();
    c.write_all(b"GET /version HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let started = std::time::Instant::now();
    let n = tokio::time::timeout(Duration::from_secs(10), c.read_to_end(&mut buf))
        .await
        .unwrap();
    assert!(n.is_ok() && started.elapsed() < Duration::from_secs(5));
    assert!(!String::from_utf8_lossy(&buf).contains("200 OK"), "{buf:?}");
    // A body announced at 100 bytes, 10 sent: 408 and the connection ends.
    let mut c = tokio::net::UnixStream::connect(&sock).await.unwrap();
    c.write_all(b"POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"a\":\"b\"  ").await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), c.read_to_end(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(
        text.contains("the request body was not received within"),
        "{text}"
    );
    // An oversized head: 431.
    let mut c = tokio::net::UnixStream::connect(&sock).await.unwrap();
    let big = format!(
        "GET /version HTTP/1.1\r\nHost: x\r\nx-big: {}\r\n\r\n",
        "a".repeat(2 * 1024 * 1024)
    );
    let _ = c.write_all(big.as_bytes()).await;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), c.read_to_end(&mut buf))
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&buf);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 431"),
        "{text}"
    );
    stop.cancel();
    let _ = server.await;
}

#[test]
fn issued_user_kubeconfig_certificate_names_user_and_groups() {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let dir = tempfile::tempdir().unwrap();
    nodelet_api::pki::ensure(dir.path()).unwrap();
    let (cert, _) =
        nodelet_api::pki::issue_client(dir.path(), "alice", &["dev".into(), "ops".into()]).unwrap();
    let der = CertificateDer::from_pem_slice(cert.as_bytes()).unwrap();
    let u = UserInfo::from_certificate(&der).unwrap();
    assert_eq!(u.name, "alice");
    assert_eq!(u.groups, vec!["dev", "ops", "system:authenticated"]);
    let admin_pem = nodelet_api::pki::load(dir.path()).unwrap().admin_cert_pem;
    let der = CertificateDer::from_pem_slice(admin_pem.as_bytes()).unwrap();
    assert!(UserInfo::from_certificate(&der).unwrap().is_privileged());
    let three = ["a".to_string(), "b".to_string(), "c".to_string()];
    let e = nodelet_api::pki::issue_client(dir.path(), "x", &three).unwrap_err();
    assert!(e.message.contains("at most 2 groups"), "{}", e.message);
}
