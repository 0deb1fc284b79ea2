//! Issuing and authenticating service account tokens (the API server's
//! `TokenRequest` REST storage, `serviceaccount.Claims` and the JWT
//! authenticator with its bound-object validation).

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use nodelet_engine::sources::{SourceError, TokenGrant, TokenIssuer, TokenRequest};
use nodelet_store::Store;
use ring::signature::KeyPair;
use serde_json::{Map, Value, json};

use super::{DEFAULT_ISSUER, jwt, keys};
use crate::error::ApiError;

/// `token.WarnOnlyBoundTokenExpirationSeconds`: tokens asked for with this
/// lifetime (what the ServiceAccount admission plugin mounts) are valid for
/// a year but flagged after it, as the API server's
/// `--service-account-extend-token-expiration` (on by default) does.
const WARN_ONLY_SECONDS: i64 = 3607;
const EXTENDED_SECONDS: i64 = 365 * 24 * 3600;
/// go-jose's default leeway on `exp` and `nbf`.
const LEEWAY: i64 = 60;

/// Who a valid token authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccountUser {
    pub namespace: String,
    pub name: String,
}

impl ServiceAccountUser {
    /// `system:serviceaccount:<ns>:<name>`.
    pub fn username(&self) -> String {
        format!("system:serviceaccount:{}:{}", self.namespace, self.name)
    }
}

pub struct TokenAuthority {
    key: keys::SigningKey,
    public: Vec<u8>,
    pub issuer: String,
    /// The API's audiences (a token must carry one of them).
    pub audiences: Vec<String>,
    /// The CA every pod gets as `ca.crt` (`kube-root-ca.crt`).
    pub ca_pem: String,
    store: Arc<Store>,
    node_name: String,
}

impl std::fmt::Debug for TokenAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenAuthority")
            .field("issuer", &self.issuer)
            .field("kid", &self.key.kid)
            .finish()
    }
}

fn not_found(what: &str, name: &str) -> ApiError {
    ApiError::not_found(what, name)
}

impl TokenAuthority {
    /// The authority of the API under `root` (its CA and a service account
    /// key, both created on first use), reading accounts and pods from
    /// `store`.
    pub fn open(root: &Path, store: Arc<Store>, node_name: &str) -> Result<Self, ApiError> {
        let pki = crate::pki::ensure(root)?;
        let key = keys::ensure(root)?;
        let public = key.pair.public_key().as_ref().to_vec();
        Ok(TokenAuthority {
            key,
            public,
            issuer: DEFAULT_ISSUER.to_owned(),
            audiences: vec![DEFAULT_ISSUER.to_owned()],
            ca_pem: pki.ca_cert_pem,
            store,
            node_name: node_name.to_owned(),
        })
    }

    fn object(&self, kind: &str, ns: &str, name: &str) -> Result<Option<Value>, ApiError> {
        self.store
            .get_object(kind, ns, name)
            .map(|o| o.map(|(v, _)| v))
            .map_err(|e| ApiError::internal(e.to_string()))
    }

    /// The uid of service account `ns/name`. The `default` account exists
    /// in every namespace: it is created here when missing, as the
    /// service account controller would have.
    pub fn service_account_uid(&self, ns: &str, name: &str) -> Result<String, ApiError> {
        if let Some(sa) = self.object("ServiceAccount", ns, name)? {
            return Ok(sa["metadata"]["uid"].as_str().unwrap_or("").to_owned());
        }
        if name != nodelet_spec::admission::service_account::DEFAULT_SERVICE_ACCOUNT {
            return Err(not_found("serviceaccounts", name));
        }
        let sa = crate::namespace_defaults::default_service_account(ns);
        self.store
            .put_object("ServiceAccount", ns, name, &sa)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        Ok(sa["metadata"]["uid"].as_str().unwrap_or("").to_owned())
    }

    /// A token for `req`, as `TokenRequest` creates it: the bound pod must
    /// exist with that uid; an empty audience list means the API's own.
    pub fn issue_at(
        &self,
        req: &TokenRequest,
        now: Timestamp,
    ) -> Result<(String, Timestamp), ApiError> {
        let sa_uid = self.service_account_uid(&req.namespace, &req.service_account)?;
        let mut k8s = Map::new();
        k8s.insert("namespace".into(), json!(req.namespace));
        if let Some(b) = &req.bound_pod {
            let pod = self
                .object("Pod", &req.namespace, &b.name)?
                .ok_or_else(|| not_found("pods", &b.name))?;
            let uid = pod["metadata"]["uid"].as_str().unwrap_or("");
            if !b.uid.is_empty() && uid != b.uid {
                return Err(ApiError::new(
                    409,
                    "Conflict",
                    format!(
                        "Operation cannot be fulfilled on serviceaccounts \"{}\": the UID in the bound object reference ({}) does not match the UID in record. The object might have been deleted and then recreated",
                        req.service_account, b.uid
                    ),
                ));
            }
            let node = pod["spec"]["nodeName"].as_str().unwrap_or(&self.node_name);
            k8s.insert(
                "node".into(),
                json!({"name": node, "uid": crate::node::stable_uid(node)}),
            );
            k8s.insert("pod".into(), json!({"name": b.name, "uid": uid}));
        }
        k8s.insert(
            "serviceaccount".into(),
            json!({"name": req.service_account, "uid": sa_uid}),
        );
        let requested = req.expiration_seconds;
        let mut lifetime = requested;
        if requested == WARN_ONLY_SECONDS {
            lifetime = EXTENDED_SECONDS;
            k8s.insert(
                "warnafter".into(),
                json!((now + SignedDuration::from_secs(requested)).as_second()),
            );
        }
        let audiences = if req.audiences.is_empty() {
            self.audiences.clone()
        } else {
            req.audiences.clone()
        };
        let iat = now.as_second();
        let claims = json!({
            "aud": audiences,
            "exp": iat + lifetime,
            "iat": iat,
            "iss": self.issuer,
            "jti": uuid::Uuid::new_v4().to_string(),
            "kubernetes.io": Value::Object(k8s),
            "nbf": iat,
            "sub": format!("system:serviceaccount:{}:{}", req.namespace, req.service_account),
        });
        let token =
            jwt::sign(&self.key.pair, &self.key.kid, &claims).map_err(ApiError::internal)?;
        Ok((token, now + SignedDuration::from_secs(requested)))
    }

    /// `None` when `token` is not a token of this authority; otherwise
    /// whether it is (still) valid, as the API server's service account
    /// authenticator decides.
    pub fn authenticate_at(
        &self,
        token: &str,
        now: Timestamp,
    ) -> Option<Result<ServiceAccountUser, String>> {
        let claims = jwt::verify(token, &self.key.kid, &self.public)?;
        Some(self.validate(&claims, now.as_second()))
    }

    fn validate(&self, c: &Value, now: i64) -> Result<ServiceAccountUser, String> {
        if c["iss"].as_str() != Some(self.issuer.as_str()) {
            return Err("token issuer is not nodelet's".into());
        }
        let auds: Vec<&str> = match &c["aud"] {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !auds.iter().any(|a| self.audiences.iter().any(|b| b == a)) {
            return Err("token audiences are invalid for this API".into());
        }
        let exp = c["exp"].as_i64().ok_or("token has no expiry")?;
        if now > exp + LEEWAY {
            return Err("service account token has expired".into());
        }
        if c["nbf"].as_i64().is_some_and(|nbf| now + LEEWAY < nbf) {
            return Err("service account token is not valid yet".into());
        }
        let k = &c["kubernetes.io"];
        let ns = k["namespace"].as_str().ok_or("token has no namespace")?;
        let name = k["serviceaccount"]["name"]
            .as_str()
            .ok_or("token has no account")?;
        let invalidated = || "Token has been invalidated".to_string();
        let sa = self
            .object("ServiceAccount", ns, name)
            .map_err(|e| e.message.clone())?
            .ok_or_else(invalidated)?;
        if sa["metadata"]["uid"] != k["serviceaccount"]["uid"] {
            return Err(invalidated());
        }
        if let Some(pod_name) = k["pod"]["name"].as_str() {
            let pod = self
                .object("Pod", ns, pod_name)
                .map_err(|e| e.message.clone())?
                .ok_or_else(invalidated)?;
            if pod["metadata"]["uid"] != k["pod"]["uid"] {
                return Err(invalidated());
            }
        }
        Ok(ServiceAccountUser {
            namespace: ns.to_owned(),
            name: name.to_owned(),
        })
    }
}

#[async_trait]
impl TokenIssuer for TokenAuthority {
    async fn issue(&self, req: &TokenRequest) -> Result<TokenGrant, SourceError> {
        let (token, expiration) = self
            .issue_at(req, Timestamp::now())
            .map_err(|e| SourceError(e.message.clone()))?;
        Ok(TokenGrant { token, expiration })
    }
}
