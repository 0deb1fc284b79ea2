//! Manifest and config requests read with a bound, not into memory whole.
//!
//! oci-client's manifest calls (`pull_manifest_raw`, and the GET fallback
//! of `fetch_manifest_digest`) read the whole answer before anyone can
//! look at its size, so a registry streaming an endless body exhausts the
//! agent's memory. These requests go through a reqwest client built with
//! the endpoint's own TLS, proxy and timeout settings, authorised by the
//! token oci-client negotiated (or the endpoint's basic credential), and
//! stop reading at [`MAX_METADATA`] (containerd's manifest limit) with an
//! error naming the limit (configs too: oci-client's blob stream reads a
//! failed request's error body whole). Error bodies are read up to [`ERROR_BODY`]
//! bytes only. The registry's answers still go through
//! [`classify`](super::client::classify), so messages stay containerd's.

use oci_client::RegistryOperation;
use oci_client::errors::{OciDistributionError, OciEnvelope};
use oci_client::secrets::RegistryAuth;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, HeaderMap};

use super::client::{EndpointClient, FetchError, classify};
use crate::image::source::MAX_METADATA;

/// The part of an error answer kept for the message.
const ERROR_BODY: usize = 64 << 10;

/// `16 MiB` for [`MAX_METADATA`]-like limits, bytes otherwise.
pub fn human(limit: u64) -> String {
    if limit >= 1 << 20 && limit.is_multiple_of(1 << 20) {
        format!("{} MiB", limit >> 20)
    } else {
        format!("{limit} bytes")
    }
}

/// A manifest answer: its bytes and the `Docker-Content-Digest` header.
pub struct Fetched {
    pub body: Vec<u8>,
    pub digest_header: Option<String>,
}

impl EndpointClient {
    /// `Authorization` for requests about this repository: the bearer
    /// token oci-client negotiated from the registry's challenge, else the
    /// endpoint's basic credential, else nothing. Negotiated once per
    /// client (one pull attempt).
    async fn authorization(&self, what: &str) -> Result<Auth, FetchError> {
        let mut cached = self.authz.lock().await;
        if let Some(a) = cached.as_ref() {
            return Ok(a.clone());
        }
        let token = self
            .client
            .auth(&self.reference, &self.auth, RegistryOperation::Pull)
            .await
            .map_err(|e| self.error("GET", what, &e))?;
        let a = match (token, &self.auth) {
            (Some(t), _) => Auth::Bearer(t),
            (None, RegistryAuth::Basic(u, p)) => Auth::Basic(u.clone(), p.clone()),
            (None, _) => Auth::None,
        };
        *cached = Some(a.clone());
        Ok(a)
    }

    async fn request(
        &self,
        method: reqwest::Method,
        what: &str,
        accept: &[&str],
    ) -> Result<reqwest::Response, FetchError> {
        let url = self.url(what);
        let mut req = self
            .http
            .request(method.clone(), &url)
            .header(ACCEPT, accept.join(", "));
        req = match self.authorization(what).await? {
            Auth::Bearer(t) => req.bearer_auth(t),
            Auth::Basic(u, p) => req.basic_auth(u, Some(p)),
            Auth::None => req,
        };
        req.send()
            .await
            .map_err(|e| self.error(method.as_str(), what, &OciDistributionError::from(e)))
    }

    /// `GET manifests/<tag or digest>`, the body bounded by `limit`.
    pub async fn get_manifest(
        &self,
        tag_or_digest: &str,
        accept: &[&str],
        limit: u64,
    ) -> Result<Fetched, FetchError> {
        let what = format!("manifests/{tag_or_digest}");
        self.get_bounded(&what, "manifest", accept, limit).await
    }

    /// `GET blobs/<digest>` of a small blob (a config), bounded by `limit`.
    pub async fn get_small_blob(&self, digest: &str, limit: u64) -> Result<Fetched, FetchError> {
        let what = format!("blobs/{digest}");
        self.get_bounded(&what, "config", &["*/*"], limit).await
    }

    /// `GET <what>` with the body bounded by `limit`; `kind` names the
    /// document in the error.
    async fn get_bounded(
        &self,
        what: &str,
        kind: &str,
        accept: &[&str],
        limit: u64,
    ) -> Result<Fetched, FetchError> {
        let what = what.to_string();
        let mut res = self.request(reqwest::Method::GET, &what, accept).await?;
        let status = res.status();
        let digest_header = digest_header(res.headers());
        if status != StatusCode::OK {
            return Err(self.status_error("GET", &what, res).await);
        }
        let too_large = || FetchError {
            message: format!(
                "{}: {kind} larger than the {} limit",
                self.url(&what),
                human(limit)
            ),
            retry_elsewhere: false,
            not_found: false,
        };
        if res.content_length().is_some_and(|n| n > limit) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        loop {
            match res.chunk().await {
                Ok(Some(c)) => {
                    if (body.len() + c.len()) as u64 > limit {
                        return Err(too_large());
                    }
                    body.extend_from_slice(&c);
                }
                Ok(None) => break,
                Err(e) => {
                    return Err(self.error("GET", &what, &OciDistributionError::from(e)));
                }
            }
        }
        Ok(Fetched {
            body,
            digest_header,
        })
    }

    /// The digest `tag` names: the `Docker-Content-Digest` of a HEAD, or
    /// (registries that do not send it) the hash of a bounded GET.
    pub async fn resolve_tag(&self, tag: &str, accept: &[&str]) -> Result<String, FetchError> {
        let what = format!("manifests/{tag}");
        let res = self.request(reqwest::Method::HEAD, &what, accept).await?;
        if let Some(d) = digest_header(res.headers()) {
            if res.status() != StatusCode::OK {
                return Err(self.status_error("HEAD", &what, res).await);
            }
            return Ok(d);
        }
        let got = self
            .get_manifest(tag, accept, MAX_METADATA)
            .await
            .map_err(|mut e| {
                // Messages name the request the caller made.
                e.message = e
                    .message
                    .replacen("from GET request", "from HEAD request", 1);
                e
            })?;
        Ok(crate::image::import::sha256_bytes(&got.body))
    }

    /// A non-200 answer as oci-client would have classified it, from at
    /// most [`ERROR_BODY`] bytes of its body.
    async fn status_error(
        &self,
        method: &str,
        what: &str,
        mut res: reqwest::Response,
    ) -> FetchError {
        let status = res.status();
        let url = self.url(what);
        let mut body = Vec::new();
        while body.len() < ERROR_BODY {
            match res.chunk().await {
                Ok(Some(c)) => body.extend_from_slice(&c[..c.len().min(ERROR_BODY - body.len())]),
                _ => break,
            }
        }
        let e = if status == StatusCode::UNAUTHORIZED {
            OciDistributionError::UnauthorizedError { url: url.clone() }
        } else if status.is_success() {
            OciDistributionError::SpecViolationError(format!(
                "Expected HTTP Status {}, got {status} instead",
                StatusCode::OK
            ))
        } else {
            match serde_json::from_slice::<OciEnvelope>(&body) {
                Ok(envelope) if status.is_client_error() => OciDistributionError::RegistryError {
                    envelope,
                    url: url.clone(),
                },
                _ => OciDistributionError::ServerError {
                    code: status.as_u16(),
                    url: url.clone(),
                    message: String::from_utf8_lossy(&body).into_owned(),
                },
            }
        };
        classify(method, &url, &e)
    }
}

/// How requests of one pull attempt are authorised.
#[derive(Clone)]
pub enum Auth {
    Bearer(String),
    Basic(String, String),
    None,
}

fn digest_header(h: &HeaderMap) -> Option<String> {
    h.get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_read_as_sizes() {
        assert_eq!(human(MAX_METADATA), "16 MiB");
        assert_eq!(human(1000), "1000 bytes");
    }
}
