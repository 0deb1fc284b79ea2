//! The API server's PodSecurity admission on pod creation: the namespace's
//! `pod-security.kubernetes.io/*` labels over the agent's default policy
//! (`--pod-security-default`, baseline unless told otherwise, since whoever
//! holds this API's credentials is root on the machine), upstream's 403
//! text on an enforce violation and `Warning` headers (`299 - "..."`, as
//! kubectl prints them) for the warn level. The checks themselves are pure
//! and live in `nodelet_spec::podsecurity`.

use std::collections::BTreeMap;

use axum::http::HeaderValue;
use axum::response::Response;
use k8s_openapi::api::core::v1::Pod;
use nodelet_spec::podsecurity::{self, Exemptions, Level, LevelVersion, Policy, Version};

use crate::backend::Backend;
use crate::error::ApiError;
use crate::kind::Kind;

/// The agent-wide Pod Security settings (the admission configuration's
/// `defaults` and `exemptions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSecurityConfig {
    pub defaults: Policy,
    pub exemptions: Exemptions,
}

impl PodSecurityConfig {
    /// Enforce, audit and warn all at `level` (latest version), as
    /// `--pod-security-default=LEVEL` asks.
    pub fn at(level: Level) -> Self {
        let lv = LevelVersion {
            level,
            version: Version::Latest,
        };
        PodSecurityConfig {
            defaults: Policy {
                enforce: lv,
                audit: lv,
                warn: lv,
            },
            exemptions: Exemptions::default(),
        }
    }
}

impl Default for PodSecurityConfig {
    /// nodelet's documented default: baseline (the API server's is
    /// privileged).
    fn default() -> Self {
        Self::at(Level::Baseline)
    }
}

/// Admits (or refuses) a pod about to be created in `ns`; returns the warn
/// texts. A refusal is 403 `pods "<name>" is forbidden: violates
/// PodSecurity "<level>:<version>": <details>`.
pub async fn admit_pod(
    cfg: &PodSecurityConfig,
    backend: &dyn Backend,
    ns: &str,
    pod: &Pod,
) -> Result<Vec<String>, ApiError> {
    let labels = namespace_labels(backend, ns).await?;
    // Who sent the request is not tracked per user yet (every credential
    // is the admin), so user exemptions cannot match.
    let d = podsecurity::admit_pod(&labels, cfg.defaults, &cfg.exemptions, "", pod);
    for (k, v) in &d.audit_annotations {
        if k == podsecurity::AUDIT_VIOLATIONS_ANNOTATION {
            tracing::info!(namespace = ns, pod = ?pod.metadata.name, "{k}: {v}");
        }
    }
    if let Some(why) = d.denied {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let mut e = ApiError::new(
            403,
            "Forbidden",
            format!("pods {name:?} is forbidden: {why}"),
        );
        e.details.kind = Some("pods".to_string());
        e.details.name = Some(name);
        return Err(e);
    }
    Ok(d.warnings)
}

/// The namespace's labels (none for a namespace the backend does not
/// know: the defaults apply, as for a namespace without labels).
async fn namespace_labels(
    backend: &dyn Backend,
    ns: &str,
) -> Result<BTreeMap<String, String>, ApiError> {
    match backend.get(Kind::Namespace, "", ns).await {
        Ok((v, _)) => Ok(v["metadata"]["labels"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default()),
        Err(e) if e.code == 404 => Ok(BTreeMap::new()),
        Err(e) => Err(e),
    }
}

/// Adds one `Warning: 299 - "<text>"` header per warning (quotes and
/// backslashes escaped, as the API server's warning recorder writes them).
pub fn with_warnings(mut resp: Response, warnings: &[String]) -> Response {
    for w in warnings {
        let escaped = w.replace('\\', "\\\\").replace('"', "\\\"");
        // Control characters cannot go in a header; upstream drops them too.
        let text: String = escaped.chars().filter(|c| !c.is_control()).collect();
        if let Ok(v) = HeaderValue::from_str(&format!("299 - \"{text}\"")) {
            resp.headers_mut().append("warning", v);
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::response::IntoResponse;

    #[test]
    fn warning_headers_are_escaped_as_upstream() {
        let r = with_warnings(
            "x".into_response(),
            &["would violate PodSecurity \"restricted:latest\": a\\b".to_string()],
        );
        assert_eq!(
            r.headers().get("warning").unwrap(),
            "299 - \"would violate PodSecurity \\\"restricted:latest\\\": a\\\\b\""
        );
    }

    #[test]
    fn the_default_is_baseline() {
        let c = PodSecurityConfig::default();
        assert_eq!(c.defaults.enforce.to_string(), "baseline:latest");
        assert_eq!(c.defaults.warn.to_string(), "baseline:latest");
    }
}
