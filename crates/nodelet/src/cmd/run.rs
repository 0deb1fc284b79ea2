//! `nodelet run -f FILE...`: the foreground front door. Validates
//! everything first (nothing runs if anything is invalid), starts the
//! agent, applies the objects, serves the local API on
//! `<run-root>/nodelet.sock`, and streams events and container logs until
//! the pods are gone: deleted gracefully on Ctrl-C/SIGTERM (a second one
//! forces), or finished on their own (restartPolicy Never/OnFailure).
//! The containers' lifetime is this process's, by design; `serve` is the
//! daemon whose containers outlive it.

/// `println!` that ignores a closed stdout (`nodelet run | head`): the
/// pods must still be cleaned up, so output errors must not panic.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

mod events;
mod logs;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use nodelet_api::ServeConfig;
use nodelet_engine::status::container_id_url;
use nodelet_engine::{ApplyAction, Engine, EngineEvent};
use nodelet_spec::Object;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use crate::agent::{self, Agent};
use crate::cli::RunArgs;
use crate::manifests::{self, object_name, object_namespace};
use events::EventTable;
use logs::Follower;

/// (namespace, name) of a pod.
type PodId = (String, String);

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    // Before anything touches the host: a bad input runs nothing.
    let Ok(manifests) = manifests::load_valid(&args.files)? else {
        return Ok(ExitCode::FAILURE);
    };
    let objects: Vec<Object> = manifests.into_iter().map(|m| m.object).collect();
    if !objects.iter().any(|o| matches!(o, Object::Pod(_))) {
        anyhow::bail!("nothing to run: the manifests contain no Pod");
    }
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(run_agent(args, objects))
}

async fn run_agent(args: RunArgs, objects: Vec<Object>) -> anyhow::Result<ExitCode> {
    let mut sigterm = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut sigint = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let agent = agent::start(&args.agent).await?;
    // This process owns the node's pods: it acts once they are re-adopted.
    agent.engine.adopted().await;
    let mut rx = agent.engine.subscribe();
    let api_stop = CancellationToken::new();
    let socket = agent::socket_path(&args.agent.node.run_root);
    let services_changed = Arc::new(tokio::sync::Notify::new());
    let backend = agent.backend().with_services(
        crate::services_opts::ranges(&agent.services),
        services_changed.clone(),
    );
    let services =
        crate::services_opts::start(&agent, agent.services.clone(), services_changed.clone())
            .await?;
    let api = serve_api(
        Arc::new(backend),
        &args,
        agent.tokens.clone(),
        api_stop.clone(),
    );
    let mut objects = objects;
    if let Err(e) = allocate_services(&agent, &mut objects) {
        eprintln!("error: {e}");
        let _ = services.stop_and_remove_rules().await;
        agent.engine.shutdown().await;
        return Ok(ExitCode::FAILURE);
    }

    let wanted: BTreeSet<PodId> = objects
        .iter()
        .filter(|o| matches!(o, Object::Pod(_)))
        .map(|o| (object_namespace(o), object_name(o)))
        .collect();
    let mut session = Session::new(agent.engine.clone(), &objects, args.grace_period);
    outln!("{}", session.table.header());

    // Pods an earlier `run` under this root left behind (it was killed):
    // this process owns the node's pods, so they go.
    for pod in agent.engine.list_pods() {
        let id = pod_id(&pod);
        if !wanted.contains(&id) {
            outln!(
                "pod/{}: left from an earlier run under this --root; deleting it",
                id.1
            );
            session.present.insert(id.clone());
            let _ = agent.engine.delete_pod(&id.0, &id.1, None);
        }
    }
    let mut failed_apply = false;
    let applied = agent.engine.apply(objects);
    services_changed.notify_one();
    match applied {
        Ok(applied) => {
            for a in applied {
                let verb = match a.action {
                    ApplyAction::Created => "created",
                    ApplyAction::Configured => "configured",
                    ApplyAction::Unchanged => "unchanged (adopted from an earlier run)",
                };
                outln!("{}/{} {verb}", a.kind.to_lowercase(), a.name);
                if a.kind == "Pod" {
                    session.present.insert((a.namespace, a.name));
                }
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            failed_apply = true;
        }
    }
    // Pods adopted as they were: show their state as of now.
    for pod in agent.engine.list_pods() {
        session.pod_updated(&pod);
    }
    if failed_apply {
        session.delete_all(None);
    }

    let code = loop {
        if let Some(code) = session.check_done(failed_apply).await {
            break code;
        }
        tokio::select! {
            _ = sigint.recv() => session.interrupted(),
            _ = sigterm.recv() => session.interrupted(),
            ev = rx.recv() => match ev {
                Ok(ev) => session.engine_event(ev),
                Err(RecvError::Lagged(n)) => {
                    eprintln!("warning: output fell {n} changes behind; re-reading the pods");
                    for id in session.present.clone() {
                        match agent.engine.get_pod(&id.0, &id.1) {
                            Some(p) => session.pod_updated(&p),
                            None => session.pod_gone(&id),
                        }
                    }
                }
                Err(RecvError::Closed) => break ExitCode::FAILURE,
            },
        }
    };
    session.finish_logs().await;
    api_stop.cancel();
    if let Some(api) = api {
        let _ = api.await;
    }
    // `run` owns its pods, and so their Services' rules.
    if let Err(e) = services.stop_and_remove_rules().await {
        eprintln!("warning: removing the Service rules: {e}");
    }
    agent.engine.shutdown().await;
    agent.runtime.release_volumes_if_idle();
    let _ = std::fs::remove_file(&socket);
    Ok(code)
}

/// Cluster IPs and node ports for the manifests' Services, as the API
/// would allocate them on create.
fn allocate_services(agent: &Agent, objects: &mut [Object]) -> anyhow::Result<()> {
    let ranges = crate::services_opts::ranges(&agent.services);
    let mut existing: Vec<k8s_openapi::api::core::v1::Service> = agent
        .store
        .list_objects("Service", None)?
        .into_iter()
        .filter_map(|(v, _)| serde_json::from_value(v).ok())
        .collect();
    for o in objects.iter_mut() {
        let Object::Service(svc) = o else { continue };
        let key = (svc.metadata.namespace.clone(), svc.metadata.name.clone());
        let old = existing
            .iter()
            .find(|s| (s.metadata.namespace.clone(), s.metadata.name.clone()) == key)
            .cloned();
        nodelet_api::service_alloc::allocate(svc, old.as_ref(), &existing, &ranges, || {
            u64::from(std::process::id()) ^ jiff::Timestamp::now().as_nanosecond() as u64
        })
        .map_err(|errs| {
            anyhow::anyhow!(
                "The Service {:?} is invalid: {errs}",
                svc.metadata.name.clone().unwrap_or_default()
            )
        })?;
        existing.retain(|s| (s.metadata.namespace.clone(), s.metadata.name.clone()) != key);
        existing.push((**svc).clone());
    }
    Ok(())
}

/// Serves the local API on the unix socket so the client commands work
/// while `run` is up; a failure there is a warning, not a stop.
fn serve_api(
    backend: Arc<nodelet_api::EngineBackend>,
    args: &RunArgs,
    tokens: Arc<nodelet_api::tokens::TokenAuthority>,
    stop: CancellationToken,
) -> Option<tokio::task::JoinHandle<()>> {
    let cfg = ServeConfig {
        root: args.agent.node.root.clone(),
        listen: None,
        also_listen: Vec::new(),
        unix_socket: Some(agent::socket_path(&args.agent.node.run_root)),
        shutdown: stop,
        tokens: Some(tokens),
        pod_security: nodelet_api::admission::PodSecurityConfig::at(
            args.agent.pod_security_default,
        ),
        limits: nodelet_api::limits::Limits::default(),
        audit_log: None,
    };
    Some(tokio::spawn(async move {
        if let Err(e) = nodelet_api::serve(backend, cfg).await {
            eprintln!("warning: local API not available: {e}");
        }
    }))
}

fn pod_id(pod: &Pod) -> PodId {
    (
        pod.metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into()),
        pod.metadata.name.clone().unwrap_or_default(),
    )
}

/// What `run` tracks while its pods live.
struct Session {
    engine: Arc<Engine>,
    table: EventTable,
    grace: Option<i64>,
    /// Our pods still on the node.
    present: BTreeSet<PodId>,
    /// Latest phase seen per pod.
    phases: HashMap<PodId, String>,
    /// Log followers by (namespace, pod, container); kept after they
    /// finish so the same container is not followed twice.
    followers: HashMap<(String, String, String), Follower>,
    /// Followers of earlier attempts, finishing.
    retired: Vec<Follower>,
    /// Every container id followed so far (each is printed once).
    followed: HashSet<String>,
    /// Last state line printed per (pod, container id), and pod readiness,
    /// so each transition is printed once.
    states: HashMap<(PodId, String), String>,
    ready: HashMap<PodId, bool>,
    /// Ctrl-C/SIGTERM count (1: graceful delete, 2: forced).
    interrupts: u32,
    /// Set once every pod finished on its own: the exit code to use.
    completed: Option<ExitCode>,
}

impl Session {
    fn new(engine: Arc<Engine>, objects: &[Object], grace: Option<i64>) -> Self {
        let mut names = Vec::new();
        let mut paths = Vec::new();
        for o in objects {
            if let Object::Pod(p) = o {
                names.push(format!("pod/{}", object_name(o)));
                if let Some(spec) = &p.spec {
                    for c in &spec.containers {
                        paths.push(format!("spec.containers{{{}}}", c.name));
                    }
                    for c in spec.init_containers.iter().flatten() {
                        paths.push(format!("spec.initContainers{{{}}}", c.name));
                    }
                }
            }
        }
        Session {
            engine,
            table: EventTable::new(
                names.iter().map(String::as_str),
                paths.iter().map(String::as_str),
            ),
            grace,
            present: BTreeSet::new(),
            phases: HashMap::new(),
            followers: HashMap::new(),
            retired: Vec::new(),
            followed: HashSet::new(),
            states: HashMap::new(),
            ready: HashMap::new(),
            interrupts: 0,
            completed: None,
        }
    }

    fn engine_event(&mut self, ev: EngineEvent) {
        match ev {
            EngineEvent::Event(e) => {
                let o = &e.involved_object;
                let id = (
                    o.namespace.clone().unwrap_or_else(|| "default".into()),
                    o.name.clone().unwrap_or_default(),
                );
                if o.kind.as_deref() == Some("Pod") && self.present.contains(&id) {
                    outln!("{}", self.table.line(&e, jiff::Timestamp::now()));
                }
            }
            EngineEvent::PodUpdated(pod) => self.pod_updated(&pod),
            EngineEvent::PodDeleted {
                namespace, name, ..
            } => self.pod_gone(&(namespace, name)),
        }
    }

    fn pod_updated(&mut self, pod: &Pod) {
        let id = pod_id(pod);
        if !self.present.contains(&id) {
            return;
        }
        if let Some(phase) = pod.status.as_ref().and_then(|s| s.phase.clone()) {
            self.phases.insert(id.clone(), phase);
        }
        let Some(spec) = &pod.spec else { return };
        let status = pod.status.clone().unwrap_or_default();

        let regular = spec
            .containers
            .iter()
            .map(|c| (c, status.container_statuses.as_deref()));
        let init = spec
            .init_containers
            .iter()
            .flatten()
            .map(|c| (c, status.init_container_statuses.as_deref()));
        for (c, statuses) in init.chain(regular) {
            let cs = statuses.and_then(|all| all.iter().find(|s| s.name == c.name));
            self.follow(&id, &c.name, cs);
            if let Some(cs) = cs {
                self.state_line(&id, cs);
            }
        }
        let ready = status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        let before = self.ready.insert(id.clone(), ready);
        if before != Some(ready) && (ready || before == Some(true)) {
            outln!(
                "pod/{}: {}",
                id.1,
                if ready { "Ready" } else { "not Ready" }
            );
        }
    }

    /// Starts, switches (restart) or finishes the log follower of one
    /// container from the pod's latest status.
    fn follow(&mut self, pod: &PodId, container: &str, status: Option<&ContainerStatus>) {
        let key = (pod.0.clone(), pod.1.clone(), container.to_owned());
        let Some(id) = self.engine.container_id(&pod.0, &pod.1, container) else {
            return;
        };
        if self.followed.insert(id.clone()) {
            if let Some(old) = self.followers.remove(&key) {
                old.finish();
                self.retired.push(old);
            }
            let path = self.engine.runtime().log_path(&id);
            let prefix = format!("[{}/{}]", pod.1, container);
            self.followers
                .insert(key.clone(), Follower::spawn(prefix, path));
        }
        if exited(status, &id)
            && let Some(f) = self.followers.get(&key)
        {
            f.finish();
        }
    }

    /// `pod/web: container app Running` / `... Terminated: Completed
    /// (exit code 0)`, once per container id and state.
    fn state_line(&mut self, pod: &PodId, cs: &ContainerStatus) {
        let Some(state) = &cs.state else { return };
        let line = if state.running.is_some() {
            "Running".to_owned()
        } else if let Some(t) = &state.terminated {
            let reason = t.reason.as_deref().unwrap_or("Terminated");
            match t.signal {
                Some(sig) if sig != 0 => {
                    format!(
                        "Terminated: {reason} (exit code {}, signal {sig})",
                        t.exit_code
                    )
                }
                _ => format!("Terminated: {reason} (exit code {})", t.exit_code),
            }
        } else {
            return;
        };
        let Some(id) = cs.container_id.clone() else {
            return;
        };
        let key = (pod.clone(), id);
        if self.states.get(&key) != Some(&line) {
            outln!("pod/{}: container {} {line}", pod.1, cs.name);
            self.states.insert(key, line);
        }
    }

    fn pod_gone(&mut self, id: &PodId) {
        if self.present.remove(id) {
            outln!("pod/{} deleted", id.1);
        }
        let keys: Vec<_> = self
            .followers
            .keys()
            .filter(|k| k.0 == id.0 && k.1 == id.1)
            .cloned()
            .collect();
        for k in keys {
            if let Some(f) = self.followers.remove(&k) {
                f.finish();
                self.retired.push(f);
            }
        }
    }

    fn interrupted(&mut self) {
        self.interrupts += 1;
        match self.interrupts {
            1 => {
                let how = match self.grace {
                    Some(g) => format!("grace period {g}s"),
                    None => "each pod's terminationGracePeriodSeconds".to_owned(),
                };
                eprintln!(
                    "Deleting {} pod(s) ({how}); press Ctrl-C again to force",
                    self.present.len()
                );
                self.delete_all(self.grace);
            }
            2 => {
                eprintln!("Forcing: deleting with grace period 0 (containers get 1s)");
                self.delete_all(Some(0));
            }
            _ => eprintln!("Still waiting for the containers to stop"),
        }
    }

    fn delete_all(&self, grace: Option<i64>) {
        for (ns, name) in &self.present {
            if let Err(e) = self.engine.delete_pod(ns, name, grace) {
                tracing::debug!("deleting pod {ns}/{name}: {e}");
            }
        }
    }

    /// `Some(exit code)` once there is nothing left to wait for. When
    /// every pod finished on its own, prints the outcome, lets the logs
    /// drain, then deletes the pods (their containers are this process's).
    async fn check_done(&mut self, failed_apply: bool) -> Option<ExitCode> {
        if self.present.is_empty() {
            return Some(match (failed_apply, &self.completed) {
                (true, _) => ExitCode::FAILURE,
                (false, Some(code)) => *code,
                (false, None) => ExitCode::SUCCESS,
            });
        }
        if self.interrupts > 0 || self.completed.is_some() || failed_apply {
            return None;
        }
        let all_done = self.present.iter().all(|id| {
            matches!(
                self.phases.get(id).map(String::as_str),
                Some("Succeeded" | "Failed")
            )
        });
        if !all_done {
            return None;
        }
        let mut ok = true;
        for id in &self.present {
            let phase = self.phases.get(id).map(String::as_str).unwrap_or("");
            ok &= phase == "Succeeded";
            eprintln!("pod/{} {phase}", id.1);
        }
        self.completed = Some(if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
        // The pod's log directory goes with it: print the last lines first.
        self.finish_logs().await;
        self.delete_all(None);
        None
    }

    /// Finishes every log follower and waits until their output is out.
    async fn finish_logs(&mut self) {
        let all: Vec<Follower> = self
            .followers
            .drain()
            .map(|(_, f)| f)
            .chain(self.retired.drain(..))
            .collect();
        for f in all {
            f.done().await;
        }
    }
}

/// Whether `status` says the container `id` has exited (now or as the
/// last state before a restart).
fn exited(status: Option<&ContainerStatus>, id: &str) -> bool {
    let Some(s) = status else { return false };
    let url = container_id_url(id);
    let terminated_now = s
        .state
        .as_ref()
        .and_then(|st| st.terminated.as_ref())
        .is_some_and(|t| t.container_id.as_deref().is_none_or(|c| c == url));
    let terminated_before = s
        .last_state
        .as_ref()
        .and_then(|st| st.terminated.as_ref())
        .is_some_and(|t| t.container_id.as_deref() == Some(url.as_str()));
    terminated_now || terminated_before
}
