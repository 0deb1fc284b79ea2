//! Pod status as the kubelet reports it, computed from a [`PodRecord`]:
//! phase (`getPhase`), conditions with transition times, IPs, start time
//! and one `ContainerStatus` per container.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting,
    ContainerStatus, HostIP, Pod, PodCondition, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::worker::state::{CondState, PodRecord, Slot, SlotKind, SlotPhase, TermInfo};

/// `containerID` / `containerStatuses[].containerID` scheme.
pub const ID_SCHEME: &str = "nodelet://";

pub fn container_id_url(id: &str) -> String {
    format!("{ID_SCHEME}{id}")
}

/// Whether init containers are done: classic ones exited 0, sidecars
/// started (postStart done).
pub fn initialized(rec: &PodRecord) -> bool {
    rec.slots.iter().all(|s| match s.kind {
        SlotKind::Init => matches!(&s.phase, SlotPhase::Done { term } if term.exit_code == 0),
        SlotKind::Sidecar => slot_started(s),
        SlotKind::Regular | SlotKind::Ephemeral => true,
    })
}

/// An init container failed for good: it exited non-zero and neither its
/// restart rules, its own `restartPolicy` nor the pod's restart it
/// (`getPhase`'s `failedInitializationNotRestartable`).
fn init_failed(rec: &PodRecord) -> bool {
    let spec = pod_spec(rec);
    rec.slots
        .iter()
        .filter(|s| s.kind == SlotKind::Init)
        .filter_map(shown_exit)
        .any(|(s, t)| t.exit_code != 0 && !restartable_exit(s, spec, t))
}

fn pod_spec(rec: &PodRecord) -> &k8s_openapi::api::core::v1::PodSpec {
    static EMPTY: std::sync::OnceLock<k8s_openapi::api::core::v1::PodSpec> =
        std::sync::OnceLock::new();
    rec.pod
        .spec
        .as_ref()
        .unwrap_or_else(|| EMPTY.get_or_init(Default::default))
}

/// The termination the status shows for a container that is not running:
/// `state.terminated`, or `lastState.terminated` while it waits (a
/// crash-loop back-off, a restart being prepared, a RestartAllContainers
/// reset). `None` for a running container or one that never ran.
fn shown_exit(s: &Slot) -> Option<(&Slot, &TermInfo)> {
    let t = match &s.phase {
        SlotPhase::Running { .. } => return None,
        SlotPhase::Exited { term: Some(t), .. } | SlotPhase::Done { term: t } => t,
        SlotPhase::NotStarted
        | SlotPhase::Starting { .. }
        | SlotPhase::Exited { term: None, .. } => s.last_term.as_ref()?,
    };
    Some((s, t))
}

/// Whether the container that ended with `t` is to run again
/// (`ContainerShouldRestart`, or its removal by a RestartAllContainers
/// reset).
fn restartable_exit(s: &Slot, spec: &k8s_openapi::api::core::v1::PodSpec, t: &TermInfo) -> bool {
    t.reason == RESTARTING_ALL_CONTAINERS
        || nodelet_spec::restart::container_should_restart(&s.spec, spec, t.exit_code)
}

/// `state.terminated.message` of a container whose end nobody observed
/// when its pod terminated (the kubelet's `TerminatePod`).
pub const UNKNOWN_AT_TERMINATION: &str =
    "The container could not be located when the pod was terminated";

/// The reason of the containers a RestartAllContainers reset removed
/// (their `state.waiting` and synthetic `lastState.terminated`).
pub const RESTARTING_ALL_CONTAINERS: &str = "RestartingAllContainers";
/// The message that goes with it.
pub const RESTARTING_ALL_MESSAGE: &str =
    "The container is removed because RestartAllContainers in place";

/// Whether the container has passed postStart (and its startup probe) and
/// is still alive, or is a sidecar that once did (sidecars restarting do
/// not un-initialize a pod).
fn slot_started(s: &Slot) -> bool {
    if s.kind == SlotKind::Sidecar {
        crate::probes::sidecar_started(s)
    } else {
        crate::probes::container_started(s)
    }
}

/// Upstream `getPhase` (after `ShouldEvict`: a pod the agent ended is
/// `Failed`); once a deleted pod's termination finished
/// (`podIsTerminal`), a terminal phase as `getPhase` with `podIsTerminal`
/// and the status manager's `TerminatePod` give it: Succeeded when every
/// regular container exited 0, else Failed. Static pods (from a manifest
/// file) keep their phase, as upstream (kubernetes#116484).
pub fn phase(rec: &PodRecord) -> &'static str {
    if rec.terminal.is_some() {
        return "Failed";
    }
    let live = live_phase(rec);
    // A RestartAllContainers reset kills the containers one by one, and
    // each exit is published; the kubelet computes no status between those
    // kills (it reports the pod once they are removed and waiting again),
    // so it never shows such a pod terminal. Shown here, a transient Failed
    // would stick: node mode never takes a pod back from a terminal phase.
    let live = if rec.restarting_all && is_terminal(live) {
        "Running"
    } else {
        live
    };
    if !rec.terminated || is_terminal(live) || is_static(&rec.pod) {
        return live;
    }
    let mut regular = rec.slots.iter().filter(|s| s.kind == SlotKind::Regular);
    let succeeded = |s: &Slot| match &s.phase {
        SlotPhase::Exited { term: Some(t), .. } | SlotPhase::Done { term: t } => t.exit_code == 0,
        _ => false,
    };
    if regular.all(succeeded) {
        "Succeeded"
    } else {
        "Failed"
    }
}

/// A pod the agent refused at admission (`--max-pods`, sysctls): the
/// kubelet's `rejectPod` gives it only a phase, reason and message (the
/// status manager adds the start time); it never had containers, so it
/// shows no container statuses, no conditions of the kubelet's and no
/// host IP. `kubectl get` then prints its reason (`OutOfpods`), not the
/// `ContainerCreating` of a waiting container.
pub fn rejected(rec: &PodRecord) -> bool {
    rec.terminal
        .as_ref()
        .is_some_and(|(_, m)| m.starts_with(nodelet_spec::capacity::REJECTED_PREFIX))
}

/// A pod from a manifest file or URL rather than an API (the kubelet's
/// `IsStaticPod`: `kubernetes.io/config.source` other than `api`).
pub fn is_static(pod: &k8s_openapi::api::core::v1::Pod) -> bool {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("kubernetes.io/config.source"))
        .is_some_and(|s| s != "api")
}

/// The phase from the containers' states (`getPhase` without `podIsTerminal`).
fn live_phase(rec: &PodRecord) -> &'static str {
    if init_failed(rec) {
        return "Failed";
    }
    if !initialized(rec) {
        return "Pending";
    }
    let spec = pod_spec(rec);
    let (mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0);
    let mut stopped_not_restartable = 0;
    for s in rec.slots.iter().filter(|s| s.kind == SlotKind::Regular) {
        if let SlotPhase::Running { .. } = s.phase {
            running += 1;
            continue;
        }
        let Some((_, t)) = shown_exit(s) else {
            waiting += 1;
            continue;
        };
        stopped += 1;
        if !restartable_exit(s, spec, t) {
            stopped_not_restartable += 1;
        }
        // Only a container shown terminated counts as succeeded (one
        // waiting with a last termination does not, as upstream).
        if let SlotPhase::Exited {
            term: Some(t),
            waiting: None,
            ..
        }
        | SlotPhase::Done { term: t } = &s.phase
            && t.exit_code == 0
        {
            succeeded += 1;
        }
    }
    if waiting > 0 {
        return "Pending";
    }
    if running > 0 {
        return "Running";
    }
    if stopped > 0 {
        // With ContainerRestartRules: Running while any of them is to run
        // again (its rules, its policy or the pod's say so).
        return if stopped != stopped_not_restartable {
            "Running"
        } else if stopped == succeeded {
            "Succeeded"
        } else {
            "Failed"
        };
    }
    "Pending"
}

pub fn is_terminal(phase: &str) -> bool {
    phase == "Succeeded" || phase == "Failed"
}

fn names(list: Vec<&str>) -> String {
    format!("[{}]", list.join(" "))
}

/// Recomputes the conditions, moving `lastTransitionTime` only on change.
pub fn refresh_conditions(rec: &mut PodRecord, now: Timestamp) {
    let terminal = is_terminal(phase(rec));
    let completed = || (Some("PodCompleted".to_owned()), None);
    let mut wanted: Vec<(&'static str, bool, Option<String>, Option<String>)> = Vec::new();
    wanted.push((
        "PodReadyToStartContainers",
        rec.sandbox.is_some(),
        None,
        None,
    ));

    let pending_init: Vec<&str> = rec
        .slots
        .iter()
        .filter(|s| match s.kind {
            SlotKind::Init => !matches!(&s.phase, SlotPhase::Done { term } if term.exit_code == 0),
            SlotKind::Sidecar => !slot_started(s),
            SlotKind::Regular | SlotKind::Ephemeral => false,
        })
        .map(|s| s.name())
        .collect();
    // As the kubelet's GeneratePodInitializedCondition: a Succeeded pod is
    // PodCompleted; a pod whose app containers ran was initialized; else
    // the init containers not done are named (a Failed pod's too).
    let app_ran = rec.slots.iter().any(|s| {
        s.kind == SlotKind::Regular
            && (s.ever_running
                || matches!(s.phase, SlotPhase::Running { .. } | SlotPhase::Done { .. }))
    });
    // Once initialized, a pod stays so (GeneratePodInitializedCondition
    // with RestartAllContainersOnContainerExits): a reset re-runs its init
    // containers without un-initializing it.
    let was_initialized = rec
        .conditions
        .iter()
        .any(|c| c.type_ == "Initialized" && c.status);
    let init = if pending_init.is_empty() || app_ran {
        ("Initialized", true, None, None)
    } else if phase(rec) == "Succeeded" {
        let (r, m) = completed();
        ("Initialized", true, r, m)
    } else if was_initialized {
        ("Initialized", true, None, None)
    } else {
        (
            "Initialized",
            false,
            Some("ContainersNotInitialized".to_owned()),
            Some(format!(
                "containers with incomplete status: {}",
                names(pending_init)
            )),
        )
    };
    wanted.push(init);

    let unready: Vec<&str> = rec
        .slots
        .iter()
        .filter(|s| {
            matches!(s.kind, SlotKind::Regular | SlotKind::Sidecar)
                && !crate::probes::container_ready(s)
        })
        .map(|s| s.name())
        .collect();
    let (ready, reason, message) = if unready.is_empty() {
        (true, None, None)
    } else if terminal {
        let (r, m) = completed();
        (false, r, m)
    } else {
        (
            false,
            Some("ContainersNotReady".to_owned()),
            Some(format!(
                "containers with unready status: {}",
                names(unready)
            )),
        )
    };
    wanted.push(("Ready", ready, reason.clone(), message.clone()));
    wanted.push(("ContainersReady", ready, reason, message));
    wanted.push(("PodScheduled", true, None, None));
    if nodelet_spec::restart::all_containers_could_restart(pod_spec(rec)) {
        wanted.push(all_containers_restarting(rec));
    }

    crate::pod_conditions::hold_ready_for_gates(rec, &mut wanted);
    let mut next = Vec::with_capacity(wanted.len());
    for (type_, status, reason, message) in wanted {
        let since = match rec.conditions.iter().find(|c| c.type_ == type_) {
            Some(prev) if prev.status == status => prev.since,
            _ => now,
        };
        next.push(CondState {
            type_,
            status,
            reason,
            message,
            since,
        });
    }
    rec.conditions = next;
}

/// `AllContainersRestarting` (`GenerateAllContainersRestartingCondition`),
/// present on pods with a `RestartAllContainers` rule: True while a reset
/// is under way.
fn all_containers_restarting(rec: &PodRecord) -> crate::pod_conditions::Wanted {
    const TYPE: &str = "AllContainersRestarting";
    match phase(rec) {
        "Succeeded" => (TYPE, false, Some("PodCompleted".to_owned()), None),
        "Failed" => (TYPE, false, Some("PodFailed".to_owned()), None),
        _ if rec.restarting_all => (
            TYPE,
            true,
            Some("RestartAllContainersStarted".to_owned()),
            Some("container exited with restart policy rule".to_owned()),
        ),
        _ => (TYPE, false, None, None),
    }
}

fn terminated(t: &TermInfo) -> ContainerState {
    let observed = !t.is_reset();
    ContainerState {
        terminated: Some(ContainerStateTerminated {
            exit_code: t.exit_code,
            signal: t.signal,
            reason: Some(t.reason.clone()),
            started_at: t.started_at.map(Time),
            finished_at: observed.then_some(Time(t.finished_at)),
            container_id: observed.then(|| container_id_url(&t.container_id)),
            message: t.message.clone(),
        }),
        ..Default::default()
    }
}

fn waiting(reason: &str, message: Option<&str>) -> ContainerState {
    ContainerState {
        waiting: Some(ContainerStateWaiting {
            reason: Some(reason.to_owned()),
            message: message.map(str::to_owned),
        }),
        ..Default::default()
    }
}

fn container_status(s: &Slot, init_done: bool) -> ContainerStatus {
    let creating = if s.kind.is_init_list() || !init_done {
        "PodInitializing"
    } else {
        "ContainerCreating"
    };
    let mut last = s.last_term.as_ref().map(terminated);
    let state = match &s.phase {
        SlotPhase::NotStarted if s.reset_pending => {
            waiting(RESTARTING_ALL_CONTAINERS, Some(RESTARTING_ALL_MESSAGE))
        }
        SlotPhase::NotStarted | SlotPhase::Starting { .. } => waiting(creating, None),
        SlotPhase::Running { started_at } => ContainerState {
            running: Some(ContainerStateRunning {
                started_at: Some(Time(*started_at)),
            }),
            ..Default::default()
        },
        SlotPhase::Exited {
            term,
            waiting: shown,
            ..
        } => match (term, shown) {
            (term, Some((reason, message))) => {
                if let Some(t) = term {
                    last = Some(terminated(t));
                }
                waiting(reason, Some(message))
            }
            (Some(t), None) => terminated(t),
            (None, None) => waiting(creating, None),
        },
        SlotPhase::Done { term } => terminated(term),
    };
    let container_id = match (&s.current, &s.phase) {
        (Some(c), _) => Some(container_id_url(&c.id)),
        (None, SlotPhase::Done { term }) => Some(container_id_url(&term.container_id)),
        _ => None,
    };
    // What a running container runs with (in-place resizes included) and
    // what the node allocated: `resources` / `allocatedResources`.
    let resources = match (&s.phase, &s.current) {
        (SlotPhase::Running { .. }, Some(c)) => Some(c.resources.clone().unwrap_or_default()),
        _ => None,
    };
    let allocated_resources = s
        .allocated
        .as_ref()
        .and_then(|r| r.requests.clone())
        .filter(|r| !r.is_empty());
    ContainerStatus {
        name: s.spec.name.clone(),
        image: s
            .last_image
            .clone()
            .or_else(|| s.spec.image.clone())
            .unwrap_or_default(),
        resources,
        allocated_resources,
        image_id: s.image_id.clone().unwrap_or_default(),
        container_id,
        state: Some(state),
        last_state: Some(last.unwrap_or_default()),
        // The kubelet's prober never looks at debug containers: they are
        // not ready and have no `started`.
        ready: s.kind != SlotKind::Ephemeral && crate::probes::container_ready(s),
        started: (s.kind != SlotKind::Ephemeral).then(|| crate::probes::container_started(s)),
        restart_count: s.restart_count,
        stop_signal: s.current.as_ref().map(|c| c.stop_signal.name()),
        ..Default::default()
    }
}

/// `PodResizePending` / `PodResizeInProgress` while a resize waits or
/// is being applied.
fn resize_conditions(rec: &PodRecord) -> Vec<PodCondition> {
    let mut out = Vec::new();
    if let Some(p) = &rec.resize.pending {
        out.push(PodCondition {
            type_: "PodResizePending".to_owned(),
            status: "True".to_owned(),
            reason: Some(p.reason.clone()),
            message: Some(p.message.clone()),
            last_transition_time: Some(Time(p.since)),
            observed_generation: p.generation,
            ..Default::default()
        });
    }
    if let Some(ip) = &rec.resize.in_progress {
        out.push(PodCondition {
            type_: "PodResizeInProgress".to_owned(),
            status: "True".to_owned(),
            reason: ip.error.as_ref().map(|_| "Error".to_owned()),
            message: ip.error.clone(),
            last_transition_time: Some(Time(ip.since)),
            observed_generation: ip.generation,
            ..Default::default()
        });
    }
    out
}

/// The pod with its computed status. Call [`refresh_conditions`] first.
pub fn pod_with_status(rec: &PodRecord) -> Pod {
    let init_done = initialized(rec);
    let mut pod = rec.pod.clone();
    let pod_ips: Vec<String> = rec
        .sandbox
        .iter()
        .flat_map(|s| s.ips.iter().map(|ip| ip.to_string()))
        .collect();
    // The node's addresses as configured (a node of a cluster reports its
    // InternalIP, as the kubelet's hostIP); the sandbox's own view of the
    // host only when none is configured.
    let host_ips: Vec<String> = match rec.sandbox.as_ref().and_then(|s| s.host_ip) {
        _ if !rec.host_ips.is_empty() => rec.host_ips.clone(),
        Some(ip) => vec![ip.to_string()],
        None => Vec::new(),
    };
    let rejected = rejected(rec);
    let host_ips = if rejected { Vec::new() } else { host_ips };
    let statuses = |kinds: &[SlotKind]| -> Option<Vec<ContainerStatus>> {
        if rejected {
            return None;
        }
        let v: Vec<ContainerStatus> = rec
            .slots
            .iter()
            .filter(|s| kinds.contains(&s.kind))
            .map(|s| container_status(s, init_done))
            .collect();
        (!v.is_empty()).then_some(v)
    };
    let generation = rec.generation();
    pod.status = Some(PodStatus {
        phase: Some(phase(rec).to_owned()),
        reason: rec.terminal.as_ref().map(|(r, _)| r.clone()),
        message: rec.terminal.as_ref().map(|(_, m)| m.clone()),
        qos_class: Some(
            nodelet_spec::resources::pod_qos(rec.pod.spec.as_ref().unwrap_or(&Default::default()))
                .to_owned(),
        ),
        observed_generation: generation,
        conditions: Some(
            rec.conditions
                .iter()
                // PodScheduled stands for the scheduler's, which the
                // kubelet's status manager keeps.
                .filter(|c| !rejected || c.type_ == "PodScheduled")
                .map(|c| PodCondition {
                    type_: c.type_.to_owned(),
                    status: if c.status { "True" } else { "False" }.to_owned(),
                    reason: c.reason.clone(),
                    message: c.message.clone(),
                    last_transition_time: Some(Time(c.since)),
                    observed_generation: generation,
                    ..Default::default()
                })
                .chain(resize_conditions(rec))
                .chain(rec.external_conditions.iter().cloned())
                .collect(),
        ),
        host_ip: host_ips.first().cloned(),
        host_ips: (!host_ips.is_empty()).then(|| {
            host_ips
                .iter()
                .map(|ip| HostIP { ip: ip.clone() })
                .collect()
        }),
        pod_ip: pod_ips.first().cloned(),
        pod_ips: (!pod_ips.is_empty())
            .then(|| pod_ips.iter().map(|ip| PodIP { ip: ip.clone() }).collect()),
        start_time: rec.start_time.map(Time),
        init_container_statuses: statuses(&[SlotKind::Init, SlotKind::Sidecar]),
        container_statuses: statuses(&[SlotKind::Regular]),
        ephemeral_container_statuses: statuses(&[SlotKind::Ephemeral]),
        ..Default::default()
    });
    pod
}
