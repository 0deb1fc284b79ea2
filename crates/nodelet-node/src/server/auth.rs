//! Who may use the kubelet port, as the kubelet's `--authentication-*` /
//! `--authorization-mode=Webhook` (`pkg/kubelet/server/auth.go`):
//!
//! - authentication: a client certificate signed by `--client-ca` (user =
//!   its CN, groups = its O values; the API server presents its
//!   kubelet-client certificate), or a bearer token the API server accepts
//!   (a TokenReview; metrics-server uses its service account's token).
//!   Anything else is 401 `Unauthorized`.
//! - authorization: a SubjectAccessReview to the API server for the verb
//!   of the HTTP method on `nodes/<subresource>` named after this node;
//!   the subresource is `stats`, `metrics`, `log`, or `proxy` for
//!   everything else (exec, attach, port-forward, container logs), with
//!   the fine-grained `pods`/`healthz`/`configz` tried first
//!   (`KubeletFineGrainedAuthz`). Denied is 403 with the kubelet's text.
//!   Answers are cached as the kubelet's webhook does: allowed 5 min,
//!   denied 30 s; token reviews 2 min.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};

const ALLOWED_TTL: Duration = Duration::from_secs(300);
const DENIED_TTL: Duration = Duration::from_secs(30);
const TOKEN_TTL: Duration = Duration::from_secs(120);

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct User {
    pub name: String,
    pub groups: Vec<String>,
}

/// How a connection presented itself (set per TLS connection).
#[derive(Debug, Clone)]
pub enum ConnIdentity {
    /// A verified client certificate's subject.
    Cert(User),
    /// No client certificate: the request may carry a bearer token.
    None,
}

/// The user of a verified client certificate: CN and O values.
pub fn user_of_cert(der: &[u8]) -> Option<User> {
    use x509_parser::prelude::FromDer;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der).ok()?;
    let subject = cert.subject();
    let name = subject
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())?
        .to_owned();
    let groups = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(str::to_owned))
        .collect();
    Some(User { name, groups })
}

/// The authorizer attributes of a request path (`GetRequestAttributes`):
/// subresources in the order they are tried.
pub fn subresources(path: &str) -> Vec<&'static str> {
    let under = |p: &str| {
        let p = p.trim_end_matches('/');
        path == p || path.strip_prefix(p).is_some_and(|r| r.starts_with('/'))
    };
    let mut out = Vec::new();
    if under("/pods") || under("/runningpods") {
        out.push("pods");
    } else if under("/healthz") {
        out.push("healthz");
    } else if under("/configz") {
        out.push("configz");
    }
    out.push(if under("/stats") {
        "stats"
    } else if under("/metrics") {
        "metrics"
    } else if under("/logs") {
        "log"
    } else if under("/checkpoint") {
        "checkpoint"
    } else {
        "proxy"
    });
    out
}

pub fn verb(method: &axum::http::Method) -> &'static str {
    match *method {
        axum::http::Method::POST => "create",
        axum::http::Method::GET => "get",
        axum::http::Method::PUT => "update",
        axum::http::Method::PATCH => "patch",
        axum::http::Method::DELETE => "delete",
        _ => "",
    }
}

type SarKey = (User, &'static str, &'static str);

pub struct Authorizer {
    client: kube::Client,
    node: String,
    decisions: Mutex<HashMap<SarKey, (bool, Instant)>>,
    tokens: Mutex<HashMap<String, (Option<User>, Instant)>>,
}

impl Authorizer {
    pub fn new(client: kube::Client, node: &str) -> Self {
        Authorizer {
            client,
            node: node.to_owned(),
            decisions: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// The user behind a bearer token (TokenReview), `None` if rejected.
    pub async fn authenticate_token(&self, token: &str) -> Result<Option<User>, String> {
        if let Some((u, at)) = self
            .tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(token)
            .cloned()
            && at.elapsed() < TOKEN_TTL
        {
            return Ok(u);
        }
        let api: Api<TokenReview> = Api::all(self.client.clone());
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: token.to_owned(),
                audiences: None,
            },
            ..Default::default()
        };
        let done = api
            .create(&PostParams::default(), &review)
            .await
            .map_err(|e| e.to_string())?;
        let user = done
            .status
            .filter(|s| s.authenticated == Some(true))
            .and_then(|s| s.user)
            .map(|u| User {
                name: u.username.unwrap_or_default(),
                groups: u.groups.unwrap_or_default(),
            });
        self.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(token.to_owned(), (user.clone(), Instant::now()));
        Ok(user)
    }

    /// Whether `user` may `verb` any of `subresources` of this node.
    pub async fn authorize(
        &self,
        user: &User,
        verb: &'static str,
        subresources: &[&'static str],
    ) -> Result<bool, String> {
        for sub in subresources {
            if self.allowed(user, verb, sub).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn allowed(
        &self,
        user: &User,
        verb: &'static str,
        sub: &'static str,
    ) -> Result<bool, String> {
        let key = (user.clone(), verb, sub);
        if let Some((allowed, at)) = self
            .decisions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .copied()
        {
            let ttl = if allowed { ALLOWED_TTL } else { DENIED_TTL };
            if at.elapsed() < ttl {
                return Ok(allowed);
            }
        }
        let api: Api<SubjectAccessReview> = Api::all(self.client.clone());
        let sar = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: Some(user.name.clone()),
                groups: Some(user.groups.clone()),
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(verb.to_owned()),
                    version: Some("v1".into()),
                    resource: Some("nodes".into()),
                    subresource: Some(sub.to_owned()),
                    name: Some(self.node.clone()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let done = api
            .create(&PostParams::default(), &sar)
            .await
            .map_err(|e| e.to_string())?;
        let allowed = done.status.is_some_and(|s| s.allowed);
        self.decisions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, (allowed, Instant::now()));
        Ok(allowed)
    }
}

/// The kubelet's 403 text.
pub fn forbidden_message(user: &str, verb: &str, subresources: &[&str]) -> String {
    format!(
        "Forbidden (user={user}, verb={verb}, resource=nodes, subresource(s)=[{}])\n",
        subresources.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_the_kubelets_subresources() {
        assert_eq!(subresources("/stats/summary"), ["stats"]);
        assert_eq!(subresources("/metrics"), ["metrics"]);
        assert_eq!(subresources("/metrics/resource"), ["metrics"]);
        assert_eq!(subresources("/logs/"), ["log"]);
        assert_eq!(subresources("/containerLogs/ns/p/c"), ["proxy"]);
        assert_eq!(subresources("/exec/ns/p/c"), ["proxy"]);
        assert_eq!(subresources("/pods"), ["pods", "proxy"]);
        assert_eq!(subresources("/healthz"), ["healthz", "proxy"]);
        assert_eq!(subresources("/podsx"), ["proxy"]);
    }

    #[test]
    fn forbidden_text_is_the_kubelets() {
        assert_eq!(
            forbidden_message("bob", "get", &["pods", "proxy"]),
            "Forbidden (user=bob, verb=get, resource=nodes, subresource(s)=[pods proxy])\n"
        );
    }

    #[test]
    fn cert_subject_gives_user_and_groups() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec![]).unwrap();
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CommonName, "kube-apiserver-kubelet-client");
        dn.push(rcgen::DnType::OrganizationName, "system:masters");
        params.distinguished_name = dn;
        let cert = params.self_signed(&key).unwrap();
        let u = user_of_cert(cert.der()).unwrap();
        assert_eq!(u.name, "kube-apiserver-kubelet-client");
        assert_eq!(u.groups, ["system:masters"]);
    }
}
