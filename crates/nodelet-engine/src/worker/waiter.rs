//! One waiter task per started container: blocks in `Runtime::wait` (an
//! event from the runtime's monitor, no polling), then records the exit in
//! the slot, cancels the container's `died` token (stopping its hooks),
//! publishes status and wakes the pod worker.

use std::sync::Arc;

use tokio::task::JoinHandle;

use super::shared::Shared;
use super::state::{SlotPhase, TermInfo};

pub fn spawn(shared: Arc<Shared>, i: usize) -> Option<JoinHandle<()>> {
    let current = shared.lock().slots.get(i)?.current.clone()?;
    Some(tokio::spawn(async move {
        let result = shared.ctx.runtime.wait(&current.id).await;
        match result {
            Ok(exit) => {
                let finished = shared.ctx.clock.instant();
                let mut rec = shared.lock();
                if let Some(slot) = rec.slots.get_mut(i) {
                    let same = slot.current.as_ref().is_some_and(|c| c.id == current.id);
                    // A kill path may already have recorded the exit with
                    // its own reason (PostStartHookError); keep that.
                    if same && slot.is_alive() {
                        slot.phase = SlotPhase::Exited {
                            term: Some(TermInfo::from_exit(&exit, &current.id)),
                            finished,
                            waiting: None,
                            restart_at: None,
                        };
                    }
                }
            }
            Err(e) => {
                // The container vanished under us: report it the way the
                // kubelet reports a container it cannot locate.
                tracing::warn!(container = %current.id, error = %e, "waiting for container failed");
                let finished = shared.ctx.clock.instant();
                let now = shared.ctx.clock.now();
                let mut rec = shared.lock();
                if let Some(slot) = rec.slots.get_mut(i) {
                    let same = slot.current.as_ref().is_some_and(|c| c.id == current.id);
                    // The start it had stays shown: a finish without a start
                    // is a status upstream's e2e says "should never happen".
                    let started_at = slot.phase.live_start();
                    if same && slot.is_alive() {
                        slot.phase = SlotPhase::Exited {
                            term: Some(TermInfo {
                                exit_code: 137,
                                signal: None,
                                reason: "ContainerStatusUnknown".to_owned(),
                                started_at,
                                finished_at: now,
                                container_id: current.id.clone(),
                                message: None,
                            }),
                            finished,
                            waiting: None,
                            restart_at: None,
                        };
                    }
                }
            }
        }
        {
            let now = shared.ctx.clock.now();
            let mut rec = shared.lock();
            let term = rec.slots.get(i).and_then(|s| match &s.phase {
                SlotPhase::Exited { term: Some(t), .. } | SlotPhase::Done { term: t }
                    if t.container_id == current.id =>
                {
                    Some(t.clone())
                }
                _ => None,
            });
            let name = rec
                .slots
                .get(i)
                .map(|s| s.spec.name.clone())
                .unwrap_or_default();
            rec.mark_exit(&name, &current.id, term.as_ref(), now);
        }
        current.died.cancel();
        shared.publish();
        let _ = shared.notify.send(());
    }))
}
