//! `nodelet image pull | ls | prune` against a real registry (Debian's
//! docker-registry, TLS from a per-test CA). The pull goes through a slow
//! TCP proxy so that it can be killed (SIGKILL) in the middle of a layer:
//! nothing of the image is visible afterwards, and the next pull completes
//! without fetching again what had fully arrived, resuming the interrupted
//! layer with a range request.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use nodelet_testsupport::{Needs, RegistryOptions, TestRegistry};
use sha2::{Digest, Sha256};

fn sha256(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

fn blob(dir: &Path, bytes: &[u8]) -> String {
    let d = sha256(bytes);
    let p = dir.join("blobs/sha256").join(&d[7..]);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
    d
}

/// An uncompressed layer holding one file.
fn layer(name: &str, data: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(1_700_000_000);
    b.append_data(&mut h, name, data).unwrap();
    b.into_inner().unwrap()
}

/// An OCI layout with one image of gzip layers; returns the layer blobs'
/// digests.
fn layout(dir: &Path, layers: &[Vec<u8>]) -> Vec<String> {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let diff_ids: Vec<String> = layers.iter().map(|l| sha256(l)).collect();
    let cfg = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids}}))
    .unwrap();
    let cfg_d = blob(dir, &cfg);
    let mut descs = Vec::new();
    let mut digests = Vec::new();
    for l in layers {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(l).unwrap();
        let gz = e.finish().unwrap();
        let d = blob(dir, &gz);
        descs.push(serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": gz.len()}));
        digests.push(d);
    }
    let m = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg_d, "size": cfg.len()},
        "layers": descs})).unwrap();
    let md = blob(dir, &m);
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": m.len(),
             "annotations": {"org.opencontainers.image.ref.name": "img"}}]}))
        .unwrap(),
    )
    .unwrap();
    digests
}

/// Bytes that gzip cannot shrink (xorshift).
fn noise(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A TCP proxy to `target` whose downstream rate is `rate` bytes/s
/// (0: unlimited), changeable while it runs.
fn slow_proxy(target: u16, rate: Arc<AtomicU64>) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in l.incoming().flatten() {
            let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                continue;
            };
            let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (mut c, mut s) = (client, server);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c, &mut s);
                let _ = s.shutdown(std::net::Shutdown::Write);
            });
            let rate = rate.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 16 * 1024];
                loop {
                    let n = match s2.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if c2.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    let r = rate.load(Ordering::Relaxed);
                    if r > 0 {
                        std::thread::sleep(Duration::from_secs_f64(n as f64 / r as f64));
                    }
                }
                let _ = c2.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    port
}

fn nodelet() -> Command {
    Command::cargo_bin("nodelet").unwrap()
}

fn partial_size(ingest: &Path) -> u64 {
    std::fs::read_dir(ingest)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .max()
        .unwrap_or(0)
}

fn complete_blobs(ingest: &Path) -> Vec<String> {
    std::fs::read_dir(ingest)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.len() == 64)
        .map(|n| format!("sha256:{n}"))
        .collect()
}

#[test]
fn killed_mid_pull_then_resumed_and_pruned() {
    if !Needs::root(
        "killed_mid_pull_then_resumed_and_pruned",
        "layer unpacking keeps owners",
    )
    .tool("docker-registry", "docker-registry")
    .tool("skopeo", "skopeo")
    .check()
    {
        return;
    }
    let reg = TestRegistry::start(RegistryOptions::default());
    let tmp = tempfile::tempdir().unwrap();
    let small = layer("small", b"hello");
    let big = layer("big", &noise(12 << 20));
    let digests = layout(&tmp.path().join("layout"), &[small, big]);
    reg.push(
        &format!("oci:{}:img", tmp.path().join("layout").display()),
        "big/app:1",
        false,
    );

    // Requests for the registry go through the slow proxy.
    let rate = Arc::new(AtomicU64::new(2 << 20));
    let proxy = slow_proxy(reg.port(), rate.clone());
    let certs = tmp.path().join("certs.d");
    let d = certs.join(reg.host());
    std::fs::create_dir_all(&d).unwrap();
    std::fs::copy(reg.ca_path(), d.join("ca.crt")).unwrap();
    std::fs::write(
        d.join("hosts.toml"),
        format!("server = \"https://127.0.0.1:{proxy}\"\nca = \"ca.crt\"\n"),
    )
    .unwrap();
    let root = tmp.path().join("root");
    let image = format!("{}/big/app:1", reg.host());
    let args = |cmd: &mut Command| {
        cmd.arg("--root")
            .arg(&root)
            .arg("--registry-config-dir")
            .arg(&certs);
    };

    let mut pull = nodelet();
    pull.args(["image", "pull"]);
    args(&mut pull);
    let mut child = pull
        .arg(&image)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ingest = root.join("images/ingest");
    let end = Instant::now() + Duration::from_secs(60);
    while partial_size(&ingest) < (2 << 20) {
        assert!(
            Instant::now() < end,
            "the pull did not progress: {}",
            reg.log_text()
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the pull ended before it was killed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let had = partial_size(&ingest);
    let arrived = complete_blobs(&ingest);
    assert!(
        !arrived.contains(&digests[1]),
        "the big layer was cut short"
    );

    // Nothing half-visible.
    let ls = nodelet()
        .args(["image", "ls"])
        .args(["--root"])
        .arg(&root)
        .output()
        .unwrap();
    assert!(ls.status.success());
    assert!(
        !String::from_utf8_lossy(&ls.stdout).contains("big/app"),
        "{}",
        String::from_utf8_lossy(&ls.stdout)
    );

    // Again, at full speed: completes, fetching only what was missing.
    rate.store(0, Ordering::Relaxed);
    reg.clear_log();
    let mut pull = nodelet();
    pull.args(["image", "pull"]);
    args(&mut pull);
    let out = pull.arg(&image).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(&format!("Pulling {image}")), "{stdout}");
    assert!(stdout.contains(&format!("Pulled {image} in ")), "{stdout}");
    assert!(
        stdout.contains(&format!("Digest: {}/big/app@sha256:", reg.host())),
        "{stdout}"
    );
    // The killed pull's last blob request is logged when the registry sees
    // its connection end, which can be after `clear_log`: this pull's
    // requests start with its `/v2/` ping.
    let reqs: Vec<_> = reg
        .requests()
        .into_iter()
        .skip_while(|r| r.path != "/v2/")
        .collect();
    let big_gets: Vec<_> = reqs
        .iter()
        .filter(|r| r.path.contains(&digests[1]))
        .collect();
    assert_eq!(big_gets.len(), 1, "{reqs:?}");
    assert_eq!(
        big_gets[0].status, 206,
        "resumed after {had} bytes with a range request: {reqs:?}"
    );
    for d in &arrived {
        assert!(
            !reqs.iter().any(|r| r.path.contains(d.as_str())),
            "{d} fetched again: {reqs:?}"
        );
    }

    let ls = nodelet()
        .args(["image", "ls", "--root"])
        .arg(&root)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&ls.stdout).into_owned();
    let row = table
        .lines()
        .find(|l| l.contains(&format!("{}/big/app", reg.host())))
        .unwrap_or_else(|| panic!("{table}"));
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols[1], "1", "{table}");
    assert_eq!(cols[2].len(), 12, "short digest column: {table}");

    // No container uses it: prune removes it and the pull's leftovers.
    let out = nodelet()
        .args(["image", "prune", "--root"])
        .arg(&root)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains(&format!("Deleted: {image}")), "{stdout}");
    assert!(stdout.contains("Total reclaimed space: "), "{stdout}");
    let left: Vec<PathBuf> = std::fs::read_dir(root.join("images/blobs/sha256"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(complete_blobs(&ingest).is_empty());
}
