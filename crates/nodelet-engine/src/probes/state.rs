//! Probe results kept in a container's slot, and what status derives from
//! them (`prober_manager.UpdatePodStatus`): `started` needs a startup probe
//! success (or no startup probe); `ready` needs `started` and a readiness
//! success (or no readiness probe). Results belong to one container id, so
//! a new container starts from "no result yet" without a reset race.

use crate::worker::state::{Slot, SlotKind, SlotPhase};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeResults {
    /// The container the results are about.
    container_id: String,
    started: Option<bool>,
    ready: Option<bool>,
    /// A startup probe of this slot succeeded once (any container): a
    /// sidecar that started once keeps its pod initialized while it
    /// restarts.
    ever_started: bool,
}

impl ProbeResults {
    fn for_current(&self, slot: &Slot) -> Option<&ProbeResults> {
        let id = &slot.current.as_ref()?.id;
        (*id == self.container_id).then_some(self)
    }

    fn entry(&mut self, container_id: &str) -> &mut ProbeResults {
        if self.container_id != container_id {
            *self = ProbeResults {
                container_id: container_id.to_owned(),
                ever_started: self.ever_started,
                ..Default::default()
            };
        }
        self
    }

    /// Records the startup result of `container_id`; whether it changed.
    pub fn set_started(&mut self, container_id: &str, v: bool) -> bool {
        let e = self.entry(container_id);
        let changed = e.started != Some(v);
        e.started = Some(v);
        e.ever_started |= v;
        changed
    }

    /// Records the readiness result of `container_id`; whether it changed.
    pub fn set_ready(&mut self, container_id: &str, v: bool) -> bool {
        let e = self.entry(container_id);
        let changed = e.ready != Some(v);
        e.ready = Some(v);
        changed
    }
}

/// `containerStatuses[].started`.
pub fn container_started(slot: &Slot) -> bool {
    if !matches!(slot.phase, SlotPhase::Running { .. }) {
        return false;
    }
    match slot.probes.for_current(slot).and_then(|r| r.started) {
        Some(v) => v,
        None => slot.spec.startup_probe.is_none(),
    }
}

/// Whether a sidecar (restartable init container) counts as started for
/// the pod's initialization: started now, or started once before (its
/// restarts do not un-initialize the pod). The next init container waits
/// for this, so a sidecar's startup probe gates it as in the kubelet.
pub fn sidecar_started(slot: &Slot) -> bool {
    container_started(slot)
        || (slot.ever_running && (slot.spec.startup_probe.is_none() || slot.probes.ever_started))
}

/// `containerStatuses[].ready`, which the pod's Ready and ContainersReady
/// conditions are made of.
pub fn container_ready(slot: &Slot) -> bool {
    // A regular init container is ready once it completed (exit 0), as
    // the kubelet's prober manager reports it; e2e's InitContainer specs
    // check `initContainerStatuses[].ready` of a Running pod.
    if slot.kind == SlotKind::Init {
        return matches!(&slot.phase, SlotPhase::Done { term } if term.exit_code == 0);
    }
    if !container_started(slot) {
        return false;
    }
    match slot.probes.for_current(slot).and_then(|r| r.ready) {
        Some(v) => v,
        None => slot.spec.readiness_probe.is_none(),
    }
}
