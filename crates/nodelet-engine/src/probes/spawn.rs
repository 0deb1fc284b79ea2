//! Starting the probe tasks of a container that just reached Running.

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::ProbeKind;
use super::task::ProbeTask;
use crate::worker::shared::Shared;
use crate::worker::state::SlotPhase;

/// Spawns one task per probe slot `i`'s container declares; none when it
/// is not Running. The caller aborts the handles when the pod worker ends.
pub fn spawn(shared: Arc<Shared>, i: usize) -> Vec<JoinHandle<()>> {
    let (spec, current, started_at) = {
        let rec = shared.lock();
        let Some(slot) = rec.slots.get(i) else {
            return Vec::new();
        };
        let (SlotPhase::Running { started_at }, Some(current)) = (&slot.phase, &slot.current)
        else {
            return Vec::new();
        };
        (slot.spec.clone(), current.clone(), *started_at)
    };
    let (open_gate, gate) = watch::channel(spec.startup_probe.is_none());
    ProbeKind::ALL
        .into_iter()
        .filter_map(|kind| {
            let probe = kind.of(&spec)?.clone();
            let task = ProbeTask {
                shared: shared.clone(),
                slot: i,
                kind,
                probe,
                container_id: current.id.clone(),
                died: current.died.clone(),
                started_at,
                gate: gate.clone(),
                open_gate: (kind == ProbeKind::Startup).then(|| open_gate.clone()),
            };
            Some(tokio::spawn(task.run()))
        })
        .collect()
}
