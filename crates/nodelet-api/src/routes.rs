//! The router: URL shapes of the core and events.k8s.io groups mapped onto
//! the handlers, behind authentication.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use jiff::Timestamp;
use serde_json::{Value, json};

use crate::auth::{Token, require_auth};
use crate::backend::Backend;
use crate::error::ApiError;
use crate::exec::{self, Mode};
use crate::kind::Kind;
use crate::logs::{self, LogOpts};
use crate::objects;
use crate::patch::PatchType;
use crate::query::Query;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::table::{self, IncludeObject};
use crate::watch::{self, WatchSpec};
use crate::{discovery, events_v1, openapi, openapi_pb, spec_subresources, status_write};

#[derive(Clone)]
pub struct AppState {
    pub backend: Arc<dyn Backend>,
    /// Service account tokens (issuing, `TokenRequest`, pod admission);
    /// `None` serves without them.
    pub tokens: Option<Arc<crate::tokens::TokenAuthority>>,
    /// PodSecurity admission settings for pod creation.
    pub pod_security: Arc<crate::admission::PodSecurityConfig>,
}

impl AppState {
    /// The admission plugins this API runs on creation.
    fn admission(&self) -> crate::admission::Admission<'_> {
        crate::admission::Admission {
            service_accounts: self.tokens.is_some(),
            pod_security: &self.pod_security,
        }
    }
}

/// Which API group a URL addressed (changes how events are rendered).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    Core,
    Events,
    /// `discovery.k8s.io` (EndpointSlices).
    Discovery,
    /// `nodelet.dev/v1` (HookDelivery).
    Nodelet,
    /// `rbac.authorization.k8s.io/v1`.
    Rbac,
}

fn json_response(code: StatusCode, v: &Value) -> Response {
    (code, [("content-type", "application/json")], v.to_string()).into_response()
}

fn ok(v: &Value) -> Response {
    json_response(StatusCode::OK, v)
}

/// The API with the default PodSecurity settings (baseline).
pub fn router(backend: Arc<dyn Backend>, token: &str) -> Router {
    router_with(
        backend,
        token,
        None,
        crate::admission::PodSecurityConfig::default(),
    )
}

/// [`router`] with service account tokens (the ServiceAccount admission of
/// pods, the `serviceaccounts/<name>/token` subresource, and bearer tokens
/// the authority issued accepted) and explicit PodSecurity settings.
pub fn router_with(
    backend: Arc<dyn Backend>,
    token: &str,
    tokens: Option<Arc<crate::tokens::TokenAuthority>>,
    pod_security: crate::admission::PodSecurityConfig,
) -> Router {
    router_full(backend, token, tokens, pod_security, ApiOptions::default())
}

/// What bounds and records requests (see [`crate::limits`], [`crate::audit`]).
#[derive(Default, Clone)]
pub struct ApiOptions {
    pub limits: crate::limits::Limits,
    /// Where mutating requests are recorded; `None` records nothing.
    pub audit: Option<Arc<crate::audit::AuditLog>>,
}

/// [`router_with`] with explicit limits and an audit log.
pub fn router_full(
    backend: Arc<dyn Backend>,
    token: &str,
    tokens: Option<Arc<crate::tokens::TokenAuthority>>,
    pod_security: crate::admission::PodSecurityConfig,
    opts: ApiOptions,
) -> Router {
    let state = AppState {
        backend,
        tokens: tokens.clone(),
        pod_security: Arc::new(pod_security),
    };
    let api = Router::new()
        .route("/version", get(|| async { ok(&discovery::version()) }))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .route(
            "/ui",
            get(|| async { axum::response::Redirect::permanent("/ui/") }),
        )
        .route("/ui/", get(crate::ui::index))
        .route("/ui/pods/{ns}/{name}", get(crate::ui::pod))
        .route("/livez", get(|| async { "ok" }))
        .route("/readyz", get(|| async { "ok" }))
        .route(
            "/api",
            get(|h: HeaderMap| async move { discovery::api(&h) }),
        )
        .route(
            "/api/v1",
            get(|| async { ok(&discovery::api_v1_resources()) }),
        )
        .route(
            "/apis",
            get(|h: HeaderMap| async move { discovery::apis(&h) }),
        )
        .route(
            "/apis/events.k8s.io",
            get(|| async { ok(&discovery::events_group_doc()) }),
        )
        .route(
            "/apis/events.k8s.io/v1",
            get(|| async { ok(&discovery::events_v1_resources()) }),
        )
        .route(
            "/apis/nodelet.dev",
            get(|| async { ok(&discovery::nodelet_group_doc()) }),
        )
        .route(
            "/apis/nodelet.dev/v1",
            get(|| async { ok(&discovery::nodelet_v1_resources()) }),
        )
        .route("/apis/nodelet.dev/v1/{plural}", any(nodelet_group))
        .route(
            "/apis/nodelet.dev/v1/namespaces/{ns}/{plural}",
            any(nodelet_group),
        )
        .route(
            "/apis/nodelet.dev/v1/namespaces/{ns}/{plural}/{name}",
            any(nodelet_group),
        )
        .route(
            "/openapi/v3",
            get(|| async { raw_json(openapi::v3_index()) }),
        )
        .route(
            "/openapi/v3/api/v1",
            get(|| async { raw_json(openapi::v3_core()) }),
        )
        .route(
            "/openapi/v3/apis/events.k8s.io/v1",
            get(|| async { raw_json(openapi::v3_events()) }),
        )
        .route("/openapi/v2", get(openapi_v2))
        .route("/api/v1/{plural}", any(core_cluster))
        .route("/api/v1/{plural}/{name}", any(core_cluster))
        .route("/api/v1/namespaces/{ns}/{plural}", any(core_ns))
        .route("/api/v1/namespaces/{ns}/{plural}/{name}", any(core_ns))
        .route(
            "/api/v1/namespaces/{ns}/{plural}/{name}/{sub}",
            any(core_ns),
        )
        .route("/api/v1/namespaces/{ns}/pods/{name}/exec", any(exec_route))
        .route(
            "/api/v1/namespaces/{ns}/pods/{name}/attach",
            any(attach_route),
        )
        .route(
            "/apis/discovery.k8s.io",
            get(|| async { ok(&discovery::discovery_group_doc()) }),
        )
        .route(
            "/apis/discovery.k8s.io/v1",
            get(|| async { ok(&discovery::discovery_v1_resources()) }),
        )
        .route(
            "/openapi/v3/apis/discovery.k8s.io/v1",
            get(|| async { raw_json(openapi::v3_discovery()) }),
        )
        .route(
            "/apis/discovery.k8s.io/v1/endpointslices",
            any(discovery_route),
        )
        .route(
            "/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices",
            any(discovery_route),
        )
        .route(
            "/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices/{name}",
            any(discovery_route),
        )
        .route(
            "/api/v1/namespaces/{ns}/pods/{name}/portforward",
            any(portforward_route),
        )
        .route(
            "/apis/rbac.authorization.k8s.io",
            get(|| async { ok(&discovery::rbac_group_doc()) }),
        )
        .route(
            "/apis/rbac.authorization.k8s.io/v1",
            get(|| async { ok(&discovery::rbac_v1_resources()) }),
        )
        .route(
            "/openapi/v3/apis/rbac.authorization.k8s.io/v1",
            get(|| async { raw_json(openapi::v3_rbac()) }),
        )
        .route(
            "/apis/rbac.authorization.k8s.io/v1/{plural}",
            any(rbac_route),
        )
        .route(
            "/apis/rbac.authorization.k8s.io/v1/{plural}/{name}",
            any(rbac_route),
        )
        .route(
            "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/{plural}",
            any(rbac_route),
        )
        .route(
            "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/{plural}/{name}",
            any(rbac_route),
        )
        .route(
            "/apis/authorization.k8s.io",
            get(|| async { ok(&discovery::authorization_group_doc()) }),
        )
        .route(
            "/apis/authorization.k8s.io/v1",
            get(|| async { ok(&discovery::authorization_v1_resources()) }),
        )
        .route(
            "/apis/authorization.k8s.io/v1/{plural}",
            axum::routing::post(access_review),
        )
        .route("/apis/events.k8s.io/v1/events", any(events_group))
        .route(
            "/apis/events.k8s.io/v1/namespaces/{ns}/events",
            any(events_group),
        )
        .route(
            "/apis/events.k8s.io/v1/namespaces/{ns}/events/{name}",
            any(events_group),
        )
        .fallback(|| async {
            ApiError::new(
                404,
                "NotFound",
                "the server could not find the requested resource",
            )
        })
        .with_state(state.clone());
    let api = api
        .layer(axum::middleware::from_fn_with_state(
            state.backend.clone(),
            crate::adopting::wait,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.backend,
            crate::authz::authorize,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(crate::limits::LimitState::new(opts.limits)),
            crate::limits::limit,
        ))
        .layer(axum::middleware::from_fn_with_state(
            opts.audit,
            crate::audit::audit,
        ))
        // The body limit is ours (3 MiB, the API server's answer).
        .layer(axum::extract::DefaultBodyLimit::disable());
    api.layer(axum::middleware::from_fn_with_state(
        Token {
            static_token: Arc::from(token),
            service_accounts: tokens,
        },
        require_auth,
    ))
}

/// `/metrics`: the agent's Prometheus metrics (behind authentication like
/// every other path, as the kubelet's `/metrics`).
async fn metrics(State(st): State<AppState>) -> Response {
    (
        [(
            "content-type",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        st.backend.metrics(),
    )
        .into_response()
}

fn raw_json(s: &'static str) -> Response {
    ([("content-type", "application/json")], s).into_response()
}

async fn openapi_v2(headers: HeaderMap) -> Response {
    // kubectl asks for protobuf only (client-side validation of `kind:
    // List`); other clients for JSON.
    let accept = headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    if accept.contains("json") || accept.contains("*/*") {
        raw_json(openapi::v2())
    } else if accept.contains(openapi_pb::ACCEPT) {
        (
            [("content-type", openapi_pb::CONTENT_TYPE)],
            openapi_pb::v2(),
        )
            .into_response()
    } else {
        ApiError::not_acceptable("/openapi/v2 is served as JSON or gnostic protobuf")
            .into_response()
    }
}

/// The request pieces every resource handler needs besides the path and
/// the body, extracted by axum from the request head.
struct Ctx {
    method: Method,
    headers: HeaderMap,
    query: Query,
    /// Who asks (set by authentication; the admin when absent, which only
    /// happens for routers served without authentication in tests).
    user: crate::rbac::UserInfo,
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Ctx {
            method: parts.method.clone(),
            headers: parts.headers.clone(),
            query: Query::parse(parts.uri.query()),
            user: parts
                .extensions
                .get::<crate::rbac::UserInfo>()
                .cloned()
                .unwrap_or_else(crate::rbac::UserInfo::admin),
        })
    }
}

async fn core_cluster(
    State(st): State<AppState>,
    Path(p): Path<HashMap<String, String>>,
    ctx: Ctx,
    body: Bytes,
) -> Response {
    let Some(kind) = p
        .get("plural")
        .and_then(|k| Kind::from_plural(k))
        .filter(|k| k.group().is_empty())
    else {
        return not_served();
    };
    let r = if kind.namespaced() {
        // `/api/v1/pods` lists across namespaces; nothing else is valid.
        if p.contains_key("name") {
            Err(ApiError::new(
                404,
                "NotFound",
                "the server could not find the requested resource",
            ))
        } else {
            resource(&st, Group::Core, kind, None, None, None, ctx, body).await
        }
    } else {
        resource(
            &st,
            Group::Core,
            kind,
            None,
            p.get("name").cloned(),
            None,
            ctx,
            body,
        )
        .await
    };
    r.unwrap_or_else(IntoResponse::into_response)
}

async fn core_ns(
    State(st): State<AppState>,
    Path(p): Path<HashMap<String, String>>,
    ctx: Ctx,
    body: Bytes,
) -> Response {
    let Some(kind) = p
        .get("plural")
        .and_then(|k| Kind::from_plural(k))
        .filter(|k| k.namespaced() && k.group().is_empty())
    else {
        return not_served();
    };
    resource(
        &st,
        Group::Core,
        kind,
        p.get("ns").cloned(),
        p.get("name").cloned(),
        p.get("sub").cloned(),
        ctx,
        body,
    )
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

async fn events_group(
    State(st): State<AppState>,
    Path(p): Path<HashMap<String, String>>,
    ctx: Ctx,
    body: Bytes,
) -> Response {
    resource(
        &st,
        Group::Events,
        Kind::Event,
        p.get("ns").cloned(),
        p.get("name").cloned(),
        None,
        ctx,
        body,
    )
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

async fn discovery_route(
    State(st): State<AppState>,
    Path(p): Path<HashMap<String, String>>,
    ctx: Ctx,
    body: Bytes,
) -> Response {
    resource(
        &st,
        Group::Discovery,
        Kind::EndpointSlice,
        p.get("ns").cloned(),
        p.get("name").cloned(),
        None,
        ctx,
        body,
    )
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

/// `/apis/nodelet.dev/v1/...`: nodelet's own kinds (read-only).
async fn nodelet_group(
    State(st): State<AppState>,
    Path(p): Path<HashMap<String, String>>,
    ctx: Ctx,
    body: Bytes,
) -> Response {
    let Some(kind) = p
        .get("plural")
        .and_then(|k| Kind::from_group_plural(crate::kind::NODELET_GROUP, k))
    else {
        return not_served();
    };
    resource(
        &st,
        Group::Nodelet,
        kind,
        p.get("ns").cloned(),
        p.get("name").cloned(),
        None,
        ctx,
        body,
    )
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

/// `/apis/rbac.authorization.k8s.io/v1/...`: roles and bindings.
async fn rbac_route(
    State(st): State<AppState>,
    Path(p): Path<HashMap<String, String>>,
    ctx: Ctx,
    body: Bytes,
) -> Response {
    let Some(kind) = p
        .get("plural")
        .and_then(|k| Kind::from_group_plural(crate::kind::RBAC_GROUP, k))
    else {
        return not_served();
    };
    let ns = p.get("ns").cloned();
    if ns.is_some() != kind.namespaced() && (ns.is_some() || p.contains_key("name")) {
        // A cluster-scoped kind under a namespace, or one namespaced
        // object addressed without its namespace.
        return not_served();
    }
    resource(
        &st,
        Group::Rbac,
        kind,
        ns,
        p.get("name").cloned(),
        None,
        ctx,
        body,
    )
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

/// `POST /apis/authorization.k8s.io/v1/selfsubject{access,rules}reviews`.
async fn access_review(
    State(st): State<AppState>,
    Path(plural): Path<String>,
    ctx: Ctx,
    body: Bytes,
) -> Response {
    let r = match plural.as_str() {
        "selfsubjectaccessreviews" => {
            crate::rbac::reviews::access(&*st.backend, &ctx.user, &body).await
        }
        "selfsubjectrulesreviews" => {
            crate::rbac::reviews::rules(&*st.backend, &ctx.user, &body).await
        }
        _ => return not_served(),
    };
    match r {
        Ok(v) => json_response(StatusCode::CREATED, &v),
        Err(e) => e.into_response(),
    }
}

async fn portforward_route(
    State(st): State<AppState>,
    Path(p): Path<HashMap<String, String>>,
    req: Request,
) -> Response {
    let ns = p.get("ns").cloned().unwrap_or_default();
    let name = p.get("name").cloned().unwrap_or_default();
    crate::portforward::route::handle(st.backend, ns, name, req)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn exec_route(
    State(st): State<AppState>,
    Path(p): Path<HashMap<String, String>>,
    req: Request,
) -> Response {
    streaming(st, p, req, Mode::Exec).await
}

async fn attach_route(
    State(st): State<AppState>,
    Path(p): Path<HashMap<String, String>>,
    req: Request,
) -> Response {
    streaming(st, p, req, Mode::Attach).await
}

async fn streaming(st: AppState, p: HashMap<String, String>, req: Request, mode: Mode) -> Response {
    let (mut parts, _) = req.into_parts();
    let q = Query::parse(parts.uri.query());
    let ws = WebSocketUpgrade::from_request_parts(&mut parts, &())
        .await
        .ok();
    let ns = p.get("ns").cloned().unwrap_or_default();
    let name = p.get("name").cloned().unwrap_or_default();
    let slot = parts
        .extensions
        .get::<crate::limits::SessionSlot>()
        .cloned();
    exec::handle(st.backend, mode, ns, name, q, ws, slot)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

fn content_type(h: &HeaderMap) -> &str {
    h.get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn not_served() -> Response {
    ApiError::new(
        404,
        "NotFound",
        "the server could not find the requested resource",
    )
    .into_response()
}

/// Sets `apiVersion`/`kind` (objects in lists and watches carry them too).
fn typed(kind: Kind, group: Group, mut v: Value) -> Value {
    if group == Group::Events && kind == Kind::Event {
        return events_v1::from_core(&v);
    }
    if let Some(o) = v.as_object_mut() {
        o.insert("apiVersion".into(), json!(kind.api_version()));
        o.insert("kind".into(), json!(kind.name()));
    }
    v
}

fn convert_core_event(v: &Value) -> Value {
    events_v1::from_core(v)
}

fn identity(v: &Value) -> Value {
    v.clone()
}

async fn get_one(st: &AppState, kind: Kind, ns: &str, name: &str) -> Result<Value, ApiError> {
    if kind == Kind::Node {
        let node = serde_json::to_value(st.backend.node())
            .map_err(|e| ApiError::internal(e.to_string()))?;
        return if node["metadata"]["name"].as_str() == Some(name) {
            Ok(node)
        } else {
            Err(ApiError::not_found("nodes", name))
        };
    }
    Ok(st.backend.get(kind, ns, name).await?.0)
}

async fn list_all(
    st: &AppState,
    kind: Kind,
    ns: Option<&str>,
) -> Result<(Vec<Value>, u64), ApiError> {
    if kind == Kind::Node {
        let node = serde_json::to_value(st.backend.node())
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let (_, rv) = st.backend.list(Kind::Namespace, None).await?;
        return Ok((vec![node], rv));
    }
    st.backend.list(kind, ns).await
}

fn created(v: Value, was_created: bool) -> Response {
    json_response(
        if was_created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        &v,
    )
}

#[allow(clippy::too_many_arguments)]
async fn resource(
    st: &AppState,
    group: Group,
    kind: Kind,
    ns: Option<String>,
    name: Option<String>,
    sub: Option<String>,
    ctx: Ctx,
    body: Bytes,
) -> Result<Response, ApiError> {
    let q = &ctx.query;
    let is_table = table::wants_table(&ctx.headers);
    let include = IncludeObject::parse(q.get("includeObject"));
    let render_one = |v: Value, rv: u64| -> Value {
        if is_table {
            table::table(
                kind,
                std::slice::from_ref(&v),
                rv,
                include,
                Timestamp::now(),
            )
        } else {
            typed(kind, group, v)
        }
    };
    let nsr = ns.as_deref().unwrap_or("");
    match (name.as_deref(), sub.as_deref(), &ctx.method) {
        // Collections.
        (None, None, &Method::GET) => {
            let labels = LabelSelector::parse(q.get("labelSelector").unwrap_or(""))?;
            let fields = FieldSelector::parse(q.get("fieldSelector").unwrap_or(""), kind)?;
            if q.flag("watch") {
                let since = match q.get("resourceVersion") {
                    None | Some("") => None,
                    Some(s) => Some(s.parse::<u64>().map_err(|_| {
                        ApiError::bad_request(format!("invalid resourceVersion {s:?}"))
                    })?),
                };
                let spec = WatchSpec {
                    kind,
                    ns: ns.clone(),
                    labels,
                    fields,
                    since,
                    send_initial: q.flag("sendInitialEvents"),
                    bookmarks: q.flag("allowWatchBookmarks"),
                    timeout: q
                        .int("timeoutSeconds")?
                        .map(|s| Duration::from_secs(s.max(0) as u64)),
                    table: is_table.then_some(include),
                    convert: if group == Group::Events {
                        convert_core_event
                    } else {
                        identity
                    },
                };
                return watch::watch(st.backend.clone(), spec).await;
            }
            let (items, rv) = list_all(st, kind, ns.as_deref()).await?;
            let items: Vec<Value> = items
                .into_iter()
                .filter(|o| labels.matches(o) && fields.matches(kind, o))
                .collect();
            if is_table {
                // Cells come from the stored (core) shape whatever the group.
                return Ok(ok(&table::table(
                    kind,
                    &items,
                    rv,
                    include,
                    Timestamp::now(),
                )));
            }
            let items: Vec<Value> = items.into_iter().map(|o| typed(kind, group, o)).collect();
            Ok(ok(&json!({
                "kind": format!("{}List", kind.name()),
                "apiVersion": if group == Group::Events { "events.k8s.io/v1" } else { kind.api_version() },
                "metadata": {"resourceVersion": rv.to_string()},
                "items": items,
            })))
        }
        (None, None, &Method::POST) => {
            if kind.group() == crate::kind::NODELET_GROUP {
                return Err(ApiError::method_not_allowed(
                    "nodelet.dev objects are recorded by the node agent",
                ));
            }
            if group == Group::Events {
                return Err(ApiError::method_not_allowed(
                    "events are recorded by the node agent",
                ));
            }
            if group == Group::Rbac {
                let v = crate::rbac::objects::create(
                    &*st.backend,
                    &ctx.user,
                    kind,
                    nsr,
                    &body,
                    q.dry_run()?,
                )
                .await?;
                return Ok(created(typed(kind, group, v), true));
            }
            let (v, warnings) = objects::create(
                &*st.backend,
                kind,
                nsr,
                &body,
                q.dry_run()?,
                q.get("fieldManager"),
                st.admission(),
            )
            .await?;
            Ok(crate::admission::with_warnings(
                created(typed(kind, group, v), true),
                &warnings,
            ))
        }
        (None, None, m) => Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({m} {})",
            kind.plural()
        ))),
        // Single objects.
        (Some(_), None, m) if kind.group() == crate::kind::NODELET_GROUP && m != Method::GET => {
            Err(ApiError::method_not_allowed(
                "nodelet.dev objects are recorded by the node agent",
            ))
        }
        (Some(n), None, &Method::GET) => {
            if q.flag("watch") {
                return Err(ApiError::bad_request(
                    "use a fieldSelector metadata.name=<name> to watch one object",
                ));
            }
            let v = get_one(st, kind, nsr, n).await?;
            Ok(ok(&render_one(v, 0)))
        }
        (Some(n), None, &Method::PUT) if group == Group::Rbac => {
            let v = crate::rbac::objects::replace(
                &*st.backend,
                &ctx.user,
                kind,
                nsr,
                n,
                &body,
                q.dry_run()?,
            )
            .await?;
            Ok(ok(&typed(kind, group, v)))
        }
        (Some(n), None, &Method::PATCH) if group == Group::Rbac => {
            let pt = PatchType::from_content_type(content_type(&ctx.headers))?;
            let (v, was_created) = crate::rbac::objects::patch(
                &*st.backend,
                &ctx.user,
                kind,
                nsr,
                n,
                pt,
                &body,
                q.dry_run()?,
            )
            .await?;
            Ok(created(typed(kind, group, v), was_created))
        }
        (Some(n), None, &Method::PUT) => {
            let v = objects::replace(&*st.backend, kind, nsr, n, &body, q.dry_run()?).await?;
            Ok(ok(&typed(kind, group, v)))
        }
        (Some(n), None, &Method::PATCH) => {
            let pt = PatchType::from_content_type(content_type(&ctx.headers))?;
            let (v, was_created, warnings) = objects::patch(
                &*st.backend,
                kind,
                nsr,
                n,
                pt,
                &body,
                q.dry_run()?,
                q.get("fieldManager"),
                st.admission(),
            )
            .await?;
            Ok(crate::admission::with_warnings(
                created(typed(kind, group, v), was_created),
                &warnings,
            ))
        }
        (Some(n), None, &Method::DELETE) => {
            let opts = objects::delete_opts(q, &body)?;
            let v = objects::delete(&*st.backend, kind, nsr, n, &opts, q.dry_run()?).await?;
            Ok(ok(&typed(kind, group, v)))
        }
        (Some(_), None, m) => Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({m})"
        ))),
        // Subresources.
        (Some(n), Some("status"), &Method::GET) if kind == Kind::Pod => {
            let v = get_one(st, kind, nsr, n).await?;
            Ok(ok(&render_one(v, 0)))
        }
        (Some(n), Some("status"), &Method::PUT) if kind == Kind::Pod => {
            let v = status_write::replace(&*st.backend, kind, nsr, n, &body, q.dry_run()?).await?;
            Ok(ok(&typed(kind, group, v)))
        }
        (Some(n), Some("status"), &Method::PATCH) if kind == Kind::Pod => {
            let pt = PatchType::from_content_type(content_type(&ctx.headers))?;
            let v = status_write::patch(
                &*st.backend,
                kind,
                nsr,
                n,
                pt,
                &body,
                q.dry_run()?,
                q.get("fieldManager"),
            )
            .await?;
            Ok(ok(&typed(kind, group, v)))
        }
        (Some(_), Some("status"), m) if kind == Kind::Pod => Err(ApiError::method_not_allowed(
            format!("the server does not allow this method on the requested resource ({m})"),
        )),
        (Some(n), Some(sub), &Method::GET)
            if kind == Kind::Pod && spec_subresources::Part::from_subresource(sub).is_some() =>
        {
            let v = get_one(st, kind, nsr, n).await?;
            Ok(ok(&render_one(v, 0)))
        }
        (Some(n), Some(sub), &Method::PUT) if kind == Kind::Pod => {
            let part = spec_subresources::Part::from_subresource(sub).ok_or_else(not_found)?;
            let v =
                spec_subresources::replace(part, &*st.backend, nsr, n, &body, q.dry_run()?).await?;
            Ok(ok(&typed(kind, group, v)))
        }
        (Some(n), Some(sub), &Method::PATCH) if kind == Kind::Pod => {
            let part = spec_subresources::Part::from_subresource(sub).ok_or_else(not_found)?;
            let pt = PatchType::from_content_type(content_type(&ctx.headers))?;
            let v = spec_subresources::patch(part, &*st.backend, nsr, n, pt, &body, q.dry_run()?)
                .await?;
            Ok(ok(&typed(kind, group, v)))
        }
        (Some(n), Some("token"), &Method::POST) if kind == Kind::ServiceAccount => {
            let Some(auth) = st.tokens.as_deref() else {
                return Err(ApiError::new(
                    404,
                    "NotFound",
                    "the server could not find the requested resource",
                ));
            };
            let v = crate::tokens::request::create(auth, &*st.backend, nsr, n, &body).await?;
            Ok(created(v, true))
        }
        (Some(n), Some("log"), &Method::GET) if kind == Kind::Pod => {
            let opts = LogOpts::from_query(q)?;
            logs::logs(st.backend.clone(), nsr.to_string(), n.to_string(), opts).await
        }
        _ => Err(not_found()),
    }
}

fn not_found() -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        "the server could not find the requested resource",
    )
}
