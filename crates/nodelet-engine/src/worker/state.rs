//! The engine's in-memory picture of one pod: its object, sandbox and one
//! [`Slot`] per container. Shared (behind a mutex, never held across an
//! await) between the pod worker, the container waiters and the facade,
//! which reads status from it.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Container, Pod, ResourceRequirements};
use nodelet_runtime::{ExitStatus, SandboxInfo};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::podkey::PodKey;

/// Which list of the spec a container comes from, and how it behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotKind {
    /// A classic init container: runs to completion before the next.
    Init,
    /// An init container with `restartPolicy: Always`: started in order,
    /// not waited for, killed after the regular containers.
    Sidecar,
    Regular,
    /// A debug container (`spec.ephemeralContainers`, added to a running
    /// pod): started once, even before initialization finished, never
    /// restarted, no part of the pod's readiness or phase.
    Ephemeral,
}

impl SlotKind {
    pub fn is_init_list(self) -> bool {
        matches!(self, SlotKind::Init | SlotKind::Sidecar)
    }
}

/// How a container that ran ended, as shown in `state.terminated`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TermInfo {
    pub exit_code: i32,
    pub signal: Option<i32>,
    pub reason: String,
    pub started_at: Option<Timestamp>,
    pub finished_at: Timestamp,
    pub container_id: String,
    /// `state.terminated.message` (the termination message).
    pub message: Option<String>,
}

impl TermInfo {
    /// The termination a RestartAllContainers reset shows for a container
    /// it removed (upstream's `convertToAPIContainerStatuses`): exit code
    /// 137, no container id, no start or finish time.
    pub fn restarting_all() -> Self {
        TermInfo {
            exit_code: 137,
            signal: None,
            reason: crate::status::RESTARTING_ALL_CONTAINERS.to_owned(),
            started_at: None,
            finished_at: Timestamp::UNIX_EPOCH,
            container_id: String::new(),
            message: Some(crate::status::RESTARTING_ALL_MESSAGE.to_owned()),
        }
    }

    /// Made up by a reset rather than observed (see [`Self::restarting_all`]).
    pub fn is_reset(&self) -> bool {
        self.container_id.is_empty()
    }

    /// A container that was started and whose end could not be observed
    /// when its pod terminated (upstream `TerminatePod`): exit code 137,
    /// `ContainerStatusUnknown`, with the start it had (a finish without a
    /// start is what upstream's e2e calls a status that "should never
    /// happen").
    pub fn unknown_at_termination(
        container_id: &str,
        started_at: Timestamp,
        finished_at: Timestamp,
    ) -> Self {
        TermInfo {
            exit_code: 137,
            signal: None,
            reason: "ContainerStatusUnknown".to_owned(),
            started_at: Some(started_at),
            finished_at,
            container_id: container_id.to_owned(),
            message: Some(crate::status::UNKNOWN_AT_TERMINATION.to_owned()),
        }
    }

    pub fn from_exit(exit: &ExitStatus, container_id: &str) -> Self {
        TermInfo {
            exit_code: exit.exit_code,
            signal: exit.signal.map(|s| s.0),
            reason: exit.reason().to_owned(),
            started_at: exit.started_at,
            finished_at: exit.finished_at,
            container_id: container_id.to_owned(),
            message: exit.message.clone(),
        }
    }
}

/// The container that currently exists for a slot.
#[derive(Debug, Clone)]
pub struct Current {
    pub id: String,
    pub attempt: u32,
    /// Cancelled by the waiter when the process exits (stops its hooks).
    pub died: CancellationToken,
    /// Effective stop signal (lifecycle, image STOPSIGNAL, SIGTERM).
    pub stop_signal: nodelet_runtime::Signal,
    /// The resources the container runs with now (created with, then as
    /// resized in place): `status.containerStatuses[*].resources`.
    pub resources: Option<ResourceRequirements>,
}

/// Where a container slot is in its lifecycle.
#[derive(Debug, Clone)]
pub enum SlotPhase {
    /// Never started (or being prepared): Waiting ContainerCreating /
    /// PodInitializing.
    NotStarted,
    /// Started, postStart not finished: still Waiting.
    Starting { started_at: Timestamp },
    /// Started and postStart done.
    Running { started_at: Timestamp },
    /// Ended (or failed to start) and not yet restarted. `term` is `None`
    /// when no process ran (image, config or create error). `waiting`
    /// overrides how the state is shown (PostStartHookError, ErrImagePull,
    /// CrashLoopBackOff...). `restart_at` is set while in back-off.
    Exited {
        term: Option<TermInfo>,
        finished: Instant,
        waiting: Option<(String, String)>,
        restart_at: Option<Instant>,
    },
    /// Ended for good: restart policy says no (or init container done).
    Done { term: TermInfo },
}

impl SlotPhase {
    /// When the current container started, while it is alive.
    pub fn live_start(&self) -> Option<Timestamp> {
        match self {
            SlotPhase::Starting { started_at } | SlotPhase::Running { started_at } => {
                Some(*started_at)
            }
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Slot {
    pub kind: SlotKind,
    pub spec: Container,
    pub phase: SlotPhase,
    pub current: Option<Current>,
    pub last_term: Option<TermInfo>,
    pub restart_count: i32,
    /// Number of containers created so far (the next attempt number).
    pub attempts: u32,
    pub image_id: Option<String>,
    /// Reached Running once (a sidecar that did counts as started for the
    /// pod's initialization even while it restarts or after it stopped).
    pub ever_running: bool,
    /// Startup/readiness results of the current container.
    pub probes: crate::probes::ProbeResults,
    /// The image the latest container was created from (the status shows
    /// it; a spec image that differs means "definition changed").
    pub last_image: Option<String>,
    /// The resources the node accepted for this container (the kubelet's
    /// allocation): what it is started with; a spec that differs is a
    /// pending resize (see `worker::resize`).
    pub allocated: Option<ResourceRequirements>,
    /// Start again at once, whatever the restart policy and back-off say:
    /// the container was killed because its definition changed or a
    /// resize needs a restart.
    pub restart_now: bool,
    /// An ephemeral container's `targetContainerName`: it joins that
    /// container's process namespace.
    pub target: Option<String>,
    /// A RestartAllContainers reset removed this container: shown Waiting
    /// `RestartingAllContainers` until it is started again.
    pub reset_pending: bool,
}

impl Slot {
    pub fn new(kind: SlotKind, spec: Container) -> Self {
        Slot {
            kind,
            phase: SlotPhase::NotStarted,
            current: None,
            last_term: None,
            restart_count: 0,
            attempts: 0,
            image_id: None,
            ever_running: false,
            probes: Default::default(),
            last_image: None,
            allocated: spec.resources.clone(),
            restart_now: false,
            target: None,
            reset_pending: false,
            spec,
        }
    }

    /// The slot of an ephemeral container.
    pub fn ephemeral(e: &k8s_openapi::api::core::v1::EphemeralContainer) -> Self {
        let mut slot = Slot::new(
            SlotKind::Ephemeral,
            nodelet_spec::ephemeral::as_container(e),
        );
        slot.target = nodelet_spec::ephemeral::target(e).map(str::to_owned);
        slot
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The spec path kubelet uses in event `fieldPath`s.
    pub fn field_path(&self) -> String {
        match self.kind {
            SlotKind::Init | SlotKind::Sidecar => {
                format!("spec.initContainers{{{}}}", self.spec.name)
            }
            SlotKind::Regular => format!("spec.containers{{{}}}", self.spec.name),
            SlotKind::Ephemeral => format!("spec.ephemeralContainers{{{}}}", self.spec.name),
        }
    }

    /// Whether its process is (believed) alive.
    pub fn is_alive(&self) -> bool {
        matches!(
            self.phase,
            SlotPhase::Starting { .. } | SlotPhase::Running { .. }
        )
    }
}

/// A condition with when it last changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CondState {
    pub type_: &'static str,
    pub status: bool,
    pub reason: Option<String>,
    pub message: Option<String>,
    pub since: Timestamp,
}

/// Everything the engine knows about one pod.
#[derive(Debug, Clone)]
pub struct PodRecord {
    pub key: PodKey,
    pub uid: String,
    /// The pod object as applied (metadata + spec); status is computed.
    pub pod: Pod,
    pub sandbox: Option<SandboxInfo>,
    pub slots: Vec<Slot>,
    pub start_time: Option<Timestamp>,
    pub conditions: Vec<CondState>,
    /// Every container id created for the pod, for cleanup.
    pub created_ids: Vec<String>,
    /// Set by the facade on deletion: the normalised grace seconds.
    pub deletion_grace: Option<i64>,
    /// Host IPs from the engine config (the node's addresses; the
    /// sandbox's view of the host is the fallback when none are configured).
    pub host_ips: Vec<String>,
    /// Conditions written by others through `pods/status` (readiness gates).
    pub external_conditions: Vec<k8s_openapi::api::core::v1::PodCondition>,
    /// Set when the agent itself ended the pod (`activeDeadlineSeconds`, an emptyDir over
    /// its `sizeLimit`):
    /// phase `Failed` with this reason and message.
    pub terminal: Option<(String, String)>,
    /// In-place resize progress (`PodResizePending` / `PodResizeInProgress`).
    pub resize: crate::worker::resize::ResizeState,
    /// What happened when (persisted as the PodTimeline object).
    pub timeline: nodelet_timeline::PodTimeline,
    /// Marks added since the timeline was last persisted.
    pub timeline_dirty: bool,
    /// `kubelet_pod_start_duration_seconds` was observed for this pod.
    pub start_observed: bool,
    /// Seconds of the deletion grace already gone when an agent restart
    /// resumed the termination (counted from `deletionTimestamp`).
    pub deletion_grace_used: i64,
    /// When that resumed termination's grace runs out (the deletion time
    /// plus its grace, on the engine's clock): a stop's wait for the exit
    /// ends there (never under the 2 s minimum), so the whole seconds the
    /// kill counts in do not add up past the grace the deletion gave.
    pub deletion_deadline: Option<tokio::time::Instant>,
    /// Termination of a deleted pod finished (every container stopped):
    /// the kubelet's `podIsTerminal`, which makes the phase terminal.
    pub terminated: bool,
    /// A container exited on a `RestartAllContainers` rule and the reset
    /// (kill and remove every container) is under way: the
    /// `AllContainersRestarting` condition is True.
    pub restarting_all: bool,
}

impl PodRecord {
    pub fn new(key: PodKey, uid: String, pod: Pod, host_ips: Vec<String>) -> Self {
        let spec = pod.spec.clone().unwrap_or_default();
        let mut slots = Vec::new();
        for c in spec.init_containers.unwrap_or_default() {
            let kind = if c.restart_policy.as_deref() == Some("Always") {
                SlotKind::Sidecar
            } else {
                SlotKind::Init
            };
            slots.push(Slot::new(kind, c));
        }
        for c in spec.containers {
            slots.push(Slot::new(SlotKind::Regular, c));
        }
        // Present when the agent restarts with a pod that was given some.
        for e in spec.ephemeral_containers.iter().flatten() {
            slots.push(Slot::ephemeral(e));
        }
        let timeline = nodelet_timeline::PodTimeline::new(
            &key.namespace,
            &key.name,
            nodelet_timeline::TimelineSpec {
                pod_uid: uid.clone(),
                containers: slots
                    .iter()
                    .map(|s| nodelet_timeline::ContainerRef {
                        name: s.spec.name.clone(),
                        kind: match s.kind {
                            SlotKind::Init => "init",
                            SlotKind::Sidecar => "sidecar",
                            SlotKind::Regular => "regular",
                            SlotKind::Ephemeral => "ephemeral",
                        }
                        .to_owned(),
                    })
                    .collect(),
            },
        );
        PodRecord {
            key,
            uid,
            pod,
            sandbox: None,
            slots,
            start_time: None,
            conditions: Vec::new(),
            created_ids: Vec::new(),
            deletion_grace: None,
            host_ips,
            external_conditions: Vec::new(),
            terminal: None,
            resize: Default::default(),
            timeline,
            timeline_dirty: false,
            start_observed: false,
            deletion_grace_used: 0,
            deletion_deadline: None,
            terminated: false,
            restarting_all: false,
        }
    }

    /// The agent has acknowledged the pod: `status.startTime` (the
    /// kubelet's definition) and the timeline's first mark, once. Done at
    /// admission, so the first status anyone sees already carries it (a
    /// separate update would cost node mode one more `pods/status` PATCH
    /// per pod); the worker does it for pods that did not come through
    /// admission.
    pub fn acknowledge(&mut self, now: Timestamp) {
        if self.start_time.is_none() {
            self.start_time = Some(now);
            self.mark(nodelet_timeline::Mark::new(
                nodelet_timeline::MarkKind::PodCreated,
                now,
            ));
        }
    }

    /// Adds a mark to the pod's timeline (persisted with the next publish).
    pub fn mark(&mut self, mark: nodelet_timeline::Mark) {
        self.timeline.push(mark);
        self.timeline_dirty = true;
    }

    /// Puts container `id`'s exit on the timeline, once. Both the
    /// container's waiter and a deletion's kill see the exit, in either
    /// order; the deletion may finish (and write the pod's last timeline)
    /// before the waiter runs, so whichever comes first records it.
    pub fn mark_exit(
        &mut self,
        container: &str,
        id: &str,
        term: Option<&TermInfo>,
        now: Timestamp,
    ) {
        let already = self.timeline.marks.iter().any(|x| {
            x.kind == nodelet_timeline::MarkKind::Exited && x.container_id.as_deref() == Some(id)
        });
        if already {
            return;
        }
        let mut m = nodelet_timeline::Mark::new(
            nodelet_timeline::MarkKind::Exited,
            term.map_or(now, |t| t.finished_at),
        );
        m.container = Some(container.to_owned());
        m.container_id = Some(id.to_owned());
        m.exit_code = term.map(|t| t.exit_code);
        m.reason = term.map(|t| t.reason.clone());
        self.mark(m);
    }

    pub fn restart_policy(&self) -> &str {
        self.pod
            .spec
            .as_ref()
            .and_then(|s| s.restart_policy.as_deref())
            .unwrap_or("Always")
    }

    pub fn spec_grace(&self) -> Option<i64> {
        self.pod
            .spec
            .as_ref()
            .and_then(|s| s.termination_grace_period_seconds)
    }

    /// `metadata.generation` (set by the API server; `None` for pods that
    /// never went through one).
    pub fn generation(&self) -> Option<i64> {
        self.pod.metadata.generation
    }

    pub fn slot_index(&self, name: &str, id: &str) -> Option<usize> {
        self.slots
            .iter()
            .position(|s| s.spec.name == name && s.current.as_ref().is_some_and(|c| c.id == id))
    }
}
