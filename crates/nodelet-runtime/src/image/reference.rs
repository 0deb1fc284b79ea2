//! Image references, normalised the way docker does it.
//!
//! The store keys images by their fully qualified reference so that
//! `busybox`, `library/busybox:latest` and `docker.io/library/busybox` all
//! name the same thing, while `nodelet.local/busybox` stays on its own
//! registry. Digests (`@sha256:...`) are kept verbatim: they pin a manifest.

use crate::error::{Result, RuntimeError};

/// Registry assumed when a reference names none (docker's convention).
pub const DEFAULT_REGISTRY: &str = "docker.io";
/// Tag assumed when a reference has neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";

/// A parsed, normalised reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// Registry host (with port when given), e.g. `docker.io`.
    pub registry: String,
    /// Repository path inside the registry, e.g. `library/busybox`.
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:<64 hex>`.
    pub digest: Option<String>,
}

impl Reference {
    /// `registry/repository`, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.name())?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

fn invalid(r: &str, reason: impl Into<String>) -> RuntimeError {
    RuntimeError::InvalidImage {
        image: r.to_string(),
        reason: reason.into(),
    }
}

/// `busybox` -> `docker.io/library/busybox:latest`;
/// `nodelet.local/busybox` -> `nodelet.local/busybox:latest`;
/// `busybox@sha256:...` keeps the digest (and gets no default tag).
pub fn normalize_reference(r: &str) -> Result<String> {
    Ok(parse_reference(r)?.to_string())
}

/// Parses and normalises a reference; see [`normalize_reference`].
pub fn parse_reference(r: &str) -> Result<Reference> {
    if r.is_empty() {
        return Err(invalid(r, "empty reference"));
    }
    if r.len() > 4096 {
        return Err(invalid(r, "reference too long"));
    }
    let (rest, digest) = match r.split_once('@') {
        Some((rest, digest)) => {
            validate_digest(digest).map_err(|e| invalid(r, e))?;
            (rest, Some(digest.to_string()))
        }
        None => (r, None),
    };
    // A ':' after the last '/' separates the tag; one before it is a port.
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => {
            let at = last_slash + i;
            (&rest[..at], Some(rest[at + 1..].to_string()))
        }
        None => (rest, None),
    };
    if let Some(tag) = &tag {
        validate_tag(tag).map_err(|e| invalid(r, e))?;
    }
    let (registry, repository) = match name.split_once('/') {
        Some((first, path))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first.to_string(), path.to_string())
        }
        Some(_) => (DEFAULT_REGISTRY.to_string(), name.to_string()),
        None => (DEFAULT_REGISTRY.to_string(), format!("library/{name}")),
    };
    let registry = if registry == "index.docker.io" {
        DEFAULT_REGISTRY.to_string()
    } else {
        registry
    };
    // `docker.io/nginx` is `docker.io/library/nginx`: official images live
    // under `library/` (docker's and containerd's normalisation).
    let repository = if registry == DEFAULT_REGISTRY && !repository.contains('/') {
        format!("library/{repository}")
    } else {
        repository
    };
    validate_registry(&registry).map_err(|e| invalid(r, e))?;
    validate_repository(&repository).map_err(|e| invalid(r, e))?;
    let tag = match (tag, &digest) {
        (None, None) => Some(DEFAULT_TAG.to_string()),
        (tag, _) => tag,
    };
    Ok(Reference {
        registry,
        repository,
        tag,
        digest,
    })
}

/// The error text docker's reference parser (which the kubelet's
/// `parsers.ParseImageName` wraps) gives for a reference we refuse:
/// `invalid reference format`, with the lowercase hint when only case is
/// wrong.
pub fn docker_parse_error(r: &str) -> String {
    const BASE: &str = "invalid reference format";
    let lower = r.to_ascii_lowercase();
    if lower != r && parse_reference(&lower).is_ok() {
        let name = r.split(['@']).next().unwrap_or(r);
        let last_slash = name.rfind('/').map_or(0, |i| i + 1);
        let name = match name[last_slash..].rfind(':') {
            Some(i) => &name[..last_slash + i],
            None => name,
        };
        // The repository as docker names it: without the registry, with
        // `library/` for official images.
        let repo = match name.split_once('/') {
            Some((first, path))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                path.to_string()
            }
            Some(_) => name.to_string(),
            None => format!("library/{name}"),
        };
        if repo.bytes().any(|b| b.is_ascii_uppercase()) {
            return format!("{BASE}: repository name ({repo}) must be lowercase");
        }
    }
    BASE.to_string()
}

/// Accepts `sha256:<64 lowercase hex>` only: the one algorithm we verify.
pub fn validate_digest(d: &str) -> std::result::Result<(), String> {
    let Some(hex) = d.strip_prefix("sha256:") else {
        return Err(format!("unsupported digest {d:?} (only sha256)"));
    };
    if is_sha256_hex(hex) {
        Ok(())
    } else {
        Err(format!("malformed digest {d:?}"))
    }
}

/// 64 lowercase hex characters.
pub fn is_sha256_hex(hex: &str) -> bool {
    hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn validate_tag(tag: &str) -> std::result::Result<(), String> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && tag
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!("invalid tag {tag:?}"))
    }
}

fn validate_registry(reg: &str) -> std::result::Result<(), String> {
    let (host, port) = match reg.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (reg, None),
    };
    let ipv6 = host.len() > 2
        && host.starts_with('[')
        && host.ends_with(']')
        && host[1..host.len() - 1]
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
    let host_ok = ipv6
        || (!host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-'));
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if host_ok && port_ok {
        Ok(())
    } else {
        Err(format!("invalid registry {reg:?}"))
    }
}

/// Path components: lowercase alphanumerics joined by `.`, `_`, `__` or `-`+.
fn validate_repository(repo: &str) -> std::result::Result<(), String> {
    let err = || Err(format!("invalid repository name {repo:?}"));
    if repo.is_empty() || repo.len() > 255 {
        return err();
    }
    for comp in repo.split('/') {
        let b = comp.as_bytes();
        let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
        if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
            return err();
        }
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            if alnum(c) {
                i += 1;
                continue;
            }
            // Separator run: ".", "_", "__" or one or more "-".
            let start = i;
            while i < b.len() && !alnum(b[i]) {
                i += 1;
            }
            let sep = &comp[start..i];
            let ok = matches!(sep, "." | "_" | "__") || sep.bytes().all(|c| c == b'-');
            if !ok {
                return err();
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_like_docker() {
        let cases = [
            ("busybox", "docker.io/library/busybox:latest"),
            ("busybox:1.36", "docker.io/library/busybox:1.36"),
            ("library/busybox", "docker.io/library/busybox:latest"),
            ("user/app:v1", "docker.io/user/app:v1"),
            ("index.docker.io/user/app", "docker.io/user/app:latest"),
            ("docker.io/nginx", "docker.io/library/nginx:latest"),
            ("index.docker.io/nginx:1.27", "docker.io/library/nginx:1.27"),
            (
                "registry.example.com:5000/nginx",
                "registry.example.com:5000/nginx:latest",
            ),
            ("[::1]:5000/a", "[::1]:5000/a:latest"),
            ("nodelet.local/busybox", "nodelet.local/busybox:latest"),
            ("localhost/x", "localhost/x:latest"),
            ("localhost:5000/a/b:t", "localhost:5000/a/b:t"),
            ("quay.io/a_b/c-d.e:1", "quay.io/a_b/c-d.e:1"),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_reference(input).unwrap(), want, "{input}");
        }
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            normalize_reference(&format!("busybox@{d}")).unwrap(),
            format!("docker.io/library/busybox@{d}")
        );
        assert_eq!(
            normalize_reference(&format!("busybox:1@{d}")).unwrap(),
            format!("docker.io/library/busybox:1@{d}")
        );
    }

    #[test]
    fn parse_errors_read_like_dockers() {
        assert_eq!(
            docker_parse_error("Busybox"),
            "invalid reference format: repository name (library/Busybox) must be lowercase"
        );
        assert_eq!(
            docker_parse_error("quay.io/Org/app:v1"),
            "invalid reference format: repository name (Org/app) must be lowercase"
        );
        assert_eq!(docker_parse_error("a//b"), "invalid reference format");
        assert_eq!(docker_parse_error("nginx:"), "invalid reference format");
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "Busybox",
            "busybox:",
            "busybox:-x",
            "a//b",
            "busybox@sha256:abc",
            "busybox@md5:aaaa",
            "-a",
            "a..b",
            "host:port/x",
        ] {
            assert!(normalize_reference(bad).is_err(), "{bad:?} accepted");
        }
    }
}
