//! The certificates and token of the API: a self-signed CA, a serving
//! certificate for the local names (and, in standalone mode, the names
//! pods use: `kubernetes.default.svc…` and the service's IP, as
//! kube-apiserver's serving certificate carries them), an admin client
//! certificate (`CN=nodelet-admin, O=system:masters`) and a bearer token,
//! created on first start under `<root>/pki/` and reused afterwards.

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

/// Names the serving certificate carries beyond the local ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerNames {
    pub dns: Vec<String>,
    pub ips: Vec<std::net::IpAddr>,
}

impl ServerNames {
    /// One line per name, as `<root>/pki/server-names` records what the
    /// current serving certificate was issued for.
    fn render(&self) -> String {
        let mut s = String::new();
        for d in &self.dns {
            s.push_str(d);
            s.push('\n');
        }
        for ip in &self.ips {
            s.push_str(&ip.to_string());
            s.push('\n');
        }
        s
    }
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

/// The CA's parameters: the same every time, so a serving certificate
/// issued later with the stored CA key chains to the stored CA
/// certificate (issuer name and key identifier match).
fn ca_params() -> Result<CertificateParams, ApiError> {
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
    Ok(ca)
}

/// A serving certificate (PEM) and its key for the local names and `extra`.
fn server_cert(
    issuer: &Issuer<'_, &KeyPair>,
    extra: &ServerNames,
) -> Result<(String, String), ApiError> {
    let mut names = vec!["localhost".to_string()];
    if let Some(h) = hostname() {
        names.push(h);
    }
    names.extend(extra.dns.iter().cloned());
    let server_key = KeyPair::generate().map_err(cert_err)?;
    let mut sp = CertificateParams::new(names).map_err(cert_err)?;
    sp.subject_alt_names
        .push(SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
    sp.subject_alt_names
        .push(SanType::IpAddress(std::net::Ipv6Addr::LOCALHOST.into()));
    for ip in &extra.ips {
        sp.subject_alt_names.push(SanType::IpAddress(*ip));
    }
    sp.distinguished_name
        .push(DnType::CommonName, "nodelet-apiserver");
    sp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    sp.not_after = rcgen::date_time_ymd(2099, 1, 1);
    let cert = sp.signed_by(&server_key, issuer).map_err(cert_err)?;
    Ok((cert.pem(), server_key.serialize_pem()))
}

fn generate(extra: &ServerNames) -> Result<(Pki, String), ApiError> {
    let ca_key = KeyPair::generate().map_err(cert_err)?;
    let ca = ca_params()?;
    let ca_cert = ca.self_signed(&ca_key).map_err(cert_err)?;
    let issuer = Issuer::new(ca, &ca_key);
    let (server_cert_pem, server_key_pem) = server_cert(&issuer, extra)?;

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
            server_cert_pem,
            server_key_pem,
            admin_cert_pem: admin_cert.pem(),
            admin_key_pem: admin_key.serialize_pem(),
            token: random_token(),
        },
        ca_key.serialize_pem(),
    ))
}

/// Loads the PKI under `<root>/pki`, creating all of it when any piece is
/// missing (a partial set cannot be trusted to belong together). An
/// existing serving certificate is kept whatever names it carries.
pub fn ensure(root: &Path) -> Result<Pki, ApiError> {
    let dir = pki_dir(root);
    if FILES.iter().all(|f| dir.join(f).exists()) {
        return load(root);
    }
    ensure_with(root, &ServerNames::default())
}

/// [`ensure`], with a serving certificate that also names `extra`; an
/// existing one issued for other names is re-issued by the same CA (the
/// kubeconfig and clients that trust the CA stay valid). `serve` calls it
/// before the API starts, which then [`ensure`]s what is on disk.
pub fn ensure_with(root: &Path, extra: &ServerNames) -> Result<Pki, ApiError> {
    let dir = pki_dir(root);
    let names_file = dir.join("server-names");
    if FILES.iter().all(|f| dir.join(f).exists()) {
        let mut pki = load(root)?;
        let issued = std::fs::read_to_string(&names_file).unwrap_or_default();
        let ca_key_file = dir.join("ca.key");
        if issued == extra.render() || !ca_key_file.exists() {
            return Ok(pki);
        }
        let ca_key = KeyPair::from_pem(&read(&ca_key_file)?).map_err(cert_err)?;
        let issuer = Issuer::new(ca_params()?, &ca_key);
        let (cert, key) = server_cert(&issuer, extra)?;
        write_private(&dir.join("server.key.new"), &key)?;
        write_private(&dir.join("server.crt.new"), &cert)?;
        // The names file goes first and comes back last: a crash in
        // between leaves no record, so the next start issues again.
        let _ = std::fs::remove_file(&names_file);
        std::fs::rename(dir.join("server.key.new"), dir.join("server.key"))
            .map_err(|e| io_err("renaming", &dir.join("server.key"), e))?;
        std::fs::rename(dir.join("server.crt.new"), dir.join("server.crt"))
            .map_err(|e| io_err("renaming", &dir.join("server.crt"), e))?;
        write_private(&names_file, &extra.render())?;
        pki.server_cert_pem = cert;
        pki.server_key_pem = key;
        return Ok(pki);
    }
    std::fs::create_dir_all(&dir).map_err(|e| io_err("creating", &dir, e))?;
    let (pki, ca_key) = generate(extra)?;
    write_private(&dir.join("ca.key"), &ca_key)?;
    write_private(&dir.join("server.key"), &pki.server_key_pem)?;
    write_private(&dir.join("admin.key"), &pki.admin_key_pem)?;
    write_private(&dir.join("token"), &format!("{}\n", pki.token))?;
    write_private(&dir.join("server.crt"), &pki.server_cert_pem)?;
    write_private(&dir.join("admin.crt"), &pki.admin_cert_pem)?;
    write_private(&names_file, &extra.render())?;
    // The CA certificate last: its presence marks a complete set.
    write_private(&dir.join("ca.crt"), &pki.ca_cert_pem)?;
    Ok(pki)
}

/// A client certificate (PEM) and key for `user` in `groups` (CN and O,
/// as the API server reads them), signed by the stored CA.
pub fn issue_client(
    root: &Path,
    user: &str,
    groups: &[String],
) -> Result<(String, String), ApiError> {
    if user.is_empty() {
        return Err(ApiError::bad_request("the user name must not be empty"));
    }
    // rcgen keeps one value per attribute type in a name: the second
    // group goes in as the same O attribute under its OID; a third cannot.
    if groups.len() > 2 {
        return Err(ApiError::bad_request(format!(
            "at most 2 groups fit in one nodelet client certificate (got {}); bind the user by name or use fewer groups",
            groups.len()
        )));
    }
    let dir = pki_dir(root);
    let ca_key_file = dir.join("ca.key");
    let ca_key = KeyPair::from_pem(&read(&ca_key_file)?).map_err(cert_err)?;
    let issuer = Issuer::new(ca_params()?, &ca_key);
    let key = KeyPair::generate().map_err(cert_err)?;
    let mut p = CertificateParams::new(Vec::<String>::new()).map_err(cert_err)?;
    p.distinguished_name.push(DnType::CommonName, user);
    let types = [
        DnType::OrganizationName,
        DnType::CustomDnType(vec![2, 5, 4, 10]),
    ];
    for (ty, g) in types.into_iter().zip(groups) {
        p.distinguished_name.push(ty, g.as_str());
    }
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    p.not_after = rcgen::date_time_ymd(2099, 1, 1);
    let cert = p.signed_by(&key, &issuer).map_err(cert_err)?;
    Ok((cert.pem(), key.serialize_pem()))
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

    /// Whether `pki`'s serving certificate is valid for `name` under its CA.
    fn verifies(pki: &Pki, name: &str) -> bool {
        use rustls::client::danger::ServerCertVerifier;
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(pki.ca_cert_pem.as_bytes()).unwrap())
            .unwrap();
        let v = rustls::client::WebPkiServerVerifier::builder_with_provider(
            std::sync::Arc::new(roots),
            provider,
        )
        .build()
        .unwrap();
        let cert = CertificateDer::from_pem_slice(pki.server_cert_pem.as_bytes()).unwrap();
        v.verify_server_cert(
            &cert,
            &[],
            &ServerName::try_from(name.to_owned()).unwrap(),
            &[],
            UnixTime::now(),
        )
        .is_ok()
    }

    #[test]
    fn serving_certificate_reissued_for_new_names_under_the_same_ca() {
        let dir = tempfile::tempdir().unwrap();
        let a = ensure(dir.path()).unwrap();
        assert!(verifies(&a, "localhost"));
        assert!(!verifies(&a, "kubernetes.default.svc"));
        let names = ServerNames {
            dns: vec!["kubernetes.default.svc".into()],
            ips: vec!["10.96.0.1".parse().unwrap()],
        };
        let b = ensure_with(dir.path(), &names).unwrap();
        assert_eq!(a.ca_cert_pem, b.ca_cert_pem);
        assert_eq!(a.admin_cert_pem, b.admin_cert_pem);
        assert_eq!(a.token, b.token);
        assert_ne!(a.server_cert_pem, b.server_cert_pem);
        for n in ["localhost", "kubernetes.default.svc", "10.96.0.1"] {
            assert!(verifies(&b, n), "{n}");
        }
        assert!(!verifies(&b, "10.96.0.2"));
        // Same names: reused as is; what is on disk is what was returned.
        let c = ensure_with(dir.path(), &names).unwrap();
        assert_eq!(b.server_cert_pem, c.server_cert_pem);
        assert_eq!(load(dir.path()).unwrap().server_key_pem, b.server_key_pem);
    }
}
