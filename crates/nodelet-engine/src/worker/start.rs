//! Starting one container (`startContainer`): image → environment →
//! create (Created) → start (Started) → waiter → postStart, which must
//! return before the container counts as Running and before the pod worker
//! moves on to the next container.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Container, Secret, Service};
use nodelet_runtime::{ContainerConfig, CreateStartError, ImageInfo, Signal};
use nodelet_spec::env::{EnvContext, container_env_report, expand_command};
use nodelet_spec::grace;
use nodelet_spec::securitycontext;
use tokio_util::sync::CancellationToken;

use super::Worker;
use super::hook;
use super::kill::kill_container;
use super::state::{Current, SlotPhase, TermInfo};
use crate::events::EventType;
use crate::hooks::HookKind;

/// Effective stop signal: `lifecycle.stopSignal`, else the image's
/// `STOPSIGNAL`, else SIGTERM (unparseable names fall back to SIGTERM).
pub fn stop_signal(c: &Container, image: Option<&ImageInfo>) -> Signal {
    c.lifecycle
        .as_ref()
        .and_then(|l| l.stop_signal.as_deref())
        .or(image.and_then(|i| i.stop_signal.as_deref()))
        .and_then(Signal::parse)
        .unwrap_or(Signal::SIGTERM)
}

impl Worker {
    /// The Services, ConfigMaps and Secrets the container's environment
    /// needs, from the engine's [`crate::sources::Sources`].
    async fn env_objects(
        &self,
        namespace: &str,
        spec: &Container,
    ) -> Result<(Vec<Service>, Vec<ConfigMap>, Vec<Secret>), crate::sources::SourceError> {
        let sources = &self.shared.ctx.sources;
        let (cm_names, secret_names) = crate::sources::env_references(spec);
        let mut config_maps = Vec::with_capacity(cm_names.len());
        for name in &cm_names {
            config_maps.extend(sources.config_map(namespace, name).await?);
        }
        let mut secrets = Vec::with_capacity(secret_names.len());
        for name in &secret_names {
            secrets.extend(sources.secret(namespace, name).await?);
        }
        let services = sources.services().await?;
        Ok((services, config_maps, secrets))
    }

    /// Records a failure to start slot `i` (no process ran): shown as
    /// Waiting `reason` and retried under back-off.
    fn start_failed(&self, i: usize, reason: &str, message: String) {
        let finished = self.shared.ctx.clock.instant();
        let mut rec = self.shared.lock();
        if let Some(slot) = rec.slots.get_mut(i) {
            slot.phase = SlotPhase::Exited {
                term: None,
                finished,
                waiting: Some((reason.to_owned(), message)),
                restart_at: None,
            };
        }
    }

    /// The image could not be made ready: `Error: <reason>` (as
    /// `startContainer` records it), Waiting `<reason>`, and the next try
    /// when the kubelet's pod worker would sync again after an error.
    fn image_failed(&self, i: usize, failure: crate::images::ImageFailure) {
        let shared = &self.shared;
        shared.event(
            Some(i),
            EventType::Warning,
            "Failed",
            &crate::images::messages::error_event(&failure.reason),
        );
        let finished = shared.ctx.clock.instant();
        let mut rec = shared.lock();
        if let Some(slot) = rec.slots.get_mut(i) {
            slot.phase = SlotPhase::Exited {
                term: None,
                finished,
                waiting: Some((failure.reason, failure.message)),
                restart_at: Some(finished + super::sync::RETRY_AFTER_ERROR),
            };
        }
    }

    fn fail(&self, i: usize, reason: &str, message: String) {
        self.shared.event(
            Some(i),
            EventType::Warning,
            "Failed",
            &format!("Error: {message}"),
        );
        self.start_failed(i, reason, message);
    }

    /// The container whose process namespace slot `i` joins: an ephemeral
    /// container's target, as it is now (the kubelet's `getTargetID`: the
    /// latest container of that name, with its message when there is none).
    fn target_id(&self, i: usize) -> Result<Option<String>, String> {
        let rec = self.shared.lock();
        let Some(target) = rec.slots.get(i).and_then(|s| s.target.clone()) else {
            return Ok(None);
        };
        rec.slots
            .iter()
            .filter(|s| s.kind != super::state::SlotKind::Ephemeral && s.spec.name == target)
            .find_map(|s| match (&s.current, &s.phase) {
                (Some(c), _) => Some(c.id.clone()),
                (None, SlotPhase::Done { term }) => Some(term.container_id.clone()),
                _ => None,
            })
            .map(Some)
            .ok_or_else(|| format!("unable to find target container {target}"))
    }

    /// Starts a new container for slot `i` and runs its postStart hook.
    pub(crate) async fn start(&mut self, i: usize) {
        let shared = self.shared.clone();
        let ctx = shared.ctx.clone();
        let (spec, pod, uid, sandbox, attempt) = {
            let mut rec = shared.lock();
            let Some(sandbox) = rec.sandbox.clone() else {
                return;
            };
            let uid = rec.uid.clone();
            let pod = rec.pod.clone();
            let Some(slot) = rec.slots.get_mut(i) else {
                return;
            };
            // What ran before becomes lastState.
            if let SlotPhase::Exited { term: Some(t), .. } = &slot.phase {
                slot.last_term = Some(t.clone());
            }
            slot.phase = SlotPhase::NotStarted;
            slot.current = None;
            slot.restart_now = false;
            // A container starts with what the node allocated to it (the
            // spec's resources unless a resize is pending).
            let mut spec = slot.spec.clone();
            spec.resources.clone_from(&slot.allocated);
            (spec, pod, uid, sandbox, slot.attempts)
        };
        let image = spec.image.clone().unwrap_or_default();

        let info = match self.images.ensure(&shared, i, &spec, &pod).await {
            Ok(info) => info,
            Err(failure) => {
                self.image_failed(i, failure);
                return;
            }
        };
        crate::failpoints::point("after-image-before-create");

        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        let (services, config_maps, secrets) = match self.env_objects(&namespace, &spec).await {
            Ok(objects) => objects,
            Err(e) => {
                self.fail(i, "CreateContainerConfigError", e.to_string());
                return;
            }
        };
        let pod_ips: Vec<String> = sandbox.ips.iter().map(|ip| ip.to_string()).collect();
        let host_ips: Vec<String> = match sandbox.host_ip {
            Some(ip) => vec![ip.to_string()],
            None => ctx.config.host_ips.clone(),
        };
        let env_ctx = EnvContext {
            pod: &pod,
            services: &services,
            config_maps: &config_maps,
            secrets: &secrets,
            node_name: &ctx.config.node_name,
            host_ips: &host_ips,
            pod_ips: &pod_ips,
        };
        // Unset limits read as the node's allocatable, as the kubelet's
        // `defaultPodLimitsForDownwardAPI` gives them.
        let allocatable = ctx.config.allocatable.map(|a| a.as_quantities());
        let env = match container_env_report(&env_ctx, &spec, allocatable.as_ref()) {
            Ok(report) => report.env,
            Err(e) => {
                self.fail(i, "CreateContainerConfigError", e.to_string());
                return;
            }
        };
        // The kubelet's verifyRunAsNonRoot, after the environment, with the
        // image's user as the runtime reports it.
        let (image_uid, image_username) = securitycontext::image_user(info.user.as_deref());
        if let Err(message) =
            securitycontext::verify_run_as_non_root(&pod, &spec, image_uid, &image_username)
        {
            self.fail(i, "CreateContainerConfigError", message);
            return;
        }
        let (command, args) = expand_command(&spec, &env);
        let env: Vec<(String, String)> = env.into_iter().map(|v| (v.name, v.value)).collect();
        let mounts = match self.container_mounts(&spec, &env).await {
            Ok(m) => m,
            Err(e) => {
                self.fail(i, "CreateContainerConfigError", e);
                return;
            }
        };
        let pid_namespace_of = match self.target_id(i) {
            Ok(t) => t,
            Err(message) => {
                self.fail(i, "CreateContainerConfigError", message);
                return;
            }
        };
        let mut labels = BTreeMap::new();
        labels.insert(
            "io.kubernetes.pod.name".to_owned(),
            self.shared.lock().key.name.clone(),
        );
        labels.insert(
            "io.kubernetes.pod.namespace".to_owned(),
            self.shared.lock().key.namespace.clone(),
        );
        labels.insert("io.kubernetes.pod.uid".to_owned(), uid.clone());
        labels.insert("io.kubernetes.container.name".to_owned(), spec.name.clone());
        let config = ContainerConfig {
            pod_uid: uid.clone(),
            name: spec.name.clone(),
            attempt,
            image: image.clone(),
            command,
            args,
            env,
            working_dir: spec.working_dir.clone(),
            security: super::settings::security(&pod, &spec),
            resources: super::settings::resources(&spec),
            mounts,
            stdin: spec.stdin.unwrap_or(false),
            stdin_once: spec.stdin_once.unwrap_or(false),
            tty: spec.tty.unwrap_or(false),
            labels,
            termination_message: spec
                .termination_message_path
                .as_ref()
                .filter(|p| !p.is_empty())
                .map(|path| nodelet_runtime::TerminationMessage {
                    path: path.clone(),
                    fallback_to_logs: spec.termination_message_policy.as_deref()
                        == Some("FallbackToLogsOnError"),
                }),
            pid_namespace_of,
        };
        // One runtime call for both (an OCI runtime then needs no separate
        // `start` process); the events and states are still those of a
        // create followed by a start. The timeline's Created mark is when
        // the runtime began making it: taken after the call (and the
        // journal's fsync), it would fall after the entrypoint's start.
        let creating = ctx.clock.now();
        let (id, started) = match ctx
            .runtime
            .create_and_start_container(&sandbox, &config)
            .await
        {
            Ok((id, started)) => (id, Ok(started)),
            Err(CreateStartError::Create(e)) => {
                self.fail(i, "CreateContainerError", e.to_string());
                return;
            }
            Err(CreateStartError::Start { id, error }) => (id, Err(error)),
        };
        crate::failpoints::point("after-create-before-journal");
        // The back-off in force when this container was made: restored
        // after an agent restart (see recover.rs).
        let backoff = self.backoff.entry(&spec.name).map(|e| {
            let age = ctx.clock.instant().saturating_duration_since(e.last_update);
            let updated = ctx
                .clock
                .now()
                .checked_sub(jiff::SignedDuration::try_from(age).unwrap_or_default())
                .unwrap_or_else(|_| ctx.clock.now());
            serde_json::json!({"seconds": e.backoff.as_secs_f64(), "lastUpdate": updated.to_string()})
        });
        let record = serde_json::json!({
            "id": id, "podUid": uid, "namespace": pod.metadata.namespace, "pod": pod.metadata.name,
            "name": spec.name, "attempt": attempt, "sandboxId": sandbox.id, "backoff": backoff,
        });
        if let Err(e) = crate::store_io::durable(|| ctx.store.put_container(&id, &record)) {
            tracing::warn!(container = %id, error = %e, "could not record container");
            ctx.storage.failed(&ctx, &e);
        }
        let signal = stop_signal(&spec, Some(&info));
        let died = CancellationToken::new();
        {
            let mut rec = shared.lock();
            rec.created_ids.push(id.clone());
            if let Some(slot) = rec.slots.get_mut(i) {
                slot.attempts = attempt + 1;
                slot.restart_count = i32::try_from(attempt).unwrap_or(i32::MAX);
                slot.image_id = Some(info.image_ref.clone());
                slot.last_image = Some(image.clone());
                slot.current = Some(Current {
                    id: id.clone(),
                    attempt,
                    died: died.clone(),
                    stop_signal: signal,
                    resources: spec.resources.clone(),
                });
            }
        }
        shared.event(
            Some(i),
            EventType::Normal,
            "Created",
            &format!("Created container: {}", spec.name),
        );
        let mut m = nodelet_timeline::Mark::new(nodelet_timeline::MarkKind::Created, creating);
        m.container_id = Some(id.clone());
        m.attempt = Some(attempt);
        shared.mark(Some(i), m);

        let started = match started {
            Ok(s) => s,
            Err(e) => {
                self.fail(i, "RunContainerError", e.to_string());
                return;
            }
        };
        shared.event(
            Some(i),
            EventType::Normal,
            "Started",
            &format!("Started container {}", spec.name),
        );
        shared.mark(
            Some(i),
            nodelet_timeline::Mark::new(nodelet_timeline::MarkKind::Started, started.started_at),
        );
        if let Some(slot) = shared.lock().slots.get_mut(i) {
            slot.phase = SlotPhase::Starting {
                started_at: started.started_at,
            };
        }
        self.watch_container(i);
        // With a postStart the container shows as started (its ID, still
        // waiting) while the hook runs. Without one it is Running in the
        // publish right after, with no await between: one status change,
        // not two (in node mode, one `pods/status` PATCH fewer).
        if spec
            .lifecycle
            .as_ref()
            .is_some_and(|l| l.post_start.is_some())
        {
            shared.publish();
        }

        self.post_start_then_running(i, &id, attempt, &died, started.started_at)
            .await;
    }

    /// Delivers slot `i`'s postStart (if any) and, once it succeeded, makes
    /// the container Running. Also what a restarted agent runs for a
    /// container whose postStart was interrupted (re-delivery).
    pub(crate) async fn post_start_then_running(
        &mut self,
        i: usize,
        id: &str,
        attempt: u32,
        died: &CancellationToken,
        started_at: jiff::Timestamp,
    ) {
        let shared = self.shared.clone();
        let spec = match shared.lock().slots.get(i) {
            Some(s) => s.spec.clone(),
            None => return,
        };
        let post_start = spec.lifecycle.as_ref().and_then(|l| l.post_start.clone());
        if let Some(handler) = post_start {
            let cancel = hook::either(died, &shared.deleting);
            let delivered = hook::deliver(
                &shared,
                HookKind::PostStart,
                &handler,
                i,
                id,
                attempt,
                &cancel,
                hook::Journalled { kill: None },
            )
            .await;
            cancel.cancel();
            if let Err(message) = delivered.result.outcome {
                if shared.deleting.is_cancelled() {
                    // Deletion interrupted the hook: termination takes over.
                    return;
                }
                self.post_start_failed(i, id, message, &delivered.failure_event)
                    .await;
                return;
            }
        }
        crate::failpoints::point("after-poststart-before-running");
        let started = nodelet_runtime::StartedContainer { pid: 0, started_at };
        let mut rec = shared.lock();
        if let Some(slot) = rec.slots.get_mut(i) {
            let same = slot.current.as_ref().is_some_and(|c| c.id == id);
            if same && matches!(slot.phase, SlotPhase::Starting { .. }) {
                slot.phase = SlotPhase::Running {
                    started_at: started.started_at,
                };
                slot.ever_running = true;
            }
        }
        let now = shared.ctx.clock.now();
        let mut m = nodelet_timeline::Mark::new(nodelet_timeline::MarkKind::Running, now);
        m.container_id = Some(id.to_owned());
        if let Some(slot) = rec.slots.get(i) {
            m.container = Some(slot.spec.name.clone());
        }
        rec.mark(m);
        drop(rec);
        self.start_probes(i);
        // Running as soon as the hook returned, before the next container
        // is created (else the status would lag a whole container start).
        shared.publish();
    }

    /// postStart failed: FailedPostStartHook, kill (preStop still runs),
    /// Waiting PostStartHookError with the handler's message.
    pub(crate) async fn post_start_failed(
        &mut self,
        i: usize,
        id: &str,
        message: String,
        event_message: &str,
    ) {
        let shared = self.shared.clone();
        shared.event(
            Some(i),
            EventType::Warning,
            "FailedPostStartHook",
            event_message,
        );
        let (deletion, spec_grace) = {
            let rec = shared.lock();
            (rec.deletion_grace, rec.spec_grace())
        };
        let grace_secs = grace::kill_grace(deletion, None, spec_grace);
        let exit = kill_container(
            shared.clone(),
            i,
            grace_secs,
            "FailedPostStartHook".to_owned(),
            None,
            super::kill::KillFrom::Start("postStartFailed"),
        )
        .await;
        self.post_start_killed(i, id, message, exit);
    }

    /// After a failed postStart's kill: Waiting PostStartHookError.
    pub(crate) fn post_start_killed(
        &mut self,
        i: usize,
        id: &str,
        message: String,
        exit: Option<nodelet_runtime::ExitStatus>,
    ) {
        let shared = self.shared.clone();
        let finished = shared.ctx.clock.instant();
        let now = shared.ctx.clock.now();
        let mut rec = shared.lock();
        if let Some(slot) = rec.slots.get_mut(i) {
            let term = match (&exit, &slot.phase) {
                (Some(e), _) => Some(TermInfo::from_exit(e, id)),
                (None, SlotPhase::Exited { term, .. }) => term.clone(),
                (None, _) => Some(TermInfo {
                    exit_code: 137,
                    signal: None,
                    reason: "ContainerStatusUnknown".to_owned(),
                    started_at: None,
                    finished_at: now,
                    container_id: id.to_owned(),
                    message: None,
                }),
            };
            slot.phase = SlotPhase::Exited {
                term,
                finished,
                waiting: Some(("PostStartHookError".to_owned(), message)),
                restart_at: None,
            };
        }
    }
}
