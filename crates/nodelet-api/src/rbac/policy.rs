//! The RBAC authorizer: the bindings that name a user (directly, by group
//! or as a service account) and the rules of the roles they refer to,
//! read from the stored objects on each decision, and the API server's
//! 403 wording.

use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
use serde::de::DeserializeOwned;

use super::attributes::Attributes;
use super::identity::UserInfo;
use super::rules;
use crate::backend::Backend;
use crate::error::ApiError;
use crate::kind::Kind;

/// The stored roles and bindings one decision needs.
pub struct Policy {
    cluster_roles: Vec<ClusterRole>,
    roles: Vec<Role>,
    cluster_bindings: Vec<ClusterRoleBinding>,
    bindings: Vec<RoleBinding>,
}

/// A rule and the grant it came through (for `reason` and rule reviews).
pub struct Grant {
    pub rule: PolicyRule,
    /// `ClusterRoleBinding "x" of ClusterRole "y" to User "alice"`.
    pub via: String,
}

async fn load<T: DeserializeOwned>(
    backend: &dyn Backend,
    kind: Kind,
    ns: Option<&str>,
) -> Result<Vec<T>, ApiError> {
    let (items, _) = backend.list(kind, ns).await?;
    // Stored objects were validated on the way in; one that no longer
    // decodes grants nothing rather than failing every request.
    Ok(items
        .into_iter()
        .filter_map(|v| serde_json::from_value(v).ok())
        .collect())
}

fn subject_is(s: &Subject, user: &UserInfo, binding_ns: &str) -> bool {
    match s.kind.as_str() {
        "User" => s.name == user.name,
        "Group" => user.groups.contains(&s.name),
        "ServiceAccount" => {
            let ns = s.namespace.as_deref().unwrap_or(binding_ns);
            user.name == format!("system:serviceaccount:{ns}:{}", s.name)
        }
        _ => false,
    }
}

impl Policy {
    /// The cluster-wide policy and, with `ns`, that namespace's.
    pub async fn load(backend: &dyn Backend, ns: Option<&str>) -> Result<Policy, ApiError> {
        let ns = ns.filter(|n| !n.is_empty());
        Ok(Policy {
            cluster_roles: load(backend, Kind::ClusterRole, None).await?,
            cluster_bindings: load(backend, Kind::ClusterRoleBinding, None).await?,
            roles: match ns {
                Some(n) => load(backend, Kind::Role, Some(n)).await?,
                None => Vec::new(),
            },
            bindings: match ns {
                Some(n) => load(backend, Kind::RoleBinding, Some(n)).await?,
                None => Vec::new(),
            },
        })
    }

    /// The rules of what `role_ref` names (a Role only in `ns`).
    pub fn role_rules(&self, role_ref: &RoleRef, ns: &str) -> Option<Vec<PolicyRule>> {
        match role_ref.kind.as_str() {
            "ClusterRole" => self
                .cluster_roles
                .iter()
                .find(|r| r.metadata.name.as_deref() == Some(role_ref.name.as_str()))
                .map(|r| r.rules.clone().unwrap_or_default()),
            "Role" => self
                .roles
                .iter()
                .find(|r| {
                    r.metadata.name.as_deref() == Some(role_ref.name.as_str())
                        && r.metadata.namespace.as_deref() == Some(ns)
                })
                .map(|r| r.rules.clone().unwrap_or_default()),
            _ => None,
        }
    }

    /// Every rule granted to `user` cluster-wide and, when `ns` is not
    /// empty, in `ns`.
    pub fn grants(&self, user: &UserInfo, ns: &str) -> Vec<Grant> {
        let mut out = Vec::new();
        let who = |s: &Subject| format!("{} {:?}", s.kind, s.name);
        for b in &self.cluster_bindings {
            let bname = b.metadata.name.clone().unwrap_or_default();
            let Some(s) = b
                .subjects
                .iter()
                .flatten()
                .find(|s| subject_is(s, user, ""))
            else {
                continue;
            };
            for rule in self.role_rules(&b.role_ref, "").unwrap_or_default() {
                out.push(Grant {
                    rule,
                    via: format!(
                        "ClusterRoleBinding {bname:?} of ClusterRole {:?} to {}",
                        b.role_ref.name,
                        who(s)
                    ),
                });
            }
        }
        if ns.is_empty() {
            return out;
        }
        for b in &self.bindings {
            if b.metadata.namespace.as_deref() != Some(ns) {
                continue;
            }
            let bname = b.metadata.name.clone().unwrap_or_default();
            let Some(s) = b
                .subjects
                .iter()
                .flatten()
                .find(|s| subject_is(s, user, ns))
            else {
                continue;
            };
            for rule in self.role_rules(&b.role_ref, ns).unwrap_or_default() {
                out.push(Grant {
                    rule,
                    via: format!(
                        "RoleBinding \"{bname}/{ns}\" of {} {:?} to {}",
                        b.role_ref.kind,
                        b.role_ref.name,
                        who(s)
                    ),
                });
            }
        }
        out
    }

    /// Allowed (with the reason the API server gives) or not.
    pub fn decide(&self, user: &UserInfo, a: &Attributes) -> Decision {
        if user.is_privileged() {
            return Decision {
                allowed: true,
                reason: String::new(),
            };
        }
        match self
            .grants(user, &a.namespace)
            .into_iter()
            .find(|g| rules::allows(&g.rule, a))
        {
            Some(g) => Decision {
                allowed: true,
                reason: format!("RBAC: allowed by {}", g.via),
            },
            None => Decision {
                allowed: false,
                reason: String::new(),
            },
        }
    }
}

/// An authorization decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub reason: String,
}

/// `User "alice" cannot create resource "pods" in API group "" in the
/// namespace "default"` (the API server's `forbiddenMessage`).
pub fn forbidden_message(user: &UserInfo, a: &Attributes) -> String {
    if !a.resource_request {
        return format!("User {:?} cannot {} path {:?}", user.name, a.verb, a.path);
    }
    let res = a.resource_with_sub();
    if a.namespace.is_empty() {
        format!(
            "User {:?} cannot {} resource {res:?} in API group {:?} at the cluster scope",
            user.name, a.verb, a.api_group
        )
    } else {
        format!(
            "User {:?} cannot {} resource {res:?} in API group {:?} in the namespace {:?}",
            user.name, a.verb, a.api_group, a.namespace
        )
    }
}

/// The 403 the API server answers a denied request with:
/// `pods "p" is forbidden: <forbiddenMessage>`.
pub fn forbidden(group: &str, resource: &str, name: &str, detail: &str) -> ApiError {
    let qualified = if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    };
    let message = if resource.is_empty() {
        format!("forbidden: {detail}")
    } else if name.is_empty() {
        format!("{qualified} is forbidden: {detail}")
    } else {
        format!("{qualified} {name:?} is forbidden: {detail}")
    };
    let mut e = ApiError::new(403, "Forbidden", message);
    if !name.is_empty() {
        e.details.name = Some(name.to_string());
    }
    if !group.is_empty() {
        e.details.group = Some(group.to_string());
    }
    if !resource.is_empty() {
        e.details.kind = Some(resource.to_string());
    }
    e
}

/// [`forbidden`] for a request whose attributes were denied.
pub fn forbidden_request(user: &UserInfo, a: &Attributes) -> ApiError {
    forbidden(
        &a.api_group,
        &a.resource,
        &a.name,
        &forbidden_message(user, a),
    )
}
