//! One sync of a pod (kubelet `computePodActions` + `SyncPod`): create the
//! sandbox if needed, then walk init containers in order (each must finish
//! before the next; sidecars only need to be started), then the regular
//! containers in spec order, starting what never ran and restarting what
//! exited according to restart policy and CrashLoopBackOff.

use k8s_openapi::api::core::v1::{Container, PodSpec};
use nodelet_runtime::SandboxConfig;
use nodelet_spec::restart;

use super::Worker;
use super::state::{SlotKind, SlotPhase, TermInfo};
use crate::events::EventType;
use crate::godur::go_duration;
use crate::status;

/// How soon the kubelet's pod worker syncs a pod again after a sync
/// failed (`backOffPeriod` in `kubelet.go`; the kubelet adds up to 50 %
/// jitter, nodelet none): image errors are retried (or found still in
/// back-off) on that schedule.
pub const RETRY_AFTER_ERROR: std::time::Duration = std::time::Duration::from_secs(10);

/// Whether a slot whose container ended with `term` (`None`: never ran)
/// should get a new container (`ShouldContainerBeRestarted` with
/// ContainerRestartRules): a sidecar always; a classic init container only
/// after a failure its rules or policies restart (one that completed is
/// done); a regular container as `ContainerShouldRestart` says — its
/// `restartPolicyRules` in order, then its own `restartPolicy`, then the
/// pod's.
pub fn should_restart(
    pod: &PodSpec,
    kind: SlotKind,
    container: &Container,
    term: Option<&TermInfo>,
) -> bool {
    let Some(term) = term else { return true };
    match kind {
        SlotKind::Sidecar => true,
        SlotKind::Init => {
            term.exit_code != 0 && restart::container_should_restart(container, pod, term.exit_code)
        }
        SlotKind::Regular => restart::container_should_restart(container, pod, term.exit_code),
        // Started once; an exit is final.
        SlotKind::Ephemeral => false,
    }
}

/// The pod's resolver files as the kubelet computes them (`GetPodDNS`
/// and the managed hosts file); the warnings it would record go to
/// `events`.
fn dns_config(
    pod: &k8s_openapi::api::core::v1::Pod,
    node: Option<&nodelet_spec::dns::ClusterDns>,
    events: &mut Vec<nodelet_spec::dns::DnsEvent>,
) -> Option<nodelet_runtime::DnsConfig> {
    let node = node?;
    let (dns, warnings) = nodelet_spec::dns::pod_dns(pod, node);
    events.extend(warnings);
    let (_, domain) = nodelet_spec::hostname::pod_hostname_and_domain(pod, &node.domain);
    Some(nodelet_runtime::DnsConfig {
        servers: dns.servers,
        searches: dns.searches,
        options: dns.options,
        hosts_domain: domain,
        host_aliases: nodelet_spec::dns::host_aliases(pod),
    })
}

/// What the walk over containers does after one slot.
enum Step {
    Next,
    /// Stop here: an init container is running/failed/backing off.
    Stop,
}

impl Worker {
    pub(crate) async fn sync(&mut self) {
        if self.enforce_eviction().await || !self.react_to_changes().await {
            return;
        }
        if self.shared.lock().sandbox.is_none() && !self.create_sandbox().await {
            return;
        }
        if !self.volumes_ready().await {
            return;
        }
        if !self.restart_all_if_triggered().await {
            return;
        }
        self.start_ephemeral().await;
        let n = self.shared.lock().slots.len();
        let mut checked_init = false;
        for i in 0..n {
            if self.interrupted() {
                return;
            }
            let kind = self.shared.lock().slots[i].kind;
            if kind == SlotKind::Ephemeral {
                continue;
            }
            if kind == SlotKind::Regular && !checked_init {
                checked_init = true;
                if !status::initialized(&self.shared.lock()) {
                    return;
                }
            }
            if let Step::Stop = self.step(i).await {
                return;
            }
        }
        if !self.completed {
            self.stop_sidecars_of_completed_pod().await;
        }
    }

    async fn create_sandbox(&mut self) -> bool {
        let shared = self.shared.clone();
        if !self.admit_sysctls() {
            return false;
        }
        let mut dns_events = Vec::new();
        let config = {
            let rec = shared.lock();
            let spec = rec.pod.spec.clone().unwrap_or_default();
            let mut port_mappings = Vec::new();
            for c in &spec.containers {
                for p in c.ports.iter().flatten() {
                    if let Some(host_port) = p.host_port
                        && let Ok(host_port) = u16::try_from(host_port)
                        && let Ok(container_port) = u16::try_from(p.container_port)
                    {
                        port_mappings.push(nodelet_runtime::PortMapping {
                            container_port,
                            host_port,
                            protocol: p
                                .protocol
                                .clone()
                                .unwrap_or_else(|| "TCP".to_owned())
                                .to_lowercase(),
                            host_ip: p.host_ip.clone(),
                        });
                    }
                }
            }
            SandboxConfig {
                pod_uid: rec.uid.clone(),
                pod_name: rec.key.name.clone(),
                pod_namespace: rec.key.namespace.clone(),
                hostname: nodelet_spec::hostname::pod_hostname(&rec.pod),
                host_network: spec.host_network.unwrap_or(false),
                host_pid: spec.host_pid.unwrap_or(false),
                host_ipc: spec.host_ipc.unwrap_or(false),
                port_mappings,
                dns: dns_config(
                    &rec.pod,
                    self.shared.ctx.config.dns.as_ref(),
                    &mut dns_events,
                ),
                labels: rec.pod.metadata.labels.clone().unwrap_or_default(),
                user_namespace: spec.host_users == Some(false),
                share_process_namespace: spec.share_process_namespace.unwrap_or(false),
            }
        };
        for e in dns_events {
            shared.event(None, EventType::Warning, e.reason, &e.message);
        }
        match shared.ctx.runtime.create_sandbox(&config).await {
            Ok(sb) => {
                shared.lock().sandbox = Some(sb);
                true
            }
            Err(e) => {
                let msg = format!("Failed to create pod sandbox: {e}");
                shared.event(None, EventType::Warning, "FailedCreatePodSandBox", &msg);
                // Retried on the next sync, under the pod's back-off.
                let now = shared.ctx.clock.instant();
                let key = "\u{0}sandbox";
                self.backoff.next(key, now, now);
                self.sandbox_retry = Some(now + self.backoff.get(key));
                false
            }
        }
    }

    async fn step(&mut self, i: usize) -> Step {
        let (kind, phase, name, wants_restart, forced, key, restarts_all) = {
            let rec = self.shared.lock();
            let s = &rec.slots[i];
            let restarts_all = super::restart_all::is_source(s);
            let wants_restart = match &s.phase {
                SlotPhase::Exited { term, .. } => should_restart(
                    rec.pod.spec.as_ref().unwrap_or(&PodSpec::default()),
                    s.kind,
                    &s.spec,
                    term.as_ref(),
                ),
                _ => false,
            };
            (
                s.kind,
                s.phase.clone(),
                s.spec.name.clone(),
                wants_restart,
                s.restart_now,
                super::changes::backoff_key(&s.spec.name, s.spec.image.as_deref()),
                restarts_all,
            )
        };
        match phase {
            SlotPhase::NotStarted => {
                self.start(i).await;
                self.after_start(i, kind)
            }
            SlotPhase::Starting { .. } | SlotPhase::Running { .. } => {
                if kind == SlotKind::Init || self.unstarted_sidecar(i, kind) {
                    Step::Stop
                } else {
                    Step::Next
                }
            }
            SlotPhase::Done { term } => {
                if kind == SlotKind::Init && term.exit_code != 0 {
                    Step::Stop
                } else {
                    Step::Next
                }
            }
            SlotPhase::Exited {
                term,
                finished,
                waiting,
                restart_at,
            } => {
                if forced {
                    // Killed for a new definition or a resize: back at once.
                    self.start(i).await;
                    return self.after_start(i, kind);
                }
                let sidecar_of_completed = kind == SlotKind::Sidecar && self.completed;
                if restarts_all && !sidecar_of_completed {
                    // It exited on a RestartAllContainers rule while this
                    // walk ran: the next sync (its waiter woke the worker)
                    // resets the whole pod instead.
                    return if kind == SlotKind::Init {
                        Step::Stop
                    } else {
                        Step::Next
                    };
                }
                if sidecar_of_completed || !wants_restart {
                    let Some(term) = term else { return Step::Next };
                    let failed_init = kind == SlotKind::Init && term.exit_code != 0;
                    if let Some(slot) = self.shared.lock().slots.get_mut(i) {
                        slot.phase = SlotPhase::Done { term };
                    }
                    return if failed_init { Step::Stop } else { Step::Next };
                }
                let now = self.shared.ctx.clock.instant();
                // A container that never ran and whose image is not ready:
                // the kubelet has no crash back-off for it (nothing exited),
                // it tries again on every sync; the image back-off decides.
                let never_ran = term.is_none() && self.shared.lock().slots[i].last_term.is_none();
                let image_wait = waiting
                    .as_ref()
                    .is_some_and(|(r, _)| crate::images::messages::is_image_reason(r));
                if never_ran && image_wait {
                    if restart_at.is_some_and(|at| now < at) {
                        return if kind == SlotKind::Init {
                            Step::Stop
                        } else {
                            Step::Next
                        };
                    }
                    self.start(i).await;
                    return self.after_start(i, kind);
                }
                if let Some(until) = self.backoff.blocked_until(&key, finished, now) {
                    if restart_at != Some(until) {
                        self.enter_backoff(i, &name, &key, term.is_some(), waiting, until);
                    }
                    return if kind == SlotKind::Init {
                        Step::Stop
                    } else {
                        Step::Next
                    };
                }
                self.backoff.next(&key, finished, now);
                self.start(i).await;
                self.after_start(i, kind)
            }
        }
    }

    /// Where the walk goes after starting slot `i`.
    fn after_start(&self, i: usize, kind: SlotKind) -> Step {
        if self.unstarted_sidecar(i, kind) {
            return Step::Stop;
        }
        if kind != SlotKind::Init {
            return Step::Next;
        }
        // A classic init container must complete before anything else.
        let rec = self.shared.lock();
        match &rec.slots[i].phase {
            SlotPhase::Done { term } if term.exit_code == 0 => Step::Next,
            _ => Step::Stop,
        }
    }

    /// A sidecar not started yet (postStart or startup probe pending)
    /// holds back the next init container, as in the kubelet.
    fn unstarted_sidecar(&self, i: usize, kind: SlotKind) -> bool {
        kind == SlotKind::Sidecar
            && !self
                .shared
                .lock()
                .slots
                .get(i)
                .is_some_and(crate::probes::sidecar_started)
    }

    /// Marks slot `i` as waiting for its back-off to expire; for a crashed
    /// container: Warning BackOff and Waiting CrashLoopBackOff.
    fn enter_backoff(
        &self,
        i: usize,
        name: &str,
        key: &str,
        crashed: bool,
        waiting: Option<(String, String)>,
        until: tokio::time::Instant,
    ) {
        let desc = self.shared.pod_desc();
        let pull_failed = waiting
            .as_ref()
            .is_some_and(|(r, _)| r == "ErrImagePull" || r == "ImagePullBackOff");
        let shown = if pull_failed {
            // Upstream's image back-off: Normal BackOff, Waiting ImagePullBackOff.
            let image = self.shared.lock().slots[i]
                .spec
                .image
                .clone()
                .unwrap_or_default();
            let msg = format!("Back-off pulling image \"{image}\"");
            self.shared
                .event(Some(i), EventType::Normal, "BackOff", &msg);
            Some(("ImagePullBackOff".to_owned(), msg))
        } else if crashed {
            let event = format!("Back-off restarting failed container {name} in pod {desc}");
            self.shared
                .event(Some(i), EventType::Warning, "BackOff", &event);
            let d = go_duration(self.backoff.get(key));
            Some((
                "CrashLoopBackOff".to_owned(),
                format!("back-off {d} restarting failed container={name} pod={desc}"),
            ))
        } else {
            waiting
        };
        let clock = &self.shared.ctx.clock;
        let wall_until = clock
            .now()
            .checked_add(
                jiff::SignedDuration::try_from(until.saturating_duration_since(clock.instant()))
                    .unwrap_or_default(),
            )
            .unwrap_or_else(|_| clock.now());
        let mut m = nodelet_timeline::Mark::new(nodelet_timeline::MarkKind::BackOff, clock.now());
        m.until = Some(wall_until);
        m.message = shown.as_ref().map(|(_, msg)| msg.clone());
        let mut rec = self.shared.lock();
        if let Some(slot) = rec.slots.get_mut(i)
            && let SlotPhase::Exited {
                waiting,
                restart_at,
                ..
            } = &mut slot.phase
        {
            *waiting = shown;
            *restart_at = Some(until);
            m.container = Some(slot.spec.name.clone());
            rec.mark(m);
        }
        drop(rec);
        crate::failpoints::point("backoff-entered");
    }
}
