//! Registry credentials as the kubelet finds them: the docker config files
//! of a pod's `imagePullSecrets` (`kubernetes.io/dockerconfigjson`,
//! `kubernetes.io/dockercfg`), then the node's own `config.json` (or
//! `.dockercfg`) under nodelet's root. Mirrors `pkg/credentialprovider`
//! (`BasicDockerKeyring.Add/Lookup`, `URLsMatch`, `isDefaultRegistryMatch`)
//! and `credentialprovider/secrets.MakeDockerKeyring`.
//!
//! Credentials live only in memory, for one pull: never logged (the
//! `Debug` impls redact them), never written anywhere.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

use crate::error::{Result, RuntimeError};
use crate::types::{PullCredentials, PullSecretKind};

/// One username/password pair, and where it came from (for messages).
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub username: String,
    pub password: String,
    /// `secret default/regcred` or the node config file's path.
    pub source: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("source", &self.source)
            .finish()
    }
}

/// One entry of a docker config (`auths.<registry>`), as the kubelet's
/// `DockerConfigEntry` decodes it: `auth` (base64 `user:password`) wins
/// over `username`/`password`. Other fields (`identitytoken`...) are
/// ignored, as the kubelet ignores them.
#[derive(Deserialize)]
struct RawEntry {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    auth: String,
}

#[derive(Deserialize)]
struct ConfigJson {
    #[serde(default)]
    auths: HashMap<String, RawEntry>,
}

/// A parsed docker config: registry location → entry.
pub type DockerConfig = Vec<(String, String, String)>;

fn decode_entry(loc: &str, e: RawEntry) -> std::result::Result<(String, String, String), String> {
    if e.auth.is_empty() {
        return Ok((loc.to_string(), e.username, e.password));
    }
    let bad = || {
        format!("{loc}: unable to parse auth field, must be formatted as base64(username:password)")
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(e.auth.trim())
        .map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let (user, pass) = text.split_once(':').ok_or_else(bad)?;
    Ok((
        loc.to_string(),
        user.to_string(),
        pass.trim_matches('\0').to_string(),
    ))
}

/// `{"auths": {...}}` (`.dockerconfigjson`, `config.json`).
pub fn parse_config_json(bytes: &[u8]) -> std::result::Result<DockerConfig, String> {
    let cfg: ConfigJson = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    cfg.auths
        .into_iter()
        .map(|(loc, e)| decode_entry(&loc, e))
        .collect()
}

/// The legacy `.dockercfg`: the same map without `auths`.
pub fn parse_dockercfg(bytes: &[u8]) -> std::result::Result<DockerConfig, String> {
    let cfg: HashMap<String, RawEntry> =
        serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    cfg.into_iter()
        .map(|(loc, e)| decode_entry(&loc, e))
        .collect()
}

/// A schemeless URL split as the kubelet's `SplitURL` does.
struct Loc {
    host_parts: Vec<String>,
    port: String,
    path: String,
}

fn parse_loc(s: &str) -> Option<Loc> {
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    let (authority, path) = match s.find('/') {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    };
    if authority.is_empty() || authority.contains(['@', '?', '#', ' ']) {
        return None;
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.contains(']') || h.ends_with(']') => (h, p),
        _ => (authority, ""),
    };
    Some(Loc {
        host_parts: host.split('.').map(str::to_string).collect(),
        port: port.to_string(),
        path: path.split(['?', '#']).next().unwrap_or("").to_string(),
    })
}

/// `filepath.Match` on one host label: `*` and `?` wildcards.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    match (pattern.first(), text.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            glob_match(&pattern[1..], text) || (!text.is_empty() && glob_match(pattern, &text[1..]))
        }
        (Some(b'?'), Some(_)) => glob_match(&pattern[1..], &text[1..]),
        (Some(p), Some(t)) if p == t => glob_match(&pattern[1..], &text[1..]),
        _ => false,
    }
}

/// The kubelet's `URLsMatch`: same port, same number of host labels, each
/// label glob-matching, and the credential's path a prefix of the image's.
fn urls_match(glob: &str, target: &str) -> bool {
    let (Some(g), Some(t)) = (parse_loc(glob), parse_loc(target)) else {
        return false;
    };
    g.port == t.port
        && g.host_parts.len() == t.host_parts.len()
        && t.path.starts_with(&g.path)
        && g.host_parts
            .iter()
            .zip(&t.host_parts)
            .all(|(p, h)| glob_match(p.as_bytes(), h.as_bytes()))
}

/// Images without a registry host, or on docker.io, may use credentials
/// saved for `index.docker.io` (docker's `https://index.docker.io/v1/`).
fn is_default_registry_match(image: &str) -> bool {
    let mut parts = image.splitn(2, '/');
    let first = parts.next().unwrap_or("");
    if first.is_empty() {
        return false;
    }
    if parts.next().is_none() {
        return true;
    }
    first == "docker.io" || first == "index.docker.io" || !first.contains(['.', ':'])
}

const DEFAULT_REGISTRY_HOST: &str = "index.docker.io";

/// One keyring (a pod's secrets, or the node's file).
#[derive(Default)]
pub struct Keyring {
    /// Keys, reverse-sorted so more specific paths match first.
    index: Vec<String>,
    creds: HashMap<String, Vec<Credential>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("registries", &self.index)
            .finish()
    }
}

impl Keyring {
    /// The kubelet's `BasicDockerKeyring.Add`: the key is the location's
    /// host plus its path, `/v1/` and `/v2/` counting as no path.
    pub fn add(&mut self, cfg: DockerConfig, source: &str) {
        for (loc, username, password) in cfg {
            let value = if loc.starts_with("https://") || loc.starts_with("http://") {
                loc.clone()
            } else {
                format!("https://{loc}")
            };
            let rest = value.split_once("://").map_or("", |(_, r)| r);
            let (host, path) = match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, ""),
            };
            if host.is_empty() {
                tracing::warn!(entry = %loc, %source, "docker config entry without a host, ignored");
                continue;
            }
            let effective = if path.starts_with("/v2/") || path.starts_with("/v1/") {
                &path[3..]
            } else {
                path
            };
            let key = if !effective.is_empty() && effective != "/" {
                format!("{host}{effective}")
            } else {
                host.to_string()
            };
            self.creds.entry(key.clone()).or_default().push(Credential {
                username,
                password,
                source: source.to_string(),
            });
            self.index.push(key);
        }
        self.index.sort();
        self.index.dedup();
        self.index.reverse();
    }

    /// The kubelet's `Lookup`: every matching entry, most specific first,
    /// else the default registry's credentials for docker.io images.
    pub fn lookup(&self, image: &str) -> Vec<Credential> {
        let mut out = Vec::new();
        for k in &self.index {
            if urls_match(k, image) {
                out.extend(self.creds[k].iter().cloned());
            }
        }
        if out.is_empty()
            && is_default_registry_match(image)
            && let Some(c) = self.creds.get(DEFAULT_REGISTRY_HOST)
        {
            out.extend(c.iter().cloned());
        }
        out
    }
}

/// The pod's secrets' keyring (the kubelet's `MakeDockerKeyring`): a
/// secret whose docker config does not parse fails the pull.
pub fn secrets_keyring(creds: &PullCredentials) -> Result<Keyring> {
    let mut k = Keyring::default();
    for s in &creds.secrets {
        let parsed = match s.kind {
            PullSecretKind::DockerConfigJson => parse_config_json(&s.data),
            PullSecretKind::DockerCfg => parse_dockercfg(&s.data),
        }
        .map_err(|e| {
            RuntimeError::Other(format!(
                "image pull secret {}/{}: invalid docker config: {e}",
                s.namespace, s.name
            ))
        })?;
        k.add(parsed, &format!("secret {}/{}", s.namespace, s.name));
    }
    Ok(k)
}

/// A parser of one docker credentials file format.
type ConfigParser = fn(&[u8]) -> std::result::Result<DockerConfig, String>;

/// The node's credentials: `<root>/config.json`, else `<root>/.dockercfg`
/// (the kubelet reads the same files from its root directory). No file
/// is no credentials.
pub fn node_keyring(root: &Path) -> Result<Keyring> {
    let mut k = Keyring::default();
    let json: PathBuf = root.join("config.json");
    let cfg: PathBuf = root.join(".dockercfg");
    let (path, parse): (&Path, ConfigParser) = if json.is_file() {
        (&json, parse_config_json)
    } else if cfg.is_file() {
        (&cfg, parse_dockercfg)
    } else {
        return Ok(k);
    };
    let bytes = std::fs::read(path).map_err(|e| RuntimeError::io(path, e))?;
    let parsed = parse(&bytes).map_err(|e| {
        RuntimeError::Other(format!("{}: invalid docker config: {e}", path.display()))
    })?;
    k.add(parsed, &path.display().to_string());
    Ok(k)
}

/// The credentials to try for `image` (`registry/repository`), pod secrets
/// first, then the node's (the kubelet's `UnionDockerKeyring`).
pub fn lookup(keyrings: &[&Keyring], image: &str) -> Vec<Credential> {
    keyrings.iter().flat_map(|k| k.lookup(image)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::PullSecret;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn keyring(json: &str) -> Keyring {
        let mut k = Keyring::default();
        k.add(parse_config_json(json.as_bytes()).unwrap(), "test");
        k
    }

    fn users(c: &[Credential]) -> Vec<&str> {
        c.iter().map(|c| c.username.as_str()).collect()
    }

    #[test]
    fn auth_field_and_plain_fields() {
        let k = keyring(&format!(
            r#"{{"auths": {{"127.0.0.1:5000": {{"auth": "{}"}}, "quay.io": {{"username": "q", "password": "p"}}}}}}"#,
            b64("alice:s3cr:et")
        ));
        let c = k.lookup("127.0.0.1:5000/team/app");
        assert_eq!(c.len(), 1);
        assert_eq!(
            (c[0].username.as_str(), c[0].password.as_str()),
            ("alice", "s3cr:et")
        );
        assert_eq!(users(&k.lookup("quay.io/x/y")), ["q"]);
        assert!(
            k.lookup("127.0.0.1:5001/team/app").is_empty(),
            "port must match"
        );
        assert!(k.lookup("ghcr.io/x").is_empty());
        let bad = parse_config_json(br#"{"auths": {"r": {"auth": "bm9jb2xvbg=="}}}"#);
        assert!(bad.unwrap_err().contains("base64(username:password)"));
    }

    #[test]
    fn most_specific_path_first_and_globs() {
        let k = keyring(
            r#"{"auths": {
                "quay.io": {"username": "host", "password": "p"},
                "quay.io/coreos": {"username": "ns", "password": "p"},
                "https://*.gcr.io/v2/": {"username": "glob", "password": "p"}}}"#,
        );
        assert_eq!(users(&k.lookup("quay.io/coreos/etcd")), ["ns", "host"]);
        assert_eq!(users(&k.lookup("quay.io/other/etcd")), ["host"]);
        assert_eq!(users(&k.lookup("eu.gcr.io/p/i")), ["glob"]);
        assert!(k.lookup("gcr.io/p/i").is_empty(), "label counts differ");
    }

    #[test]
    fn docker_hub_credentials_from_the_v1_index_url() {
        let k = keyring(
            r#"{"auths": {"https://index.docker.io/v1/": {"username": "hub", "password": "p"}}}"#,
        );
        assert_eq!(users(&k.lookup("docker.io/library/nginx")), ["hub"]);
        assert!(k.lookup("quay.io/library/nginx").is_empty());
        let k = keyring(r#"{"auths": {"docker.io": {"username": "d", "password": "p"}}}"#);
        assert_eq!(users(&k.lookup("docker.io/library/nginx")), ["d"]);
    }

    #[test]
    fn secrets_then_node_and_dockercfg() {
        let secrets = PullCredentials {
            secrets: vec![
                PullSecret {
                    namespace: "default".into(),
                    name: "a".into(),
                    kind: PullSecretKind::DockerConfigJson,
                    data: format!(
                        r#"{{"auths":{{"r.example":{{"auth":"{}"}}}}}}"#,
                        b64("pod:1")
                    )
                    .into_bytes(),
                },
                PullSecret {
                    namespace: "default".into(),
                    name: "b".into(),
                    kind: PullSecretKind::DockerCfg,
                    data: br#"{"r.example": {"username": "legacy", "password": "2"}}"#.to_vec(),
                },
            ],
        };
        let pod = secrets_keyring(&secrets).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(
            tmp.path().join("config.json"),
            r#"{"auths":{"r.example":{"username":"node","password":"3"}}}"#,
        )
        .unwrap();
        let node = node_keyring(tmp.path()).unwrap();
        let found = lookup(&[&pod, &node], "r.example/app");
        let mut pod_users = users(&found)[..2].to_vec();
        pod_users.sort();
        assert_eq!(pod_users, ["legacy", "pod"]);
        assert_eq!(users(&found)[2], "node");
        assert!(found[2].source.ends_with("config.json"));
        // Never in Debug output.
        let dbg = format!("{found:?}");
        assert!(!dbg.contains("\"1\"") && !dbg.contains("\"3\"") && dbg.contains("redacted"));

        let broken = PullCredentials {
            secrets: vec![PullSecret {
                namespace: "ns".into(),
                name: "bad".into(),
                kind: PullSecretKind::DockerConfigJson,
                data: b"{not json".to_vec(),
            }],
        };
        let e = secrets_keyring(&broken).unwrap_err().to_string();
        assert!(e.contains("ns/bad"), "{e}");
        assert!(
            node_keyring(&tmp.path().join("none"))
                .unwrap()
                .index
                .is_empty()
        );
    }
}
