//! The certificates and token of the API: a self-signed CA, a serving
//! certificate for the local names, an admin client certificate
//! (`CN=nodelet-admin, O=system:masters`) and a bearer token, created on
//! first start under `<root>/pki/` and reused afterwards.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

use crate::error::ApiError;

/// PEM material of the API's identity.
#[derive(Debug, Clone)]
pub struct Pki {
    pub ca_cert_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
    pub admin_cert_pem: String,
    pub admin_key_pem: String,
    pub token: String,
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> ApiError {
    ApiError::internal(format!("{what} {}: {e}", path.display()))
}

fn cert_err(e: rcgen::Error) -> ApiError {
    ApiError::internal(format!("generating certificates: {e}"))
}

/// Writes a file readable by its owner only (keys, token, kubeconfig).
pub(crate) fn write_private(path: &Path, contents: &str) -> Result<(), ApiError> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| io_err("creating", &tmp, e))?;
    f.write_all(contents.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| io_err("writing", &tmp, e))?;
    // A rename keeps readers from ever seeing a half-written key.
    std::fs::rename(&tmp, path).map_err(|e| io_err("renaming", path, e))
}

fn read(path: &Path) -> Result<String, ApiError> {
    std::fs::read_to_string(path).map_err(|e| io_err("reading", path, e))
}

pub fn pki_dir(root: &Path) -> PathBuf {
    root.join("pki")
}

const FILES: [&str; 6] = [
    "ca.crt",
    "server.crt",
    "server.key",
    "admin.crt",
    "admin.key",
    "token",
];

fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn random_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

fn generate() -> Result<(Pki, String), ApiError> {
    let ca_key = KeyPair::generate().map_err(cert_err)?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(cert_err)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "nodelet-ca");
    ca.distinguished_name = dn;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca.not_after = rcgen::date_time_ymd(2099, 1, 1);
    let ca_cert = ca.self_signed(&ca_key).map_err(cert_err)?;
    let issuer = Issuer::new(ca, &ca_key);

    let mut names = vec!["localhost".to_string()];
    if let Some(h) = hostname() {
        names.push(h);
    }
    let server_key = KeyPair::generate().map_err(cert_err)?;
    let mut sp = CertificateParams::new(names).map_err(cert_err)?;
    sp.subject_alt_names
        .push(SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
    sp.subject_alt_names
        .push(SanType::IpAddress(std::net::Ipv6Addr::LOCALHOST.into()));
    sp.distinguished_name
        .push(DnType::CommonName, "nodelet-apiserver");
    sp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    sp.not_after = rcgen::date_time_ymd(2099, 1, 1);
    let server_cert = sp.signed_by(&server_key, &issuer).map_err(cert_err)?;

    let admin_key = KeyPair::generate().map_err(cert_err)?;
    let mut ap = CertificateParams::new(Vec::<String>::new()).map_err(cert_err)?;
    ap.distinguished_name
        .push(DnType::CommonName, "nodelet-admin");
    ap.distinguished_name
        .push(DnType::OrganizationName, "system:masters");
    ap.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    ap.not_after = rcgen::date_time_ymd(2099, 1, 1);
    let admin_cert = ap.signed_by(&admin_key, &issuer).map_err(cert_err)?;

    Ok((
        Pki {
            ca_cert_pem: ca_cert.pem(),
            server_cert_pem: server_cert.pem(),
            server_key_pem: server_key.serialize_pem(),
            admin_cert_pem: admin_cert.pem(),
            admin_key_pem: admin_key.serialize_pem(),
            token: random_token(),
        },
        ca_key.serialize_pem(),
    ))
}

/// Loads the PKI under `<root>/pki`, creating all of it when any piece is
/// missing (a partial set cannot be trusted to belong together).
pub fn ensure(root: &Path) -> Result<Pki, ApiError> {
    let dir = pki_dir(root);
    if FILES.iter().all(|f| dir.join(f).exists()) {
        return load(root);
    }
    std::fs::create_dir_all(&dir).map_err(|e| io_err("creating", &dir, e))?;
    let (pki, ca_key) = generate()?;
    write_private(&dir.join("ca.key"), &ca_key)?;
    write_private(&dir.join("server.key"), &pki.server_key_pem)?;
    write_private(&dir.join("admin.key"), &pki.admin_key_pem)?;
    write_private(&dir.join("token"), &format!("{}\n", pki.token))?;
    write_private(&dir.join("server.crt"), &pki.server_cert_pem)?;
    write_private(&dir.join("admin.crt"), &pki.admin_cert_pem)?;
    // The CA certificate last: its presence marks a complete set.
    write_private(&dir.join("ca.crt"), &pki.ca_cert_pem)?;
    Ok(pki)
}

/// Loads an existing PKI.
pub fn load(root: &Path) -> Result<Pki, ApiError> {
    let dir = pki_dir(root);
    Ok(Pki {
        ca_cert_pem: read(&dir.join("ca.crt"))?,
        server_cert_pem: read(&dir.join("server.crt"))?,
        server_key_pem: read(&dir.join("server.key"))?,
        admin_cert_pem: read(&dir.join("admin.crt"))?,
        admin_key_pem: read(&dir.join("admin.key"))?,
        token: read(&dir.join("token"))?.trim().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn created_once_then_reused_with_private_modes() {
        let dir = tempfile::tempdir().unwrap();
        let a = ensure(dir.path()).unwrap();
        let b = ensure(dir.path()).unwrap();
        assert_eq!(a.ca_cert_pem, b.ca_cert_pem);
        assert_eq!(a.token, b.token);
        assert_eq!(a.token.len(), 64);
        let mode = std::fs::metadata(dir.path().join("pki/admin.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(a.admin_cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    }
}
