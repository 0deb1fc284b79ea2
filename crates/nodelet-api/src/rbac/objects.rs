//! Writes of Roles, ClusterRoles and their bindings: decoding (JSON, YAML
//! or kubectl's protobuf), validation as the API server's rbac validation
//! (roleRef kinds, subject kinds, rules with verbs, `roleRef` immutable),
//! metadata handling, and escalation prevention (a user grants only what
//! it holds, unless it may `escalate` roles or `bind` the role).

use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
use serde_json::{Value, json};

use super::attributes::Attributes;
use super::identity::UserInfo;
use super::policy::{Policy, forbidden};
use super::rules;
use crate::backend::Backend;
use crate::error::ApiError;
use crate::kind::{Kind, RBAC_GROUP};
use crate::patch::{self, PatchType};

fn invalid(kind: Kind, name: &str, field: &str, why: &str) -> ApiError {
    ApiError::new(
        422,
        "Invalid",
        format!(
            "{}.{RBAC_GROUP} {name:?} is invalid: {field}: {why}",
            kind.name()
        ),
    )
}

/// A body as JSON: protobuf (kubectl's typed clients), JSON or YAML.
fn parse(kind: Kind, body: &[u8]) -> Result<Value, ApiError> {
    if crate::protobuf::is_protobuf(body) {
        return crate::protobuf_rbac::rbac_to_json(kind, body);
    }
    crate::objects::parse_value(kind, body)
}

/// What the object grants (rules), or refers to (bindings).
enum Content {
    Rules(Vec<PolicyRule>),
    Binding(RoleRef),
}

fn check_rules(kind: Kind, name: &str, rules: &[PolicyRule]) -> Result<(), ApiError> {
    for (i, r) in rules.iter().enumerate() {
        if r.verbs.is_empty() {
            return Err(invalid(
                kind,
                name,
                &format!("rules[{i}].verbs"),
                "Required value: verbs must contain at least one value",
            ));
        }
        let urls = r.non_resource_urls.as_deref().unwrap_or_default();
        if !urls.is_empty() {
            if kind == Kind::Role {
                return Err(invalid(
                    kind,
                    name,
                    &format!("rules[{i}].nonResourceURLs"),
                    "Invalid value: namespaced rules cannot apply to non-resource URLs",
                ));
            }
            if r.api_groups.as_deref().is_some_and(|g| !g.is_empty())
                || r.resources.as_deref().is_some_and(|g| !g.is_empty())
            {
                return Err(invalid(
                    kind,
                    name,
                    &format!("rules[{i}].nonResourceURLs"),
                    "Invalid value: rules cannot apply to both regular resources and non-resource URLs",
                ));
            }
            continue;
        }
        if r.api_groups.as_deref().is_none_or(|g| g.is_empty()) {
            return Err(invalid(
                kind,
                name,
                &format!("rules[{i}].apiGroups"),
                "Required value: resource rules must supply at least one api group",
            ));
        }
        if r.resources.as_deref().is_none_or(|g| g.is_empty()) {
            return Err(invalid(
                kind,
                name,
                &format!("rules[{i}].resources"),
                "Required value: resource rules must supply at least one resource",
            ));
        }
    }
    Ok(())
}

fn check_binding(
    kind: Kind,
    name: &str,
    role_ref: &RoleRef,
    subjects: &[Subject],
) -> Result<(), ApiError> {
    let group = role_ref.api_group.as_deref().unwrap_or("");
    if group != RBAC_GROUP {
        return Err(invalid(
            kind,
            name,
            "roleRef.apiGroup",
            &format!(
                "Unsupported value: {group:?}: supported values: \"rbac.authorization.k8s.io\""
            ),
        ));
    }
    let kinds: &[&str] = if kind == Kind::ClusterRoleBinding {
        &["ClusterRole"]
    } else {
        &["Role", "ClusterRole"]
    };
    if !kinds.contains(&role_ref.kind.as_str()) {
        let supported: Vec<String> = kinds.iter().map(|k| format!("{k:?}")).collect();
        return Err(invalid(
            kind,
            name,
            "roleRef.kind",
            &format!(
                "Unsupported value: {:?}: supported values: {}",
                role_ref.kind,
                supported.join(", ")
            ),
        ));
    }
    if role_ref.name.is_empty() {
        return Err(invalid(kind, name, "roleRef.name", "Required value"));
    }
    for (i, s) in subjects.iter().enumerate() {
        if s.name.is_empty() {
            return Err(invalid(
                kind,
                name,
                &format!("subjects[{i}].name"),
                "Required value",
            ));
        }
        match s.kind.as_str() {
            "User" | "Group" => {}
            "ServiceAccount" => {
                if kind == Kind::ClusterRoleBinding
                    && s.namespace.as_deref().unwrap_or("").is_empty()
                {
                    return Err(invalid(
                        kind,
                        name,
                        &format!("subjects[{i}].namespace"),
                        "Required value",
                    ));
                }
            }
            other => {
                return Err(invalid(
                    kind,
                    name,
                    &format!("subjects[{i}].kind"),
                    &format!(
                        "Unsupported value: {other:?}: supported values: \"ServiceAccount\", \"User\", \"Group\""
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Decodes and validates `v` as `kind`; returns what it grants.
fn validate(kind: Kind, name: &str, v: &Value) -> Result<Content, ApiError> {
    let bad =
        |e: serde_json::Error| ApiError::bad_request(format!("decoding {}: {e}", kind.name()));
    match kind {
        Kind::Role => {
            let r: Role = serde_json::from_value(v.clone()).map_err(bad)?;
            let rules = r.rules.unwrap_or_default();
            check_rules(kind, name, &rules)?;
            Ok(Content::Rules(rules))
        }
        Kind::ClusterRole => {
            let r: ClusterRole = serde_json::from_value(v.clone()).map_err(bad)?;
            if r.aggregation_rule.is_some() {
                return Err(invalid(
                    kind,
                    name,
                    "aggregationRule",
                    "Forbidden: aggregated ClusterRoles are not supported by nodelet",
                ));
            }
            let rules = r.rules.unwrap_or_default();
            check_rules(kind, name, &rules)?;
            Ok(Content::Rules(rules))
        }
        Kind::RoleBinding => {
            let b: RoleBinding = serde_json::from_value(v.clone()).map_err(bad)?;
            check_binding(
                kind,
                name,
                &b.role_ref,
                b.subjects.as_deref().unwrap_or_default(),
            )?;
            Ok(Content::Binding(b.role_ref))
        }
        Kind::ClusterRoleBinding => {
            let b: ClusterRoleBinding = serde_json::from_value(v.clone()).map_err(bad)?;
            check_binding(
                kind,
                name,
                &b.role_ref,
                b.subjects.as_deref().unwrap_or_default(),
            )?;
            Ok(Content::Binding(b.role_ref))
        }
        _ => Err(ApiError::internal(format!(
            "{} is not an RBAC kind",
            kind.name()
        ))),
    }
}

/// Refuses to let `user` grant more than it holds (upstream's
/// `ConfirmNoEscalation`), unless it may `escalate` (roles) or `bind` the
/// referenced role (bindings).
async fn no_escalation(
    backend: &dyn Backend,
    user: &UserInfo,
    kind: Kind,
    ns: &str,
    name: &str,
    content: &Content,
) -> Result<(), ApiError> {
    if user.is_privileged() {
        return Ok(());
    }
    let policy = Policy::load(backend, Some(ns)).await?;
    let may = |verb: &str, resource: &str, res_name: &str| {
        let a = Attributes {
            verb: verb.into(),
            resource_request: true,
            api_group: RBAC_GROUP.into(),
            api_version: "v1".into(),
            namespace: ns.into(),
            resource: resource.into(),
            name: res_name.into(),
            ..Attributes::default()
        };
        policy.decide(user, &a).allowed
    };
    let wanted = match content {
        Content::Rules(r) => {
            if may("escalate", kind.plural(), name) {
                return Ok(());
            }
            r.clone()
        }
        Content::Binding(role_ref) => {
            let res = if role_ref.kind == "Role" {
                "roles"
            } else {
                "clusterroles"
            };
            if may("bind", res, &role_ref.name) {
                return Ok(());
            }
            policy.role_rules(role_ref, ns).unwrap_or_default()
        }
    };
    let held: Vec<PolicyRule> = policy
        .grants(user, ns)
        .into_iter()
        .map(|g| g.rule)
        .collect();
    let missing = rules::uncovered(&held, &wanted);
    if missing.is_empty() {
        return Ok(());
    }
    let groups: Vec<String> = user.groups.iter().map(|g| format!("{g:?}")).collect();
    let lines: Vec<String> = missing.iter().map(rules::compact).collect();
    Err(forbidden(
        RBAC_GROUP,
        kind.plural(),
        name,
        &format!(
            "user {:?} (groups=[{}]) is attempting to grant RBAC permissions not currently held:\n{}",
            user.name,
            groups.join(" "),
            lines.join("\n")
        ),
    ))
}

/// Namespace and name from the URL and the object, as the API server
/// checks them; fills in the type.
fn identify(
    kind: Kind,
    ns: &str,
    v: &mut Value,
    url_name: Option<&str>,
) -> Result<String, ApiError> {
    if !v.is_object() {
        return Err(ApiError::bad_request("the request body must be an object"));
    }
    if let Some(k) = v["kind"].as_str()
        && k != kind.name()
    {
        return Err(ApiError::bad_request(format!(
            "the kind of the provided object ({k}) does not match the resource of the request ({})",
            kind.plural()
        )));
    }
    v["apiVersion"] = json!(kind.api_version());
    v["kind"] = json!(kind.name());
    if !v["metadata"].is_object() {
        v["metadata"] = json!({});
    }
    if kind.namespaced() {
        match v["metadata"]["namespace"].as_str() {
            None | Some("") => v["metadata"]["namespace"] = json!(ns),
            Some(n) if n == ns => {}
            Some(_) => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
        }
    } else if let Some(o) = v["metadata"].as_object_mut() {
        o.remove("namespace");
    }
    let mut name = v["metadata"]["name"].as_str().unwrap_or("").to_string();
    if name.is_empty()
        && url_name.is_none()
        && let Some(g) = v["metadata"]["generateName"]
            .as_str()
            .filter(|g| !g.is_empty())
    {
        name = format!("{g}{}", crate::objects::random_suffix());
        v["metadata"]["name"] = json!(name);
    }
    if let Some(u) = url_name {
        if name.is_empty() {
            name = u.to_string();
            v["metadata"]["name"] = json!(name);
        } else if name != u {
            return Err(ApiError::bad_request(
                "the name of the object does not match the name on the URL",
            ));
        }
    }
    if name.is_empty() {
        return Err(invalid(
            kind,
            "",
            "metadata.name",
            "Required value: name or generateName is required",
        ));
    }
    if name == "." || name == ".." || name.contains('/') || name.contains('%') {
        return Err(invalid(
            kind,
            &name,
            "metadata.name",
            &format!(
                "Invalid value: {name:?}: may not be '.' or '..' and may not contain '/' or '%'"
            ),
        ));
    }
    Ok(name)
}

/// POST
pub async fn create(
    backend: &dyn Backend,
    user: &UserInfo,
    kind: Kind,
    ns: &str,
    body: &[u8],
    dry_run: bool,
) -> Result<Value, ApiError> {
    let mut v = parse(kind, body)?;
    let name = identify(kind, ns, &mut v, None)?;
    let content = validate(kind, &name, &v)?;
    no_escalation(backend, user, kind, ns, &name, &content).await?;
    let m = &mut v["metadata"];
    m["uid"] = json!(uuid::Uuid::new_v4().to_string());
    m["creationTimestamp"] = json!(
        jiff::Timestamp::now()
            .round(jiff::Unit::Second)
            .unwrap_or_else(|_| jiff::Timestamp::now())
            .to_string()
    );
    if let Some(o) = m.as_object_mut() {
        o.remove("resourceVersion");
    }
    if dry_run {
        return Ok(v);
    }
    let ns_key = if kind.namespaced() { ns } else { "" };
    backend.put_plain(kind, ns_key, &name, v, true, None).await
}

/// A whole new version of an existing object (PUT, PATCH).
#[allow(clippy::too_many_arguments)]
async fn update(
    backend: &dyn Backend,
    user: &UserInfo,
    kind: Kind,
    ns: &str,
    name: &str,
    old: &Value,
    mut v: Value,
    dry_run: bool,
) -> Result<Value, ApiError> {
    identify(kind, ns, &mut v, Some(name))?;
    let content = validate(kind, name, &v)?;
    if let Content::Binding(new_ref) = &content {
        let old_ref: Option<RoleRef> = serde_json::from_value(old["roleRef"].clone()).ok();
        if old_ref.as_ref() != Some(new_ref) {
            return Err(invalid(
                kind,
                name,
                "roleRef",
                "Invalid value: cannot change roleRef",
            ));
        }
    }
    no_escalation(backend, user, kind, ns, name, &content).await?;
    let expected = match v["metadata"]["resourceVersion"].as_str() {
        None | Some("") => None,
        Some(s) => Some(
            s.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {s:?}")))?,
        ),
    };
    let m = &mut v["metadata"];
    m["uid"] = old["metadata"]["uid"].clone();
    m["creationTimestamp"] = old["metadata"]["creationTimestamp"].clone();
    if let Some(o) = m.as_object_mut() {
        o.remove("resourceVersion");
    }
    if dry_run {
        return Ok(v);
    }
    let ns_key = if kind.namespaced() { ns } else { "" };
    backend
        .put_plain(kind, ns_key, name, v, false, expected)
        .await
}

/// PUT
pub async fn replace(
    backend: &dyn Backend,
    user: &UserInfo,
    kind: Kind,
    ns: &str,
    name: &str,
    body: &[u8],
    dry_run: bool,
) -> Result<Value, ApiError> {
    let v = parse(kind, body)?;
    let (old, _) = backend.get(kind, ns, name).await?;
    update(backend, user, kind, ns, name, &old, v, dry_run).await
}

/// PATCH (JSON, merge, strategic merge: the RBAC lists have no merge keys,
/// so a strategic merge replaces them as a merge patch does; apply
/// patches are merged the same way and create a missing object).
#[allow(clippy::too_many_arguments)]
pub async fn patch(
    backend: &dyn Backend,
    user: &UserInfo,
    kind: Kind,
    ns: &str,
    name: &str,
    pt: PatchType,
    body: &[u8],
    dry_run: bool,
) -> Result<(Value, bool), ApiError> {
    let p = patch::parse_body(pt, body)?;
    let old = match backend.get(kind, ns, name).await {
        Ok((old, _)) => old,
        Err(e) if e.code == 404 && pt == PatchType::Apply => {
            let body = serde_json::to_vec(&p).map_err(|e| ApiError::internal(e.to_string()))?;
            return Ok((create(backend, user, kind, ns, &body, dry_run).await?, true));
        }
        Err(e) => return Err(e),
    };
    let mut v = old.clone();
    let pt = if pt == PatchType::Json {
        PatchType::Json
    } else {
        PatchType::Merge
    };
    patch::apply(pt, &mut v, &p)?;
    if pt == PatchType::Merge
        && let Some(m) = v["metadata"].as_object_mut()
    {
        // A merge patch that does not name a version does not require one.
        if p["metadata"]["resourceVersion"].is_null() {
            m.remove("resourceVersion");
        }
    }
    Ok((
        update(backend, user, kind, ns, name, &old, v, dry_run).await?,
        false,
    ))
}
