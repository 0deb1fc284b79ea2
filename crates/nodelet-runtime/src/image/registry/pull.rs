//! A registry pull, containerd's `PullImage` in nodelet's terms: resolve
//! the reference (tags only on endpoints trusted to resolve), choose the
//! linux/<arch> manifest of an index, fetch the config and the layers
//! missing from the node — several at once, each verified against its
//! digest into the ingest area — unpack each layer as soon as it is there,
//! and commit the same import plan a `load` produces. The image becomes
//! visible only at that commit.
//!
//! Credentials are tried as the kubelet tries them (`PullImage` in
//! `kuberuntime_image.go`): every matching one in turn, the errors
//! aggregated when all fail; anonymous when none matches.
//!
//! Concurrent pulls of one reference with the same credentials are one
//! pull (single flight): the first request runs it in its own task (so a
//! deleted pod does not abort it for the others), later ones wait for it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::future::{BoxFuture, FutureExt, Shared};
use oci_client::client::{BlobResponse, SizedStream};
use oci_client::manifest::OciDescriptor;
use sha2::Digest as _;
use tokio::sync::{Semaphore, mpsc};
use tracing::Instrument as _;

use super::bounded::Fetched;
use super::client::{EndpointClient, FetchError};
use super::hosts::RegistryConfig;
use super::keyring::{self, Credential, Keyring};
use super::manifest::{self, Document};
use crate::error::{Result, RuntimeError};
use crate::image::import::{ImportImage, ImportLayer};
use crate::image::ingest::{BlobWriter, IngestLock};
use crate::image::layers::{Durability, LayerWriter};
use crate::image::reference::{Reference, parse_reference};
use crate::image::source::MAX_METADATA;
use crate::image::store::ImageStore;
use crate::types::{PullCredentials, PullEvent};

/// Registry host whose images are only ever loaded, never pulled.
pub const LOCAL_REGISTRY: &str = "nodelet.local";

/// What a pull produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulled {
    /// The normalised reference pulled.
    pub reference: String,
    /// Image id (config digest).
    pub id: String,
    /// `name@digest` of what the reference resolved to.
    pub repo_digest: String,
    /// Bytes of the layer blobs.
    pub size: u64,
    /// How long the pull itself took (from its start to its commit).
    pub duration: Duration,
}

/// Blobs downloaded at once unless configured (`--max-concurrent-downloads`).
pub const DEFAULT_CONCURRENT_DOWNLOADS: usize = 6;

/// Bounds of one pull.
#[derive(Debug, Clone, Copy)]
pub struct PullLimits {
    /// Blobs downloaded at once. The default is CRI-O's (containers/image
    /// copies 6 layers at once; containerd's default is 3): on a local or
    /// nearby registry a 6-layer image then downloads in one wave, and the
    /// unpack bound below still keeps the CPU work to the cores there are.
    pub max_concurrent_downloads: usize,
    /// Layers unpacked at once.
    pub max_concurrent_unpacks: usize,
    /// How long one manifest, index or config request may take in all:
    /// a registry trickling bytes (slow loris) never trips the per-read
    /// timeout, so these small documents also have a total deadline.
    pub metadata_timeout: Duration,
}

impl Default for PullLimits {
    fn default() -> Self {
        PullLimits {
            max_concurrent_downloads: DEFAULT_CONCURRENT_DOWNLOADS,
            max_concurrent_unpacks: std::thread::available_parallelism()
                .map_or(2, |n| n.get())
                .max(2),
            metadata_timeout: Duration::from_secs(120),
        }
    }
}

type SharedPull = Shared<BoxFuture<'static, std::result::Result<Pulled, String>>>;

/// Pulls images into one store. `Send + Sync`; share it in an `Arc`.
pub struct Puller {
    store: Arc<ImageStore>,
    config: RegistryConfig,
    /// Where the node's own docker `config.json` lives (nodelet's root).
    node_root: PathBuf,
    limits: PullLimits,
    inflight: Mutex<HashMap<String, SharedPull>>,
}

fn pull_error(m: String) -> RuntimeError {
    RuntimeError::ImagePull(m)
}

/// The kubelet's `utilerrors.NewAggregate` text.
fn aggregate(errors: Vec<String>) -> String {
    if errors.len() == 1 {
        errors.into_iter().next().unwrap_or_default()
    } else {
        format!("[{}]", errors.join(", "))
    }
}

fn fingerprint(creds: &PullCredentials) -> String {
    let mut h = sha2::Sha256::new();
    for s in &creds.secrets {
        h.update(s.namespace.as_bytes());
        h.update([0]);
        h.update(s.name.as_bytes());
        h.update([0]);
        h.update(&s.data);
        h.update([0]);
    }
    hex::encode(h.finalize())
}

fn emit(progress: &Option<mpsc::UnboundedSender<PullEvent>>, ev: PullEvent) {
    if let Some(tx) = progress {
        let _ = tx.send(ev);
    }
}

/// One pull attempt's context: the image, its endpoints, and the store.
struct Attempt {
    store: Arc<ImageStore>,
    reference: Reference,
    normalized: String,
    clients: Arc<Vec<EndpointClient>>,
    limits: PullLimits,
    progress: Option<mpsc::UnboundedSender<PullEvent>>,
}

impl Puller {
    pub fn new(store: Arc<ImageStore>, config: RegistryConfig, node_root: PathBuf) -> Puller {
        Puller {
            store,
            config,
            node_root,
            limits: PullLimits::default(),
            inflight: Mutex::new(HashMap::new()),
        }
    }

    pub fn with_limits(mut self, limits: PullLimits) -> Puller {
        self.limits = limits;
        self
    }

    pub fn store(&self) -> &Arc<ImageStore> {
        &self.store
    }

    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    /// Pulls `image` (as written in a pod) with the pod's credentials.
    /// Reports [`PullEvent::Started`] first; layer progress goes to the
    /// request that started the pull.
    pub async fn pull(
        self: &Arc<Self>,
        image: &str,
        credentials: &PullCredentials,
        progress: Option<mpsc::UnboundedSender<PullEvent>>,
    ) -> Result<Pulled> {
        let reference = parse_reference(image)?;
        if reference.registry == LOCAL_REGISTRY {
            return Err(RuntimeError::ImageNotFound(format!(
                "{image} (nodelet.local images are never pulled from a registry: load it with `nodelet image load`)"
            )));
        }
        emit(&progress, PullEvent::Started);
        let key = format!("{reference}\0{}", fingerprint(credentials));
        let shared = {
            let mut inflight = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
            match inflight.get(&key) {
                Some(s) => s.clone(),
                None => {
                    let this = self.clone();
                    let creds = credentials.clone();
                    let key2 = key.clone();
                    let task = tokio::spawn(async move {
                        let res = this
                            .pull_uncached(reference, &creds, progress)
                            .await
                            .map_err(|e| e.to_string());
                        this.inflight
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .remove(&key2);
                        res
                    });
                    let fut: BoxFuture<'static, std::result::Result<Pulled, String>> = async move {
                        task.await
                            .unwrap_or_else(|e| Err(format!("pull task failed: {e}")))
                    }
                    .boxed();
                    let shared = fut.shared();
                    inflight.insert(key, shared.clone());
                    shared
                }
            }
        };
        shared.await.map_err(pull_error)
    }

    async fn pull_uncached(
        &self,
        reference: Reference,
        credentials: &PullCredentials,
        progress: Option<mpsc::UnboundedSender<PullEvent>>,
    ) -> Result<Pulled> {
        let pod = keyring::secrets_keyring(credentials)?;
        let node_root = self.node_root.clone();
        let node = tokio::task::spawn_blocking(move || keyring::node_keyring(&node_root))
            .await
            .map_err(|e| RuntimeError::Other(format!("reading node credentials: {e}")))??;
        let keyrings = [&pod, &node];
        let found = keyring::lookup(&keyrings, &reference.name());
        if found.is_empty() {
            return self
                .attempt(&reference, None, &keyrings, progress)
                .await
                .map_err(pull_error);
        }
        let mut errors = Vec::new();
        for cred in &found {
            match self
                .attempt(&reference, Some(cred), &keyrings, progress.clone())
                .await
            {
                Ok(p) => return Ok(p),
                Err(e) => errors.push(e),
            }
        }
        Err(pull_error(aggregate(errors)))
    }

    /// One full pull with one credential for the image's registry.
    async fn attempt(
        &self,
        reference: &Reference,
        credential: Option<&Credential>,
        keyrings: &[&Keyring],
        progress: Option<mpsc::UnboundedSender<PullEvent>>,
    ) -> std::result::Result<Pulled, String> {
        let start = Instant::now();
        let normalized = reference.to_string();
        let wrap =
            |detail: String| format!("failed to pull and unpack image {normalized:?}: {detail}");
        let endpoints = self
            .config
            .endpoints(&reference.registry)
            .map_err(|e| wrap(e.to_string()))?;
        let mut clients = Vec::new();
        for ep in &endpoints {
            // A mirror gets the credentials saved for the mirror itself,
            // never the registry's.
            let mirror_cred;
            let cred = if ep.registry_name() == reference.registry {
                credential
            } else {
                mirror_cred = keyring::lookup(
                    keyrings,
                    &format!("{}/{}", ep.registry_name(), reference.repository),
                )
                .into_iter()
                .next();
                mirror_cred.as_ref()
            };
            let c = EndpointClient::new(ep, &reference.registry, &reference.repository, cred)
                .map_err(|e| wrap(e.message))?;
            c.client
                .store_auth_if_needed(c.reference.resolve_registry(), &c.auth)
                .await;
            clients.push(c);
        }
        let attempt = Attempt {
            store: self.store.clone(),
            reference: reference.clone(),
            normalized: normalized.clone(),
            clients: Arc::new(clients),
            limits: self.limits,
            progress,
        };
        let plan = attempt
            .plan()
            .instrument(tracing::info_span!("pull", image = %normalized))
            .await
            .map_err(wrap)?;
        let store = self.store.clone();
        let repo_digest = plan.repo_digests.first().cloned().unwrap_or_default();
        let span = tracing::info_span!("commit", image = %normalized);
        let summary =
            tokio::task::spawn_blocking(move || span.in_scope(|| store.commit_pull(&plan)))
                .await
                .map_err(|e| wrap(format!("commit task: {e}")))?
                .map_err(|e| wrap(format!("failed to commit: {e}")))?;
        Ok(Pulled {
            reference: normalized,
            id: summary.id,
            repo_digest,
            size: summary.size,
            duration: start.elapsed(),
        })
    }
}

impl Attempt {
    /// Resolves, fetches and unpacks; returns the plan to commit.
    async fn plan(&self) -> std::result::Result<ImportImage, String> {
        let r = &self.reference;
        let (top_digest, top_bytes) = match &r.digest {
            Some(d) => {
                let bytes = self.manifest(d).await.map_err(|e| {
                    format!("failed to resolve reference {:?}: {e}", self.normalized)
                })?;
                (d.clone(), bytes)
            }
            None => {
                let tag = r.tag.clone().unwrap_or_else(|| "latest".into());
                let d = self
                    .resolve(&tag)
                    .instrument(tracing::debug_span!("resolve", tag = %tag))
                    .await
                    .map_err(|e| {
                        format!("failed to resolve reference {:?}: {e}", self.normalized)
                    })?;
                let bytes = self.manifest(&d).await?;
                (d, bytes)
            }
        };
        let (index, manifest_bytes) = match manifest::parse(&top_bytes)? {
            Document::Manifest(_) => (None, top_bytes),
            Document::Index(idx) => {
                let (child, _) = manifest::pick_platform(&idx, manifest::host_arch())?;
                let bytes = self.manifest(&child).await?;
                (Some(top_bytes), bytes)
            }
        };
        let m = match manifest::parse(&manifest_bytes)? {
            Document::Manifest(m) => m,
            Document::Index(_) => {
                return Err("an image index nested in an image index is not supported".into());
            }
        };
        manifest::check_manifest(&m)?;
        let config_digest = m.config().digest().to_string();
        let limit = self.limits.metadata_timeout;
        let config = tokio::time::timeout(
            limit,
            self.small_blob(&config_digest, m.config().size())
                .instrument(tracing::debug_span!("config")),
        )
        .await
        .map_err(|_| format!("config {config_digest}: no complete answer within {limit:?}"))??;
        let parsed = crate::image::config::parse_config(&config, &config_digest)
            .map_err(|e| e.to_string())?;
        let diff_ids = parsed.rootfs().diff_ids().clone();
        if diff_ids.len() != m.layers().len() {
            return Err(format!(
                "manifest has {} layers but its config lists {} diff_ids",
                m.layers().len(),
                diff_ids.len()
            ));
        }
        emit(
            &self.progress,
            PullEvent::Resolved {
                layers: m
                    .layers()
                    .iter()
                    .map(|l| (l.digest().to_string(), l.size()))
                    .collect(),
            },
        );
        let layers = self.layers(&m, &diff_ids).await?;
        let references = if r.digest.is_none() {
            vec![self.normalized.clone()]
        } else {
            Vec::new()
        };
        Ok(ImportImage {
            references,
            manifest: manifest_bytes,
            config,
            layers,
            index,
            repo_digests: vec![format!("{}@{top_digest}", r.name())],
        })
    }

    fn resolvers(&self) -> impl Iterator<Item = &EndpointClient> {
        self.clients.iter().filter(|c| c.endpoint.resolve)
    }

    fn pullers(&self) -> impl Iterator<Item = &EndpointClient> {
        self.clients.iter().filter(|c| c.endpoint.pull)
    }

    /// Tag → digest on the endpoints trusted to resolve, in order.
    async fn resolve(&self, tag: &str) -> std::result::Result<String, String> {
        let mut last = None;
        for c in self.resolvers() {
            let what = format!("manifests/{tag}");
            match self
                .deadline(c, "HEAD", &what, c.resolve_tag(tag, manifest::ACCEPTED))
                .await
            {
                Ok(d) => {
                    crate::image::reference::validate_digest(&d)
                        .map_err(|e| format!("{}: {e}", c.url(&what)))?;
                    return Ok(d);
                }
                Err(fe) => {
                    let go_on = fe.retry_elsewhere;
                    last = Some(if fe.not_found {
                        format!("{}: not found", self.normalized)
                    } else {
                        fe.message
                    });
                    if !go_on {
                        break;
                    }
                }
            }
        }
        Err(last.unwrap_or_else(|| "no registry endpoint may resolve tags".into()))
    }

    /// A manifest or index by digest: from the store when it is there,
    /// else from the first endpoint that has it; always verified.
    async fn manifest(&self, digest: &str) -> std::result::Result<Vec<u8>, String> {
        self.manifest_in(digest)
            .instrument(tracing::debug_span!("manifest", digest = short(digest)))
            .await
    }

    async fn manifest_in(&self, digest: &str) -> std::result::Result<Vec<u8>, String> {
        if let Some(bytes) = self.local_small(digest) {
            return Ok(bytes);
        }
        let mut last = None;
        for c in self.pullers() {
            let what = format!("manifests/{digest}");
            match self
                .deadline(
                    c,
                    "GET",
                    &what,
                    c.get_manifest(digest, manifest::ACCEPTED, MAX_METADATA),
                )
                .await
            {
                Ok(Fetched { body, .. }) => {
                    let actual = crate::image::import::sha256_bytes(&body);
                    if actual != digest {
                        return Err(format!(
                            "{}: content hashes to {actual}, expected {digest}",
                            c.url(&what)
                        ));
                    }
                    return Ok(body);
                }
                Err(fe) => {
                    let go_on = fe.retry_elsewhere;
                    last = Some(fe.message);
                    if !go_on {
                        break;
                    }
                }
            }
        }
        Err(last.unwrap_or_else(|| "no registry endpoint may pull".into()))
    }

    /// `request` to `c`, failed after [`PullLimits::metadata_timeout`].
    async fn deadline<T>(
        &self,
        c: &EndpointClient,
        method: &str,
        what: &str,
        request: impl std::future::Future<Output = std::result::Result<T, FetchError>>,
    ) -> std::result::Result<T, FetchError> {
        let limit = self.limits.metadata_timeout;
        tokio::time::timeout(limit, request)
            .await
            .unwrap_or_else(|_| {
                Err(FetchError {
                    message: format!(
                        "failed to do request: {method} {:?}: no complete answer within {limit:?}",
                        c.url(what)
                    ),
                    retry_elsewhere: true,
                    not_found: false,
                })
            })
    }

    /// Bytes of a small stored blob (manifest, index, config), if present.
    fn local_small(&self, digest: &str) -> Option<Vec<u8>> {
        let p = self.store.blobs().path(digest).ok()?;
        let bytes = std::fs::read(p).ok()?;
        (crate::image::import::sha256_bytes(&bytes) == digest).then_some(bytes)
    }

    /// The config blob, size-bounded and verified.
    async fn small_blob(&self, digest: &str, size: u64) -> std::result::Result<Vec<u8>, String> {
        crate::image::reference::validate_digest(digest)?;
        if let Some(bytes) = self.local_small(digest) {
            return Ok(bytes);
        }
        if size > MAX_METADATA {
            return Err(format!("{digest}: config too large ({size} bytes)"));
        }
        let mut last = None;
        for c in self.pullers() {
            let out = match c.get_small_blob(digest, MAX_METADATA).await {
                Ok(Fetched { body, .. }) => body,
                Err(fe) => {
                    let go_on = fe.retry_elsewhere;
                    last = Some(fe.message);
                    if go_on {
                        continue;
                    }
                    break;
                }
            };
            let actual = crate::image::import::sha256_bytes(&out);
            if actual != digest {
                return Err(format!(
                    "failed to copy: commit failed: unexpected commit digest {actual}, expected {digest}: failed precondition"
                ));
            }
            return Ok(out);
        }
        Err(last.unwrap_or_else(|| "no registry endpoint may pull".into()))
    }

    /// Every layer on the node, unpacked: fetched `max_concurrent_downloads`
    /// at a time, each unpacked as soon as it is complete.
    async fn layers(
        &self,
        m: &oci_spec::image::ImageManifest,
        diff_ids: &[String],
    ) -> std::result::Result<Vec<ImportLayer>, String> {
        let downloads = Arc::new(Semaphore::new(self.limits.max_concurrent_downloads.max(1)));
        let unpacks = Arc::new(Semaphore::new(self.limits.max_concurrent_unpacks.max(1)));
        let mut tasks = Vec::new();
        for (l, diff_id) in m.layers().iter().zip(diff_ids) {
            let digest = l.digest().to_string();
            crate::image::reference::validate_digest(&digest)?;
            crate::image::reference::validate_digest(diff_id)?;
            let job = LayerJob {
                store: self.store.clone(),
                clients: self.clients.clone(),
                digest,
                diff_id: diff_id.clone(),
                size: l.size(),
                media_type: l.media_type().to_string(),
                progress: self.progress.clone(),
            };
            let (downloads, unpacks) = (downloads.clone(), unpacks.clone());
            tasks.push(tokio::spawn(
                async move { job.run(&downloads, &unpacks).await },
            ));
        }
        let mut out = Vec::new();
        let mut first_err = None;
        for t in tasks {
            match t.await {
                Ok(Ok(layer)) => out.push(layer),
                Ok(Err(e)) => {
                    first_err.get_or_insert(e);
                }
                Err(e) => {
                    first_err.get_or_insert(format!("layer task: {e}"));
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }
}

fn descriptor(digest: &str, size: u64, media_type: &str) -> OciDescriptor {
    OciDescriptor {
        media_type: media_type.to_string(),
        digest: digest.to_string(),
        size: i64::try_from(size).unwrap_or(i64::MAX),
        urls: None,
        annotations: None,
        artifact_type: None,
    }
}

/// One layer of a pull: make sure its blob is on the node, then unpack it.
struct LayerJob {
    store: Arc<ImageStore>,
    clients: Arc<Vec<EndpointClient>>,
    digest: String,
    diff_id: String,
    size: u64,
    media_type: String,
    progress: Option<mpsc::UnboundedSender<PullEvent>>,
}

/// `sha256:0123456789abcdef…` → `0123456789ab`, for spans.
fn short(d: &str) -> &str {
    let hex = d.strip_prefix("sha256:").unwrap_or(d);
    hex.get(..12).unwrap_or(hex)
}

/// Compressed bytes handed from the download to the layer's unpack while
/// they arrive: the unpack reads them as a stream ([`ChannelReader`]).
type Tee = std_mpsc::SyncSender<bytes::Bytes>;

/// Chunks in flight between a download and its unpack (each is what one
/// read from the connection gave, typically 16–64 KiB).
const TEE_CHUNKS: usize = 64;

/// The reading end of a [`Tee`]: ends when the download drops its end.
struct ChannelReader {
    rx: std_mpsc::Receiver<bytes::Bytes>,
    cur: bytes::Bytes,
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::io::BufRead as _;
        let avail = self.fill_buf()?;
        let n = avail.len().min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl std::io::BufRead for ChannelReader {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        while self.cur.is_empty() {
            match self.rx.recv() {
                Ok(b) => self.cur = b,
                Err(_) => break,
            }
        }
        Ok(&self.cur[..])
    }

    fn consume(&mut self, n: usize) {
        bytes::Buf::advance(&mut self.cur, n);
    }
}

/// A layer unpacked while its blob downloaded (or not: `Err` says why),
/// not yet complete: [`LayerWriter::finish`] once the blob is verified.
type Streamed = tokio::task::JoinHandle<std::result::Result<LayerWriter, String>>;

/// Removes what an unfinished layer unpack wrote (on a blocking thread).
async fn discard(w: LayerWriter) {
    let _ = tokio::task::spawn_blocking(move || drop(w)).await;
}

/// `syncfs` of the filesystem holding `dir`, on a blocking thread.
async fn syncfs(dir: PathBuf) -> std::result::Result<(), String> {
    tokio::task::spawn_blocking(move || {
        let f = std::fs::File::open(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        rustix::fs::syncfs(&f).map_err(|e| format!("syncfs {}: {e}", dir.display()))
    })
    .await
    .map_err(|e| format!("sync task: {e}"))?
}

impl LayerJob {
    /// The blob's verified file: in the store, or waiting in the ingest.
    fn local(&self) -> Option<PathBuf> {
        let in_store = self.store.blobs().path(&self.digest).ok()?;
        if in_store.is_file() {
            return Some(in_store);
        }
        let ingested = self.store.ingest().complete_path(&self.digest).ok()?;
        ingested.is_file().then_some(ingested)
    }

    fn report(&self, done: u64, cached: bool) {
        emit(
            &self.progress,
            PullEvent::Layer {
                digest: self.digest.clone(),
                done,
                total: self.size,
                cached,
            },
        );
    }

    async fn run(
        self,
        downloads: &Semaphore,
        unpacks: &Semaphore,
    ) -> std::result::Result<ImportLayer, String> {
        let span = tracing::debug_span!("layer", digest = short(&self.digest), size = self.size);
        self.run_in(downloads, unpacks).instrument(span).await
    }

    async fn run_in(
        &self,
        downloads: &Semaphore,
        unpacks: &Semaphore,
    ) -> std::result::Result<ImportLayer, String> {
        let file = match self.local() {
            Some(p) => {
                self.report(self.size, true);
                p
            }
            None => {
                let _permit = downloads
                    .acquire()
                    .await
                    .map_err(|e| format!("download slot: {e}"))?;
                self.download().await?
            }
        };
        if !self.store.layers().is_complete(&self.diff_id) {
            let _permit = unpacks
                .acquire()
                .await
                .map_err(|e| format!("unpack slot: {e}"))?;
            let store = self.store.clone();
            let (diff_id, digest) = (self.diff_id.clone(), self.digest.clone());
            let first = file.clone();
            let span = tracing::debug_span!("unpack", from = "file");
            tokio::task::spawn_blocking(move || {
                let _g = span.enter();
                let res = store.layers().ensure(&diff_id, &first);
                match res {
                    // Another pull's commit moved the blob into the store
                    // meanwhile: unpack from there.
                    Err(RuntimeError::Io { source, .. })
                        if source.kind() == std::io::ErrorKind::NotFound =>
                    {
                        let p = store.blobs().path(&digest)?;
                        store.layers().ensure(&diff_id, &p)
                    }
                    other => other,
                }
            })
            .await
            .map_err(|e| format!("unpack task: {e}"))?
            .map_err(|e| format!("failed to extract layer {}: {e}", self.diff_id))?;
        }
        Ok(ImportLayer {
            digest: self.digest.clone(),
            file,
            diff_id: self.diff_id.clone(),
            media_type: self.media_type.clone(),
            verified: true,
        })
    }

    /// Starts unpacking the layer from the bytes of its download as they
    /// arrive, unless it is complete or another unpack of it is running
    /// (then it is unpacked from the blob afterwards, as for a resumed
    /// download).
    async fn start_streamed_unpack(&self) -> Option<(Tee, Streamed)> {
        if self.store.layers().is_complete(&self.diff_id) {
            return None;
        }
        let layers = self.store.layers().clone();
        let diff_id = self.diff_id.clone();
        let writer = tokio::task::spawn_blocking(move || layers.begin(&diff_id, false))
            .await
            .ok()?
            .ok()??;
        let (tx, rx) = std_mpsc::sync_channel(TEE_CHUNKS);
        let span = tracing::debug_span!("unpack", from = "stream");
        let task = tokio::task::spawn_blocking(move || {
            let _g = span.enter();
            let mut w = writer;
            let reader = ChannelReader {
                rx,
                cur: bytes::Bytes::new(),
            };
            let t = w.unpack(reader).map_err(|e| e.to_string())?;
            tracing::debug!(
                input_ms = t.input.as_millis() as u64,
                decompress_ms = t.decompress.as_millis() as u64,
                hash_ms = t.hash.as_millis() as u64,
                write_ms = t.write.as_millis() as u64,
                "unpacked"
            );
            Ok(w)
        });
        Some((tx, task))
    }

    /// Downloads the blob into the ingest area, resuming a partial one,
    /// from the first endpoint that serves it; verified before it counts.
    /// A download from the start unpacks the layer at the same time; then
    /// one `syncfs` makes blob and layer durable before either is marked
    /// complete.
    async fn download(&self) -> std::result::Result<PathBuf, String> {
        let ingest = self.store.ingest().clone();
        let digest = self.digest.clone();
        let lock = {
            let (ingest, digest) = (ingest.clone(), digest.clone());
            tokio::task::spawn_blocking(move || ingest.lock(&digest))
                .await
                .map_err(|e| format!("ingest lock: {e}"))?
                .map_err(|e| e.to_string())?
        };
        // Another pull may have finished it while we waited for the lock.
        if let Some(p) = self.local() {
            self.report(self.size, true);
            return Ok(p);
        }
        let lock = Arc::new(lock);
        let (writer, offset) = {
            let (ingest, digest, lock) = (ingest.clone(), digest.clone(), lock.clone());
            tokio::task::spawn_blocking(move || ingest.resume(&digest, &lock))
                .await
                .map_err(|e| format!("ingest: {e}"))?
                .map_err(|e| e.to_string())?
        };
        let (mut tee, streamed) = match offset {
            0 => self.start_streamed_unpack().await.unzip(),
            _ => (None, None),
        };
        let mut slot = Some(writer);
        let fetched = self
            .fetch(&mut slot, &mut tee, &lock)
            .instrument(tracing::debug_span!("download", offset))
            .await;
        // The unpack has every byte it will get; wait for it whatever
        // happened, so that nothing it wrote outlives a failed pull.
        let aborted = streamed.is_some() && tee.is_none();
        drop(tee);
        let unpacked = match streamed {
            Some(task) => match task.await {
                Ok(Ok(w)) if !aborted => Some(w),
                Ok(Ok(w)) => {
                    discard(w).await;
                    None
                }
                Ok(Err(e)) => {
                    // Unpacked again from the verified blob, which reports
                    // what is wrong with the layer if it is the layer.
                    tracing::debug!(error = %e, "streamed unpack failed");
                    None
                }
                Err(e) => return Err(format!("unpack task: {e}")),
            },
            None => None,
        };
        let checked = match fetched {
            Ok(()) => {
                let size = self.size;
                let writer = slot
                    .take()
                    .ok_or_else(|| "ingest writer lost".to_string())?;
                tokio::task::spawn_blocking(move || writer.verify(Some(size)))
                    .await
                    .map_err(|e| format!("ingest: {e}"))
                    .and_then(|r| {
                        r.map_err(|e| match e {
                            RuntimeError::InvalidImage { reason, .. } => {
                                format!("failed to copy: commit failed: {reason}")
                            }
                            other => format!("failed to copy: {other}"),
                        })
                    })
            }
            Err(e) => Err(e),
        };
        let verified = match checked {
            Ok(v) => v,
            Err(e) => {
                if let Some(w) = unpacked {
                    discard(w).await;
                }
                return Err(e);
            }
        };
        let _lock = lock;
        let Some(layer) = unpacked else {
            return tokio::task::spawn_blocking(move || verified.complete(&ingest, true))
                .await
                .map_err(|e| format!("ingest: {e}"))?
                .map_err(|e| format!("failed to copy: {e}"));
        };
        // One sync for the blob's bytes and every file of the layer; the
        // names that make them trusted (`ingest/<hex>`, `done`) come after
        // it and reach the disk with the commit's sync.
        syncfs(self.store.dir().to_path_buf())
            .instrument(tracing::debug_span!("sync"))
            .await?;
        tokio::task::spawn_blocking(move || {
            let p = verified.complete(&ingest, false)?;
            layer.finish(Durability::Synced)?;
            Ok::<_, RuntimeError>(p)
        })
        .await
        .map_err(|e| format!("ingest: {e}"))?
        .map_err(|e| format!("failed to copy: {e}"))
    }

    /// Fetches the rest of the blob into `writer` from the first endpoint
    /// that serves it (`tee`, if any, is fed along and dropped if the
    /// fetch had to start over).
    async fn fetch(
        &self,
        slot: &mut Option<BlobWriter>,
        tee: &mut Option<Tee>,
        lock: &Arc<IngestLock>,
    ) -> std::result::Result<(), String> {
        let lost = || "ingest writer lost".to_string();
        let ingest = self.store.ingest();
        let desc = descriptor(&self.digest, self.size, &self.media_type);
        let mut last = None;
        for c in self.clients.iter().filter(|c| c.endpoint.pull) {
            let what = format!("blobs/{}", self.digest);
            let offset = slot.as_ref().ok_or_else(lost)?.written();
            if offset >= self.size && self.size > 0 {
                // Every byte arrived before (an interrupted pull): verify.
                return Ok(());
            }
            // An explicit range even from 0: the answer is 206, which
            // oci-client passes on without hashing it (we hash every byte
            // once, as it is written, resumably); a registry that ignores
            // ranges answers 200, which oci-client hashes as well.
            let length = (self.size > 0).then(|| self.size - offset);
            let response = c
                .client
                .pull_blob_stream_partial(&c.reference_for(&self.digest), &desc, offset, length)
                .await;
            let stream = match response {
                Ok(BlobResponse::Partial(s)) => s,
                Ok(BlobResponse::Full(s)) => {
                    if offset > 0 {
                        // The server sent the whole blob: start over. An
                        // unpack fed since offset 0 cannot go on.
                        *tee = None;
                        *slot = None;
                        let (ingest, digest, lock) =
                            (ingest.clone(), self.digest.clone(), lock.clone());
                        let fresh = tokio::task::spawn_blocking(move || {
                            ingest.discard_partial(&digest, &lock)?;
                            ingest.resume(&digest, &lock).map(|(w, _)| w)
                        })
                        .await
                        .map_err(|e| format!("ingest: {e}"))?
                        .map_err(|e| e.to_string())?;
                        *slot = Some(fresh);
                    }
                    s
                }
                Err(e) => {
                    let fe = c.error("GET", &what, &e);
                    let go_on = fe.retry_elsewhere;
                    last = Some(format!("failed to copy: {}", fe.message));
                    if go_on {
                        continue;
                    }
                    break;
                }
            };
            let w = slot.take().ok_or_else(lost)?;
            let (w, t, read_error) = self.pump(w, tee.take(), stream, &c.url(&what)).await?;
            (*slot, *tee) = (Some(w), t);
            if let Some(e) = read_error {
                // Keep what arrived: the next endpoint (or the next pull)
                // resumes from there.
                last = Some(format!("failed to copy: {e}"));
                continue;
            }
            return Ok(());
        }
        Err(last.unwrap_or_else(|| "no registry endpoint may pull".into()))
    }

    /// Streams a response into `writer` on a blocking thread (hashing and
    /// writing stay off the async workers), handing each chunk on to the
    /// layer's unpack through `tee` too. Returns the writer, the tee (gone
    /// if the unpack stopped reading) and, if the response broke off, why.
    async fn pump(
        &self,
        writer: BlobWriter,
        tee: Option<Tee>,
        mut stream: SizedStream,
        url: &str,
    ) -> std::result::Result<(BlobWriter, Option<Tee>, Option<String>), String> {
        let (tx, mut rx) = mpsc::channel::<bytes::Bytes>(16);
        let limit = self.size;
        let task = tokio::task::spawn_blocking(move || {
            let mut w = writer;
            let mut tee = tee;
            let mut res = Ok(());
            while let Some(b) = rx.blocking_recv() {
                if let Err(e) = w.write(&b) {
                    res = Err(e.to_string());
                    break;
                }
                if w.written() > limit {
                    res = Err(format!(
                        "unexpected commit size: more than the {limit} bytes the manifest announced"
                    ));
                    break;
                }
                // An unpack that failed has dropped its end: the blob is
                // still downloaded, and unpacked from the file.
                if let Some(t) = &tee
                    && t.send(b).is_err()
                {
                    tee = None;
                }
            }
            if res.is_ok() {
                res = w.flush().map_err(|e| e.to_string());
            }
            (w, tee, res)
        });
        let mut read_error = None;
        let mut done = 0u64;
        let mut last_report = 0u64;
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(b) => {
                    done += b.len() as u64;
                    if tx.send(b).await.is_err() {
                        break;
                    }
                    if done - last_report >= 256 * 1024 {
                        last_report = done;
                        self.report(done, false);
                    }
                }
                Err(e) => {
                    read_error = Some(format!("failed to read {url}: {e}"));
                    break;
                }
            }
        }
        drop(tx);
        let (w, tee, res) = task.await.map_err(|e| format!("ingest writer: {e}"))?;
        if let Err(e) = res {
            if e.starts_with("unexpected commit size") {
                let ingest = self.store.ingest().clone();
                let digest = self.digest.clone();
                drop(w);
                let _ =
                    std::fs::remove_file(ingest.partial_path(&digest).map_err(|e| e.to_string())?);
            }
            return Err(format!("failed to copy: {e}"));
        }
        if read_error.is_none() {
            self.report(w.written(), false);
        }
        Ok((w, tee, read_error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregates_like_the_kubelet() {
        assert_eq!(aggregate(vec!["a".into()]), "a");
        assert_eq!(aggregate(vec!["a".into(), "b".into()]), "[a, b]");
    }

    #[tokio::test]
    async fn local_images_are_never_pulled() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Arc::new(ImageStore::open(&tmp.path().join("images")).unwrap());
        let puller = Arc::new(Puller::new(
            store,
            RegistryConfig::new(&tmp.path().join("certs.d")),
            tmp.path().to_path_buf(),
        ));
        let e = puller
            .pull("nodelet.local/busybox", &PullCredentials::default(), None)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("never pulled"), "{e}");
        let e = puller
            .pull("Bad//Ref", &PullCredentials::default(), None)
            .await
            .unwrap_err();
        assert!(matches!(e, RuntimeError::InvalidImage { .. }), "{e}");
    }
}
