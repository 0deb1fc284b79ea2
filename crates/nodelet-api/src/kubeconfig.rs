//! The admin kubeconfig: CA data, the server URL and the admin client
//! certificate, so `kubectl --kubeconfig <root>/kubeconfig` just works.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::error::ApiError;
use crate::pki;

/// Where `serve` records the URL it listens on, for `kubeconfig()`.
pub(crate) fn address_file(root: &Path) -> std::path::PathBuf {
    pki::pki_dir(root).join("server-url")
}

/// Renders the kubeconfig for an existing PKI and server URL.
pub fn render(p: &pki::Pki, server: &str) -> String {
    render_user(
        p,
        server,
        "nodelet-admin",
        &p.admin_cert_pem,
        &p.admin_key_pem,
    )
}

/// A kubeconfig with the client certificate `cert`/`key` as `user_name`.
fn render_user(p: &pki::Pki, server: &str, user_name: &str, cert: &str, key: &str) -> String {
    let b = |s: &str| STANDARD.encode(s.as_bytes());
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: nodelet
  cluster:
    server: {server}
    certificate-authority-data: {ca}
users:
- name: {user_name}
  user:
    client-certificate-data: {cert}
    client-key-data: {key}
contexts:
- name: nodelet
  context:
    cluster: nodelet
    user: {user_name}
    namespace: default
current-context: nodelet
preferences: {{}}
",
        ca = b(&p.ca_cert_pem),
        cert = b(cert),
        key = b(key),
    )
}

/// The kubeconfig of the daemon whose state is under `root` (what
/// `nodelet kubeconfig` prints). Needs `serve` to have run once.
pub fn kubeconfig(root: &Path) -> Result<String, ApiError> {
    let p = pki::load(root)?;
    let url_path = address_file(root);
    let server = std::fs::read_to_string(&url_path)
        .map_err(|e| ApiError::internal(format!("reading {}: {e}", url_path.display())))?;
    Ok(render(&p, server.trim()))
}

/// A kubeconfig for a new client certificate of `user` in `groups`
/// (`nodelet kubeconfig --user alice --group dev`); what it may do is
/// what RBAC grants that user and those groups.
pub fn user_kubeconfig(root: &Path, user: &str, groups: &[String]) -> Result<String, ApiError> {
    let p = pki::load(root)?;
    let url_path = address_file(root);
    let server = std::fs::read_to_string(&url_path)
        .map_err(|e| ApiError::internal(format!("reading {}: {e}", url_path.display())))?;
    let (cert, key) = pki::issue_client(root, user, groups)?;
    Ok(render_user(&p, server.trim(), user, &cert, &key))
}

/// Writes `<root>/kubeconfig` with mode 0600.
pub fn write_kubeconfig(root: &Path) -> Result<std::path::PathBuf, ApiError> {
    let path = root.join("kubeconfig");
    pki::write_private(&path, &kubeconfig(root)?)?;
    Ok(path)
}
