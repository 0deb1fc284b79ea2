//! Registry configuration in containerd's `hosts.toml` layout (the
//! convention of Kubernetes nodes): `DIR/<host[:port]>/hosts.toml`, with a
//! `_default` directory for registries that have none. Mirrors the lookup
//! of containerd's `remotes/docker/config/hosts.go`.
//!
//! For a registry, the endpoints are the `[host."…"]` entries in file
//! order, then `server` (or the registry itself: `https://<host>`, and
//! `https://registry-1.docker.io` for `docker.io`). A directory without
//! `hosts.toml` is read as docker's certs.d pattern (`*.crt` CA files).
//!
//! What oci-client cannot do is refused with a clear error rather than
//! ignored: client certificates (`client`, `*.cert`/`*.key`), custom
//! `header`s and `override_path`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::{Result, RuntimeError};

/// Where the registry configuration lives unless `--registry-config-dir`
/// says otherwise.
pub const DEFAULT_CONFIG_DIR: &str = "/etc/nodelet/certs.d";

/// One place to send registry requests to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `https` or `http`.
    pub scheme: String,
    /// `host[:port]`.
    pub host: String,
    /// Path before `/v2` (`/us` for `https://mirror/us`), empty when none.
    pub prefix: String,
    /// May fetch manifests and blobs by digest.
    pub pull: bool,
    /// May resolve a tag to a digest (a trusted operation).
    pub resolve: bool,
    /// PEM bundles of extra CAs to trust.
    pub ca: Vec<Vec<u8>>,
    pub skip_verify: bool,
    pub dial_timeout: Option<Duration>,
    pub proxy: Option<String>,
}

impl Endpoint {
    /// `host[:port][/prefix]`: what oci-client takes as a registry name
    /// (it appends `/v2/...`).
    pub fn registry_name(&self) -> String {
        format!("{}{}", self.host, self.prefix)
    }

    /// `https://host[:port][/prefix]` for messages.
    pub fn url(&self) -> String {
        format!("{}://{}{}", self.scheme, self.host, self.prefix)
    }

    fn for_registry(registry: &str) -> Endpoint {
        let host = if registry == super::super::reference::DEFAULT_REGISTRY {
            "registry-1.docker.io".to_string()
        } else {
            registry.to_string()
        };
        Endpoint {
            scheme: "https".into(),
            host,
            prefix: String::new(),
            pull: true,
            resolve: true,
            ca: Vec::new(),
            skip_verify: false,
            dial_timeout: None,
            proxy: None,
        }
    }
}

/// The `--registry-config-dir` tree.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    dir: PathBuf,
}

/// `hosts.toml`, as containerd reads it (unknown keys are errors here, so
/// a typo is not silently a different configuration).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HostsFile {
    server: Option<String>,
    capabilities: Option<Vec<String>>,
    ca: Option<StringOrList>,
    client: Option<toml::Value>,
    skip_verify: Option<bool>,
    header: Option<toml::Value>,
    override_path: Option<bool>,
    dial_timeout: Option<String>,
    proxy: Option<String>,
    #[serde(default)]
    host: toml::Table,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HostEntry {
    capabilities: Option<Vec<String>>,
    ca: Option<StringOrList>,
    client: Option<toml::Value>,
    skip_verify: Option<bool>,
    header: Option<toml::Value>,
    override_path: Option<bool>,
    dial_timeout: Option<String>,
    proxy: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum StringOrList {
    One(String),
    Many(Vec<String>),
}

impl StringOrList {
    fn paths(&self) -> Vec<&str> {
        match self {
            StringOrList::One(s) => vec![s.as_str()],
            StringOrList::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

/// Settings shared by `server` (top level) and `[host."…"]` entries.
struct Common<'a> {
    capabilities: &'a Option<Vec<String>>,
    ca: &'a Option<StringOrList>,
    client: &'a Option<toml::Value>,
    skip_verify: Option<bool>,
    header: &'a Option<toml::Value>,
    override_path: Option<bool>,
    dial_timeout: &'a Option<String>,
    proxy: &'a Option<String>,
}

impl RegistryConfig {
    pub fn new(dir: &Path) -> RegistryConfig {
        RegistryConfig {
            dir: dir.to_path_buf(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The host directory containerd would use for `registry`: `host_port_`
    /// (for a registry with a port), `host[:port]`, then `_default`.
    fn host_dir(&self, registry: &str) -> Option<PathBuf> {
        let mut names = Vec::new();
        if let Some((host, port)) = registry.rsplit_once(':')
            && !port.is_empty()
            && port.bytes().all(|b| b.is_ascii_digit())
        {
            names.push(format!("{host}_{port}_"));
        }
        names.push(registry.to_string());
        names.push("_default".to_string());
        names
            .into_iter()
            .map(|n| self.dir.join(n))
            .find(|p| p.is_dir())
    }

    /// The endpoints to try for `registry` (`host[:port]` as in the image
    /// reference), in order.
    pub fn endpoints(&self, registry: &str) -> Result<Vec<Endpoint>> {
        let Some(dir) = self.host_dir(registry) else {
            return Ok(vec![Endpoint::for_registry(registry)]);
        };
        let file = dir.join("hosts.toml");
        if !file.is_file() {
            return docker_certs_dir(&dir, registry);
        }
        let text = std::fs::read_to_string(&file).map_err(|e| RuntimeError::io(&file, e))?;
        let parsed: HostsFile = toml::from_str(&text).map_err(|e| config_error(&file, e))?;
        let mut out = Vec::new();
        for (url, value) in &parsed.host {
            let entry: HostEntry = value
                .clone()
                .try_into()
                .map_err(|e| config_error(&file, format!("[host.{url:?}]: {e}")))?;
            let common = Common {
                capabilities: &entry.capabilities,
                ca: &entry.ca,
                client: &entry.client,
                skip_verify: entry.skip_verify,
                header: &entry.header,
                override_path: entry.override_path,
                dial_timeout: &entry.dial_timeout,
                proxy: &entry.proxy,
            };
            out.push(endpoint(&file, &dir, url, &common)?);
        }
        let server_common = Common {
            capabilities: &parsed.capabilities,
            ca: &parsed.ca,
            client: &parsed.client,
            skip_verify: parsed.skip_verify,
            header: &parsed.header,
            override_path: parsed.override_path,
            dial_timeout: &parsed.dial_timeout,
            proxy: &parsed.proxy,
        };
        let server = match &parsed.server {
            Some(url) => endpoint(&file, &dir, url, &server_common)?,
            None => {
                // No server: the registry itself, with the top-level
                // settings (ca, skip_verify...) applied to it.
                let default = Endpoint::for_registry(registry);
                let url = default.url();
                endpoint(&file, &dir, &url, &server_common)?
            }
        };
        out.push(server);
        Ok(out)
    }
}

fn config_error(file: &Path, e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Other(format!("registry configuration {}: {e}", file.display()))
}

fn endpoint(file: &Path, dir: &Path, url: &str, c: &Common<'_>) -> Result<Endpoint> {
    let err = |m: String| config_error(file, format!("{url:?}: {m}"));
    if c.client.is_some() {
        return Err(err(
            "client certificates are not supported by nodelet's registry client".into(),
        ));
    }
    if c.header.is_some() {
        return Err(err(
            "custom headers are not supported by nodelet's registry client".into(),
        ));
    }
    if c.override_path == Some(true) {
        return Err(err(
            "override_path is not supported (the API root must end in /v2)".into(),
        ));
    }
    let (scheme, rest) = match url.split_once("://") {
        Some((s @ ("http" | "https"), rest)) => (s.to_string(), rest),
        Some((s, _)) => return Err(err(format!("unsupported scheme {s:?} (http or https)"))),
        // containerd takes a bare host as https.
        None => ("https".to_string(), url),
    };
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if host.is_empty() || host.contains(['?', '#', '@']) {
        return Err(err("not a host[:port] URL".into()));
    }
    // `/v2` is the API root and is added for every request; a path before
    // it is a prefix (containerd appends `/v2` the same way).
    let path = path.trim_end_matches('/');
    let prefix = path.strip_suffix("/v2").unwrap_or(path).to_string();
    let (mut pull, mut resolve) = (true, true);
    if let Some(caps) = c.capabilities {
        pull = false;
        resolve = false;
        for cap in caps {
            match cap.as_str() {
                "pull" => pull = true,
                "resolve" => resolve = true,
                "push" => {}
                other => return Err(err(format!("unknown capability {other:?}"))),
            }
        }
    }
    let mut ca = Vec::new();
    if let Some(paths) = c.ca {
        for p in paths.paths() {
            let p = if Path::new(p).is_absolute() {
                PathBuf::from(p)
            } else {
                dir.join(p)
            };
            ca.push(std::fs::read(&p).map_err(|e| RuntimeError::io(&p, e))?);
        }
    }
    let dial_timeout = match c.dial_timeout {
        Some(d) => Some(parse_go_duration(d).ok_or_else(|| {
            err(format!(
                "dial_timeout {d:?} is not a duration like \"1s\" or \"500ms\""
            ))
        })?),
        None => None,
    };
    Ok(Endpoint {
        scheme,
        host: host.to_string(),
        prefix,
        pull,
        resolve,
        ca,
        skip_verify: c.skip_verify.unwrap_or(false),
        dial_timeout,
        proxy: c.proxy.clone(),
    })
}

/// docker's `certs.d/<host>/`: `*.crt` are CAs; client `*.cert`/`*.key`
/// pairs cannot be used and are refused.
fn docker_certs_dir(dir: &Path, registry: &str) -> Result<Vec<Endpoint>> {
    let mut ep = Endpoint::for_registry(registry);
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| RuntimeError::io(dir, e))?
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    for f in files {
        match f.extension().and_then(|e| e.to_str()) {
            Some("crt") => ep
                .ca
                .push(std::fs::read(&f).map_err(|e| RuntimeError::io(&f, e))?),
            Some("cert" | "key") => {
                return Err(config_error(
                    &f,
                    "client certificates are not supported by nodelet's registry client",
                ));
            }
            _ => {}
        }
    }
    Ok(vec![ep])
}

/// `1s`, `500ms`, `1m30s` (Go's time.ParseDuration, positive values).
fn parse_go_duration(s: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let value: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let secs = match &rest[..unit_end] {
            "ns" => value / 1e9,
            "us" | "µs" => value / 1e6,
            "ms" => value / 1e3,
            "s" => value,
            "m" => value * 60.0,
            "h" => value * 3600.0,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total += Duration::from_secs_f64(secs);
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, host: &str, text: &str) {
        let d = dir.join(host);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("hosts.toml"), text).unwrap();
    }

    #[test]
    fn without_configuration_the_registry_itself() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = RegistryConfig::new(tmp.path());
        let eps = cfg.endpoints("docker.io").unwrap();
        assert_eq!(eps.len(), 1);
        assert_eq!(eps[0].url(), "https://registry-1.docker.io");
        assert!(eps[0].pull && eps[0].resolve);
        let eps = cfg.endpoints("quay.io").unwrap();
        assert_eq!(eps[0].url(), "https://quay.io");
        // A missing directory is no configuration, not an error.
        let cfg = RegistryConfig::new(&tmp.path().join("nope"));
        assert_eq!(
            cfg.endpoints("127.0.0.1:5000").unwrap()[0].url(),
            "https://127.0.0.1:5000"
        );
    }

    #[test]
    fn mirrors_first_then_server_with_capabilities_and_ca() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("docker.io")).unwrap();
        std::fs::write(tmp.path().join("docker.io/mirror-ca.pem"), b"PEM").unwrap();
        write(
            tmp.path(),
            "docker.io",
            r#"server = "https://registry-1.docker.io"

[host."https://127.0.0.1:5000"]
  capabilities = ["pull", "resolve"]
  ca = "mirror-ca.pem"
[host."http://public-mirror.example.com/us"]
  capabilities = ["pull"]
  skip_verify = true
  dial_timeout = "1s500ms"
"#,
        );
        let eps = RegistryConfig::new(tmp.path())
            .endpoints("docker.io")
            .unwrap();
        let urls: Vec<String> = eps.iter().map(Endpoint::url).collect();
        assert_eq!(
            urls,
            [
                "https://127.0.0.1:5000",
                "http://public-mirror.example.com/us",
                "https://registry-1.docker.io"
            ]
        );
        assert_eq!(eps[0].ca, vec![b"PEM".to_vec()]);
        assert!(eps[0].resolve && eps[0].pull);
        assert!(eps[1].pull && !eps[1].resolve && eps[1].skip_verify);
        assert_eq!(eps[1].dial_timeout, Some(Duration::from_millis(1500)));
        assert_eq!(eps[1].registry_name(), "public-mirror.example.com/us");
        assert!(eps[2].pull && eps[2].resolve);
    }

    #[test]
    fn port_directories_and_the_default_fallback() {
        let tmp = tempfile::tempdir().unwrap();
        write(
            tmp.path(),
            "_default",
            "[host.\"https://mirror.internal/v2\"]\n  capabilities = [\"pull\", \"resolve\"]\n",
        );
        write(
            tmp.path(),
            "reg.example:5000",
            "server = \"http://reg.example:5000\"\n",
        );
        let cfg = RegistryConfig::new(tmp.path());
        let eps = cfg.endpoints("reg.example:5000").unwrap();
        assert_eq!(eps.len(), 1);
        assert_eq!(eps[0].url(), "http://reg.example:5000");
        // `host_port_` wins over `host:port`.
        write(
            tmp.path(),
            "reg.example_5000_",
            "server = \"https://other:443\"\n",
        );
        assert_eq!(
            cfg.endpoints("reg.example:5000").unwrap()[0].url(),
            "https://other:443"
        );
        // Anything else falls back to _default: its mirror, then upstream.
        let urls: Vec<String> = cfg
            .endpoints("ghcr.io")
            .unwrap()
            .iter()
            .map(Endpoint::url)
            .collect();
        assert_eq!(urls, ["https://mirror.internal", "https://ghcr.io"]);
    }

    #[test]
    fn unsupported_settings_are_refused_by_name() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = RegistryConfig::new(tmp.path());
        for (text, needle) in [
            (
                "[host.\"https://m\"]\n  client = \"/c.pem\"\n",
                "client certificates",
            ),
            (
                "[host.\"https://m\"]\n  [host.\"https://m\".header]\n    x = \"y\"\n",
                "custom headers",
            ),
            (
                "[host.\"https://m/v2/x\"]\n  override_path = true\n",
                "override_path",
            ),
            ("servr = \"https://x\"\n", "unknown field"),
            ("[host.\"ftp://m\"]\n", "unsupported scheme"),
            (
                "[host.\"https://m\"]\n  capabilities = [\"fly\"]\n",
                "unknown capability",
            ),
        ] {
            write(tmp.path(), "r.example", text);
            let e = cfg.endpoints("r.example").unwrap_err().to_string();
            assert!(e.contains(needle), "{text:?}: {e}");
            assert!(e.contains("hosts.toml"), "names the file: {e}");
        }
    }

    #[test]
    fn docker_certs_pattern_without_hosts_toml() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("r.example:5000");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("ca.crt"), b"CA").unwrap();
        let eps = RegistryConfig::new(tmp.path())
            .endpoints("r.example:5000")
            .unwrap();
        assert_eq!(eps[0].url(), "https://r.example:5000");
        assert_eq!(eps[0].ca, vec![b"CA".to_vec()]);
        std::fs::write(d.join("client.cert"), b"C").unwrap();
        assert!(
            RegistryConfig::new(tmp.path())
                .endpoints("r.example:5000")
                .is_err()
        );
    }
}
