//! TLS bootstrap (the kubelet's `pkg/kubelet/certificate/bootstrap`): with
//! a bootstrap kubeconfig (a bootstrap token, group
//! `system:bootstrappers`) and no usable node kubeconfig, nodelet makes a
//! key, sends a CertificateSigningRequest for `CN=system:node:<name>`,
//! `O=system:nodes` to the signer `kubernetes.io/kube-apiserver-client-kubelet`,
//! waits for the approved certificate, writes it with its key to
//! `<cert-dir>/kubelet-client-<time>.pem` (mode 0600) with the
//! `kubelet-client-current.pem` link to it, and writes the node kubeconfig
//! pointing at that file, as the kubelet does. The same CSR flow gets the
//! kubelet port's serving certificate from `kubernetes.io/kubelet-serving`
//! when none is given ([`serving_cert`]).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use futures::StreamExt;
use k8s_openapi::ByteString;
use k8s_openapi::api::certificates::v1::{
    CertificateSigningRequest, CertificateSigningRequestSpec,
};
use kube::api::{Api, PostParams};
use kube::config::Kubeconfig;
use kube::runtime::watcher;
use sha2::Digest;

use crate::config::NodeConfig;
use crate::error::{NodeError, Result, api_code};

pub const CLIENT_SIGNER: &str = "kubernetes.io/kube-apiserver-client-kubelet";
pub const SERVING_SIGNER: &str = "kubernetes.io/kubelet-serving";

/// How long to wait for a CSR to be approved and signed.
const WAIT: Duration = Duration::from_secs(15 * 60);

fn err(msg: impl Into<String>) -> NodeError {
    NodeError::Bootstrap(msg.into())
}

/// The notAfter of the first certificate in `pem`, as a Unix time.
fn not_after(pem: &[u8]) -> Option<i64> {
    let (_, p) = x509_parser::pem::parse_x509_pem(pem).ok()?;
    let cert = p.parse_x509().ok()?;
    Some(cert.validity().not_after.timestamp())
}

/// Whether `path` is a kubeconfig whose client certificate (inline or in a
/// file) is still valid; the kubelet re-bootstraps otherwise.
pub fn kubeconfig_usable(path: &Path) -> bool {
    let Ok(kc) = Kubeconfig::read_from(path) else {
        return false;
    };
    let Some(user) = kc.auth_infos.first().and_then(|a| a.auth_info.clone()) else {
        return false;
    };
    let pem = if let Some(data) = &user.client_certificate_data {
        base64::engine::general_purpose::STANDARD.decode(data).ok()
    } else if let Some(file) = &user.client_certificate {
        std::fs::read(file).ok()
    } else {
        // A token or another credential: the operator's choice, used as is.
        return true;
    };
    let now = jiff::Timestamp::now().as_second();
    pem.as_deref().and_then(not_after).is_some_and(|t| t > now)
}

/// The API server and CA of the bootstrap kubeconfig's current context.
fn cluster_of(kc: &Kubeconfig) -> Result<(String, Vec<u8>)> {
    let ctx_name = kc
        .current_context
        .clone()
        .or_else(|| kc.contexts.first().map(|c| c.name.clone()))
        .ok_or_else(|| err("the bootstrap kubeconfig has no context"))?;
    let cluster_name = kc
        .contexts
        .iter()
        .find(|c| c.name == ctx_name)
        .and_then(|c| c.context.as_ref())
        .map(|c| c.cluster.clone())
        .ok_or_else(|| {
            err(format!(
                "the bootstrap kubeconfig has no context {ctx_name}"
            ))
        })?;
    let cluster = kc
        .clusters
        .iter()
        .find(|c| c.name == cluster_name)
        .and_then(|c| c.cluster.clone())
        .ok_or_else(|| {
            err(format!(
                "the bootstrap kubeconfig has no cluster {cluster_name}"
            ))
        })?;
    let server = cluster
        .server
        .ok_or_else(|| err("the bootstrap kubeconfig's cluster has no server"))?;
    let ca = match (
        &cluster.certificate_authority_data,
        &cluster.certificate_authority,
    ) {
        (Some(d), _) => base64::engine::general_purpose::STANDARD
            .decode(d)
            .map_err(|e| err(format!("certificate-authority-data: {e}")))?,
        (None, Some(f)) => std::fs::read(f).map_err(|e| NodeError::io("reading the CA", f, e))?,
        (None, None) => Vec::new(),
    };
    Ok((server, ca))
}

/// A new key and a CSR for `cn`/`org` with `sans` (DNS names or IPs).
fn make_csr(cn: &str, org: &str, sans: &[String]) -> Result<(String, String)> {
    let key = rcgen::KeyPair::generate().map_err(|e| err(format!("generating a key: {e}")))?;
    let mut params =
        rcgen::CertificateParams::new(sans.to_vec()).map_err(|e| err(format!("CSR: {e}")))?;
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::OrganizationName, org);
    dn.push(rcgen::DnType::CommonName, cn);
    params.distinguished_name = dn;
    let csr = params
        .serialize_request(&key)
        .map_err(|e| err(format!("CSR: {e}")))?
        .pem()
        .map_err(|e| err(format!("CSR: {e}")))?;
    Ok((csr, key.serialize_pem()))
}

/// Sends a CSR to `signer` and waits for its certificate (PEM).
pub async fn request_certificate(
    client: kube::Client,
    signer: &str,
    csr_pem: &str,
    usages: &[&str],
) -> Result<String> {
    let api: Api<CertificateSigningRequest> = Api::all(client);
    let digest = sha2::Sha256::digest(csr_pem.as_bytes());
    let name = format!("node-csr-{}", &hex::encode(digest)[..32]);
    let csr = CertificateSigningRequest {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some(name.clone()),
            ..Default::default()
        },
        spec: CertificateSigningRequestSpec {
            request: ByteString(csr_pem.as_bytes().to_vec()),
            signer_name: signer.to_owned(),
            usages: Some(usages.iter().map(|u| u.to_string()).collect()),
            ..Default::default()
        },
        status: None,
    };
    match api.create(&PostParams::default(), &csr).await {
        Ok(_) => {}
        Err(e) if api_code(&e) == Some(409) => {}
        Err(e) => return Err(err(format!("creating the CSR {name}: {e}"))),
    }
    tracing::info!(csr = %name, signer, "waiting for the certificate signing request to be approved");
    let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut stream = watcher(api, cfg).boxed();
    let wait = async {
        while let Some(ev) = stream.next().await {
            let csr = match ev {
                Ok(watcher::Event::Apply(c) | watcher::Event::InitApply(c)) => c,
                Ok(_) => continue,
                Err(e) => {
                    tracing::debug!(error = %e, "watching the CSR");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let Some(status) = csr.status else { continue };
            for c in status.conditions.iter().flatten() {
                if (c.type_ == "Denied" || c.type_ == "Failed") && c.status == "True" {
                    return Err(err(format!(
                        "the CSR {name} was {}: {}",
                        c.type_.to_lowercase(),
                        c.message.clone().unwrap_or_default()
                    )));
                }
            }
            if let Some(cert) = status.certificate.filter(|c| !c.0.is_empty()) {
                return String::from_utf8(cert.0)
                    .map_err(|_| err(format!("the CSR {name}'s certificate is not PEM")));
            }
        }
        Err(err("the CSR watch ended"))
    };
    tokio::time::timeout(WAIT, wait)
        .await
        .map_err(|_| err(format!("the CSR {name} was not approved within 15 minutes")))?
}

/// Writes `data` with mode 0600, atomically (temporary file + rename).
fn write_private(path: &Path, data: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| NodeError::io("writing", &tmp, e))?;
    f.write_all(data)
        .and_then(|()| f.sync_all())
        .map_err(|e| NodeError::io("writing", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| NodeError::io("renaming", path, e))
}

/// Stores a certificate and its key as `<dir>/<prefix>-<time>.pem` and
/// points `<dir>/<prefix>-current.pem` at it (the kubelet's file store).
fn store_pair(dir: &Path, prefix: &str, cert: &str, key: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| NodeError::io("creating", dir, e))?;
    let stamp = jiff::Zoned::now().strftime("%Y-%m-%d-%H-%M-%S").to_string();
    let file = dir.join(format!("{prefix}-{stamp}.pem"));
    write_private(&file, format!("{cert}{key}").as_bytes())?;
    let current = dir.join(format!("{prefix}-current.pem"));
    let tmp = dir.join(format!(".{prefix}-current.tmp"));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(&file, &tmp).map_err(|e| NodeError::io("linking", &tmp, e))?;
    std::fs::rename(&tmp, &current).map_err(|e| NodeError::io("renaming", &current, e))?;
    Ok(current)
}

/// The node kubeconfig the kubelet writes after bootstrapping.
fn node_kubeconfig(server: &str, ca: &[u8], cert_file: &Path, node: &str) -> String {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca);
    let file = cert_file.display();
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: default-cluster\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\ncontexts:\n- name: default-context\n  context:\n    cluster: default-cluster\n    user: default-auth\n    namespace: default\ncurrent-context: default-context\nusers:\n- name: default-auth\n  user:\n    client-certificate: {file}\n    client-key: {file}\n# system:node:{node}\n"
    )
}

/// The client certificate through the CSR API; writes the node kubeconfig.
pub async fn bootstrap_client_cert(cfg: &NodeConfig, bootstrap: &Path) -> Result<()> {
    tracing::info!(kubeconfig = %bootstrap.display(), "TLS bootstrap: requesting a client certificate");
    let kc = Kubeconfig::read_from(bootstrap).map_err(|e| NodeError::Kubeconfig {
        path: bootstrap.to_owned(),
        reason: e.to_string(),
    })?;
    let (server, ca) = cluster_of(&kc)?;
    let client = kube::Client::try_from(crate::client::load(bootstrap).await?)?;
    let cn = format!("system:node:{}", cfg.node_name);
    let (csr, key) = make_csr(&cn, "system:nodes", &[])?;
    let cert = request_certificate(
        client,
        CLIENT_SIGNER,
        &csr,
        &["digital signature", "client auth"],
    )
    .await?;
    let current = store_pair(&cfg.cert_dir, "kubelet-client", &cert, &key)?;
    if let Some(dir) = cfg.kubeconfig.parent() {
        std::fs::create_dir_all(dir).map_err(|e| NodeError::io("creating", dir, e))?;
    }
    write_private(
        &cfg.kubeconfig,
        node_kubeconfig(&server, &ca, &current, &cfg.node_name).as_bytes(),
    )?;
    tracing::info!(kubeconfig = %cfg.kubeconfig.display(), "TLS bootstrap done");
    Ok(())
}

/// The kubelet port's serving certificate from `kubernetes.io/kubelet-serving`
/// (SANs: the node's name and IP), reused while valid. Returns the PEM file
/// holding certificate and key.
pub async fn serving_cert(client: kube::Client, cfg: &NodeConfig) -> Result<PathBuf> {
    let current = cfg.cert_dir.join("kubelet-server-current.pem");
    if let Ok(pem) = std::fs::read(&current)
        && not_after(&pem).is_some_and(|t| t > jiff::Timestamp::now().as_second())
    {
        return Ok(current);
    }
    let cn = format!("system:node:{}", cfg.node_name);
    let sans = vec![cfg.node_name.clone(), cfg.node_ip.to_string()];
    let (csr, key) = make_csr(&cn, "system:nodes", &sans)?;
    let cert = request_certificate(
        client,
        SERVING_SIGNER,
        &csr,
        &["digital signature", "server auth"],
    )
    .await?;
    store_pair(&cfg.cert_dir, "kubelet-server", &cert, &key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csr_has_the_node_identity() {
        let (csr, key) = make_csr("system:node:n1", "system:nodes", &[]).unwrap();
        assert!(csr.starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
        assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));
        use x509_parser::prelude::FromDer;
        let der = x509_parser::pem::parse_x509_pem(csr.as_bytes())
            .unwrap()
            .1
            .contents;
        let (_, req) =
            x509_parser::certification_request::X509CertificationRequest::from_der(&der).unwrap();
        let subject = req.certification_request_info.subject.to_string();
        assert!(subject.contains("CN=system:node:n1"), "{subject}");
        assert!(subject.contains("O=system:nodes"), "{subject}");
    }

    #[test]
    fn kubeconfig_without_a_valid_cert_is_not_usable() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("kc");
        assert!(!kubeconfig_usable(&p));
        std::fs::write(
            &p,
            node_kubeconfig(
                "https://127.0.0.1:6443",
                b"ca",
                &dir.path().join("missing.pem"),
                "n",
            ),
        )
        .unwrap();
        assert!(!kubeconfig_usable(&p));
    }
}
