//! A real registry for pull tests: Debian's `docker-registry`
//! (distribution 2.8) on 127.0.0.1 at a free port, with TLS from a CA made
//! for the test and, optionally, htpasswd (bcrypt) authentication. Images
//! are pushed with `skopeo`. The registry's access log (its stdout/stderr)
//! tells tests exactly which requests a pull made.
//!
//! The process is the test's own child and is killed (by its pid) when the
//! [`TestRegistry`] is dropped.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

/// What a test registry requires.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// `(user, password)` for htpasswd authentication; none: anonymous.
    pub auth: Option<(String, String)>,
}

/// One request from the registry's access log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub status: u16,
}

pub struct TestRegistry {
    dir: tempfile::TempDir,
    child: Child,
    port: u16,
    log: Arc<Mutex<Vec<String>>>,
    auth: Option<(String, String)>,
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The path part of the marker requests [`TestRegistry::sync`] sends.
const SYNC_MARK: &str = "nodelet-log-sync";
static SYNC_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port on 127.0.0.1: {e}"))
}

/// A CA and a serving certificate for 127.0.0.1/localhost, as PEM.
fn make_certs(dir: &Path) {
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.distinguished_name
        .push(DnType::CommonName, "nodelet test registry CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).expect("CA cert");
    let issuer = Issuer::new(ca, &ca_key);
    let key = KeyPair::generate().expect("server key");
    let mut sp = CertificateParams::new(vec!["localhost".to_string()]).expect("server params");
    sp.subject_alt_names
        .push(SanType::IpAddress(Ipv4Addr::LOCALHOST.into()));
    sp.distinguished_name.push(DnType::CommonName, "127.0.0.1");
    sp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = sp.signed_by(&key, &issuer).expect("server cert");
    std::fs::write(dir.join("ca.crt"), ca_cert.pem()).expect("write ca.crt");
    std::fs::write(dir.join("server.crt"), cert.pem()).expect("write server.crt");
    std::fs::write(dir.join("server.key"), key.serialize_pem()).expect("write server.key");
}

impl TestRegistry {
    /// Starts the registry and waits until it answers.
    pub fn start(opts: RegistryOptions) -> TestRegistry {
        let dir = tempfile::tempdir().expect("registry temp dir");
        make_certs(dir.path());
        let port = free_port();
        let mut auth = String::new();
        if let Some((user, pass)) = &opts.auth {
            let out = Command::new("htpasswd")
                .args(["-Bbn", user, pass])
                .output()
                .unwrap_or_else(|e| panic!("htpasswd (Debian package apache2-utils): {e}"));
            assert!(out.status.success(), "htpasswd failed");
            std::fs::write(dir.path().join("htpasswd"), &out.stdout).expect("write htpasswd");
            auth = format!(
                "auth:\n  htpasswd:\n    realm: nodelet-test\n    path: {}\n",
                dir.path().join("htpasswd").display()
            );
        }
        let config = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\n\
             storage:\n  filesystem:\n    rootdirectory: {data}\n  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:{port}\n  tls:\n    certificate: {d}/server.crt\n    key: {d}/server.key\n{auth}",
            data = dir.path().join("data").display(),
            d = dir.path().display(),
        );
        let cfg = dir.path().join("config.yml");
        std::fs::write(&cfg, config).expect("write registry config");
        let mut child = Command::new("docker-registry")
            .arg("serve")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("starting docker-registry (Debian package docker-registry): {e}")
            });
        let log = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    log.lock().unwrap_or_else(|p| p.into_inner()).push(line);
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "docker-registry exited ({status}): {}",
                    log.lock().unwrap_or_else(|p| p.into_inner()).join("\n")
                );
            }
            assert!(
                Instant::now() < deadline,
                "docker-registry did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        TestRegistry {
            dir,
            child,
            port,
            log,
            auth: opts.auth,
        }
    }

    /// `127.0.0.1:<port>`: the registry part of image references.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The CA certificate (PEM) that signed the registry's certificate.
    pub fn ca_path(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    /// Where the registry keeps its blobs (to tamper with them).
    pub fn blob_data(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// Writes `DIR/<registry>/hosts.toml` trusting this registry's CA, so
    /// nodelet pulls `<this registry>/...` over TLS.
    pub fn trust_in(&self, config_dir: &Path) {
        let d = config_dir.join(self.host());
        std::fs::create_dir_all(&d).expect("registry config dir");
        std::fs::copy(self.ca_path(), d.join("ca.crt")).expect("copy CA");
        std::fs::write(
            d.join("hosts.toml"),
            format!("server = \"https://{}\"\nca = \"ca.crt\"\n", self.host()),
        )
        .expect("write hosts.toml");
    }

    /// Writes `DIR/<registry>/hosts.toml` making this registry a mirror of
    /// `registry` (e.g. `docker.io`), the upstream unreachable after it.
    pub fn mirror_in(&self, config_dir: &Path, registry: &str) {
        let d = config_dir.join(registry);
        std::fs::create_dir_all(&d).expect("registry config dir");
        std::fs::copy(self.ca_path(), d.join("mirror-ca.crt")).expect("copy CA");
        std::fs::write(
            d.join("hosts.toml"),
            format!(
                "server = \"https://{h}\"\nca = \"mirror-ca.crt\"\n\n[host.\"https://{h}\"]\n  capabilities = [\"pull\", \"resolve\"]\n  ca = \"mirror-ca.crt\"\n",
                h = self.host()
            ),
        )
        .expect("write hosts.toml");
    }

    /// Pushes `source` (a skopeo transport: `oci:DIR:REF`,
    /// `oci-archive:TAR`...) as `<this registry>/<dest>`; `all` pushes
    /// every platform of an index.
    pub fn push(&self, source: &str, dest: &str, all: bool) {
        let mut cmd = Command::new("skopeo");
        cmd.args(["copy", "--quiet", "--dest-cert-dir"]);
        let certs = self.dir.path().join("skopeo-certs");
        std::fs::create_dir_all(&certs).expect("skopeo certs dir");
        std::fs::copy(self.ca_path(), certs.join("ca.crt")).expect("copy CA");
        cmd.arg(&certs);
        if let Some((u, p)) = &self.auth {
            cmd.arg("--dest-creds").arg(format!("{u}:{p}"));
        }
        if all {
            cmd.arg("--all");
        }
        cmd.arg(source)
            .arg(format!("docker://{}/{dest}", self.host()));
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("skopeo (Debian package skopeo): {e}"));
        assert!(
            out.status.success(),
            "skopeo copy {source} -> {dest} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The access log so far: every request answered before this call.
    pub fn requests(&self) -> Vec<Request> {
        self.sync();
        self.log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter_map(|l| parse_access_line(l))
            .filter(|r| !r.path.contains(SYNC_MARK))
            .collect()
    }

    /// Forgets the access log so far (e.g. after the pushes).
    pub fn clear_log(&self) {
        self.sync();
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Waits until the log holds every request answered so far. The
    /// registry writes a request's line after answering it and a thread of
    /// ours reads it later, so a test reading the log right after a pull
    /// could miss the pull's last requests: a marker request is sent and
    /// its line waited for (lines come in the order of the answers).
    fn sync(&self) {
        let n = SYNC_SEQ.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let path = format!("/v2/{SYNC_MARK}-{n}/tags/list");
        let out = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "--max-time", "10", "--cacert"])
            .arg(self.ca_path())
            .arg(format!("https://{}{path}", self.host()))
            .status();
        assert!(
            out.is_ok(),
            "curl (Debian package curl) is needed to read the registry log"
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self
                .log
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .any(|l| l.contains(&path))
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the registry did not log {path} within 10 s"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Raw log lines (for failure messages).
    pub fn log_text(&self) -> String {
        self.log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .join("\n")
    }
}

/// `127.0.0.1 - - [date] "GET /v2/x/manifests/latest HTTP/1.1" 200 ...`
fn parse_access_line(line: &str) -> Option<Request> {
    let start = line.find('"')?;
    let rest = &line[start + 1..];
    let end = rest.find('"')?;
    let mut req = rest[..end].split_whitespace();
    let method = req.next()?.to_string();
    let path = req.next()?.to_string();
    if !req.next()?.starts_with("HTTP/") {
        return None;
    }
    let status = rest[end + 1..].split_whitespace().next()?.parse().ok()?;
    Some(Request {
        method,
        path,
        status,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn access_lines() {
        let r = super::parse_access_line(
            r#"127.0.0.1 - - [03/Dec/2025:00:00:00 +0000] "HEAD /v2/library/nginx/manifests/latest?ns=docker.io HTTP/1.1" 200 1234 "" "nodelet/0.1.0""#,
        )
        .unwrap();
        assert_eq!(
            (r.method.as_str(), r.path.as_str(), r.status),
            (
                "HEAD",
                "/v2/library/nginx/manifests/latest?ns=docker.io",
                200
            )
        );
        assert!(super::parse_access_line("time=... level=info msg=hello").is_none());
    }
}
