//! One registry endpoint as oci-client talks to it: its TLS settings
//! (extra CAs, `skip_verify`), scheme, proxy and timeouts, the credential
//! to send, and the reference rewritten for a mirror (`?ns=<registry>`).
//!
//! oci-client keeps one credential per registry and per client, so every
//! pull attempt builds its own clients: two pods' credentials never mix.
//! Its errors are turned into sentences naming the request and the
//! registry's answer, in containerd's words where containerd has them
//! (`unexpected status from GET request to <url>: 401 Unauthorized`).

use std::time::Duration;

use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use super::hosts::Endpoint;
use super::keyring::Credential;

/// A registry request failed; `retry_elsewhere` says whether the next
/// endpoint (mirror, then upstream) may still succeed.
#[derive(Debug, Clone)]
pub struct FetchError {
    pub message: String,
    pub retry_elsewhere: bool,
    /// The content does not exist there (404): "not found".
    pub not_found: bool,
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// An endpoint ready for requests about one repository.
pub struct EndpointClient {
    pub endpoint: Endpoint,
    pub client: Client,
    pub auth: RegistryAuth,
    /// The image's reference, pointed at this endpoint.
    pub reference: Reference,
    /// The same settings as `client`'s, for the requests read with a
    /// bound ([`super::bounded`]).
    pub http: reqwest::Client,
    /// How those requests are authorised, once negotiated.
    pub(super) authz: tokio::sync::Mutex<Option<super::bounded::Auth>>,
}

impl std::fmt::Debug for EndpointClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointClient")
            .field("endpoint", &self.endpoint.url())
            .finish()
    }
}

/// `nodelet/<version>`, the User-Agent of every registry request.
const USER_AGENT: &str = concat!("nodelet/", env!("CARGO_PKG_VERSION"));

impl EndpointClient {
    /// A client for `endpoint` speaking for `registry/repository`, sending
    /// `credential` (anonymous when `None`).
    pub fn new(
        endpoint: &Endpoint,
        registry: &str,
        repository: &str,
        credential: Option<&Credential>,
    ) -> Result<EndpointClient, FetchError> {
        // reqwest is built without a crypto provider (ring only in this
        // workspace): make sure the process has one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let config = ClientConfig {
            protocol: if endpoint.scheme == "http" {
                ClientProtocol::Http
            } else {
                ClientProtocol::Https
            },
            accept_invalid_certificates: endpoint.skip_verify,
            extra_root_certificates: endpoint
                .ca
                .iter()
                .map(|pem| Certificate {
                    encoding: CertificateEncoding::Pem,
                    data: pem.clone(),
                })
                .collect(),
            // The manifest is parsed here, indexes included.
            platform_resolver: None,
            connect_timeout: Some(endpoint.dial_timeout.unwrap_or(Duration::from_secs(30))),
            // A transfer that stalls this long is a failure, not a wait.
            read_timeout: Some(Duration::from_secs(120)),
            user_agent: USER_AGENT,
            https_proxy: endpoint.proxy.clone(),
            http_proxy: endpoint.proxy.clone(),
            ..ClientConfig::default()
        };
        let failed = |e: &OciDistributionError| FetchError {
            message: format!("registry endpoint {}: {}", endpoint.url(), describe(e)),
            retry_elsewhere: true,
            not_found: false,
        };
        let http = http_client(&config).map_err(|e| failed(&e))?;
        let client = Client::try_from(config).map_err(|e| failed(&e))?;
        // Placeholder tag: every request names its own tag or digest.
        let mut reference = Reference::with_tag(
            registry.to_string(),
            repository.to_string(),
            "latest".into(),
        );
        if endpoint.registry_name() != registry {
            reference.set_mirror_registry(endpoint.registry_name());
        }
        let auth = match credential {
            Some(c) if !c.username.is_empty() || !c.password.is_empty() => {
                RegistryAuth::Basic(c.username.clone(), c.password.clone())
            }
            _ => RegistryAuth::Anonymous,
        };
        Ok(EndpointClient {
            endpoint: endpoint.clone(),
            client,
            auth,
            reference,
            http,
            authz: tokio::sync::Mutex::new(None),
        })
    }

    /// The reference for `tag_or_digest` (`sha256:...` is a digest).
    pub fn reference_for(&self, tag_or_digest: &str) -> Reference {
        let r = &self.reference;
        let mut out = if tag_or_digest.starts_with("sha256:") {
            Reference::with_digest(
                r.registry().to_string(),
                r.repository().to_string(),
                tag_or_digest.to_string(),
            )
        } else {
            Reference::with_tag(
                r.registry().to_string(),
                r.repository().to_string(),
                tag_or_digest.to_string(),
            )
        };
        if r.namespace().is_some() {
            out.set_mirror_registry(self.endpoint.registry_name());
        }
        out
    }

    /// The URL a request for `what` (`manifests/<ref>`, `blobs/<digest>`)
    /// goes to, for messages.
    pub fn url(&self, what: &str) -> String {
        let ns = self
            .reference
            .namespace()
            .map(|ns| format!("?ns={ns}"))
            .unwrap_or_default();
        format!(
            "{}/v2/{}/{what}{ns}",
            self.endpoint.url(),
            self.reference.repository()
        )
    }

    /// Turns an oci-client error about a `method` request for `what` into
    /// a [`FetchError`].
    pub fn error(&self, method: &str, what: &str, e: &OciDistributionError) -> FetchError {
        classify(method, &self.url(what), e)
    }
}

/// A reqwest client with the settings oci-client gives its own for
/// `config` (`Client::try_from`): certificates, timeouts, user agent,
/// proxies.
fn http_client(config: &ClientConfig) -> Result<reqwest::Client, OciDistributionError> {
    let certs = config
        .extra_root_certificates
        .iter()
        .map(reqwest::Certificate::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    let mut b = reqwest::Client::builder()
        .danger_accept_invalid_certs(config.accept_invalid_certificates)
        .tls_certs_merge(certs)
        .user_agent(config.user_agent);
    if let Some(t) = config.read_timeout {
        b = b.read_timeout(t);
    }
    if let Some(t) = config.connect_timeout {
        b = b.connect_timeout(t);
    }
    if let Some(p) = &config.https_proxy {
        b = b.proxy(reqwest::Proxy::https(p)?);
    }
    if let Some(p) = &config.http_proxy {
        b = b.proxy(reqwest::Proxy::http(p)?);
    }
    Ok(b.build()?)
}

fn status_text(code: u16) -> String {
    let reason = reqwest::StatusCode::from_u16(code)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    format!("{code} {reason}").trim_end().to_string()
}

/// An error with its sources, as one line.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let t = s.to_string();
        if !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        src = s.source();
    }
    out
}

fn describe(e: &OciDistributionError) -> String {
    match e {
        OciDistributionError::RequestError(r) => chain(r),
        other => chain(other),
    }
}

/// Sorts an oci-client error into what the user needs to read and whether
/// another endpoint may help (connection problems, 404 and 5xx do; a
/// refused credential or a malformed answer does not).
pub fn classify(method: &str, url: &str, e: &OciDistributionError) -> FetchError {
    let unexpected = |code: u16| {
        format!(
            "unexpected status from {method} request to {url}: {}",
            status_text(code)
        )
    };
    let (message, retry, not_found) = match e {
        OciDistributionError::UnauthorizedError { .. } => (unexpected(401), false, false),
        OciDistributionError::AuthenticationFailure(reason) => (
            format!("failed to authorize: {}", reason.trim()),
            false,
            false,
        ),
        OciDistributionError::ServerError { code, message, .. } => {
            let body = message.trim();
            let mut m = unexpected(*code);
            if !body.is_empty() && body.len() < 512 {
                m.push_str(": ");
                m.push_str(body);
            }
            (
                m,
                *code >= 500 || *code == 404 || *code == 429,
                *code == 404,
            )
        }
        OciDistributionError::RegistryError { envelope, .. } => {
            let not_found = envelope.errors.iter().any(|e| {
                matches!(
                    e.code,
                    OciErrorCode::ManifestUnknown
                        | OciErrorCode::BlobUnknown
                        | OciErrorCode::NameUnknown
                        | OciErrorCode::NotFound
                )
            });
            let denied = envelope
                .errors
                .iter()
                .any(|e| matches!(e.code, OciErrorCode::Unauthorized | OciErrorCode::Denied));
            let texts: Vec<String> = envelope
                .errors
                .iter()
                .map(|e| {
                    let code = serde_json::to_value(&e.code)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_lowercase))
                        .unwrap_or_default()
                        .replace('_', " ");
                    if e.message.is_empty() || e.message == code {
                        code
                    } else {
                        format!("{code}: {}", e.message)
                    }
                })
                .collect();
            let code = if not_found {
                404
            } else if denied {
                403
            } else {
                400
            };
            (
                format!("{}: {}", unexpected(code), texts.join("; ")),
                not_found,
                not_found,
            )
        }
        OciDistributionError::RequestError(r) => (
            format!("failed to do request: {method} {url:?}: {}", chain(r)),
            true,
            false,
        ),
        OciDistributionError::IoError(io) => (
            format!("failed to do request: {method} {url:?}: {io}"),
            true,
            false,
        ),
        other => (format!("{method} {url}: {}", describe(other)), false, false),
    };
    FetchError {
        message,
        retry_elsewhere: retry,
        not_found,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(url: &str) -> Endpoint {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("docker.io");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("hosts.toml"), format!("server = {url:?}\n")).unwrap();
        super::super::hosts::RegistryConfig::new(tmp.path())
            .endpoints("docker.io")
            .unwrap()
            .remove(0)
    }

    #[test]
    fn mirrors_carry_the_namespace() {
        let c = EndpointClient::new(
            &ep("https://127.0.0.1:5000"),
            "docker.io",
            "library/nginx",
            None,
        )
        .unwrap();
        assert_eq!(
            c.url("manifests/latest"),
            "https://127.0.0.1:5000/v2/library/nginx/manifests/latest?ns=docker.io"
        );
        let r = c.reference_for("sha256:abc");
        assert_eq!(r.resolve_registry(), "127.0.0.1:5000");
        assert_eq!(r.namespace(), Some("docker.io"));
        assert!(matches!(c.auth, RegistryAuth::Anonymous));

        let c = EndpointClient::new(
            &ep("http://r.example:5000/pfx"),
            "r.example:5000",
            "a/b",
            None,
        )
        .unwrap();
        assert_eq!(
            c.url("blobs/sha256:x"),
            "http://r.example:5000/pfx/v2/a/b/blobs/sha256:x?ns=r.example:5000"
        );
    }

    #[test]
    fn the_registry_itself_has_no_namespace_and_gets_the_credential() {
        let cred = Credential {
            username: "u".into(),
            password: "p".into(),
            source: "t".into(),
        };
        let c = EndpointClient::new(
            &ep("https://r.example:5000"),
            "r.example:5000",
            "a/b",
            Some(&cred),
        )
        .unwrap();
        assert_eq!(c.reference.namespace(), None);
        assert_eq!(
            c.url("manifests/v1"),
            "https://r.example:5000/v2/a/b/manifests/v1"
        );
        assert!(matches!(&c.auth, RegistryAuth::Basic(u, p) if u == "u" && p == "p"));
    }

    #[test]
    fn errors_read_like_containerds() {
        let e = classify(
            "GET",
            "https://r/v2/a/manifests/latest",
            &OciDistributionError::UnauthorizedError {
                url: "https://r/v2/a/manifests/latest".into(),
            },
        );
        assert_eq!(
            e.message,
            "unexpected status from GET request to https://r/v2/a/manifests/latest: 401 Unauthorized"
        );
        assert!(!e.retry_elsewhere);
        let e = classify(
            "GET",
            "u",
            &OciDistributionError::ServerError {
                code: 503,
                url: "u".into(),
                message: "down".into(),
            },
        );
        assert_eq!(
            e.message,
            "unexpected status from GET request to u: 503 Service Unavailable: down"
        );
        assert!(e.retry_elsewhere && !e.not_found);
    }
}
