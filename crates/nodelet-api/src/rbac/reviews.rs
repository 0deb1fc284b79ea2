//! `SelfSubjectAccessReview` and `SelfSubjectRulesReview`
//! (authorization.k8s.io/v1): what `kubectl auth can-i` and
//! `kubectl auth can-i --list` ask.

use serde_json::{Value, json};

use super::attributes::Attributes;
use super::identity::UserInfo;
use super::policy::Policy;
use crate::backend::Backend;
use crate::error::ApiError;

pub const GROUP: &str = "authorization.k8s.io";

fn parse(body: &[u8], rules_review: bool) -> Result<Value, ApiError> {
    if crate::protobuf::is_protobuf(body) {
        return crate::protobuf_rbac::review_spec_to_json(body, rules_review);
    }
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("decoding the review: {e}")))?;
    Ok(v["spec"].clone())
}

fn s(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or("").to_string()
}

/// POST selfsubjectaccessreviews
pub async fn access(
    backend: &dyn Backend,
    user: &UserInfo,
    body: &[u8],
) -> Result<Value, ApiError> {
    let spec = parse(body, false)?;
    let a = if let Some(r) = spec.get("resourceAttributes").filter(|r| r.is_object()) {
        Attributes {
            verb: s(r, "verb"),
            resource_request: true,
            api_group: s(r, "group"),
            api_version: s(r, "version"),
            namespace: s(r, "namespace"),
            resource: s(r, "resource"),
            subresource: s(r, "subresource"),
            name: s(r, "name"),
            path: String::new(),
        }
    } else if let Some(n) = spec.get("nonResourceAttributes").filter(|r| r.is_object()) {
        Attributes {
            verb: s(n, "verb"),
            resource_request: false,
            path: s(n, "path"),
            ..Attributes::default()
        }
    } else {
        return Err(ApiError::new(
            422,
            "Invalid",
            "SelfSubjectAccessReview.authorization.k8s.io \"\" is invalid: spec.resourceAttributes: Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified",
        ));
    };
    let policy = Policy::load(backend, Some(&a.namespace)).await?;
    let d = policy.decide(user, &a);
    let mut status = json!({"allowed": d.allowed});
    if !d.reason.is_empty() {
        status["reason"] = json!(d.reason);
    }
    Ok(json!({
        "kind": "SelfSubjectAccessReview",
        "apiVersion": "authorization.k8s.io/v1",
        "metadata": {"creationTimestamp": null},
        "spec": spec,
        "status": status,
    }))
}

/// POST selfsubjectrulesreviews
pub async fn rules(backend: &dyn Backend, user: &UserInfo, body: &[u8]) -> Result<Value, ApiError> {
    let spec = parse(body, true)?;
    let ns = s(&spec, "namespace");
    let policy = Policy::load(backend, Some(&ns)).await?;
    let mut resource_rules = Vec::new();
    let mut non_resource_rules = Vec::new();
    let mut rules: Vec<_> = policy
        .grants(user, &ns)
        .into_iter()
        .map(|g| g.rule)
        .collect();
    let all = |v: &Option<Vec<String>>| v.as_deref().is_some_and(|v| v.iter().any(|x| x == "*"));
    if user.is_privileged()
        && !rules
            .iter()
            .any(|r| all(&r.resources) && r.verbs.iter().any(|v| v == "*"))
    {
        // system:masters may do everything even without a binding saying so.
        let star = || Some(vec!["*".to_string()]);
        rules.push(k8s_openapi::api::rbac::v1::PolicyRule {
            verbs: vec!["*".into()],
            api_groups: star(),
            resources: star(),
            ..Default::default()
        });
        rules.push(k8s_openapi::api::rbac::v1::PolicyRule {
            verbs: vec!["*".into()],
            non_resource_urls: star(),
            ..Default::default()
        });
    }
    for r in rules {
        if r.non_resource_urls
            .as_deref()
            .is_some_and(|u| !u.is_empty())
        {
            non_resource_rules
                .push(json!({"verbs": r.verbs, "nonResourceURLs": r.non_resource_urls}));
        } else {
            let mut rr =
                json!({"verbs": r.verbs, "apiGroups": r.api_groups, "resources": r.resources});
            if let Some(n) = r.resource_names.filter(|n| !n.is_empty()) {
                rr["resourceNames"] = json!(n);
            }
            resource_rules.push(rr);
        }
    }
    Ok(json!({
        "kind": "SelfSubjectRulesReview",
        "apiVersion": "authorization.k8s.io/v1",
        "metadata": {"creationTimestamp": null},
        "spec": spec,
        "status": {
            "resourceRules": resource_rules,
            "nonResourceRules": non_resource_rules,
            "incomplete": false,
        },
    }))
}
