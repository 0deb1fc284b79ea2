//! What a request asks to do, in the terms authorization uses: the API
//! server's `RequestInfo` (verb, API group, namespace, resource,
//! subresource, name) for resource URLs, the path and verb otherwise.

use axum::http::Method;

use crate::query::Query;

/// A resource or non-resource request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Attributes {
    pub verb: String,
    /// `false`: a non-resource URL (`/version`, `/healthz`, `/api`...).
    pub resource_request: bool,
    /// The URL path (for non-resource requests and the audit log).
    pub path: String,
    pub api_group: String,
    pub api_version: String,
    pub namespace: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
}

/// Subresources that are an action on a pod rather than a read: the API
/// server authorizes them as `create` whatever the method (kubectl opens
/// them with a WebSocket GET; `create` is what upstream checks for those
/// since the WebSocket upgrade check).
const ACTION_SUBRESOURCES: [&str; 3] = ["exec", "attach", "portforward"];

impl Attributes {
    /// The attributes of a request for `path` with `method` and `query`.
    pub fn of(method: &Method, path: &str, query: &Query) -> Attributes {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let non_resource = || Attributes {
            verb: match *method {
                Method::GET | Method::HEAD => "get",
                Method::POST => "post",
                Method::PUT => "put",
                Method::PATCH => "patch",
                Method::DELETE => "delete",
                _ => "",
            }
            .to_string(),
            resource_request: false,
            path: path.to_string(),
            ..Attributes::default()
        };
        // /api/v1/<rest> or /apis/<group>/<version>/<rest>.
        let (group, version, rest) = match parts.as_slice() {
            ["api", v, rest @ ..] if !rest.is_empty() => ("", *v, rest),
            ["apis", g, v, rest @ ..] if !rest.is_empty() => (*g, *v, rest),
            _ => return non_resource(),
        };
        let mut a = Attributes {
            resource_request: true,
            path: path.to_string(),
            api_group: group.to_string(),
            api_version: version.to_string(),
            ..Attributes::default()
        };
        let mut rest = rest;
        if rest[0] == "namespaces" && rest.len() > 1 {
            a.namespace = rest[1].to_string();
            if rest.len() > 2 {
                rest = &rest[2..];
            }
        }
        a.resource = rest[0].to_string();
        if let Some(n) = rest.get(1) {
            a.name = n.to_string();
        }
        if let Some(s) = rest.get(2) {
            a.subresource = s.to_string();
        }
        let watch = query.flag("watch");
        a.verb = match *method {
            Method::GET | Method::HEAD if watch => "watch",
            Method::GET | Method::HEAD if a.name.is_empty() => "list",
            Method::GET | Method::HEAD => "get",
            Method::POST => "create",
            Method::PUT => "update",
            Method::PATCH => "patch",
            Method::DELETE if a.name.is_empty() => "deletecollection",
            Method::DELETE => "delete",
            _ => "",
        }
        .to_string();
        if a.resource == "pods" && ACTION_SUBRESOURCES.contains(&a.subresource.as_str()) {
            a.verb = "create".to_string();
        }
        // A list or watch of one name (fieldSelector=metadata.name=x) is
        // about that name, so resourceNames rules can allow it.
        if a.name.is_empty()
            && matches!(a.verb.as_str(), "list" | "watch")
            && let Some(n) = query
                .get("fieldSelector")
                .and_then(|f| f.strip_prefix("metadata.name="))
                .filter(|n| !n.contains(','))
        {
            a.name = n.to_string();
        }
        a
    }

    /// `pods` or `pods/log`.
    pub fn resource_with_sub(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }

    /// Whether the verb changes something (what the audit log records).
    pub fn is_mutating(&self) -> bool {
        matches!(
            self.verb.as_str(),
            "create" | "update" | "patch" | "delete" | "deletecollection" | "post" | "put"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(m: Method, url: &str) -> Attributes {
        let (path, q) = url.split_once('?').unwrap_or((url, ""));
        Attributes::of(&m, path, &Query::parse(Some(q)))
    }

    #[test]
    fn resource_urls_as_the_api_server_reads_them() {
        let a = of(Method::GET, "/api/v1/namespaces/default/pods");
        assert_eq!(
            (a.verb.as_str(), a.namespace.as_str(), a.resource.as_str()),
            ("list", "default", "pods")
        );
        let a = of(Method::GET, "/api/v1/namespaces/default/pods?watch=true");
        assert_eq!(a.verb, "watch");
        let a = of(Method::GET, "/api/v1/namespaces/d/pods/p/log");
        assert_eq!(
            (
                a.verb.as_str(),
                a.name.as_str(),
                a.resource_with_sub().as_str()
            ),
            ("get", "p", "pods/log")
        );
        let a = of(Method::GET, "/api/v1/namespaces/d/pods/p/exec?command=sh");
        assert_eq!(a.verb, "create");
        let a = of(Method::DELETE, "/api/v1/namespaces/d/configmaps");
        assert_eq!(a.verb, "deletecollection");
        let a = of(Method::GET, "/api/v1/namespaces/kube-system");
        assert_eq!(
            (a.resource.as_str(), a.name.as_str(), a.namespace.as_str()),
            ("namespaces", "kube-system", "kube-system")
        );
        let a = of(
            Method::POST,
            "/apis/rbac.authorization.k8s.io/v1/clusterroles",
        );
        assert_eq!(
            (a.verb.as_str(), a.api_group.as_str(), a.namespace.as_str()),
            ("create", "rbac.authorization.k8s.io", "")
        );
        let a = of(
            Method::GET,
            "/api/v1/namespaces/d/secrets?fieldSelector=metadata.name%3Ds",
        );
        assert_eq!((a.verb.as_str(), a.name.as_str()), ("list", "s"));
        for p in [
            "/version",
            "/api",
            "/api/v1",
            "/apis/rbac.authorization.k8s.io/v1",
            "/metrics",
        ] {
            let a = of(Method::GET, p);
            assert!(!a.resource_request, "{p}");
            assert_eq!(a.verb, "get");
        }
    }
}
