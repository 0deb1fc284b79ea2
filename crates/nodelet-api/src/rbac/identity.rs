//! Who a request is: the user name and groups authentication established,
//! as the API server's `user.Info` (a client certificate's CN and O, the
//! admin token, a service account token, the local socket).

use x509_parser::prelude::{FromDer, X509Certificate};

/// The group the API server lets do everything, whatever the bindings.
pub const MASTERS: &str = "system:masters";
/// Every authenticated user is in this group.
pub const AUTHENTICATED: &str = "system:authenticated";
/// The name of the admin identity (admin kubeconfig, token, unix socket).
pub const ADMIN: &str = "nodelet-admin";

/// An authenticated user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    /// Always includes [`AUTHENTICATED`].
    pub groups: Vec<String>,
}

impl UserInfo {
    /// `name` in `groups` (and `system:authenticated`).
    pub fn new(name: impl Into<String>, groups: impl IntoIterator<Item = String>) -> Self {
        let mut groups: Vec<String> = groups.into_iter().collect();
        if !groups.iter().any(|g| g == AUTHENTICATED) {
            groups.push(AUTHENTICATED.to_string());
        }
        UserInfo {
            name: name.into(),
            groups,
        }
    }

    /// The admin: the admin token and the unix socket (whose 0600 mode
    /// restricts it to root), as the admin certificate says.
    pub fn admin() -> Self {
        UserInfo::new(ADMIN, [MASTERS.to_string()])
    }

    /// A service account, with the groups the API server gives it.
    pub fn service_account(ns: &str, name: &str) -> Self {
        UserInfo::new(
            format!("system:serviceaccount:{ns}:{name}"),
            [
                "system:serviceaccounts".to_string(),
                format!("system:serviceaccounts:{ns}"),
            ],
        )
    }

    /// A client certificate's subject: CN is the user, each O a group.
    /// `None` when the certificate cannot be parsed or has no CN (the API
    /// server refuses such certificates as well).
    pub fn from_certificate(der: &[u8]) -> Option<Self> {
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        let subject = cert.subject();
        let cn = subject
            .iter_common_name()
            .next()
            .and_then(|a| a.as_str().ok())?
            .to_string();
        if cn.is_empty() {
            return None;
        }
        let groups: Vec<String> = subject
            .iter_organization()
            .filter_map(|a| a.as_str().ok().map(str::to_string))
            .collect();
        Some(UserInfo::new(cn, groups))
    }

    /// Members of `system:masters` pass authorization unconditionally.
    pub fn is_privileged(&self) -> bool {
        self.groups.iter().any(|g| g == MASTERS)
    }
}

/// The identity of the verified client certificate of a TLS connection,
/// put on each of its requests by `serve` next to `ConnAuth::ClientCert`.
#[derive(Debug, Clone)]
pub struct CertUser(pub UserInfo);
