//! The real [`crate::Runtime`]: OCI bundles run by an OCI runtime binary
//! (runc by default, crun where the host allows) under a per-container
//! `nodelet-monitor` that outlives the agent.
//!
//! On disk (all under `OciConfig::root`): `containers/<id>/` holds
//! `record.json` (what recovery needs), `bundle/config.json`, the overlay
//! `rootfs` with its upper/work dirs, the managed `/etc` files, the
//! monitor's pid and the exit file; `pods/<sandbox-id>.json` remembers the
//! sandbox config for its containers; `logs/` follows kubelet's layout.

pub mod attach;
pub mod bundle;
pub mod cgroups;
pub mod defaults;
pub mod direct_kill;
pub mod direct_state;
pub mod disk;
pub mod exec;
pub mod host_check;
pub mod killtree;
pub mod process;
pub mod record;
pub mod runc;
pub mod sealed_exe;
pub mod shm;
pub mod termination;
pub mod tty_process;
pub mod update;
pub mod volume_mounts;
pub mod wait;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use jiff::Timestamp;

use crate::error::{Result, RuntimeError};
use crate::image::ImageStore;
use crate::image::registry::{PullLimits, Puller, RegistryConfig};
use crate::runtime::{CreateStartError, Runtime};
use crate::sandbox::{CniOptions, SandboxManager};
use crate::types::*;
pub use host_check::{HostProblem, HostProblemKind, host_check};
use record::{ContainerMeta, PodMeta};
use runc::{MonitorArgs, OciCli};

/// How long removal waits for a container's monitor to finish after the
/// runtime killed the container.
const MONITOR_EXIT_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Where and with what the runtime works.
#[derive(Debug, Clone)]
pub struct OciConfig {
    /// State root (`/var/lib/nodelet`).
    pub root: PathBuf,
    /// Volatile root (`/run/nodelet`).
    pub run_root: PathBuf,
    /// OCI runtime binary: a path or a name on `$PATH` (runc, crun, youki).
    pub runtime: PathBuf,
    /// The `nodelet-monitor` binary: a path or a name on `$PATH`.
    pub monitor: PathBuf,
    pub cni: CniOptions,
    pub log_max_size: u64,
    pub log_max_files: u32,
    /// Registry configuration in containerd's `hosts.toml` layout
    /// (`--registry-config-dir`, default `/etc/nodelet/certs.d`).
    pub registry_config_dir: PathBuf,
    /// Layer blobs one pull downloads at once (`--max-concurrent-downloads`).
    pub max_concurrent_downloads: usize,
}

impl OciConfig {
    /// The daemon's defaults for a given state root / run root.
    pub fn with_roots(root: &Path, run_root: &Path) -> OciConfig {
        OciConfig {
            root: root.to_path_buf(),
            run_root: run_root.to_path_buf(),
            runtime: PathBuf::from("runc"),
            monitor: PathBuf::from("nodelet-monitor"),
            cni: CniOptions {
                cache_dir: root.join("cni"),
                ..CniOptions::default()
            },
            log_max_size: 10 * 1024 * 1024,
            log_max_files: 5,
            registry_config_dir: PathBuf::from(crate::image::registry::DEFAULT_CONFIG_DIR),
            max_concurrent_downloads: crate::image::registry::DEFAULT_CONCURRENT_DOWNLOADS,
        }
    }
}

/// The OCI runtime. `Send + Sync`; share it in an `Arc`.
pub struct OciRuntime {
    cfg: OciConfig,
    cli: OciCli,
    monitor: PathBuf,
    images: Arc<ImageStore>,
    puller: Arc<Puller>,
    sandboxes: SandboxManager,
    cgroups: cgroups::CgroupFs,
    nofile_hard: u64,
    /// The agent's own capabilities: what privileged / "ALL" grants.
    all_caps: Vec<String>,
    /// Whether the host enforces AppArmor (checked once at start).
    apparmor: bool,
    /// Container records by id (mirrors `record.json`).
    cache: Mutex<HashMap<String, ContainerMeta>>,
    volumes: Arc<crate::volume::HostVolumes>,
    /// Held shared by every sandbox and container creation, exclusively by
    /// [`Runtime::list_sandboxes`]: with no creation in flight, a sandbox
    /// without its pod record or a container directory without its record
    /// was left by an agent that died making it.
    creating: tokio::sync::RwLock<()>,
}

/// 2·n hex characters from the kernel's CSPRNG (container ids are 64).
pub fn random_hex(n: usize) -> String {
    use std::io::Read;
    let mut buf = vec![0u8; n];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .is_ok();
    if !ok {
        // No /dev/urandom (odd chroot): time + pid + counter still give
        // unique ids on one node, which is all ids need to be.
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let c = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed) as u128;
        let t = Timestamp::now().as_nanosecond() as u128
            ^ ((std::process::id() as u128) << 64)
            ^ (c << 96);
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (t >> ((i % 16) * 8)) as u8;
        }
    }
    hex::encode(buf)
}

impl OciRuntime {
    /// Checks the host, opens the image store and the sandbox manager.
    pub async fn new(cfg: OciConfig) -> Result<Self> {
        let problems = host_check(&cfg.runtime)?;
        let fatal: Vec<String> = problems
            .iter()
            .filter(|p| p.is_fatal())
            .map(|p| p.message.clone())
            .collect();
        if !fatal.is_empty() {
            return Err(RuntimeError::Host(fatal.join("; ")));
        }
        let runtime = host_check::resolve_binary(&cfg.runtime)
            .ok_or_else(|| RuntimeError::Host(format!("{} not found", cfg.runtime.display())))?;
        let monitor = host_check::resolve_binary(&cfg.monitor).ok_or_else(|| {
            RuntimeError::Host(format!(
                "nodelet-monitor not found at {:?} (build it with `cargo build -p nodelet-monitor`)",
                cfg.monitor.display().to_string()
            ))
        })?;
        let pods = cfg.root.join("pods");
        std::fs::create_dir_all(&pods).map_err(|e| RuntimeError::io(&pods, e))?;
        // One subdirectory per container or pod under each of these: made
        // here if missing (as their owners would on first use) and spread
        // over the file system's groups (see `topdir`).
        for d in [
            cfg.root.join("containers"),
            cfg.root.join("logs"),
            cfg.root.join("sandboxes"),
            crate::volume::layout::volumes_root(&cfg.root),
            cfg.run_root.join("runc"),
            cfg.run_root.join("ns"),
            cfg.run_root.join("shm"),
        ] {
            std::fs::create_dir_all(&d).map_err(|e| RuntimeError::io(&d, e))?;
            crate::topdir::mark(&d);
        }
        let images = Arc::new(ImageStore::open(&cfg.root.join("images"))?);
        let puller = Arc::new(
            Puller::new(
                images.clone(),
                RegistryConfig::new(&cfg.registry_config_dir),
                cfg.root.clone(),
            )
            .with_limits(PullLimits {
                max_concurrent_downloads: cfg.max_concurrent_downloads,
                ..PullLimits::default()
            }),
        );
        let volumes = Arc::new(
            crate::volume::HostVolumes::new(&cfg.root)
                .map_err(|e| RuntimeError::Host(format!("pod volumes: {e}")))?,
        );
        let sandboxes = SandboxManager::new(
            &cfg.root.join("sandboxes"),
            &cfg.run_root.join("ns"),
            cfg.cni.clone(),
        )?
        .with_pause_binary(monitor.clone());
        let exe = sealed_exe::SealedExe::new(&runtime, &cfg.run_root.join("exe"));
        {
            let exe = exe.clone();
            tokio::task::spawn_blocking(move || exe.check())
                .await
                .map_err(|e| RuntimeError::Other(format!("runtime binary check: {e}")))?;
        }
        let nofile_hard = rustix::process::getrlimit(rustix::process::Resource::Nofile)
            .maximum
            .unwrap_or(u64::MAX);
        let rt = OciRuntime {
            cli: OciCli {
                exe,
                binary: runtime,
                root: cfg.run_root.join("runc"),
            },
            monitor,
            images,
            puller,
            sandboxes,
            cgroups: cgroups::CgroupFs::host(),
            nofile_hard,
            all_caps: bundle::current_capabilities(),
            apparmor: defaults::apparmor::host_enabled(),
            cache: Mutex::new(HashMap::new()),
            volumes,
            creating: tokio::sync::RwLock::new(()),
            cfg,
        };
        rt.load_records();
        Ok(rt)
    }

    pub fn images(&self) -> &ImageStore {
        &self.images
    }

    /// Shared handle on the image store (for the API's image endpoints).
    pub fn images_arc(&self) -> Arc<ImageStore> {
        self.images.clone()
    }

    /// The registry puller behind [`Runtime::ensure_image`].
    pub fn puller(&self) -> &Arc<Puller> {
        &self.puller
    }

    pub fn sandboxes(&self) -> &SandboxManager {
        &self.sandboxes
    }

    pub fn config(&self) -> &OciConfig {
        &self.cfg
    }

    /// What an agent stopping does for pod volumes (see
    /// [`crate::volume::HostVolumes::release_if_idle`]).
    pub fn release_volumes_if_idle(&self) {
        if let Err(e) = self.volumes.release_if_idle() {
            tracing::warn!(error = %e, "could not release the volumes root");
        }
    }

    /// The runtime CLI in use (for diagnostics and benchmarks).
    pub fn cli(&self) -> &OciCli {
        &self.cli
    }

    /// The container's cgroup path (relative to the cgroup root).
    pub fn cgroup_path(&self, id: &str) -> Result<String> {
        Ok(self.meta(id)?.cgroup_path)
    }

    pub fn cgroupfs(&self) -> &cgroups::CgroupFs {
        &self.cgroups
    }

    fn container_dir(&self, id: &str) -> PathBuf {
        self.cfg.root.join("containers").join(id)
    }

    fn pod_meta_path(&self, sandbox_id: &str) -> PathBuf {
        self.cfg
            .root
            .join("pods")
            .join(format!("{sandbox_id}.json"))
    }

    fn load_records(&self) {
        let dir = self.cfg.root.join("containers");
        let Ok(rd) = std::fs::read_dir(&dir) else {
            return;
        };
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        for e in rd.flatten() {
            if let Ok(Some(m)) = record::read_json::<ContainerMeta>(&e.path().join("record.json")) {
                cache.insert(m.id.clone(), m);
            }
        }
        // The image store's pins are the containers that exist: pin what
        // containers made before pins existed use, drop pins whose
        // container is gone (a crash between pin and record).
        let pins = self.images.pins();
        let pinned = pins.all().unwrap_or_default();
        for m in cache.values() {
            if pinned.get(&m.id) != Some(&m.image_id)
                && let Err(e) = pins.pin(&m.id, &m.image_id)
            {
                tracing::warn!(container = %m.id, error = %e, "could not pin the container's image");
            }
        }
        for holder in pinned.keys() {
            if !cache.contains_key(holder) && !dir.join(holder).exists() {
                let _ = pins.unpin(holder);
            }
        }
    }

    /// The process namespace of container `target`'s init, for a
    /// container that joins it (an ephemeral container's target). The
    /// target must be running: a stopped init has no namespace to join.
    fn pid_namespace_of(&self, target: &str) -> Result<PathBuf> {
        let meta = self.meta(target)?;
        let pid = match direct_state::status(&self.cli.root.join(target)) {
            Some(direct_state::Status::Running { pid }) => Some(pid),
            // Not runc's layout: the pid recorded at start.
            None => meta.pid,
            Some(_) => None,
        };
        match pid {
            Some(pid) => Ok(PathBuf::from(format!("/proc/{pid}/ns/pid"))),
            None => Err(RuntimeError::Other(format!(
                "target container {target} is not running: its process namespace cannot be joined"
            ))),
        }
    }

    fn meta(&self, id: &str) -> Result<ContainerMeta> {
        if let Some(m) = self.cache.lock().unwrap_or_else(|p| p.into_inner()).get(id) {
            return Ok(m.clone());
        }
        match record::read_json::<ContainerMeta>(&self.container_dir(id).join("record.json"))? {
            Some(m) => {
                self.cache
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(id.to_string(), m.clone());
                Ok(m)
            }
            None => Err(RuntimeError::ContainerNotFound(id.to_string())),
        }
    }

    fn save_meta(&self, m: &ContainerMeta) -> Result<()> {
        record::write_json(&self.container_dir(&m.id).join("record.json"), m)?;
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(m.id.clone(), m.clone());
        Ok(())
    }

    fn pod_meta(&self, sandbox: &SandboxInfo) -> Result<PodMeta> {
        record::read_json::<PodMeta>(&self.pod_meta_path(&sandbox.id))?
            .ok_or_else(|| RuntimeError::SandboxNotFound(sandbox.id.clone()))
    }

    fn monitor_pid(&self, id: &str) -> Option<i32> {
        let p = self.container_dir(id).join("monitor.pid");
        if let Ok(s) = std::fs::read_to_string(&p) {
            return s.trim().parse().ok();
        }
        // An agent killed between the monitor's spawn and its handshake
        // never wrote the pid, though the monitor (and the container) run:
        // found by its command line, and remembered.
        let pid = wait::find_monitor(id)?;
        let _ = std::fs::write(&p, pid.to_string());
        Some(pid)
    }

    /// The exit status once known, remembering the OOM verdict so it
    /// survives the cgroup's removal.
    async fn exit_status(&self, id: &str) -> Result<ExitStatus> {
        let m = self.meta(id)?;
        let dir = self.container_dir(id);
        let final_path = dir.join("status.json");
        if let Some(s) = record::read_json::<ExitStatus>(&final_path)? {
            return Ok(s);
        }
        let exit_file = dir.join("exit");
        let e = match wait::wait_exit(id, self.monitor_pid(id), &exit_file).await? {
            Some(e) => e,
            None => self.exit_without_monitor(id, &m).await?,
        };
        let oom = e.oom_killed || self.cgroups.oom_killed(&m.cgroup_path);
        let status = ExitStatus {
            exit_code: e.exit_code,
            signal: e.signal.map(Signal),
            oom_killed: oom,
            started_at: e.started_at.or(m.started_at),
            finished_at: e.finished_at,
            message: m.termination_message.as_ref().and_then(|t| {
                termination::read(&dir, &m.log_path, t.fallback_to_logs, e.exit_code)
            }),
        };
        // Best effort: concurrent waiters may race to write the same file.
        let _ = record::write_json(&final_path, &status);
        Ok(status)
    }

    /// The monitor was killed (the container's exit code died with it):
    /// still wait, event-driven, for the container's init if it runs, then
    /// report the exit as unknown with code 255, as containerd does.
    async fn exit_without_monitor(&self, id: &str, m: &ContainerMeta) -> Result<wait::ExitFile> {
        tracing::warn!(container = %id, "monitor gone without an exit file; exit code unknown");
        // The init's pid is in the record unless the agent died before the
        // handshake: then runc's state is all there is.
        if let Some(state) = self.cli.state(id).await?
            && (state.status == "running" || state.status == "paused")
            && m.pid.is_none_or(|pid| i64::from(pid) == state.pid)
            && let Ok(pid) = i32::try_from(state.pid)
        {
            wait::pid_exited(pid).await?;
        }
        Ok(wait::ExitFile {
            exit_code: 255,
            signal: None,
            finished_at: Timestamp::now(),
            started_at: m.started_at,
            oom_killed: false,
        })
    }

    /// Writes `/etc/hostname`, `/etc/hosts`, `/etc/resolv.conf` for a
    /// container.
    fn write_etc_files(
        &self,
        dir: &Path,
        sandbox: &SandboxInfo,
        pod: &PodMeta,
    ) -> Result<bundle::EtcFiles> {
        let etc = bundle::EtcFiles {
            hostname: dir.join("hostname"),
            hosts: dir.join("hosts"),
            resolv_conf: dir.join("resolv.conf"),
        };
        let write = |p: &Path, s: &[u8]| std::fs::write(p, s).map_err(|e| RuntimeError::io(p, e));
        write(
            &etc.hostname,
            format!("{}\n", pod.config.hostname).as_bytes(),
        )?;
        let dns = pod.config.dns.clone().unwrap_or_default();
        let aliases = &dns.host_aliases;
        let hosts = if sandbox.namespaces.net.is_some() {
            let ips: Vec<String> = sandbox.ips.iter().map(|ip| ip.to_string()).collect();
            nodelet_spec::dns::managed_hosts_file(
                &ips,
                &pod.config.hostname,
                dns.hosts_domain.as_deref(),
                aliases,
            )
        } else {
            // hostNetwork pods see the node's hosts file, as with kubelet.
            let h = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
            nodelet_spec::dns::node_hosts_file(&h, aliases)
        };
        write(&etc.hosts, hosts.as_bytes())?;
        // containerd writes the CRI DNSConfig it is given; without one it
        // copies the host's file.
        let resolv = match &pod.config.dns {
            Some(d) => nodelet_spec::dns::resolv_conf_content(&nodelet_spec::dns::PodDns {
                servers: d.servers.clone(),
                searches: d.searches.clone(),
                options: d.options.clone(),
            })
            .into_bytes(),
            None => std::fs::read("/etc/resolv.conf").unwrap_or_default(),
        };
        write(&etc.resolv_conf, &resolv)?;
        Ok(etc)
    }

    async fn create_inner(
        &self,
        id: &str,
        dir: &Path,
        sandbox: &SandboxInfo,
        config: &ContainerConfig,
        start: bool,
    ) -> Result<Option<StartedContainer>> {
        let pod = self.pod_meta(sandbox)?;
        // Pinned (in use) from here until the container is removed.
        let image = self
            .images
            .resolve_and_pin(&config.image, id)?
            .ok_or_else(|| RuntimeError::ImageNotFound(config.image.clone()))?;
        let layers = image.layers.clone();
        let cdir = dir.to_path_buf();
        let userns = sandbox.namespaces.user.clone().zip(sandbox.id_mapping);
        let rootfs = tokio::task::spawn_blocking(move || match userns {
            Some((ns, m)) => crate::rootfs_idmap::mount_rootfs_idmapped(&layers, &cdir, &ns, m),
            None => crate::rootfs::mount_rootfs(&layers, &cdir),
        })
        .await
        .map_err(|e| RuntimeError::Other(format!("rootfs task: {e}")))??;
        let ic = &image.config;
        let defaults = process::ImageDefaults {
            entrypoint: ic.entrypoint.as_deref(),
            cmd: ic.cmd.as_deref(),
            env: &ic.env,
            working_dir: ic.working_dir.as_deref(),
            user: ic.user.as_deref(),
        };
        // The termination message file joins the container's mounts.
        let with_message;
        let config = match &config.termination_message {
            Some(t) => {
                let mut c = config.clone();
                c.mounts.push(termination::prepare(dir, t)?);
                with_message = c;
                &with_message
            }
            None => config,
        };
        volume_mounts::check_sources(&config.mounts)?;
        let mut plan = process::plan(config, &defaults, &rootfs)?;
        // With the host's UTS namespace (hostNetwork) the hostname is the node's.
        let hostname = match sandbox.namespaces.uts {
            Some(_) => pod.config.hostname.clone(),
            None => std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_else(|_| pod.config.hostname.clone()),
        };
        process::add_hostname_env(&mut plan.env, &hostname);
        let etc = self.write_etc_files(dir, sandbox, &pod)?;
        let cgroup_path = cgroups::container_cgroup_path(&sandbox.cgroup_parent, id);
        let shm = shm::source(&self.cfg.run_root, &sandbox.id, pod.config.host_ipc);
        if !pod.config.host_ipc && !shm.exists() {
            // A sandbox made before shared /dev/shm existed.
            shm::setup(&shm)?;
        }
        let target = match &config.pid_namespace_of {
            Some(target) => Some(self.pid_namespace_of(target)?),
            None => None,
        };
        if target.is_none()
            && let Some(pod) = sandbox.namespaces.pid.clone()
        {
            // runc's own error for a namespace without init is obscure
            // (a fork failing with ENOMEM): say what is wrong instead.
            let alive =
                tokio::task::spawn_blocking(move || crate::sandbox::pause::is_running(&pod))
                    .await
                    .map_err(|e| RuntimeError::Other(format!("pause check task: {e}")))?;
            if !alive {
                return Err(RuntimeError::Other(
                    "the pod's shared process namespace is gone: its pause process is not running"
                        .into(),
                ));
            }
        }
        let pid_ns = bundle::pid_namespace(target.as_deref(), sandbox);
        let spec = bundle::build_spec(&bundle::BundleInputs {
            config,
            sandbox,
            host_pid: pod.config.host_pid,
            pid_ns,
            process: &plan,
            rootfs: &rootfs,
            cgroups_path: &cgroup_path,
            cgroup_ns: self.cgroups.mode() == cgroups::CgroupMode::V2,
            etc: &etc,
            nofile_hard: self.nofile_hard,
            all_caps: &self.all_caps,
            host_devices: &if config.security.privileged {
                bundle::host_devices(Path::new("/dev"))
            } else {
                Vec::new()
            },
            shm: &shm,
            state_root: &self.cfg.root,
            apparmor_enabled: self.apparmor,
        })?;
        let bundle_dir = dir.join("bundle");
        std::fs::create_dir_all(&bundle_dir).map_err(|e| RuntimeError::io(&bundle_dir, e))?;
        bundle::write_spec(&spec, &bundle_dir)?;
        self.cgroups
            .create_parent(&sandbox.cgroup_parent)
            .map_err(|e| RuntimeError::io(self.cgroups.root(), e))?;
        let log_path = self.log_path_for(&pod.config, &config.name, config.attempt);
        if let Some(parent) = log_path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| RuntimeError::io(parent, e))?;
        }
        let mut meta = ContainerMeta {
            id: id.to_string(),
            sandbox_id: sandbox.id.clone(),
            pod_uid: config.pod_uid.clone(),
            name: config.name.clone(),
            attempt: config.attempt,
            image_ref: image.reference.clone(),
            image_id: image.id.clone(),
            image_repo_digest: image.repo_digest.clone(),
            log_path: log_path.clone(),
            cgroup_path: cgroup_path.clone(),
            labels: config.labels.clone(),
            created_at: Timestamp::now(),
            started_at: None,
            pid: None,
            termination_message: config.termination_message.clone(),
        };
        // Recorded before the container exists so a crash in between
        // leaves something recovery can find and remove.
        self.save_meta(&meta)?;
        let (monitor_pid, pid) = self
            .cli
            .create_via_monitor(&MonitorArgs {
                monitor: &self.monitor,
                id,
                bundle: &bundle_dir,
                log_path: &log_path,
                log_max_size: self.cfg.log_max_size,
                log_max_files: self.cfg.log_max_files,
                exit_file: &dir.join("exit"),
                tty: config.tty,
                attach_socket: &dir.join(attach::SOCKET),
                stdin: config.stdin,
                stdin_once: config.stdin_once,
                cgroup_path: &cgroup_path,
                monitor_log: &dir.join("monitor.log"),
                start,
            })
            .await?;
        let p = dir.join("monitor.pid");
        record::write_private(&p, monitor_pid.to_string().as_bytes())?;
        meta.pid = Some(pid);
        // The handshake comes after `run` returned, i.e. once the
        // entrypoint was exec'd: when `start` would have returned.
        let started = start.then(|| StartedContainer {
            pid: u32::try_from(pid).unwrap_or(0),
            started_at: Timestamp::now(),
        });
        meta.started_at = started.as_ref().map(|s| s.started_at);
        self.save_meta(&meta)?;
        Ok(started)
    }

    /// Creates, and with `start` starts, a container; on failure removes
    /// whatever was made (a failed `run` leaves nothing worth keeping).
    async fn create_with(
        &self,
        sandbox: &SandboxInfo,
        config: &ContainerConfig,
        start: bool,
    ) -> Result<(String, Option<StartedContainer>)> {
        let _creating = self.creating.read().await;
        let id = random_hex(32);
        let dir = self.container_dir(&id);
        std::fs::create_dir_all(&dir).map_err(|e| RuntimeError::io(&dir, e))?;
        match self.create_inner(&id, &dir, sandbox, config, start).await {
            Ok(started) => Ok((id, started)),
            Err(e) => {
                let cg = cgroups::container_cgroup_path(&sandbox.cgroup_parent, &id);
                if let Err(c) = self.cleanup(&id, Some(&cg)).await {
                    tracing::warn!(container = %id, error = %c, "cleanup after failed create");
                }
                Err(e)
            }
        }
    }

    fn log_path_for(&self, pod: &SandboxConfig, container: &str, attempt: u32) -> PathBuf {
        self.pod_log_dir(pod)
            .join(container)
            .join(format!("{attempt}.log"))
    }

    /// What an agent killed midway left besides half-made sandboxes (see
    /// [`Runtime::list_sandboxes`], which calls this with no creation in
    /// flight): a container directory without its record (creation
    /// interrupted before it: rootfs mounted, image pinned) and a pod record
    /// whose sandbox is gone (removal interrupted after the network
    /// teardown: shm, the pod cgroup and logs remained).
    async fn finish_interrupted(&self, live: &[SandboxInfo]) {
        if let Ok(dir) = std::fs::read_dir(self.cfg.root.join("containers")) {
            for e in dir.flatten() {
                let path = e.path();
                let Some(id) = e.file_name().to_str().map(str::to_owned) else {
                    continue;
                };
                if path.join("record.json").exists() || !path.is_dir() {
                    continue;
                }
                tracing::warn!(container = %id, "removing a container whose creation was interrupted");
                let p = path.clone();
                let _ =
                    tokio::task::spawn_blocking(move || crate::rootfs::unmount_rootfs(&p)).await;
                let _ = std::fs::remove_dir_all(&path);
                let _ = self.images.pins().unpin(&id);
            }
        }
        if let Ok(dir) = std::fs::read_dir(self.cfg.root.join("pods")) {
            for e in dir.flatten() {
                let path = e.path();
                let Some(id) = path.file_stem().and_then(|s| s.to_str()).map(str::to_owned) else {
                    continue;
                };
                if path.extension().is_none_or(|x| x != "json") || live.iter().any(|s| s.id == id) {
                    continue;
                }
                let Ok(Some(meta)) = record::read_json::<PodMeta>(&path) else {
                    continue;
                };
                tracing::warn!(sandbox = %id, "finishing the removal of a sandbox interrupted midway");
                let _ = shm::teardown(&shm::shm_dir(&self.cfg.run_root, &id));
                // The pod may have a sandbox again: its cgroup and logs stay.
                if !live.iter().any(|s| s.pod_uid == meta.info.pod_uid) {
                    let _ = self.cgroups.remove(&meta.info.cgroup_parent);
                    let _ = std::fs::remove_dir_all(self.pod_log_dir(&meta.config));
                }
                let _ = std::fs::remove_file(&path);
            }
        }
    }

    fn pod_log_dir(&self, pod: &SandboxConfig) -> PathBuf {
        self.cfg.root.join("logs").join(format!(
            "{}_{}_{}",
            pod.pod_namespace, pod.pod_name, pod.pod_uid
        ))
    }

    /// Tears down everything of a container but its log.
    async fn cleanup(&self, id: &str, cgroup_path: Option<&str>) -> Result<()> {
        self.cli.delete_force(id).await?;
        // The monitor drains output and writes the exit file after the
        // kill; let it finish so no process or file appears after removal.
        if let Some(fd) = self.monitor_pid(id).and_then(|p| wait::open_monitor(p, id))
            && tokio::time::timeout(MONITOR_EXIT_GRACE, wait::pidfd_exited(fd))
                .await
                .is_err()
        {
            tracing::warn!(container = %id, "monitor still running after delete");
        }
        let dir = self.container_dir(id);
        let d2 = dir.clone();
        tokio::task::spawn_blocking(move || crate::rootfs::unmount_rootfs(&d2))
            .await
            .map_err(|e| RuntimeError::Other(format!("unmount task: {e}")))??;
        if let Some(cg) = cgroup_path {
            // runc removes its cgroup on delete; this catches hierarchies it
            // did not (name=systemd, cgroup2 in hybrid mode).
            let _ = self.cgroups.remove(cg);
        }
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(RuntimeError::io(&dir, e));
            }
            _ => {}
        }
        self.images.pins().unpin(id)?;
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        Ok(())
    }

    async fn state_of(&self, m: &ContainerMeta) -> Result<ContainerState> {
        let dir = self.container_dir(&m.id);
        if dir.join("exit").exists() || dir.join("status.json").exists() {
            return Ok(ContainerState::Exited(self.exit_status(&m.id).await?));
        }
        // runc's state files first (no process per container); the
        // runtime binary when they cannot tell.
        match direct_state::status(&self.cli.root.join(&m.id)) {
            Some(direct_state::Status::Created { .. }) => return Ok(ContainerState::Created),
            Some(direct_state::Status::Running { pid }) => {
                return Ok(ContainerState::Running {
                    pid: u32::try_from(pid).unwrap_or(0),
                    started_at: m.started_at.unwrap_or(m.created_at),
                });
            }
            Some(direct_state::Status::Stopped) => {
                return Ok(ContainerState::Exited(self.exit_status(&m.id).await?));
            }
            None => {}
        }
        match self.cli.state(&m.id).await? {
            Some(s) => Ok(match s.status.as_str() {
                "created" | "creating" => ContainerState::Created,
                "running" | "paused" | "pausing" => ContainerState::Running {
                    pid: u32::try_from(s.pid).unwrap_or(0),
                    started_at: m.started_at.unwrap_or(m.created_at),
                },
                // Stopped but the monitor is still draining output: its
                // exit file is moments away.
                "stopped" => ContainerState::Exited(self.exit_status(&m.id).await?),
                _ => ContainerState::Unknown,
            }),
            None => Ok(ContainerState::Unknown),
        }
    }
}

#[async_trait]
impl Runtime for OciRuntime {
    async fn ensure_image(&self, req: &ImageRequest) -> Result<ImageInfo> {
        crate::image::ensure::ensure_image(&self.images, &self.puller, req).await
    }

    async fn create_sandbox(&self, config: &SandboxConfig) -> Result<SandboxInfo> {
        let _creating = self.creating.read().await;
        let info = self.sandboxes.create(config).await?;
        let meta = PodMeta {
            config: config.clone(),
            info: info.clone(),
        };
        let res = self
            .cgroups
            .create_parent(&info.cgroup_parent)
            .map_err(|e| RuntimeError::io(self.cgroups.root(), e))
            .and_then(|_| {
                if config.host_ipc {
                    Ok(())
                } else {
                    shm::setup(&shm::shm_dir(&self.cfg.run_root, &info.id))
                }
            })
            .and_then(|_| record::write_json(&self.pod_meta_path(&info.id), &meta));
        if let Err(e) = res {
            let _ = shm::teardown(&shm::shm_dir(&self.cfg.run_root, &info.id));
            let _ = self.sandboxes.remove(&info.id).await;
            return Err(e);
        }
        Ok(info)
    }

    async fn remove_sandbox(&self, sandbox_id: &str) -> Result<()> {
        let meta = record::read_json::<PodMeta>(&self.pod_meta_path(sandbox_id))?;
        self.sandboxes.remove(sandbox_id).await?;
        if crate::sandbox::state::is_sandbox_id(sandbox_id) {
            shm::teardown(&shm::shm_dir(&self.cfg.run_root, sandbox_id))?;
        }
        if let Some(m) = meta {
            self.cgroups
                .remove(&m.info.cgroup_parent)
                .map_err(|e| RuntimeError::io(self.cgroups.root(), e))?;
            let logs = self.pod_log_dir(&m.config);
            match std::fs::remove_dir_all(&logs) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(RuntimeError::io(&logs, e));
                }
                _ => {}
            }
        }
        let p = self.pod_meta_path(sandbox_id);
        match std::fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(RuntimeError::io(&p, e)),
            _ => Ok(()),
        }
    }

    async fn create_container(
        &self,
        sandbox: &SandboxInfo,
        config: &ContainerConfig,
    ) -> Result<String> {
        self.create_with(sandbox, config, false)
            .await
            .map(|(id, _)| id)
    }

    /// One `<runtime> run --detach` (in the monitor) instead of `create`
    /// then a separate `start` process. A failure to run the entrypoint
    /// surfaces here as a creation failure with nothing left behind, as
    /// runc reports it at `create` for the usual cause (no such
    /// executable) anyway.
    async fn create_and_start_container(
        &self,
        sandbox: &SandboxInfo,
        config: &ContainerConfig,
    ) -> Result<(String, StartedContainer), CreateStartError> {
        match self.create_with(sandbox, config, true).await {
            Ok((id, Some(started))) => Ok((id, started)),
            // Not reached (`start` was asked for); start it the usual way.
            Ok((id, None)) => match self.start_container(&id).await {
                Ok(started) => Ok((id, started)),
                Err(error) => Err(CreateStartError::Start { id, error }),
            },
            Err(e) => Err(CreateStartError::Create(e)),
        }
    }

    async fn start_container(&self, id: &str) -> Result<StartedContainer> {
        let mut m = self.meta(id)?;
        self.cli.start(id).await?;
        let started_at = Timestamp::now();
        m.started_at = Some(started_at);
        self.save_meta(&m)?;
        Ok(StartedContainer {
            pid: m.pid.and_then(|p| u32::try_from(p).ok()).unwrap_or(0),
            started_at,
        })
    }

    async fn wait(&self, id: &str) -> Result<ExitStatus> {
        self.exit_status(id).await
    }

    async fn signal(&self, id: &str, signal: Signal) -> Result<()> {
        self.meta(id)?;
        if self.container_dir(id).join("exit").exists() {
            return Ok(());
        }
        // What `runc kill` does for the init, without spawning runc. Only a
        // delivered signal is trusted: "not running" without an exit file
        // is rare and is left to runc to confirm, so a wrong pid check can
        // never swallow a kill.
        if direct_kill::signal_init(&self.cli.root.join(id), signal.0)
            == Some(direct_kill::Direct::Sent)
        {
            return Ok(());
        }
        self.cli.kill(id, signal.0).await
    }

    async fn exec(&self, id: &str, req: &ExecRequest) -> Result<ExecOutput> {
        self.meta(id)?;
        exec::exec_captured(&self.cli, id, req, &self.container_dir(id), None).await
    }

    async fn exec_streaming(
        &self,
        id: &str,
        req: &ExecRequest,
        sink: OutputSink,
    ) -> Result<ExecOutput> {
        self.meta(id)?;
        exec::exec_captured(&self.cli, id, req, &self.container_dir(id), Some(sink)).await
    }

    async fn append_log(&self, id: &str, stream: LogStream, text: &[u8]) -> Result<()> {
        let m = self.meta(id)?;
        attach::append_log(&self.container_dir(id), &m.name, stream, text).await
    }

    async fn exec_interactive(
        &self,
        id: &str,
        req: &InteractiveExecRequest,
    ) -> Result<InteractiveExec> {
        self.meta(id)?;
        exec::exec_interactive(&self.cli, id, req, &self.container_dir(id)).await
    }

    async fn attach(&self, id: &str, req: &AttachRequest) -> Result<InteractiveExec> {
        let m = self.meta(id)?;
        let dir = self.container_dir(id);
        if dir.join("exit").exists() || dir.join("status.json").exists() {
            return Err(RuntimeError::Other(format!(
                "container {} is not running",
                m.name
            )));
        }
        attach::attach(&dir, &m.name, req).await
    }

    async fn remove_container(&self, id: &str) -> Result<()> {
        let m = match self.meta(id) {
            Ok(m) => Some(m),
            Err(RuntimeError::ContainerNotFound(_)) => None,
            Err(e) => return Err(e),
        };
        if m.is_none() && !self.container_dir(id).exists() {
            return Ok(());
        }
        self.cleanup(id, m.as_ref().map(|m| m.cgroup_path.as_str()))
            .await
    }

    async fn container_state(&self, id: &str) -> Result<ContainerState> {
        let m = self.meta(id)?;
        self.state_of(&m).await
    }

    async fn list_containers(&self) -> Result<Vec<ContainerRecord>> {
        self.load_records();
        let metas: Vec<ContainerMeta> = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        // Concurrently: an exited container's status may wait for its
        // monitor to finish draining output.
        let states = futures::future::join_all(
            metas
                .iter()
                .map(|m| async move { self.state_of(m).await.unwrap_or(ContainerState::Unknown) }),
        )
        .await;
        let mut out = Vec::with_capacity(metas.len());
        for (m, state) in metas.into_iter().zip(states) {
            out.push(ContainerRecord {
                id: m.id.clone(),
                sandbox_id: m.sandbox_id.clone(),
                pod_uid: m.pod_uid.clone(),
                name: m.name.clone(),
                attempt: m.attempt,
                image_id: m
                    .image_repo_digest
                    .clone()
                    .unwrap_or_else(|| m.image_id.clone()),
                state,
                log_path: m.log_path.clone(),
                labels: m.labels.clone(),
            });
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// Complete sandboxes only: one whose pod record (written last by
    /// [`Runtime::create_sandbox`]) is missing was being made when an agent
    /// died; its containers could never be created ("sandbox not found"),
    /// so it is torn down here (network, pins, shm, pod cgroup) and the
    /// pod gets a new one.
    async fn shutdown(&self) {
        let _quiet = self.creating.write().await;
        if let Err(e) = self.sandboxes.release_unused_space().await {
            tracing::warn!(error = %e, "releasing the pin space");
        }
    }

    async fn list_sandboxes(&self) -> Result<Vec<SandboxInfo>> {
        let _quiet = self.creating.write().await;
        let mut complete = Vec::new();
        for info in self.sandboxes.list().await? {
            if self.pod_meta_path(&info.id).exists() {
                complete.push(info);
                continue;
            }
            tracing::warn!(sandbox = %info.id, pod_uid = %info.pod_uid, "removing a sandbox whose creation was interrupted");
            if let Err(e) = self.sandboxes.remove(&info.id).await {
                tracing::warn!(sandbox = %info.id, error = %e, "could not remove the interrupted sandbox");
                continue;
            }
            let _ = shm::teardown(&shm::shm_dir(&self.cfg.run_root, &info.id));
            let _ = self.cgroups.remove(&info.cgroup_parent);
        }
        self.finish_interrupted(&complete).await;
        Ok(complete)
    }

    async fn port_forward(&self, sandbox_id: &str, port: u16) -> Result<PortStream> {
        let info = self.sandboxes.get(sandbox_id).await?;
        let stream =
            crate::sandbox::portforward::connect(info.namespaces.net.as_deref(), sandbox_id, port)
                .await?;
        Ok(Box::new(stream))
    }

    fn volumes(&self) -> Arc<dyn crate::volume::VolumeHost> {
        self.volumes.clone()
    }

    fn log_path(&self, id: &str) -> PathBuf {
        match self.meta(id) {
            Ok(m) => m.log_path,
            Err(_) => self
                .cfg
                .root
                .join("logs")
                .join("unknown")
                .join(format!("{id}.log")),
        }
    }

    async fn stats(&self, id: &str) -> Result<ContainerStats> {
        let m = self.meta(id)?;
        Ok(self.cgroups.stats(&m.cgroup_path))
    }

    async fn update_container_resources(&self, id: &str, resources: &Resources) -> Result<()> {
        self.update_resources(id, resources).await
    }

    async fn disk_usage(&self, id: &str) -> Result<u64> {
        let m = self.meta(id)?;
        let upper = self.container_dir(id).join("upper");
        tokio::task::spawn_blocking(move || disk::container_bytes(&upper, &m.log_path))
            .await
            .map_err(|e| RuntimeError::Other(format!("measuring disk usage of {id}: {e}")))?
    }
}
