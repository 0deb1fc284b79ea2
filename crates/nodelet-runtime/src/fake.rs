//! FOR ENGINE UNIT TESTS ONLY: an in-memory [`Runtime`] on tokio's clock.
//!
//! The lifecycle engine's timing rules (postStart gating, grace periods,
//! SIGKILL at expiry, back-off) are tested against this fake under tokio's
//! paused clock, so they run in milliseconds and deterministically. Nothing
//! here touches the host. Containers are simulated processes: each started
//! container is a task that exits per its [`Script`], reacts to signals per
//! its [`OnStop`], and reports its exit through a watch channel so
//! [`Runtime::wait`] is event-driven like the real monitor. Every call is
//! recorded in a [`Call`] timeline with the tokio instant it happened at, so
//! tests assert ordering and timing.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::error::{Result, RuntimeError};
use crate::runtime::Runtime;
use crate::types::*;

/// What a container's entrypoint does once started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Run {
    /// Runs until signalled (or told to exit by the test).
    Forever,
    /// Exits by itself after the duration with the exit code.
    ExitAfter(Duration, i32),
    /// Gets OOM-killed after the duration (exit 137, `oom_killed`).
    OomAfter(Duration),
}

/// How a container reacts to its stop signal (anything but SIGKILL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnStop {
    /// Default disposition: dies of the signal at once (128 + signal).
    Die,
    /// Ignores it; only SIGKILL ends it.
    Ignore,
    /// Handles it and exits cleanly with the code after the delay.
    ExitAfter(Duration, i32),
}

/// Scripted behaviour of the containers a [`Match`] selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Script {
    pub run: Run,
    pub on_stop: OnStop,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            run: Run::Forever,
            on_stop: OnStop::Die,
        }
    }
}

/// Which containers a script applies to; the first match added wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    Name(String),
    Image(String),
    /// Exact `command` + `args` concatenation.
    Command(Vec<String>),
}

/// What an exec of one command does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecScript {
    /// `None`: never returns (until the container dies).
    pub takes: Option<Duration>,
    pub exit_code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl ExecScript {
    pub fn ok_after(d: Duration) -> Self {
        ExecScript {
            takes: Some(d),
            exit_code: 0,
            stdout: String::new(),
            stderr: String::new(),
        }
    }
    pub fn fail(code: i32, stderr: &str) -> Self {
        ExecScript {
            takes: Some(Duration::ZERO),
            exit_code: code,
            stdout: String::new(),
            stderr: stderr.to_owned(),
        }
    }
    pub fn hang() -> Self {
        ExecScript {
            takes: None,
            exit_code: 0,
            stdout: String::new(),
            stderr: String::new(),
        }
    }
}

/// An exec's command and the extra environment it was given.
pub type ExecEnv = (Vec<String>, Vec<(String, String)>);

/// One recorded runtime call or simulated happening.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Every `ensure_image` call, with the pull secrets it carried.
    EnsureImage {
        image: String,
        policy: PullPolicy,
        secrets: Vec<String>,
    },
    /// An `ensure_image` that pulled (or tried to).
    PullImage {
        image: String,
    },
    CreateSandbox {
        pod: String,
    },
    RemoveSandbox {
        id: String,
    },
    Create {
        name: String,
        attempt: u32,
        id: String,
    },
    Start {
        name: String,
        id: String,
    },
    Signal {
        name: String,
        id: String,
        signal: Signal,
    },
    ExecStart {
        name: String,
        command: Vec<String>,
    },
    ExecEnd {
        name: String,
        command: Vec<String>,
        exit_code: i32,
    },
    /// Text appended to a container's log ([`Runtime::append_log`]).
    Log {
        name: String,
        stream: LogStream,
        text: String,
    },
    Exited {
        name: String,
        id: String,
        exit_code: i32,
    },
    Remove {
        name: String,
        id: String,
    },
    /// `update_container_resources` (in-place resize).
    UpdateResources {
        name: String,
        id: String,
        resources: Resources,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub at: Instant,
    pub op: Op,
}

struct FakeContainer {
    config: ContainerConfig,
    sandbox_id: String,
    script: Script,
    state: ContainerState,
    exit: watch::Sender<Option<ExitStatus>>,
    signals: Option<mpsc::UnboundedSender<Signal>>,
}

struct State {
    volumes: crate::fake_volumes::FakeVolumes,
    /// Tokio instant and wall time that correspond (see [`wall_now`]).
    origin: (Instant, Timestamp),
    next_id: u64,
    scripts: Vec<(Match, Script)>,
    execs: HashMap<Vec<String>, ExecScript>,
    /// The extra environment of every exec, in order.
    exec_envs: Vec<ExecEnv>,
    image_stop_signals: HashMap<String, String>,
    image_users: HashMap<String, String>,
    failing_images: HashMap<String, String>,
    /// Images not on the node (every other image is present).
    absent_images: std::collections::HashSet<String>,
    /// How long a pull of an image takes (tokio time).
    pull_delays: HashMap<String, Duration>,
    /// How many of the next sandbox creations fail.
    failing_sandboxes: usize,
    sandboxes: BTreeMap<String, SandboxInfo>,
    /// Every sandbox config asked for, in order (failed creations too).
    sandbox_configs: Vec<SandboxConfig>,
    containers: BTreeMap<String, FakeContainer>,
    calls: Vec<Call>,
    /// Memory usage `stats` reports, by container name.
    memory_usage: HashMap<String, u64>,
    /// Per container name: what `disk_usage` reports (eviction tests).
    disk_usage: HashMap<String, u64>,
    /// Per container name: what a container with a termination message
    /// path "wrote" there, reported when it exits.
    termination_messages: HashMap<String, String>,
    /// How many of the next SIGKILLs to a container of this name are
    /// recorded but never reach its process.
    lost_kills: HashMap<String, u32>,
    /// How many of the next waits on a container of this name fail at once
    /// (its exit record could not be read).
    failed_waits: HashMap<String, u32>,
}

/// A minimal pod sandbox config (pod `default/p`, uid `u`) for tests that
/// only need some sandbox to put containers in.
pub fn sandbox_config() -> SandboxConfig {
    SandboxConfig {
        pod_uid: "u".into(),
        pod_name: "p".into(),
        pod_namespace: "default".into(),
        hostname: "p".into(),
        host_network: false,
        host_pid: false,
        host_ipc: false,
        port_mappings: Vec::new(),
        dns: None,
        labels: Default::default(),
        user_namespace: false,
        share_process_namespace: false,
    }
}

/// A minimal container config named `name` (image `img`, attempt 0) in
/// the pod of [`sandbox_config`].
pub fn container_config(name: &str) -> ContainerConfig {
    ContainerConfig {
        pod_uid: "u".into(),
        name: name.into(),
        attempt: 0,
        image: "img".into(),
        command: None,
        args: None,
        env: Vec::new(),
        working_dir: None,
        security: Default::default(),
        resources: Default::default(),
        mounts: Vec::new(),
        stdin: false,
        stdin_once: false,
        tty: false,
        labels: Default::default(),
        termination_message: None,
        pid_namespace_of: None,
    }
}

/// The fake runtime. Cheap to clone (shared state).
#[derive(Clone)]
pub struct FakeRuntime {
    state: Arc<Mutex<State>>,
}

impl Default for FakeRuntime {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeRuntime {
    /// Wall time starts at the real now.
    pub fn new() -> Self {
        Self::with_wall_origin(Timestamp::now())
    }

    /// Wall time starts at `origin` now (match the test's clock with it).
    pub fn with_wall_origin(origin: Timestamp) -> Self {
        FakeRuntime {
            state: Arc::new(Mutex::new(State {
                volumes: Default::default(),
                origin: (Instant::now(), origin),
                next_id: 0,
                scripts: Vec::new(),
                execs: HashMap::new(),
                exec_envs: Vec::new(),
                image_stop_signals: HashMap::new(),
                image_users: HashMap::new(),
                failing_images: HashMap::new(),
                absent_images: Default::default(),
                pull_delays: HashMap::new(),
                failing_sandboxes: 0,
                sandboxes: BTreeMap::new(),
                sandbox_configs: Vec::new(),
                containers: BTreeMap::new(),
                calls: Vec::new(),
                memory_usage: HashMap::new(),
                disk_usage: HashMap::new(),
                termination_messages: HashMap::new(),
                lost_kills: HashMap::new(),
                failed_waits: HashMap::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test thread poisons the lock; the data is still fine.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// (command, extra environment) of every exec so far.
    pub fn exec_envs(&self) -> Vec<ExecEnv> {
        self.lock().exec_envs.clone()
    }

    /// Scripts the containers selected by `m`.
    pub fn script(&self, m: Match, script: Script) {
        self.lock().scripts.push((m, script));
    }

    /// The next `n` SIGKILLs sent to containers named `name` are lost: the
    /// call succeeds and is recorded, the process never gets the signal
    /// (a kill that did not reach its target, as a stale pid check can make
    /// happen with a real runtime).
    pub fn lose_kills(&self, name: &str, n: u32) {
        self.lock().lost_kills.insert(name.to_owned(), n);
    }

    /// The next `n` waits on containers named `name` fail at once, as a
    /// real runtime's wait does when the container's exit record cannot be
    /// read (e.g. caught half-written).
    pub fn fail_waits(&self, name: &str, n: u32) {
        self.lock().failed_waits.insert(name.to_owned(), n);
    }

    /// Scripts what `exec` of exactly `command` does (default: exit 0 at once).
    pub fn exec_script(&self, command: &[&str], script: ExecScript) {
        let cmd = command.iter().map(|s| s.to_string()).collect();
        self.lock().execs.insert(cmd, script);
    }

    /// Gives `image` a `STOPSIGNAL`.
    pub fn image_stop_signal(&self, image: &str, signal: &str) {
        self.lock()
            .image_stop_signals
            .insert(image.to_owned(), signal.to_owned());
    }

    /// Gives `image` a `USER` (reported by `ensure_image`).
    pub fn image_user(&self, image: &str, user: &str) {
        self.lock()
            .image_users
            .insert(image.to_owned(), user.to_owned());
    }

    /// Makes pulls of `image` fail with `message` (and the image absent,
    /// so that every policy but `Never` pulls it). Undo with
    /// [`Self::heal_image`].
    pub fn fail_image(&self, image: &str, message: &str) {
        let mut st = self.lock();
        st.failing_images
            .insert(image.to_owned(), message.to_owned());
        st.absent_images.insert(image.to_owned());
    }

    /// Pulls of `image` succeed again.
    pub fn heal_image(&self, image: &str) {
        self.lock().failing_images.remove(image);
    }

    /// `image` is not on the node until a pull brings it.
    pub fn absent_image(&self, image: &str) {
        self.lock().absent_images.insert(image.to_owned());
    }

    /// `image` is on the node (e.g. loaded by hand), pulls still failing.
    pub fn present_image(&self, image: &str) {
        self.lock().absent_images.remove(image);
    }

    /// A pull of `image` takes `d` (on the tokio clock).
    pub fn pull_delay(&self, image: &str, d: Duration) {
        self.lock().pull_delays.insert(image.to_owned(), d);
    }

    /// Makes `stats` report `bytes` of memory in use for containers named
    /// `name` (what the kubelet checks before lowering a memory limit).
    pub fn set_memory_usage(&self, name: &str, bytes: u64) {
        self.lock().memory_usage.insert(name.to_owned(), bytes);
    }

    /// The termination message the containers named `name` leave when
    /// they exit (if their config has a termination message path).
    pub fn set_termination_message(&self, name: &str, message: &str) {
        self.lock()
            .termination_messages
            .insert(name.to_owned(), message.to_owned());
    }

    /// What `disk_usage` reports for the containers named `name`.
    pub fn set_disk_usage(&self, name: &str, bytes: u64) {
        self.lock().disk_usage.insert(name.to_owned(), bytes);
    }

    /// The resources container `id` runs with now (created with, then as
    /// updated in place).
    pub fn container_resources(&self, id: &str) -> Option<Resources> {
        self.lock().containers.get(id).map(|c| c.config.resources)
    }

    /// Makes the next `n` `create_sandbox` calls fail (network setup).
    pub fn fail_sandboxes(&self, n: usize) {
        self.lock().failing_sandboxes = n;
    }

    /// The mounts the latest container named `name` was created with.
    pub fn container_mounts(&self, name: &str) -> Option<Vec<MountSpec>> {
        let st = self.lock();
        st.containers
            .values()
            .filter(|c| c.config.name == name)
            .max_by_key(|c| c.config.attempt)
            .map(|c| c.config.mounts.clone())
    }

    /// The environment the latest container named `name` was created with.
    pub fn container_env(&self, name: &str) -> Option<Vec<(String, String)>> {
        let st = self.lock();
        st.containers
            .values()
            .filter(|c| c.config.name == name)
            .max_by_key(|c| c.config.attempt)
            .map(|c| c.config.env.clone())
    }

    /// The in-memory volume host [`Runtime::volumes`] hands out.
    pub fn fake_volumes(&self) -> crate::fake_volumes::FakeVolumes {
        self.lock().volumes.clone()
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// The config a known (not removed) container was created with.
    pub fn container_config(&self, id: &str) -> Option<ContainerConfig> {
        self.lock().containers.get(id).map(|c| c.config.clone())
    }

    /// Containers currently known (not removed), as (id, name, attempt).
    pub fn containers(&self) -> Vec<(String, String, u32)> {
        self.lock()
            .containers
            .iter()
            .map(|(id, c)| (id.clone(), c.config.name.clone(), c.config.attempt))
            .collect()
    }

    /// The configs of every `create_sandbox` call so far, in order.
    pub fn sandbox_configs(&self) -> Vec<SandboxConfig> {
        self.lock().sandbox_configs.clone()
    }

    pub fn sandbox_count(&self) -> usize {
        self.lock().sandboxes.len()
    }

    /// Makes the newest running container called `name` exit with `code`.
    /// Returns false if there is none.
    pub fn trigger_exit(&self, name: &str, code: i32) -> bool {
        let mut st = self.lock();
        let id = st
            .containers
            .iter()
            .filter(|(_, c)| {
                c.config.name == name && matches!(c.state, ContainerState::Running { .. })
            })
            .max_by_key(|(_, c)| c.config.attempt)
            .map(|(id, _)| id.clone());
        match id {
            Some(id) => {
                finish(&mut st, &id, code, None, false);
                true
            }
            None => false,
        }
    }

    fn record(st: &mut State, op: Op) {
        st.calls.push(Call {
            at: Instant::now(),
            op,
        });
    }

    fn script_for(st: &State, config: &ContainerConfig) -> Script {
        let full: Vec<String> = config
            .command
            .iter()
            .flatten()
            .chain(config.args.iter().flatten())
            .cloned()
            .collect();
        st.scripts
            .iter()
            .find(|(m, _)| match m {
                Match::Name(n) => *n == config.name,
                Match::Image(i) => *i == config.image,
                Match::Command(c) => *c == full,
            })
            .map(|(_, s)| *s)
            .unwrap_or_default()
    }
}

/// Wall time on the fake's clock: the origin plus tokio time elapsed, so
/// timestamps agree with a test's paused clock.
fn wall_now(st: &State) -> Timestamp {
    let (i0, w0) = st.origin;
    let d = jiff::SignedDuration::try_from(Instant::now().duration_since(i0))
        .unwrap_or(jiff::SignedDuration::ZERO);
    w0.checked_add(d).unwrap_or(w0)
}

/// Marks a running container exited (once) and wakes its waiters.
fn finish(st: &mut State, id: &str, code: i32, signal: Option<Signal>, oom: bool) {
    let now = wall_now(st);
    let messages = &st.termination_messages;
    let Some(c) = st.containers.get_mut(id) else {
        return;
    };
    let started_at = match c.state {
        ContainerState::Running { started_at, .. } => Some(started_at),
        _ => return,
    };
    let status = ExitStatus {
        exit_code: code,
        signal,
        oom_killed: oom,
        started_at,
        finished_at: now,
        message: c
            .config
            .termination_message
            .as_ref()
            .and_then(|_| messages.get(&c.config.name).cloned()),
    };
    c.state = ContainerState::Exited(status.clone());
    c.signals = None;
    c.exit.send_replace(Some(status));
    let name = c.config.name.clone();
    FakeRuntime::record(
        st,
        Op::Exited {
            name,
            id: id.to_owned(),
            exit_code: code,
        },
    );
}

/// The simulated process of one container.
async fn process(
    rt: FakeRuntime,
    id: String,
    script: Script,
    mut sig: mpsc::UnboundedReceiver<Signal>,
) {
    let natural = async {
        match script.run {
            Run::Forever => std::future::pending::<(i32, bool)>().await,
            Run::ExitAfter(d, code) => {
                tokio::time::sleep(d).await;
                (code, false)
            }
            Run::OomAfter(d) => {
                tokio::time::sleep(d).await;
                (137, true)
            }
        }
    };
    tokio::pin!(natural);
    // A handled stop signal schedules a clean exit; SIGKILL always wins.
    let mut clean_exit: Option<(Instant, i32)> = None;
    loop {
        let clean = async {
            match clean_exit {
                Some((at, _)) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            (code, oom) = &mut natural => {
                finish(&mut rt.lock(), &id, code, None, oom);
                return;
            }
            () = clean => {
                let code = clean_exit.map(|(_, c)| c).unwrap_or(0);
                finish(&mut rt.lock(), &id, code, None, false);
                return;
            }
            s = sig.recv() => {
                let Some(s) = s else { return };
                if s == Signal::SIGKILL {
                    finish(&mut rt.lock(), &id, 128 + s.0, Some(s), false);
                    return;
                }
                match script.on_stop {
                    OnStop::Die => {
                        finish(&mut rt.lock(), &id, 128 + s.0, Some(s), false);
                        return;
                    }
                    OnStop::Ignore => {}
                    OnStop::ExitAfter(d, code) => {
                        if clean_exit.is_none() {
                            clean_exit = Some((Instant::now() + d, code));
                        }
                    }
                }
            }
        }
    }
}

#[async_trait]
impl Runtime for FakeRuntime {
    async fn ensure_image(&self, req: &ImageRequest) -> Result<ImageInfo> {
        let image = req.image.as_str();
        let (pull, delay) = {
            let mut st = self.lock();
            Self::record(
                &mut st,
                Op::EnsureImage {
                    image: image.to_owned(),
                    policy: req.policy,
                    secrets: req
                        .credentials
                        .secrets
                        .iter()
                        .map(|s| format!("{}/{}", s.namespace, s.name))
                        .collect(),
                },
            );
            let present = !st.absent_images.contains(image);
            if req.policy == PullPolicy::Never && !present {
                return Err(RuntimeError::ImageNeverPull(image.to_owned()));
            }
            let pull = req.policy == PullPolicy::Always || !present;
            (pull, st.pull_delays.get(image).copied().unwrap_or_default())
        };
        if pull {
            if let Some(tx) = &req.progress {
                let _ = tx.send(PullEvent::Started);
            }
            Self::record(
                &mut self.lock(),
                Op::PullImage {
                    image: image.to_owned(),
                },
            );
            tokio::time::sleep(delay).await;
            let mut st = self.lock();
            if let Some(msg) = st.failing_images.get(image) {
                return Err(RuntimeError::ImagePull(msg.clone()));
            }
            st.absent_images.remove(image);
        }
        let st = self.lock();
        Ok(ImageInfo {
            reference: image.to_owned(),
            id: format!("sha256:fake-{image}"),
            image_ref: format!("sha256:fake-{image}"),
            size: 1024,
            stop_signal: st.image_stop_signals.get(image).cloned(),
            pulled: pull,
            pull_duration: pull.then_some(delay),
            user: st.image_users.get(image).cloned(),
        })
    }

    async fn create_sandbox(&self, config: &SandboxConfig) -> Result<SandboxInfo> {
        let mut st = self.lock();
        st.sandbox_configs.push(config.clone());
        if st.failing_sandboxes > 0 {
            st.failing_sandboxes -= 1;
            Self::record(
                &mut st,
                Op::CreateSandbox {
                    pod: config.pod_name.clone(),
                },
            );
            return Err(RuntimeError::Network(
                "fake: no IP addresses available".into(),
            ));
        }
        st.next_id += 1;
        let n = st.next_id;
        let info = SandboxInfo {
            id: format!("sandbox-{n}"),
            pod_uid: config.pod_uid.clone(),
            ips: vec![std::net::IpAddr::from([10, 88, 0, (n % 250) as u8 + 2])],
            host_ip: Some(std::net::IpAddr::from([192, 168, 1, 10])),
            namespaces: SandboxNamespaces::default(),
            cgroup_parent: format!("nodelet/pod{}", config.pod_uid),
            id_mapping: None,
        };
        st.sandboxes.insert(info.id.clone(), info.clone());
        Self::record(
            &mut st,
            Op::CreateSandbox {
                pod: config.pod_name.clone(),
            },
        );
        Ok(info)
    }

    async fn remove_sandbox(&self, sandbox_id: &str) -> Result<()> {
        let mut st = self.lock();
        st.sandboxes.remove(sandbox_id);
        Self::record(
            &mut st,
            Op::RemoveSandbox {
                id: sandbox_id.to_owned(),
            },
        );
        Ok(())
    }

    async fn create_container(
        &self,
        sandbox: &SandboxInfo,
        config: &ContainerConfig,
    ) -> Result<String> {
        let mut st = self.lock();
        if !st.sandboxes.contains_key(&sandbox.id) {
            return Err(RuntimeError::SandboxNotFound(sandbox.id.clone()));
        }
        st.next_id += 1;
        let id = format!("c{}-{}-{}", st.next_id, config.name, config.attempt);
        let script = Self::script_for(&st, config);
        let (exit, _) = watch::channel(None);
        st.containers.insert(
            id.clone(),
            FakeContainer {
                config: config.clone(),
                sandbox_id: sandbox.id.clone(),
                script,
                state: ContainerState::Created,
                exit,
                signals: None,
            },
        );
        Self::record(
            &mut st,
            Op::Create {
                name: config.name.clone(),
                attempt: config.attempt,
                id: id.clone(),
            },
        );
        Ok(id)
    }

    async fn start_container(&self, id: &str) -> Result<StartedContainer> {
        let mut st = self.lock();
        let started_at = wall_now(&st);
        let c = st
            .containers
            .get_mut(id)
            .ok_or_else(|| RuntimeError::ContainerNotFound(id.to_owned()))?;
        if c.state != ContainerState::Created {
            return Err(RuntimeError::Other(format!(
                "container {id} is not in created state"
            )));
        }
        let (tx, rx) = mpsc::unbounded_channel();
        c.state = ContainerState::Running {
            pid: 4242,
            started_at,
        };
        c.signals = Some(tx);
        let script = c.script;
        let name = c.config.name.clone();
        Self::record(
            &mut st,
            Op::Start {
                name,
                id: id.to_owned(),
            },
        );
        drop(st);
        tokio::spawn(process(self.clone(), id.to_owned(), script, rx));
        Ok(StartedContainer {
            pid: 4242,
            started_at,
        })
    }

    async fn wait(&self, id: &str) -> Result<ExitStatus> {
        let (mut rx, fail) = {
            let mut st = self.lock();
            let c = st
                .containers
                .get(id)
                .ok_or_else(|| RuntimeError::ContainerNotFound(id.to_owned()))?;
            let rx = c.exit.subscribe();
            let name = c.config.name.clone();
            let fail = st.failed_waits.get_mut(&name).is_some_and(|n| {
                let fail = *n > 0;
                *n = n.saturating_sub(1);
                fail
            });
            (rx, fail)
        };
        if fail {
            return Err(RuntimeError::Other(format!(
                "{id}: exit record unreadable (fake)"
            )));
        }
        let got = rx
            .wait_for(|s| s.is_some())
            .await
            .map_err(|_| RuntimeError::ContainerNotFound(id.to_owned()))?;
        (*got)
            .clone()
            .ok_or_else(|| RuntimeError::ContainerNotFound(id.to_owned()))
    }

    async fn signal(&self, id: &str, signal: Signal) -> Result<()> {
        let mut st = self.lock();
        let c = st
            .containers
            .get(id)
            .ok_or_else(|| RuntimeError::ContainerNotFound(id.to_owned()))?;
        let name = c.config.name.clone();
        let signals = c.signals.clone();
        let lost = signal == Signal::SIGKILL
            && st.lost_kills.get_mut(&name).is_some_and(|n| {
                let lose = *n > 0;
                *n = n.saturating_sub(1);
                lose
            });
        if let Some(tx) = signals.filter(|_| !lost) {
            // The process task may have just ended; then the signal is moot.
            let _ = tx.send(signal);
        }
        Self::record(
            &mut st,
            Op::Signal {
                name,
                id: id.to_owned(),
                signal,
            },
        );
        Ok(())
    }

    async fn exec(&self, id: &str, req: &ExecRequest) -> Result<ExecOutput> {
        let (script, mut exit, name) = {
            let mut st = self.lock();
            let c = st
                .containers
                .get(id)
                .ok_or_else(|| RuntimeError::ContainerNotFound(id.to_owned()))?;
            if !matches!(c.state, ContainerState::Running { .. }) {
                return Err(RuntimeError::Other(format!(
                    "container {id} is not running"
                )));
            }
            let name = c.config.name.clone();
            let exit = c.exit.subscribe();
            let script = st
                .execs
                .get(&req.command)
                .cloned()
                .unwrap_or_else(|| ExecScript::ok_after(Duration::ZERO));
            st.exec_envs.push((req.command.clone(), req.env.clone()));
            Self::record(
                &mut st,
                Op::ExecStart {
                    name: name.clone(),
                    command: req.command.clone(),
                },
            );
            (script, exit, name)
        };
        let run = async {
            match script.takes {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        let timeout = async {
            match req.timeout {
                Some(t) => tokio::time::sleep(t).await,
                None => std::future::pending().await,
            }
        };
        let result = tokio::select! {
            () = run => Ok(ExecOutput {
                exit_code: script.exit_code,
                stdout: script.stdout.clone().into_bytes(),
                stderr: script.stderr.clone().into_bytes(),
            }),
            () = timeout => Err(RuntimeError::ExecTimeout(req.timeout.unwrap_or_default())),
            // The exec'd process dies with the container's PID namespace.
            _ = exit.wait_for(|s| s.is_some()) => Ok(ExecOutput {
                exit_code: 137,
                stdout: Vec::new(),
                stderr: Vec::new(),
            }),
        };
        let code = result.as_ref().map(|o| o.exit_code).unwrap_or(-1);
        Self::record(
            &mut self.lock(),
            Op::ExecEnd {
                name,
                command: req.command.clone(),
                exit_code: code,
            },
        );
        result
    }

    async fn append_log(&self, id: &str, stream: LogStream, text: &[u8]) -> Result<()> {
        let mut st = self.lock();
        let name = st
            .containers
            .get(id)
            .ok_or_else(|| RuntimeError::ContainerNotFound(id.to_owned()))?
            .config
            .name
            .clone();
        Self::record(
            &mut st,
            Op::Log {
                name,
                stream,
                text: String::from_utf8_lossy(text).into_owned(),
            },
        );
        Ok(())
    }

    async fn exec_interactive(
        &self,
        id: &str,
        _req: &InteractiveExecRequest,
    ) -> Result<InteractiveExec> {
        Err(RuntimeError::Other(format!(
            "fake runtime: interactive exec into {id} is not simulated"
        )))
    }

    /// A simulated main process behaves like `cat`: what is attached to its
    /// stdin comes back on stdout; the streams end with the container and
    /// `exit` carries its exit code.
    async fn attach(&self, id: &str, req: &AttachRequest) -> Result<InteractiveExec> {
        let (mut exit_rx, stdin_ok) = {
            let st = self.lock();
            let c = st
                .containers
                .get(id)
                .ok_or_else(|| RuntimeError::ContainerNotFound(id.to_owned()))?;
            if !matches!(c.state, ContainerState::Running { .. }) {
                return Err(RuntimeError::Other(format!(
                    "container {} is not running",
                    c.config.name
                )));
            }
            (c.exit.subscribe(), c.config.stdin)
        };
        if req.stdin && !stdin_ok {
            return Err(RuntimeError::Other(format!(
                "container {id}'s stdin is not open: it needs stdin: true in its spec"
            )));
        }
        let (stdin_api, mut stdin_proc) = tokio::io::duplex(4096);
        let (mut out_proc, out_api) = tokio::io::duplex(4096);
        let (mut tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let echo = async {
                let _ = tokio::io::copy(&mut stdin_proc, &mut out_proc).await;
                std::future::pending::<()>().await
            };
            let code = tokio::select! {
                got = exit_rx.wait_for(|s| s.is_some()) => {
                    got.ok().and_then(|s| s.as_ref().map(|e| e.exit_code)).unwrap_or(-1)
                }
                _ = echo => -1,
                _ = tx.closed() => return,
            };
            drop(out_proc);
            let _ = tx.send(code);
        });
        Ok(InteractiveExec {
            stdin: req
                .stdin
                .then(|| Box::new(stdin_api) as Box<dyn tokio::io::AsyncWrite + Send + Unpin>),
            stdout: req
                .stdout
                .then(|| Box::new(out_api) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
            stderr: None,
            resize: None,
            exit: rx,
        })
    }

    async fn remove_container(&self, id: &str) -> Result<()> {
        let mut st = self.lock();
        let Some(c) = st.containers.get(id) else {
            return Ok(());
        };
        if matches!(c.state, ContainerState::Running { .. }) {
            return Err(RuntimeError::Other(format!("container {id} is running")));
        }
        let name = c.config.name.clone();
        st.containers.remove(id);
        Self::record(
            &mut st,
            Op::Remove {
                name,
                id: id.to_owned(),
            },
        );
        Ok(())
    }

    async fn container_state(&self, id: &str) -> Result<ContainerState> {
        self.lock()
            .containers
            .get(id)
            .map(|c| c.state.clone())
            .ok_or_else(|| RuntimeError::ContainerNotFound(id.to_owned()))
    }

    async fn list_containers(&self) -> Result<Vec<ContainerRecord>> {
        Ok(self
            .lock()
            .containers
            .iter()
            .map(|(id, c)| ContainerRecord {
                id: id.clone(),
                sandbox_id: c.sandbox_id.clone(),
                pod_uid: c.config.pod_uid.clone(),
                name: c.config.name.clone(),
                attempt: c.config.attempt,
                image_id: format!("sha256:fake-{}", c.config.image),
                state: c.state.clone(),
                log_path: PathBuf::from(format!("/fake/{id}.log")),
                labels: c.config.labels.clone(),
            })
            .collect())
    }

    async fn list_sandboxes(&self) -> Result<Vec<SandboxInfo>> {
        Ok(self.lock().sandboxes.values().cloned().collect())
    }

    fn volumes(&self) -> Arc<dyn crate::volume::VolumeHost> {
        Arc::new(self.lock().volumes.clone())
    }

    fn log_path(&self, id: &str) -> PathBuf {
        PathBuf::from(format!("/fake/{id}.log"))
    }

    /// Every port of a fake sandbox echoes what it is sent.
    async fn port_forward(&self, sandbox_id: &str, port: u16) -> Result<PortStream> {
        if !self.lock().sandboxes.contains_key(sandbox_id) {
            return Err(RuntimeError::SandboxNotFound(sandbox_id.to_owned()));
        }
        if port == 0 {
            return Err(RuntimeError::Other(format!(
                "failed to connect to localhost:0 inside namespace \"{sandbox_id}\""
            )));
        }
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        tokio::spawn(async move {
            let (mut r, mut w) = tokio::io::split(theirs);
            let _ = tokio::io::copy(&mut r, &mut w).await;
        });
        Ok(Box::new(ours))
    }

    async fn disk_usage(&self, id: &str) -> Result<u64> {
        let st = self.lock();
        match st.containers.get(id) {
            Some(c) => Ok(st.disk_usage.get(&c.config.name).copied().unwrap_or(0)),
            None => Err(RuntimeError::ContainerNotFound(id.to_owned())),
        }
    }

    async fn stats(&self, id: &str) -> Result<ContainerStats> {
        let st = self.lock();
        match st.containers.get(id) {
            Some(c) => Ok(ContainerStats {
                memory_usage_bytes: st.memory_usage.get(&c.config.name).copied().unwrap_or(0),
                ..ContainerStats::default()
            }),
            None => Err(RuntimeError::ContainerNotFound(id.to_owned())),
        }
    }

    async fn update_container_resources(&self, id: &str, resources: &Resources) -> Result<()> {
        let mut st = self.lock();
        let c = st
            .containers
            .get_mut(id)
            .ok_or_else(|| RuntimeError::ContainerNotFound(id.to_owned()))?;
        if !matches!(c.state, ContainerState::Running { .. }) {
            return Err(RuntimeError::Other(format!(
                "container {id} is not running"
            )));
        }
        let merged = Resources {
            memory_limit_bytes: resources
                .memory_limit_bytes
                .or(c.config.resources.memory_limit_bytes),
            memory_request_bytes: resources
                .memory_request_bytes
                .or(c.config.resources.memory_request_bytes),
            cpu_limit_millis: resources
                .cpu_limit_millis
                .or(c.config.resources.cpu_limit_millis),
            cpu_request_millis: resources
                .cpu_request_millis
                .or(c.config.resources.cpu_request_millis),
        };
        c.config.resources = merged;
        let name = c.config.name.clone();
        Self::record(
            &mut st,
            Op::UpdateResources {
                name,
                id: id.to_owned(),
                resources: *resources,
            },
        );
        Ok(())
    }
}

#[cfg(test)]
mod attach_tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    fn config(stdin: bool) -> ContainerConfig {
        ContainerConfig {
            stdin,
            ..container_config("c")
        }
    }

    async fn running(rt: &FakeRuntime, stdin: bool) -> String {
        let sb = rt.create_sandbox(&sandbox_config()).await.unwrap();
        let id = rt.create_container(&sb, &config(stdin)).await.unwrap();
        rt.start_container(&id).await.unwrap();
        id
    }

    #[tokio::test]
    async fn attach_echoes_stdin_and_ends_with_the_container() {
        let rt = FakeRuntime::new();
        let id = running(&rt, true).await;
        let req = AttachRequest {
            stdin: true,
            stdout: true,
            stderr: true,
        };
        let mut a = rt.attach(&id, &req).await.unwrap();
        let mut w = a.stdin.take().unwrap();
        let mut r = a.stdout.take().unwrap();
        w.write_all(b"hi\n").await.unwrap();
        let mut got = [0u8; 3];
        r.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"hi\n");
        rt.signal(&id, Signal::SIGKILL).await.unwrap();
        assert_eq!(a.exit.await.unwrap(), 137);
        let mut rest = Vec::new();
        r.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
        // Exited: attach is refused.
        let e = rt.attach(&id, &req).await.err().unwrap();
        assert!(e.to_string().contains("not running"), "{e}");
    }

    #[tokio::test]
    async fn stdin_needs_stdin_true() {
        let rt = FakeRuntime::new();
        let id = running(&rt, false).await;
        let mut req = AttachRequest {
            stdin: true,
            stdout: true,
            stderr: false,
        };
        let e = rt.attach(&id, &req).await.err().unwrap();
        assert!(e.to_string().contains("stdin: true"), "{e}");
        req.stdin = false;
        assert!(rt.attach(&id, &req).await.unwrap().stdin.is_none());
    }
}
