//! Ephemeral (debug) containers in the pod worker's sync, as the kubelet's
//! `computePodActions`/`SyncPod` treat them: each is started once, after the
//! sandbox and before init containers (so a pod stuck initializing can
//! still be debugged), and never restarted — one that exited stays
//! terminated. A start that made no container (an image that cannot be
//! pulled, a config error) is tried again on the kubelet's pod back-off.

use super::Worker;
use super::state::{SlotKind, SlotPhase};
use crate::status;

impl Worker {
    pub(crate) async fn start_ephemeral(&mut self) {
        let n = self.shared.lock().slots.len();
        for i in 0..n {
            if self.interrupted() {
                return;
            }
            let now = self.shared.ctx.clock.instant();
            let start = {
                let mut rec = self.shared.lock();
                // A pod that finished runs nothing new.
                let finished = status::is_terminal(status::phase(&rec));
                let slot = &mut rec.slots[i];
                if slot.kind != SlotKind::Ephemeral {
                    continue;
                }
                match &mut slot.phase {
                    SlotPhase::NotStarted => !finished,
                    SlotPhase::Exited { term: Some(t), .. } => {
                        let term = t.clone();
                        slot.phase = SlotPhase::Done { term };
                        false
                    }
                    SlotPhase::Exited {
                        term: None,
                        restart_at,
                        ..
                    } => match restart_at {
                        Some(at) => *at <= now && !finished,
                        None => {
                            *restart_at = Some(now + super::sync::RETRY_AFTER_ERROR);
                            false
                        }
                    },
                    SlotPhase::Starting { .. }
                    | SlotPhase::Running { .. }
                    | SlotPhase::Done { .. } => false,
                }
            };
            if start {
                self.start(i).await;
            }
        }
    }
}
