//! A hostile registry: a tiny HTTP server on 127.0.0.1 (plain HTTP through
//! a `hosts.toml` `server` line) that answers with malformed manifests,
//! a manifest that is not what its digest says, and a layer that never
//! ends. Each pull must fail with an error naming what was refused, and
//! leave nothing in the store.

mod image_support;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

use image_support::*;
use nodelet_runtime::image::ImageStore;
use nodelet_runtime::image::ensure::ensure_image;
use nodelet_runtime::image::registry::{PullLimits, Puller, RegistryConfig};
use nodelet_runtime::{ImageRequest, PullCredentials, PullPolicy};

/// What the server answers for `GET|HEAD <path>`: status, content type,
/// body; `None` for 404. A body of [`ENDLESS`] streams zeros until the
/// client hangs up.
type Route = Box<dyn Fn(&str) -> Option<(u16, &'static str, Vec<u8>)> + Send + Sync>;

const ENDLESS: &[u8] = b"<endless>";
/// A body announced as 1 MiB and sent one byte a second (slow loris).
const TRICKLE: &[u8] = b"<trickle>";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn serve(route: Route) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let route = Arc::new(route);
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(conn) = conn else { return };
            let route = route.clone();
            std::thread::spawn(move || {
                let _ = answer(conn, &route);
            });
        }
    });
    port
}

fn answer(conn: TcpStream, route: &Route) -> std::io::Result<()> {
    let mut rd = BufReader::new(conn.try_clone()?);
    let mut w = conn;
    loop {
        let mut line = String::new();
        if rd.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        loop {
            let mut h = String::new();
            if rd.read_line(&mut h)? == 0 || h == "\r\n" {
                break;
            }
        }
        let path = path.split('?').next().unwrap_or(path).to_string();
        match route(&path) {
            None => write!(w, "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")?,
            Some((status, ct, body)) if body == ENDLESS => {
                write!(
                    w,
                    "HTTP/1.1 {status} OK\r\ncontent-type: {ct}\r\ntransfer-encoding: chunked\r\n\r\n"
                )?;
                if method == "HEAD" {
                    w.flush()?;
                    continue;
                }
                let chunk = vec![0u8; 64 << 10];
                // Bounded only so a broken client cannot keep the test
                // running: 1 GiB, far beyond anything announced.
                for _ in 0..(1 << 14) {
                    write!(w, "{:x}\r\n", chunk.len())?;
                    w.write_all(&chunk)?;
                    w.write_all(b"\r\n")?;
                }
                return Ok(());
            }
            Some((status, ct, body)) if body == TRICKLE => {
                write!(
                    w,
                    "HTTP/1.1 {status} OK\r\ncontent-type: {ct}\r\ncontent-length: {}\r\n\r\n",
                    1 << 20
                )?;
                if method == "HEAD" {
                    w.flush()?;
                    continue;
                }
                w.flush()?;
                // Bounded only so a broken client cannot keep the test
                // running forever.
                for _ in 0..600 {
                    w.write_all(b" ")?;
                    w.flush()?;
                    std::thread::sleep(std::time::Duration::from_secs(1));
                }
                return Ok(());
            }
            Some((status, ct, body)) => {
                let digest = sha256(&body);
                write!(
                    w,
                    "HTTP/1.1 {status} OK\r\ncontent-type: {ct}\r\ndocker-content-digest: {digest}\r\ncontent-length: {}\r\n\r\n",
                    body.len()
                )?;
                if method != "HEAD" {
                    w.write_all(&body)?;
                }
            }
        }
        w.flush()?;
    }
}

struct Env {
    tmp: tempfile::TempDir,
    store: Arc<ImageStore>,
    puller: Arc<Puller>,
    port: u16,
}

impl Env {
    fn new(route: Route) -> Env {
        Env::with_limits(route, PullLimits::default())
    }

    fn with_limits(route: Route, limits: PullLimits) -> Env {
        let port = serve(route);
        let tmp = tempfile::tempdir().unwrap();
        let host = format!("127.0.0.1:{port}");
        let d = tmp.path().join("certs.d").join(&host);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("hosts.toml"),
            format!("server = \"http://{host}\"\n"),
        )
        .unwrap();
        let store = Arc::new(ImageStore::open(&tmp.path().join("images")).unwrap());
        let puller = Arc::new(
            Puller::new(
                store.clone(),
                RegistryConfig::new(&tmp.path().join("certs.d")),
                tmp.path().join("root"),
            )
            .with_limits(limits),
        );
        Env {
            tmp,
            store,
            puller,
            port,
        }
    }

    async fn pull(&self, repo_tag: &str) -> String {
        let image = format!("127.0.0.1:{}/{repo_tag}", self.port);
        let req = ImageRequest::new(&image, PullPolicy::Always);
        let mut req = req;
        req.credentials = PullCredentials::default();
        let e = ensure_image(&self.store, &self.puller, &req)
            .await
            .expect_err("a hostile registry's image was accepted")
            .to_string();
        eprintln!("{repo_tag}: {e}");
        assert!(self.store.list().unwrap().is_empty(), "an image was stored");
        assert!(
            self.store.layers().list().unwrap().is_empty(),
            "a layer was unpacked"
        );
        assert_eq!(
            std::fs::read_dir(self.tmp.path()).unwrap().count(),
            2,
            "only certs.d and images: {:?}",
            listing(self.tmp.path())
        );
        e
    }
}

fn needs(test: &str) -> bool {
    nodelet_testsupport::Needs::root(test, "the image store keeps owners").check()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_manifests_are_refused_by_name() {
    if !needs("malformed_manifests_are_refused_by_name") {
        return;
    }
    let env = Env::new(Box::new(|p: &str| {
        match p {
        "/v2/" => Some((200, "application/json", b"{}".to_vec())),
        p if p.starts_with("/v2/junk/app/manifests/") => {
            Some((200, OCI_MANIFEST, b"{\"schemaVersion\":2,\"layers\":[{".to_vec()))
        }
        p if p.starts_with("/v2/notjson/app/manifests/") => {
            Some((200, OCI_MANIFEST, vec![0xff, 0x00, 0x13, 0x37]))
        }
        p if p.starts_with("/v2/nolayers/app/manifests/") => Some((
            200,
            OCI_MANIFEST,
            br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/x-not-an-image","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":2},"layers":[]}"#.to_vec(),
        )),
        _ => None,
    }
    }));
    let e = env.pull("junk/app:1").await;
    assert!(e.contains("malformed"), "{e}");
    let e = env.pull("notjson/app:1").await;
    assert!(e.contains("malformed"), "{e}");
    let e = env.pull("nolayers/app:1").await;
    assert!(e.contains("not a container image"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_layer_stops_at_its_announced_size() {
    if !needs("an_endless_layer_stops_at_its_announced_size") {
        return;
    }
    let l = layer(&[E::File("x", b"x".to_vec())]);
    let cfg = config(std::slice::from_ref(&l), &["sh"]);
    let cfg_digest = sha256(&cfg);
    let layer_digest = sha256(&l);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg_digest, "size": cfg.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": l.len()}],
    }))
    .unwrap();
    let announced = l.len();
    let (cfg_path, layer_path) = (
        format!("/v2/endless/app/blobs/{cfg_digest}"),
        format!("/v2/endless/app/blobs/{layer_digest}"),
    );
    let env = Env::new(Box::new(move |p: &str| match p {
        "/v2/" => Some((200, "application/json", b"{}".to_vec())),
        p if p.starts_with("/v2/endless/app/manifests/") => {
            Some((200, OCI_MANIFEST, manifest.clone()))
        }
        p if p == cfg_path => Some((200, "application/octet-stream", cfg.clone())),
        p if p == layer_path => Some((200, "application/octet-stream", ENDLESS.to_vec())),
        _ => None,
    }));
    let e = env.pull("endless/app:1").await;
    assert!(
        e.contains(&format!(
            "more than the {announced} bytes the manifest announced"
        )),
        "{e}"
    );
    assert!(!env.store.blobs().contains(&layer_digest));
    assert!(
        !env.store
            .ingest()
            .partial_path(&layer_digest)
            .unwrap()
            .exists()
    );
}

/// Peak resident memory of this test process, from /proc/self/status.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmHWM in /proc/self/status");
    kb << 10
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_manifest_stops_at_the_manifest_limit() {
    if !needs("an_endless_manifest_stops_at_the_manifest_limit") {
        return;
    }
    // By tag: the HEAD carries no digest, so the tag resolves through a
    // GET, which never ends; by digest: the GET of the manifest.
    let env = Env::new(Box::new(|p: &str| match p {
        "/v2/" => Some((200, "application/json", b"{}".to_vec())),
        p if p.starts_with("/v2/endless/app/manifests/") => {
            Some((200, OCI_MANIFEST, ENDLESS.to_vec()))
        }
        _ => None,
    }));
    let start = std::time::Instant::now();
    let e = env.pull("endless/app:1").await;
    assert!(e.contains("manifest larger than the 16 MiB limit"), "{e}");
    assert!(e.contains("endless/app:1"), "the image is named: {e}");
    let digest = format!("sha256:{}", "ab".repeat(32));
    let e = env.pull(&format!("endless/app@{digest}")).await;
    assert!(e.contains("manifest larger than the 16 MiB limit"), "{e}");
    assert!(e.contains(&format!("manifests/{digest}")), "{e}");
    assert!(
        start.elapsed() < std::time::Duration::from_secs(30),
        "took {:?}",
        start.elapsed()
    );
    // The server streams 1 GiB before giving up; reading it whole (as
    // oci-client's manifest calls do) would leave a peak far above this.
    let peak = peak_rss();
    assert!(peak < 400 << 20, "peak RSS {} MiB", peak >> 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_loris_registry_times_out() {
    if !needs("a_slow_loris_registry_times_out") {
        return;
    }
    let limits = PullLimits {
        metadata_timeout: std::time::Duration::from_secs(2),
        ..PullLimits::default()
    };
    let env = Env::with_limits(
        Box::new(|p: &str| match p {
            "/v2/" => Some((200, "application/json", b"{}".to_vec())),
            p if p.starts_with("/v2/slow/app/manifests/") => {
                Some((200, OCI_MANIFEST, TRICKLE.to_vec()))
            }
            _ => None,
        }),
        limits,
    );
    let start = std::time::Instant::now();
    let e = env.pull("slow/app:1").await;
    assert!(e.contains("no complete answer within 2s"), "{e}");
    assert!(e.contains("slow/app:1"), "the image is named: {e}");
    assert!(
        start.elapsed() < std::time::Duration::from_secs(20),
        "took {:?}",
        start.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_config_or_error_body_is_bounded() {
    if !needs("an_endless_config_or_error_body_is_bounded") {
        return;
    }
    // The manifest announces a small config; the registry answers its GET
    // with an endless body (200), or with an endless error body (500).
    let cfg_digest = format!("sha256:{}", "cd".repeat(32));
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg_digest, "size": 100},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": format!("sha256:{}", "ef".repeat(32)), "size": 10}],
    }))
    .unwrap();
    let env = Env::new(Box::new(move |p: &str| match p {
        "/v2/" => Some((200, "application/json", b"{}".to_vec())),
        p if p.contains("/manifests/") => Some((200, OCI_MANIFEST, manifest.clone())),
        p if p.starts_with("/v2/big/app/blobs/") => {
            Some((200, "application/octet-stream", ENDLESS.to_vec()))
        }
        p if p.starts_with("/v2/failing/app/blobs/") => Some((500, "text/plain", ENDLESS.to_vec())),
        _ => None,
    }));
    let start = std::time::Instant::now();
    let e = env.pull("big/app:1").await;
    assert!(e.contains("config larger than the 16 MiB limit"), "{e}");
    let e = env.pull("failing/app:1").await;
    assert!(
        e.contains(&format!(
            "unexpected status from GET request to http://127.0.0.1:{}/v2/failing/app/blobs/{cfg_digest}: 500 Internal Server Error",
            env.port
        )),
        "{e}"
    );
    assert!(
        start.elapsed() < std::time::Duration::from_secs(30),
        "took {:?}",
        start.elapsed()
    );
    let peak = peak_rss();
    assert!(peak < 400 << 20, "peak RSS {} MiB", peak >> 20);
}
