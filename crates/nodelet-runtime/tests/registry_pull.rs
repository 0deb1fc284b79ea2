//! Pulls from a real registry (Debian's docker-registry on 127.0.0.1, TLS
//! from a CA made per test, htpasswd where said), images pushed with
//! skopeo; the registry's access log shows which requests each pull made.
//! Exercises the runtime's `ensure_image` (policy + store + registry)
//! without containers.

mod image_support;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use image_support::*;
use nodelet_runtime::image::ImageStore;
use nodelet_runtime::image::ensure::ensure_image;
use nodelet_runtime::image::registry::{Puller, RegistryConfig};
use nodelet_runtime::{
    ImageRequest, PullCredentials, PullPolicy, PullSecret, PullSecretKind, RuntimeError,
};
use nodelet_testsupport::{Needs, RegistryOptions, TestRegistry};

fn needs(test: &str) -> bool {
    Needs::root(test, "unpacking layers keeps owners and makes whiteouts")
        .tool("docker-registry", "docker-registry")
        .tool("skopeo", "skopeo")
        .tool("htpasswd", "apache2-utils")
        .check()
}

struct Env {
    reg: TestRegistry,
    tmp: tempfile::TempDir,
    store: Arc<ImageStore>,
    puller: Arc<Puller>,
}

impl Env {
    fn new(auth: Option<(&str, &str)>) -> Env {
        let reg = TestRegistry::start(RegistryOptions {
            auth: auth.map(|(u, p)| (u.to_string(), p.to_string())),
        });
        let tmp = tempfile::tempdir().unwrap();
        reg.trust_in(&tmp.path().join("certs.d"));
        let store = Arc::new(ImageStore::open(&tmp.path().join("images")).unwrap());
        let puller = Arc::new(Puller::new(
            store.clone(),
            RegistryConfig::new(&tmp.path().join("certs.d")),
            tmp.path().join("root"),
        ));
        Env {
            reg,
            tmp,
            store,
            puller,
        }
    }

    fn image(&self, repo_tag: &str) -> String {
        format!("{}/{repo_tag}", self.reg.host())
    }

    /// Builds an image of `layers` and pushes it as `repo_tag`.
    fn push(&self, repo_tag: &str, layers: &[Vec<u8>]) -> Built {
        let dir = self
            .tmp
            .path()
            .join(format!("layout-{}", repo_tag.replace([':', '/'], "-")));
        let _ = std::fs::remove_dir_all(&dir);
        let built = oci_layout(&dir, "img", layers, true, &["sh"]);
        self.reg
            .push(&format!("oci:{}:img", dir.display()), repo_tag, false);
        built
    }

    async fn ensure(
        &self,
        image: &str,
        policy: PullPolicy,
        creds: PullCredentials,
    ) -> Result<nodelet_runtime::ImageInfo, RuntimeError> {
        let mut req = ImageRequest::new(image, policy);
        req.credentials = creds;
        ensure_image(&self.store, &self.puller, &req).await
    }

    /// Digests of the blobs the registry served (GET, 200 or 206).
    fn blob_gets(&self) -> Vec<String> {
        self.reg
            .requests()
            .into_iter()
            .filter(|r| r.method == "GET" && (r.status == 200 || r.status == 206))
            .filter_map(|r| {
                r.path
                    .split("/blobs/")
                    .nth(1)
                    .map(|d| d.split('?').next().unwrap_or(d).to_string())
            })
            .collect()
    }
}

fn file_layer(name: &str, size: usize, seed: u8) -> Vec<u8> {
    let data: Vec<u8> = (0..size)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect();
    layer(&[E::Owned(name.to_string(), data, 0o644)])
}

fn secret(name: &str, registry: &str, user: &str, pass: &str) -> PullCredentials {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    PullCredentials {
        secrets: vec![PullSecret {
            namespace: "default".into(),
            name: name.into(),
            kind: PullSecretKind::DockerConfigJson,
            data: format!(r#"{{"auths":{{"{registry}":{{"auth":"{auth}"}}}}}}"#).into_bytes(),
        }],
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    listing(dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_with_a_pull_secret_and_refuses_a_wrong_password() {
    if !needs("pulls_with_a_pull_secret_and_refuses_a_wrong_password") {
        return;
    }
    let env = Env::new(Some(("alice", "s3cret")));
    env.push("team/app:v1", &[file_layer("app", 4096, 1)]);
    let image = env.image("team/app:v1");
    let host = env.reg.host();

    let anon = env
        .ensure(&image, PullPolicy::IfNotPresent, PullCredentials::default())
        .await
        .unwrap_err()
        .to_string();
    eprintln!("anonymous: {anon}");
    assert!(anon.contains("401 Unauthorized"), "{anon}");
    assert!(
        anon.starts_with(&format!(
            "failed to pull and unpack image \"{image}\": failed to resolve reference"
        )),
        "{anon}"
    );

    let wrong = env
        .ensure(
            &image,
            PullPolicy::IfNotPresent,
            secret("regcred", &host, "alice", "nope"),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(wrong.contains("401 Unauthorized"), "{wrong}");
    assert!(
        !wrong.contains("nope"),
        "the password never appears: {wrong}"
    );
    assert!(
        env.store.list().unwrap().is_empty(),
        "nothing stored on failure"
    );

    let info = env
        .ensure(
            &image,
            PullPolicy::IfNotPresent,
            secret("regcred", &host, "alice", "s3cret"),
        )
        .await
        .unwrap();
    assert!(info.pulled);
    assert!(
        info.image_ref
            .starts_with(&format!("{host}/team/app@sha256:")),
        "{info:?}"
    );
    assert!(info.size > 0);

    // The node's own docker config.json (under nodelet's root) works too.
    env.push("team/app:v2", &[file_layer("app", 4096, 2)]);
    std::fs::create_dir_all(env.tmp.path().join("root")).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
    std::fs::write(
        env.tmp.path().join("root/config.json"),
        format!(r#"{{"auths":{{"https://{host}":{{"auth":"{auth}"}}}}}}"#),
    )
    .unwrap();
    let info = env
        .ensure(
            &env.image("team/app:v2"),
            PullPolicy::Always,
            PullCredentials::default(),
        )
        .await
        .unwrap();
    assert!(info.pulled);
    // Credentials are stored nowhere on the node.
    for f in files_under(&env.tmp.path().join("images")) {
        if f.is_file() {
            let bytes = std::fs::read(&f).unwrap();
            assert!(
                !String::from_utf8_lossy(&bytes).contains("s3cret"),
                "{} holds the password",
                f.display()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn if_not_present_does_not_fetch_again_and_never_does_not_pull() {
    if !needs("if_not_present_does_not_fetch_again_and_never_does_not_pull") {
        return;
    }
    let env = Env::new(None);
    env.push(
        "app:1",
        &[file_layer("a", 2048, 1), file_layer("b", 2048, 2)],
    );
    let image = env.image("app:1");

    let never = env
        .ensure(&image, PullPolicy::Never, PullCredentials::default())
        .await
        .unwrap_err();
    assert!(matches!(never, RuntimeError::ImageNeverPull(_)), "{never}");
    assert_eq!(
        never.to_string(),
        format!("container image \"{image}\" is not present with pull policy of Never")
    );

    env.reg.clear_log();
    let first = env
        .ensure(&image, PullPolicy::IfNotPresent, PullCredentials::default())
        .await
        .unwrap();
    assert!(first.pulled);
    assert_eq!(
        env.blob_gets().len(),
        3,
        "config + 2 layers: {:?}",
        env.reg.requests()
    );

    env.reg.clear_log();
    let again = env
        .ensure(&image, PullPolicy::IfNotPresent, PullCredentials::default())
        .await
        .unwrap();
    assert!(!again.pulled);
    assert_eq!(again.id, first.id);
    assert_eq!(again.image_ref, first.image_ref);
    let never = env
        .ensure(&image, PullPolicy::Never, PullCredentials::default())
        .await
        .unwrap();
    assert!(!never.pulled);
    assert!(
        env.reg.requests().is_empty(),
        "no registry round trip: {:?}",
        env.reg.requests()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_re_resolves_the_tag_and_fetches_only_new_blobs() {
    if !needs("always_re_resolves_the_tag_and_fetches_only_new_blobs") {
        return;
    }
    let env = Env::new(None);
    let (a, b, c) = (
        file_layer("a", 8192, 1),
        file_layer("b", 8192, 2),
        file_layer("c", 8192, 3),
    );
    let v1 = env.push("app:stable", &[a.clone(), b.clone()]);
    let image = env.image("app:stable");
    let first = env
        .ensure(&image, PullPolicy::Always, PullCredentials::default())
        .await
        .unwrap();
    assert!(first.pulled);
    assert_eq!(first.id, v1.id);

    // Unchanged: the tag is resolved again, nothing else is fetched.
    env.reg.clear_log();
    let same = env
        .ensure(&image, PullPolicy::Always, PullCredentials::default())
        .await
        .unwrap();
    assert!(same.pulled);
    assert_eq!(same.id, v1.id);
    let reqs = env.reg.requests();
    assert!(
        reqs.iter()
            .any(|r| r.method == "HEAD" && r.path.ends_with("/manifests/stable")),
        "re-resolved: {reqs:?}"
    );
    assert!(env.blob_gets().is_empty(), "{reqs:?}");

    // The tag moves to an image with one more layer: only its config and
    // the new layer are fetched.
    let v2 = env.push("app:stable", &[a, b, c]);
    env.reg.clear_log();
    let moved = env
        .ensure(&image, PullPolicy::Always, PullCredentials::default())
        .await
        .unwrap();
    assert_eq!(moved.id, v2.id);
    let mut got = env.blob_gets();
    got.sort();
    let mut want = vec![v2.id.clone(), v2.layer_digests[2].clone()];
    want.sort();
    assert_eq!(got, want, "{:?}", env.reg.requests());
    // The tag names the new image; the old one stays, untagged.
    let ls = env.store.list().unwrap();
    assert_eq!(ls.len(), 2);
    assert!(
        ls.iter()
            .any(|i| i.id == v2.id && i.references == vec![image.clone()])
    );
    assert!(ls.iter().any(|i| i.id == v1.id && i.references.is_empty()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digest_pinned_reference() {
    if !needs("a_digest_pinned_reference") {
        return;
    }
    let env = Env::new(None);
    let built = env.push("pinned/app:1", &[file_layer("p", 1000, 7)]);
    let by_digest = format!("{}/pinned/app@{}", env.reg.host(), built.manifest_digest);
    let info = env
        .ensure(
            &by_digest,
            PullPolicy::IfNotPresent,
            PullCredentials::default(),
        )
        .await
        .unwrap();
    assert!(info.pulled);
    assert_eq!(info.image_ref, by_digest);
    assert_eq!(info.id, built.id);
    let ls = env.store.list().unwrap();
    assert!(
        ls[0].references.is_empty(),
        "a digest pull tags nothing: {ls:?}"
    );
    assert_eq!(ls[0].repo_digests, vec![by_digest.clone()]);

    env.reg.clear_log();
    let tag_and_digest = format!("{}/pinned/app:1@{}", env.reg.host(), built.manifest_digest);
    for r in [&by_digest, &tag_and_digest] {
        let again = env
            .ensure(r, PullPolicy::IfNotPresent, PullCredentials::default())
            .await
            .unwrap();
        assert!(!again.pulled, "{r}");
    }
    assert!(env.reg.requests().is_empty(), "{:?}", env.reg.requests());

    // A digest the registry does not have.
    let missing = format!("{}/pinned/app@sha256:{}", env.reg.host(), "0".repeat(64));
    let e = env
        .ensure(
            &missing,
            PullPolicy::IfNotPresent,
            PullCredentials::default(),
        )
        .await
        .unwrap_err()
        .to_string();
    eprintln!("missing digest: {e}");
    assert!(e.contains("404") || e.contains("not found"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_arch_index_resolves_to_this_machines_platform() {
    if !needs("a_multi_arch_index_resolves_to_this_machines_platform") {
        return;
    }
    let env = Env::new(None);
    let dir = env.tmp.path().join("multi");
    let mine = file_layer("mine", 3000, 1);
    let other = file_layer("other", 3000, 2);
    // Two platform images in one layout; this machine's has a zstd layer.
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        a => a,
    };
    let other_arch = if arch == "amd64" { "arm64" } else { "amd64" };
    let (mine_manifest, mine_id, mine_layer) = platform_image(&dir, &mine, arch, true);
    let (other_manifest, _, other_layer) = platform_image(&dir, &other, other_arch, false);
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": other_manifest.0, "size": other_manifest.1,
             "platform": {"os": "linux", "architecture": other_arch}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": mine_manifest.0, "size": mine_manifest.1,
             "platform": {"os": "linux", "architecture": arch}},
        ]
    }))
    .unwrap();
    let index_digest = sha256(&index);
    write_blob_at(&dir, &index);
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": [
            {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": index_digest, "size": index.len(),
             "annotations": {"org.opencontainers.image.ref.name": "multi"}}]}))
        .unwrap(),
    )
    .unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    env.reg.push(
        &format!("oci:{}:multi", dir.display()),
        "multi/app:latest",
        true,
    );
    env.reg.clear_log();

    let image = env.image("multi/app");
    let info = env
        .ensure(&image, PullPolicy::IfNotPresent, PullCredentials::default())
        .await
        .unwrap();
    assert_eq!(info.id, mine_id);
    assert_eq!(
        info.image_ref,
        format!("{}/multi/app@{index_digest}", env.reg.host())
    );
    let got = env.blob_gets();
    assert!(got.contains(&mine_layer), "{got:?}");
    assert!(
        !got.contains(&other_layer),
        "the other platform's layer is not fetched: {got:?}"
    );
    // The zstd layer was unpacked.
    let details = env.store.inspect(&image).unwrap();
    assert_eq!(details.architecture, arch);
    assert!(details.layers[0].path.join("mine").is_file());
    // The index digest pins it too.
    let pinned = format!("{}/multi/app@{index_digest}", env.reg.host());
    assert!(
        !env.ensure(
            &pinned,
            PullPolicy::IfNotPresent,
            PullCredentials::default()
        )
        .await
        .unwrap()
        .pulled
    );
}

fn write_blob_at(dir: &Path, bytes: &[u8]) -> String {
    let d = sha256(bytes);
    let p = dir.join("blobs/sha256").join(&d[7..]);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
    d
}

/// One platform's image in `dir`: ((manifest digest, size), config
/// digest, layer digest).
fn platform_image(
    dir: &Path,
    layer_tar: &[u8],
    arch: &str,
    zstd: bool,
) -> ((String, usize), String, String) {
    let cfg = serde_json::to_vec(&serde_json::json!({
        "architecture": arch, "os": "linux",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [sha256(layer_tar)]},
    }))
    .unwrap();
    let cfg_d = write_blob_at(dir, &cfg);
    let (blob, media) = if zstd {
        (
            zstd::encode_all(layer_tar, 3).unwrap(),
            "application/vnd.oci.image.layer.v1.tar+zstd",
        )
    } else {
        (
            gzip(layer_tar),
            "application/vnd.oci.image.layer.v1.tar+gzip",
        )
    };
    let layer_d = write_blob_at(dir, &blob);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg_d, "size": cfg.len()},
        "layers": [{"mediaType": media, "digest": layer_d, "size": blob.len()}],
    }))
    .unwrap();
    let m = write_blob_at(dir, &manifest);
    ((m, manifest.len()), cfg_d, layer_d)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_registry() {
    if !needs("an_unreachable_registry") {
        return;
    }
    let env = Env::new(None);
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let image = format!("127.0.0.1:{port}/gone/app:1");
    let e = env
        .ensure(&image, PullPolicy::IfNotPresent, PullCredentials::default())
        .await
        .unwrap_err()
        .to_string();
    eprintln!("unreachable: {e}");
    assert!(
        e.starts_with(&format!("failed to pull and unpack image \"{image}\"")),
        "{e}"
    );
    assert!(
        e.contains("failed to do request") && e.to_lowercase().contains("connection refused"),
        "{e}"
    );
    assert!(env.store.list().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_that_does_not_match_its_digest_is_refused_and_nothing_is_stored() {
    if !needs("a_blob_that_does_not_match_its_digest_is_refused_and_nothing_is_stored") {
        return;
    }
    let env = Env::new(None);
    let built = env.push("bad/app:1", &[file_layer("x", 5000, 9)]);
    let layer_digest = built.layer_digests[0].clone();
    // Same length, other bytes: only the digest can tell.
    let data = env.reg.blob_data(&layer_digest);
    let mut bytes = std::fs::read(&data).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    std::fs::write(&data, &bytes).unwrap();

    let image = env.image("bad/app:1");
    let e = env
        .ensure(&image, PullPolicy::IfNotPresent, PullCredentials::default())
        .await
        .unwrap_err()
        .to_string();
    eprintln!("tampered: {e}");
    assert!(
        e.contains("unexpected commit digest") && e.contains(&layer_digest),
        "{e}"
    );
    assert!(env.store.list().unwrap().is_empty(), "no image");
    assert!(
        !env.store.blobs().contains(&layer_digest),
        "the bad blob is not stored"
    );
    assert!(!env.store.ingest().is_complete(&layer_digest));
    assert!(
        !env.store
            .ingest()
            .partial_path(&layer_digest)
            .unwrap()
            .exists(),
        "no partial left"
    );
    assert!(
        env.store.layers().list().unwrap().is_empty(),
        "nothing unpacked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_requests_for_one_new_image_are_one_pull() {
    if !needs("twenty_requests_for_one_new_image_are_one_pull") {
        return;
    }
    let env = Arc::new(Env::new(None));
    let built = env.push(
        "popular/app:1",
        &[file_layer("a", 200_000, 1), file_layer("b", 200_000, 2)],
    );
    env.reg.clear_log();
    let image = env.image("popular/app:1");
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (env, image) = (env.clone(), image.clone());
        tasks.push(tokio::spawn(async move {
            env.ensure(&image, PullPolicy::IfNotPresent, PullCredentials::default())
                .await
        }));
    }
    for t in tasks {
        let info = t.await.unwrap().unwrap();
        assert_eq!(info.id, built.id);
    }
    let mut got = env.blob_gets();
    got.sort();
    let mut want = vec![
        built.id.clone(),
        built.layer_digests[0].clone(),
        built.layer_digests[1].clone(),
    ];
    want.sort();
    assert_eq!(
        got,
        want,
        "each blob fetched once: {:?}",
        env.reg.requests()
    );
    let resolves = env
        .reg
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("/manifests/"))
        .count();
    assert!(
        resolves <= 2,
        "one resolve (HEAD, then GET): {:?}",
        env.reg.requests()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_io_through_a_mirror_and_a_resumed_download() {
    if !needs("docker_io_through_a_mirror_and_a_resumed_download") {
        return;
    }
    let env = Env::new(None);
    let big = file_layer("big", 300_000, 5);
    let built = env.push("library/mirrored:latest", &[big]);
    env.reg
        .mirror_in(&env.tmp.path().join("certs.d"), "docker.io");
    // An earlier pull was interrupted after part of the layer arrived.
    let layer_digest = built.layer_digests[0].clone();
    let full = std::fs::read(env.reg.blob_data(&layer_digest)).unwrap();
    std::fs::write(
        env.store.ingest().partial_path(&layer_digest).unwrap(),
        &full[..full.len() / 3],
    )
    .unwrap();
    env.reg.clear_log();

    let info = env
        .ensure(
            "mirrored",
            PullPolicy::IfNotPresent,
            PullCredentials::default(),
        )
        .await
        .unwrap();
    assert!(info.pulled);
    assert!(
        info.image_ref
            .starts_with("docker.io/library/mirrored@sha256:"),
        "{info:?}"
    );
    let reqs = env.reg.requests();
    assert!(
        reqs.iter().all(|r| !r.path.starts_with("/v2/library")
            || r.path.contains("ns=docker.io")
            || r.path == "/v2/"),
        "{reqs:?}"
    );
    let layer_get = reqs
        .iter()
        .find(|r| r.path.contains(&layer_digest))
        .unwrap_or_else(|| panic!("layer fetched: {reqs:?}"));
    assert_eq!(
        layer_get.status, 206,
        "resumed with a range request: {reqs:?}"
    );
    let ls = env.store.list().unwrap();
    assert_eq!(
        ls[0].references,
        vec!["docker.io/library/mirrored:latest".to_string()]
    );
    // The layer is complete and verified in the store, nothing left in the ingest.
    assert!(env.store.blobs().contains(&layer_digest));
    assert!(
        !env.store
            .ingest()
            .partial_path(&layer_digest)
            .unwrap()
            .exists()
    );
}
