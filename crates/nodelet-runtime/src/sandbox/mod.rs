//! Pod sandboxes: the namespaces and network every container of a pod shares.
//!
//! A sandbox is a set of pinned namespaces (see [`namespaces`]) plus, unless
//! the pod uses the host network, an attachment of the pod's network
//! namespace: through the CNI plugins of the conflist (see [`cni`]), or,
//! for nodelet's own default bridge network, natively (see [`native`]).
//! There is no pause process, except for pods with
//! `shareProcessNamespace: true`, whose process namespace needs one as its
//! PID 1 (see [`pause`]). Each sandbox is
//! recorded (see [`state`]) before anything is made, so a restarted agent can
//! list and tear down whatever a crash left half-done.

pub mod cni;
pub mod host;
pub mod namespaces;
pub mod native;
pub mod pause;
pub mod pin_space;
pub mod portforward;
pub mod state;
pub mod userns;

use std::collections::HashMap;
use std::io::Read;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

pub use cni::CniOptions;
use cni::{CniArgs, CniCommand, CniInvoker, NetworkConfigList};
use namespaces::NamespaceSet;
use native::NativeNetwork;
pub use native::PodNetwork;
use pin_space::PinSpace;
use state::{CniAttachment, SandboxPhase, SandboxRecord, StateStore};

use crate::error::{Result, RuntimeError};
use crate::oci::cgroups::CgroupFs;
use crate::types::{SandboxConfig, SandboxInfo, SandboxNamespaces};

/// Interface name of the pod's network inside its namespace.
const POD_IFNAME: &str = "eth0";

/// Creates, lists and removes pod sandboxes. `Send + Sync`; share it in an
/// `Arc`. Operations on different sandboxes run concurrently.
pub struct SandboxManager {
    store: StateStore,
    /// `<run>/ns`: where the pin space is pinned, and where agents before
    /// it pinned namespaces in the host's mount namespace.
    run_dir: PathBuf,
    /// The mount namespace the pins live in, opened (or made) on first use.
    space: tokio::sync::Mutex<Option<Arc<PinSpace>>>,
    options: CniOptions,
    invoker: CniInvoker,
    network: NetworkConfigList,
    /// Set when pods of `network` are attached natively (`--pod-network`).
    native: Option<Arc<NativeNetwork>>,
    /// One async lock per sandbox id so a create and a remove (or two
    /// removes) of the same sandbox never interleave.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Serialises user-namespace id allocation with the first save of the
    /// record holding it, so two pods never get the same block.
    id_alloc: tokio::sync::Mutex<()>,
    /// `nodelet-monitor`, whose pause mode holds shared process
    /// namespaces; `None`: such sandboxes cannot be made.
    pause_binary: Option<PathBuf>,
    cgroups: CgroupFs,
}

impl SandboxManager {
    /// Opens the state under `state_dir` (`<root>/sandboxes`), pins under
    /// `run_dir` (`<run>/ns`), and loads the CNI conflist (writing the
    /// default one if `cni.conf_dir` has none). Missing plugins do not fail
    /// here (host-network pods still work); see [`Self::host_problems`].
    pub fn new(state_dir: &Path, run_dir: &Path, cni: CniOptions) -> Result<Self> {
        let store = StateStore::open(state_dir)?;
        std::fs::create_dir_all(run_dir).map_err(|e| RuntimeError::io(run_dir, e))?;
        let network = cni::config::load_or_create(&cni)?;
        let native = NativeNetwork::choose(cni.pod_network, &cni, &network)?.map(Arc::new);
        tracing::debug!(
            network = %network.name,
            path = if native.is_some() { "native" } else { "cni" },
            "pod network"
        );
        Ok(SandboxManager {
            store,
            run_dir: run_dir.to_path_buf(),
            space: tokio::sync::Mutex::new(None),
            invoker: CniInvoker::new(cni.bin_dirs.clone()),
            options: cni,
            network,
            native,
            locks: Mutex::new(HashMap::new()),
            id_alloc: tokio::sync::Mutex::new(()),
            pause_binary: None,
            cgroups: CgroupFs::host(),
        })
    }

    /// Lets sandboxes with a shared process namespace be made, with
    /// `monitor` (the `nodelet-monitor` binary) as their pause process.
    pub fn with_pause_binary(mut self, monitor: PathBuf) -> Self {
        self.pause_binary = Some(monitor);
        self
    }

    /// What keeps pod networking from working on this host (missing plugin
    /// binaries, missing iptables or nft), then warnings; each says how to
    /// fix it.
    pub fn host_problems(&self) -> Vec<String> {
        let mut all = self.network_problems();
        all.extend(host::network_warnings());
        all
    }

    fn network_problems(&self) -> Vec<String> {
        match &self.native {
            Some(native) => native.host_problems(),
            None => host::network_problems(&self.network, &self.invoker),
        }
    }

    /// How pods of the conflist in use are attached: [`PodNetwork::Native`]
    /// or [`PodNetwork::Cni`] (never `Auto`: this is the resolved choice).
    pub fn pod_network(&self) -> PodNetwork {
        if self.native.is_some() {
            PodNetwork::Native
        } else {
            PodNetwork::Cni
        }
    }

    /// Removes what the native path installed for the whole node (the
    /// masquerade table), for `nodelet serve --drain`: call once no pod is
    /// left. Nothing to do on the CNI path.
    pub async fn remove_node_rules(&self) -> Result<()> {
        let Some(native) = self.native.clone() else {
            return Ok(());
        };
        blocking(move || native.remove_masquerade()).await
    }

    /// The native network when a sandbox attached with `conflist` is
    /// handled natively: this agent attaches natively and the sandbox's
    /// config is the same default (whichever path made it).
    fn native_for(&self, conflist: &Value) -> Option<Arc<NativeNetwork>> {
        self.native
            .as_ref()
            .filter(|_| *conflist == self.network.raw)
            .cloned()
    }

    /// The conflist pods are attached with.
    pub fn network(&self) -> &NetworkConfigList {
        &self.network
    }

    /// The options this manager was made with.
    pub fn options(&self) -> &CniOptions {
        &self.options
    }

    /// Pins net/ipc/uts namespaces (hostname set in the UTS one), attaches
    /// the pod network through CNI, and records the sandbox.
    pub async fn create(&self, cfg: &SandboxConfig) -> Result<SandboxInfo> {
        if cfg.share_process_namespace && cfg.host_pid {
            // The API server refuses this pod; a runtime must not guess.
            return Err(RuntimeError::Other(
                "shareProcessNamespace and hostPID cannot both be set".into(),
            ));
        }
        if cfg.share_process_namespace && self.pause_binary.is_none() {
            return Err(RuntimeError::Host(
                "shareProcessNamespace needs a pause process: no nodelet-monitor binary was configured".into(),
            ));
        }
        let id = new_sandbox_id()?;
        let lock = self.lock_for(&id);
        let _guard = lock.lock().await;

        let host_ips = host::host_ips();
        let cni = if cfg.host_network {
            None
        } else {
            self.prepare_host()?;
            Some(CniAttachment {
                conflist: self.network.raw.clone(),
                ifname: POD_IFNAME.to_string(),
                runtime_config: runtime_config(cfg),
                args: cni_args(cfg, &id),
                result: None,
                native: self.native.is_some(),
            })
        };
        let mut record = SandboxRecord {
            phase: SandboxPhase::Creating,
            info: SandboxInfo {
                id: id.clone(),
                pod_uid: cfg.pod_uid.clone(),
                ips: Vec::new(),
                host_ip: host_ips.first().copied(),
                namespaces: SandboxNamespaces::default(),
                cgroup_parent: format!("nodelet/pod{}", cfg.pod_uid),
                id_mapping: None,
            },
            config: cfg.clone(),
            pin_dir: self.space().await?.dir(&id),
            cni,
            created_at: jiff::Timestamp::now(),
        };
        if cfg.user_namespace {
            let _alloc = self.id_alloc.lock().await;
            let used: Vec<_> = self
                .list()
                .await?
                .iter()
                .filter_map(|s| s.id_mapping)
                .collect();
            record.info.id_mapping = Some(userns::allocate(&used)?);
            self.save(&record).await?;
        } else {
            self.save(&record).await?;
        }

        match self.build(&mut record, &host_ips).await {
            Ok(()) => {
                record.phase = SandboxPhase::Ready;
                if let Err(e) = self.save(&record).await {
                    self.abandon(&record).await;
                    return Err(e);
                }
                tracing::info!(sandbox = %id, pod_uid = %cfg.pod_uid, ips = ?record.info.ips, "sandbox created");
                Ok(record.info)
            }
            Err(e) => {
                self.abandon(&record).await;
                Err(e)
            }
        }
    }

    /// Tears a sandbox down: CNI DEL (same config and prevResult as ADD),
    /// unmounts and removes the pins, forgets the record. Unknown ids are
    /// fine (idempotent). On a DEL failure the record is kept so the call
    /// can be retried without leaking the IP or iptables rules.
    pub async fn remove(&self, sandbox_id: &str) -> Result<()> {
        if !state::is_sandbox_id(sandbox_id) {
            return Ok(());
        }
        let lock = self.lock_for(sandbox_id);
        let guard = lock.lock().await;
        let store = self.store.clone();
        let id = sandbox_id.to_string();
        let record = blocking(move || store.load(&id)).await?;
        let result = match record {
            Some(record) => {
                let record = self.rebase(record).await?;
                self.teardown(&record).await
            }
            None => {
                // No record: at most pins of a create that crashed before
                // its first save, which cannot have a network attachment.
                let dirs = [
                    self.run_dir.join(sandbox_id),
                    self.space().await?.dir(sandbox_id),
                ];
                blocking(move || dirs.iter().try_for_each(|d| namespaces::unpin(d))).await
            }
        };
        drop(guard);
        if result.is_ok() {
            self.forget_lock(sandbox_id);
        }
        result
    }

    /// Every recorded sandbox (for recovery), oldest first, including ones
    /// whose creation was interrupted (their `ips` may be empty).
    pub async fn list(&self) -> Result<Vec<SandboxInfo>> {
        let store = self.store.clone();
        let records = blocking(move || store.list()).await?;
        let mut infos = Vec::with_capacity(records.len());
        for r in records {
            infos.push(self.rebase(r).await?.info);
        }
        Ok(infos)
    }

    pub async fn get(&self, sandbox_id: &str) -> Result<SandboxInfo> {
        Ok(self.record(sandbox_id).await?.info)
    }

    /// CNI CHECK of the sandbox's network (does the attachment still match
    /// what ADD made?), or its native equivalent. Host-network sandboxes
    /// always pass.
    pub async fn check(&self, sandbox_id: &str) -> Result<()> {
        let record = self.record(sandbox_id).await?;
        let Some(cni) = &record.cni else {
            return Ok(());
        };
        let Some(result) = &cni.result else {
            return Err(RuntimeError::Network(format!(
                "sandbox {sandbox_id} has no completed network attachment"
            )));
        };
        let list = NetworkConfigList::from_value(cni.conflist.clone())?;
        let args = CniArgs {
            container_id: record.info.id.clone(),
            netns: record.pin_dir.join("net"),
            ifname: cni.ifname.clone(),
            args: cni.args.clone(),
        };
        let Some(native) = self.native_for(&cni.conflist) else {
            return self
                .invoker
                .check_list(&list, &args, &cni.runtime_config, result)
                .await;
        };
        let (id, netns, ifname, res) = (
            args.container_id.clone(),
            args.netns.clone(),
            args.ifname.clone(),
            result.clone(),
        );
        blocking(move || native.check(&id, &netns, &ifname, &res)).await?;
        if !record.config.port_mappings.is_empty() {
            self.portmap(
                CniCommand::Check,
                &list,
                &args,
                &cni.runtime_config,
                Some(result),
            )
            .await?;
        }
        Ok(())
    }

    /// Runs the conflist's portmap plugin alone, chained after `prev`
    /// (the native path's result): what the list would do after bridge.
    /// Returns its result (`prev` when it prints none).
    async fn portmap(
        &self,
        command: CniCommand,
        list: &NetworkConfigList,
        args: &CniArgs,
        runtime_config: &Value,
        prev: Option<&Value>,
    ) -> Result<Option<Value>> {
        let Some(plugin) = list
            .plugins
            .iter()
            .find(|p| p.get("type").and_then(Value::as_str) == Some("portmap"))
        else {
            return Ok(prev.cloned());
        };
        let conf = cni::invoke::plugin_config(list, plugin, runtime_config, prev);
        let out = self.invoker.exec_plugin(command, args, &conf).await?;
        Ok(out.or_else(|| prev.cloned()))
    }

    async fn record(&self, sandbox_id: &str) -> Result<SandboxRecord> {
        if !state::is_sandbox_id(sandbox_id) {
            return Err(RuntimeError::SandboxNotFound(sandbox_id.to_string()));
        }
        let store = self.store.clone();
        let id = sandbox_id.to_string();
        let record = blocking(move || store.load(&id))
            .await?
            .ok_or_else(|| RuntimeError::SandboxNotFound(sandbox_id.to_string()))?;
        self.rebase(record).await
    }

    /// The pin space, opened or made on first use.
    async fn space(&self) -> Result<Arc<PinSpace>> {
        let mut slot = self.space.lock().await;
        if let Some(space) = slot.as_ref() {
            return Ok(space.clone());
        }
        let dir = self.run_dir.clone();
        let space = blocking(move || PinSpace::open(&dir).map(Arc::new)).await?;
        *slot = Some(space.clone());
        Ok(space)
    }

    /// Unpins the pin space when no sandbox is recorded, so an agent that
    /// stops with no pods leaves no mount behind. The caller makes sure no
    /// sandbox is being made meanwhile; a later create makes a new space.
    pub async fn release_unused_space(&self) -> Result<()> {
        let mut slot = self.space.lock().await;
        let store = self.store.clone();
        if !blocking(move || store.list()).await?.is_empty() {
            return Ok(());
        }
        let dir = self.run_dir.clone();
        blocking(move || pin_space::release(&dir)).await?;
        *slot = None;
        Ok(())
    }

    /// A loaded record with its pin paths as this agent reaches them: a
    /// record saved by an earlier agent names the space through that
    /// agent's descriptor. Pins in the host's namespace (agents before the
    /// space, under `run_dir`) are where they were.
    async fn rebase(&self, mut record: SandboxRecord) -> Result<SandboxRecord> {
        if record.pin_dir.starts_with(&self.run_dir) {
            return Ok(record);
        }
        let space = self.space().await?;
        if space.holds(&record.pin_dir) {
            return Ok(record);
        }
        let dir = space.dir(&record.info.id);
        // CNI plugins compare the netns path of a CHECK or DEL with the
        // `sandbox` of the interfaces they made: same namespace, new path.
        let (old_net, new_net) = (record.pin_dir.join("net"), dir.join("net"));
        if let Some(Value::Array(ifaces)) = record
            .cni
            .as_mut()
            .and_then(|c| c.result.as_mut())
            .and_then(|r| r.get_mut("interfaces"))
        {
            for sandbox in ifaces.iter_mut().filter_map(|i| i.get_mut("sandbox")) {
                if sandbox.as_str() == old_net.to_str() {
                    *sandbox = Value::from(new_net.to_string_lossy());
                }
            }
        }
        let ns = &mut record.info.namespaces;
        for pin in [
            &mut ns.net,
            &mut ns.ipc,
            &mut ns.uts,
            &mut ns.user,
            &mut ns.pid,
        ]
        .into_iter()
        .flatten()
        {
            if pin.parent() == Some(record.pin_dir.as_path())
                && let Some(name) = pin.file_name()
            {
                *pin = dir.join(name);
            }
        }
        record.pin_dir = dir;
        Ok(record)
    }

    /// Fails early, with the fix, when pod networking cannot work on this
    /// host, and switches on the sysctls a bridge network needs.
    fn prepare_host(&self) -> Result<()> {
        let problems = self.network_problems();
        if !problems.is_empty() {
            return Err(RuntimeError::Host(problems.join("; ")));
        }
        if self.network.needs_forwarding() {
            host::ensure_ip_forward()?;
        }
        if let Err(e) = host::ensure_bridge_nf() {
            tracing::warn!(error = %e, "bridge netfilter");
        }
        Ok(())
    }

    /// Makes the namespaces and the network of a recorded sandbox.
    async fn build(&self, record: &mut SandboxRecord, host_ips: &[IpAddr]) -> Result<()> {
        let cfg = &record.config;
        let set = NamespaceSet {
            net: !cfg.host_network,
            ipc: !cfg.host_ipc,
            uts: !cfg.host_network,
        };
        let (space, id) = (self.space().await?, record.info.id.clone());
        record.info.namespaces = match record.info.id_mapping {
            Some(m) => userns::pin_async(space, id, set, cfg.hostname.clone(), m).await?,
            None => namespaces::pin_async(space, id, set, cfg.hostname.clone()).await?,
        };
        // No save for the pins alone: an interrupted create's teardown
        // finds them by the first save's `pin_dir`, and the next save (the
        // network's result, or Ready) records their paths.
        if cfg.share_process_namespace {
            // Before CNI: the pause joins the network namespace by its pin.
            self.start_pause(record).await?;
        }

        let Some(attachment) = record.cni.as_mut() else {
            // hostNetwork: kubelet reports the node's IPs as the pod's.
            record.info.ips = host_ips.to_vec();
            return Ok(());
        };
        let args = CniArgs {
            container_id: record.info.id.clone(),
            netns: record.pin_dir.join("net"),
            ifname: attachment.ifname.clone(),
            args: attachment.args.clone(),
        };
        if let Some(native) = self.native_for(&attachment.conflist) {
            return self.attach_native(record, native, args).await;
        }
        // `lo` is brought up separately, as CRI runtimes do: it is not part
        // of the operator's network and needs no DEL (it dies with the netns).
        let lo_conf = json!({"cniVersion": cni::config::CNI_VERSION, "name": "cni-loopback", "type": "loopback"});
        let lo_args = CniArgs {
            ifname: "lo".to_string(),
            ..args.clone()
        };
        self.invoker
            .exec_plugin(cni::CniCommand::Add, &lo_args, &lo_conf)
            .await?;

        let list = NetworkConfigList::from_value(attachment.conflist.clone())?;
        let result = self
            .invoker
            .add_list(&list, &args, &attachment.runtime_config)
            .await?;
        let ips = cni::result::pod_ips(&result);
        attachment.result = Some(result);
        // Record the result before judging it, so the DEL of the cleanup
        // sees it as prevResult.
        self.save(record).await?;
        if ips.is_empty() {
            return Err(RuntimeError::Network(format!(
                "CNI network {:?} gave the pod no IP address",
                list.name
            )));
        }
        record.info.ips = ips;
        Ok(())
    }

    /// The native ADD, then portmap (the real plugin, chained after the
    /// native result) only for a pod with hostPorts: a pod without runs no
    /// plugin process at all.
    async fn attach_native(
        &self,
        record: &mut SandboxRecord,
        native: Arc<NativeNetwork>,
        args: CniArgs,
    ) -> Result<()> {
        let (id, netns, ifname) = (
            args.container_id.clone(),
            args.netns.clone(),
            args.ifname.clone(),
        );
        let mut result = blocking(move || native.add(&id, &netns, &ifname)).await?;
        // Recorded before portmap runs, so a cleanup after its failure
        // finds the veth by name and gives portmap its prevResult.
        self.set_result(record, result.clone()).await?;
        if !record.config.port_mappings.is_empty()
            && let Some(attachment) = record.cni.clone()
        {
            let list = NetworkConfigList::from_value(attachment.conflist)?;
            if let Some(out) = self
                .portmap(
                    CniCommand::Add,
                    &list,
                    &args,
                    &attachment.runtime_config,
                    Some(&result),
                )
                .await?
            {
                result = out;
                self.set_result(record, result.clone()).await?;
            }
        }
        let ips = cni::result::pod_ips(&result);
        if ips.is_empty() {
            return Err(RuntimeError::Network(format!(
                "network {:?} gave the pod no IP address",
                self.network.name
            )));
        }
        record.info.ips = ips;
        Ok(())
    }

    async fn set_result(&self, record: &mut SandboxRecord, result: Value) -> Result<()> {
        if let Some(attachment) = record.cni.as_mut() {
            attachment.result = Some(result);
        }
        self.save(record).await
    }

    /// The native DEL (of an attachment either path made), portmap's
    /// first for a pod with hostPorts. Both run even if one fails; the
    /// first error is returned so the record is kept for a retry.
    async fn detach_native(
        &self,
        record: &SandboxRecord,
        cni: &CniAttachment,
        native: Arc<NativeNetwork>,
        args: CniArgs,
    ) -> Result<()> {
        let mut first_err = None;
        if !record.config.port_mappings.is_empty() {
            let list = NetworkConfigList::from_value(cni.conflist.clone())?;
            if let Err(e) = self
                .portmap(
                    CniCommand::Del,
                    &list,
                    &args,
                    &cni.runtime_config,
                    cni.result.as_ref(),
                )
                .await
            {
                tracing::warn!(sandbox = %record.info.id, error = %e, "portmap DEL failed");
                first_err = Some(e);
            }
        }
        let netns = (!args.netns.as_os_str().is_empty()).then(|| args.netns.clone());
        let (id, ifname, result, plugin_made) = (
            args.container_id.clone(),
            args.ifname.clone(),
            cni.result.clone(),
            !cni.native,
        );
        let del = blocking(move || {
            native.del(&id, netns.as_deref(), &ifname, result.as_ref(), plugin_made)
        })
        .await;
        match (first_err, del) {
            (Some(e), _) | (None, Err(e)) => Err(e),
            (None, Ok(())) => Ok(()),
        }
    }

    /// Undoes a failed create, logging (not returning) cleanup errors so the
    /// caller sees the original failure.
    async fn abandon(&self, record: &SandboxRecord) {
        if let Err(e) = self.teardown(record).await {
            tracing::warn!(sandbox = %record.info.id, error = %e, "cleaning up failed sandbox (kept for a later remove)");
        }
    }

    async fn teardown(&self, record: &SandboxRecord) -> Result<()> {
        if let Some(cni) = &record.cni {
            let list = if cni.native {
                // Made natively: no per-pod masquerade chain exists, and
                // the bridge plugin's DEL fails on a missing one.
                NetworkConfigList::from_value(without_ip_masq(&cni.conflist))?
            } else {
                NetworkConfigList::from_value(cni.conflist.clone())?
            };
            let net_pin = record.pin_dir.join("net");
            // Without a live netns (crash before pinning) plugins must get
            // an empty CNI_NETNS: they then only release IPAM and rules.
            let netns = if namespaces::is_pinned(&net_pin) {
                net_pin
            } else {
                PathBuf::new()
            };
            let args = CniArgs {
                container_id: record.info.id.clone(),
                netns,
                ifname: cni.ifname.clone(),
                args: cni.args.clone(),
            };
            match self.native_for(&cni.conflist) {
                Some(native) => self.detach_native(record, cni, native, args).await?,
                None => {
                    self.invoker
                        .del_list(&list, &args, &cni.runtime_config, cni.result.as_ref())
                        .await?
                }
            }
        }
        if record.config.share_process_namespace {
            // Before the pins go: the pause is found by its pinned namespace.
            let pin = record.pin_dir.join(pause::PIN);
            let cgroups = self.cgroups.clone();
            let cgroup = pause::cgroup_of(&record.info.cgroup_parent);
            blocking(move || pause::stop(&pin, &cgroups, &cgroup)).await?;
        }
        let dir = record.pin_dir.clone();
        blocking(move || namespaces::unpin(&dir)).await?;
        let store = self.store.clone();
        let id = record.info.id.clone();
        blocking(move || store.remove(&id)).await?;
        tracing::info!(sandbox = %record.info.id, "sandbox removed");
        Ok(())
    }

    /// Starts the pause of a shared process namespace and records its pin.
    async fn start_pause(&self, record: &mut SandboxRecord) -> Result<()> {
        let binary = self.pause_binary.clone().ok_or_else(|| {
            RuntimeError::Host("no nodelet-monitor binary for the pause process".into())
        })?;
        let ns = record.info.namespaces.clone();
        let (space, id) = (self.space().await?, record.info.id.clone());
        let cgroups = self.cgroups.clone();
        let cgroup = pause::cgroup_of(&record.info.cgroup_parent);
        let pinned =
            blocking(move || pause::start(&binary, &ns, &space, &id, &cgroups, &cgroup)).await?;
        record.info.namespaces.pid = Some(pinned);
        self.save(record).await
    }

    async fn save(&self, record: &SandboxRecord) -> Result<()> {
        let store = self.store.clone();
        let record = record.clone();
        blocking(move || store.save(&record)).await
    }

    fn lock_for(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(id.to_string()).or_default().clone()
    }

    fn forget_lock(&self, id: &str) {
        let mut map = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        // Only drop it when nobody else holds or waits on it.
        if map.get(id).is_some_and(|l| Arc::strong_count(l) == 1) {
            map.remove(id);
        }
    }
}

/// portmap's `runtimeConfig.portMappings` (CNI capability names and casing).
fn runtime_config(cfg: &SandboxConfig) -> Value {
    let mappings: Vec<Value> = cfg
        .port_mappings
        .iter()
        .map(|m| {
            let mut v = json!({
                "hostPort": m.host_port,
                "containerPort": m.container_port,
                "protocol": m.protocol.to_ascii_lowercase(),
            });
            if let Some(ip) = m.host_ip.as_deref().filter(|ip| !ip.is_empty()) {
                v["hostIP"] = json!(ip);
            }
            v
        })
        .collect();
    json!({ "portMappings": mappings })
}

/// `conflist` with the bridge plugin's `ipMasq` off: what a natively made
/// attachment looks like to the plugins (its masquerade is the node's).
fn without_ip_masq(conflist: &Value) -> Value {
    let mut list = conflist.clone();
    if let Some(plugins) = list.get_mut("plugins").and_then(Value::as_array_mut) {
        for p in plugins {
            if p.get("type").and_then(Value::as_str) == Some("bridge") {
                p["ipMasq"] = json!(false);
            }
        }
    }
    list
}

/// `CNI_ARGS` as CRI runtimes send them (plugins that do not know a key
/// must ignore it, hence `IgnoreUnknown`).
fn cni_args(cfg: &SandboxConfig, id: &str) -> Vec<(String, String)> {
    vec![
        ("IgnoreUnknown".into(), "1".into()),
        ("K8S_POD_NAMESPACE".into(), cfg.pod_namespace.clone()),
        ("K8S_POD_NAME".into(), cfg.pod_name.clone()),
        ("K8S_POD_INFRA_CONTAINER_ID".into(), id.to_string()),
        ("K8S_POD_UID".into(), cfg.pod_uid.clone()),
    ]
}

/// 64 random hex characters, like CRI sandbox ids.
fn new_sandbox_id() -> Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| RuntimeError::io("/dev/urandom", e))?;
    Ok(hex::encode(bytes))
}

/// Runs file-system work off the async workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| RuntimeError::Other(format!("blocking task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::PortMapping;
    use std::collections::BTreeMap;

    fn cfg() -> SandboxConfig {
        SandboxConfig {
            pod_uid: "uid-1".into(),
            pod_name: "web".into(),
            pod_namespace: "default".into(),
            hostname: "web".into(),
            host_network: false,
            host_pid: false,
            host_ipc: false,
            port_mappings: vec![PortMapping {
                container_port: 80,
                host_port: 8080,
                protocol: "TCP".into(),
                host_ip: None,
            }],
            dns: None,
            labels: BTreeMap::new(),
            user_namespace: false,
            share_process_namespace: false,
        }
    }

    #[test]
    fn port_mappings_use_cni_names() {
        assert_eq!(
            runtime_config(&cfg()),
            json!({"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]})
        );
    }

    #[test]
    fn native_attachments_are_deleted_by_plugins_without_ip_masq() {
        let opts = CniOptions::default();
        let list = cni::config::default_conflist(&opts).unwrap();
        let off = without_ip_masq(&list);
        assert_eq!(off["plugins"][0]["ipMasq"], json!(false));
        assert_eq!(list["plugins"][0]["ipMasq"], json!(true));
        let mut back = off.clone();
        back["plugins"][0]["ipMasq"] = json!(true);
        assert_eq!(back, list, "only ipMasq differs");
    }

    #[test]
    fn cni_args_carry_pod_identity() {
        let args = cni_args(&cfg(), "abc");
        assert!(args.contains(&("K8S_POD_NAME".into(), "web".into())));
        assert!(args.contains(&("K8S_POD_INFRA_CONTAINER_ID".into(), "abc".into())));
        assert_eq!(args[0], ("IgnoreUnknown".into(), "1".into()));
    }

    fn manager(dir: &Path) -> SandboxManager {
        SandboxManager::new(
            &dir.join("state"),
            &dir.join("run"),
            CniOptions {
                conf_dir: dir.join("cni"),
                cache_dir: dir.join("cni-cache"),
                ..CniOptions::default()
            },
        )
        .unwrap()
    }

    #[tokio::test]
    async fn a_shared_process_namespace_is_refused_with_host_pid_or_no_pause() {
        let dir = tempfile::tempdir().unwrap();
        let with_pause = manager(dir.path()).with_pause_binary("/nonexistent/monitor".into());
        let both = SandboxConfig {
            share_process_namespace: true,
            host_pid: true,
            ..cfg()
        };
        let e = with_pause.create(&both).await.unwrap_err();
        assert!(e.to_string().contains("cannot both be set"), "{e}");
        let shared = SandboxConfig {
            share_process_namespace: true,
            ..cfg()
        };
        let e = manager(dir.path()).create(&shared).await.unwrap_err();
        assert!(e.to_string().contains("needs a pause process"), "{e}");
        // Refused before anything was recorded or made.
        assert!(with_pause.list().await.unwrap().is_empty());
    }

    #[test]
    fn ids_are_random_hex() {
        let a = new_sandbox_id().unwrap();
        assert!(state::is_sandbox_id(&a));
        assert_ne!(a, new_sandbox_id().unwrap());
    }
}
