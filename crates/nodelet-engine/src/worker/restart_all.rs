//! RestartAllContainers (KEP-5307, RestartAllContainersOnContainerExits,
//! beta and on since 1.36): a container that exits on a restart rule with
//! action `RestartAllContainers` restarts the whole pod in place, as the
//! kubelet does it (`computePodActions` with `restartAllContainers`,
//! `getContainersToReset`, `SyncPod`'s reset, and the statuses
//! `convertToAPIContainerStatuses` gives removed containers):
//!
//! - the pod's `AllContainersRestarting` condition turns True
//!   (`RestartAllContainersStarted`);
//! - every container still running is killed one after another — regular
//!   containers first, then init containers, each in spec order — with a
//!   Normal `Killing` event whose message is `killing`, no preStop and the
//!   2 s minimum before SIGKILL (grace override 0);
//! - every container that exists is removed: a container whose status did
//!   not show it waiting comes back Waiting `RestartingAllContainers` with a
//!   made-up `lastState.terminated` (exit 137, same reason) and one more
//!   restart; one shown waiting keeps its counts;
//! - the condition turns False and the pod starts over from its first init
//!   container, without crash-loop back-off (nothing exited any more), and
//!   stays Initialized.

use nodelet_spec::restart;

use super::Worker;
use super::kill::{KillFrom, kill_container};
use super::state::{PodRecord, SlotKind, SlotPhase, TermInfo};

/// What one reset does.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ResetPlan {
    /// Slots whose container is alive, in upstream's kill order.
    pub kill: Vec<usize>,
    /// Slots whose container exists (alive or exited), with whether their
    /// status showed them waiting before the reset.
    pub reset: Vec<(usize, bool)>,
}

/// Whether a container exited on a `RestartAllContainers` rule, and if
/// so what the reset kills and removes (`ShouldAllContainersRestart` and
/// `getContainersToReset`). `None` for pods without such a rule, a pod
/// the agent ended, or one whose regular containers finished for good.
pub fn plan(rec: &PodRecord, completed: bool) -> Option<ResetPlan> {
    let spec = rec.pod.spec.as_ref()?;
    if completed || rec.terminal.is_some() || !restart::all_containers_could_restart(spec) {
        return None;
    }
    if !rec.slots.iter().any(is_source) {
        return None;
    }
    // Targets (containers that did not trigger it) before sources, regular
    // containers before init containers within each.
    let mut order: Vec<usize> = Vec::new();
    for sources in [false, true] {
        for init_list in [false, true] {
            order.extend((0..rec.slots.len()).filter(|&i| {
                let s = &rec.slots[i];
                // Debug containers are not the pod's: upstream resets the
                // containers and init containers only.
                s.kind != SlotKind::Ephemeral
                    && s.kind.is_init_list() == init_list
                    && is_source(s) == sources
            }));
        }
    }
    let mut p = ResetPlan::default();
    for i in order {
        let s = &rec.slots[i];
        let exists = s.current.is_some()
            || matches!(
                s.phase,
                SlotPhase::Exited { term: Some(_), .. } | SlotPhase::Done { .. }
            );
        if !exists {
            continue;
        }
        if s.is_alive() && s.current.is_some() {
            p.kill.push(i);
        }
        p.reset.push((i, shown_waiting(&s.phase)));
    }
    Some(p)
}

/// A container whose latest exit matches one of its `RestartAllContainers`
/// rules.
pub(crate) fn is_source(s: &super::state::Slot) -> bool {
    match &s.phase {
        SlotPhase::Exited { term: Some(t), .. } | SlotPhase::Done { term: t } => {
            restart::triggers_restart_all(&s.spec, t.exit_code)
        }
        _ => false,
    }
}

/// Whether the status shows `state.waiting` for a slot in `phase`.
fn shown_waiting(phase: &SlotPhase) -> bool {
    match phase {
        SlotPhase::Running { .. } | SlotPhase::Done { .. } => false,
        SlotPhase::Exited { term, waiting, .. } => waiting.is_some() || term.is_none(),
        SlotPhase::NotStarted | SlotPhase::Starting { .. } => true,
    }
}

impl Worker {
    /// Runs a RestartAllContainers reset if a container triggered one.
    /// Returns false when the pod's deletion or the agent's shutdown
    /// interrupted it (the sync stops there).
    pub(crate) async fn restart_all_if_triggered(&mut self) -> bool {
        let Some(plan) = plan(&self.shared.lock(), self.completed) else {
            return true;
        };
        self.shared.lock().restarting_all = true;
        self.shared.publish();
        for &i in &plan.kill {
            if self.interrupted() {
                self.shared.lock().restarting_all = false;
                return false;
            }
            let kill = kill_container(
                self.shared.clone(),
                i,
                0,
                "killing".to_owned(),
                None,
                KillFrom::Start("restartAllContainers"),
            );
            let finished = tokio::select! {
                _ = kill => true,
                // Deletion takes over with the pod's grace.
                () = self.shared.deleting.cancelled() => false,
                () = self.shutdown.cancelled() => false,
            };
            if !finished {
                self.shared.lock().restarting_all = false;
                return false;
            }
        }
        self.remove_containers_of(&plan.reset).await;
        {
            let mut rec = self.shared.lock();
            for &(i, was_waiting) in &plan.reset {
                let Some(slot) = rec.slots.get_mut(i) else {
                    continue;
                };
                if was_waiting {
                    // Its restart count and last termination stay.
                    if let SlotPhase::Exited { term: Some(t), .. } = &slot.phase {
                        slot.last_term = Some(t.clone());
                    }
                } else {
                    slot.last_term = Some(TermInfo::restarting_all());
                    slot.restart_count = slot.restart_count.saturating_add(1);
                    slot.reset_pending = true;
                }
                slot.phase = SlotPhase::NotStarted;
                slot.current = None;
                slot.restart_now = false;
                // Started again from scratch: a sidecar must start (and
                // pass its startup probe) again before the next init
                // container.
                slot.ever_running = false;
                slot.probes = Default::default();
            }
            rec.restarting_all = false;
        }
        self.shared.publish();
        // The next status the kubelet generates shows the removed
        // containers with its default waiting reason.
        for slot in &mut self.shared.lock().slots {
            slot.reset_pending = false;
        }
        true
    }
}

impl Worker {
    /// Removes every container the reset slots ever had (`removeContainer`;
    /// their logs stay until the pod goes), with their records and
    /// journals: after an agent restart the slots are found without a
    /// container and start again, rather than as the exits the reset
    /// answered (a second reset, or a killed container taken for done).
    async fn remove_containers_of(&self, slots: &[(usize, bool)]) {
        let ctx = self.shared.ctx.clone();
        let (names, ids): (Vec<String>, Vec<String>) = {
            let rec = self.shared.lock();
            let names = slots
                .iter()
                .filter_map(|&(i, _)| rec.slots.get(i).map(|s| s.spec.name.clone()))
                .collect();
            (names, rec.created_ids.clone())
        };
        let mut removed = Vec::new();
        for id in ids {
            let record = crate::store_io::durable(|| ctx.store.get_container(&id));
            let name = match record {
                Ok(Some(r)) => r["name"].as_str().map(str::to_owned),
                Ok(None) => None,
                Err(e) => {
                    tracing::warn!(container = %id, error = %e, "could not read container record");
                    None
                }
            };
            if !name.is_some_and(|n| names.contains(&n)) {
                continue;
            }
            if let Err(e) = ctx.runtime.remove_container(&id).await {
                // Left for the pod's teardown, as any container.
                tracing::warn!(container = %id, error = %e, "could not remove container before the pod restarts");
                continue;
            }
            if let Err(e) = crate::store_io::durable(|| {
                ctx.store.delete_container(&id)?;
                ctx.store.journal_forget(&id).map(|_| ())
            }) {
                tracing::warn!(container = %id, error = %e, "could not forget removed container");
            }
            removed.push(id);
        }
        self.shared
            .lock()
            .created_ids
            .retain(|id| !removed.contains(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::podkey::PodKey;

    fn record(spec: serde_json::Value) -> PodRecord {
        let pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "default"},
            "spec": spec,
        }))
        .expect("pod");
        PodRecord::new(
            PodKey::new("default", "p"),
            "uid".to_owned(),
            pod,
            Vec::new(),
        )
    }

    fn exited(code: i32) -> SlotPhase {
        SlotPhase::Exited {
            term: Some(TermInfo {
                exit_code: code,
                signal: None,
                reason: "Error".to_owned(),
                started_at: None,
                finished_at: jiff::Timestamp::UNIX_EPOCH,
                container_id: "x".to_owned(),
                message: None,
            }),
            finished: tokio::time::Instant::now(),
            waiting: None,
            restart_at: None,
        }
    }

    fn alive(rec: &mut PodRecord, i: usize) {
        rec.slots[i].phase = SlotPhase::Running {
            started_at: jiff::Timestamp::UNIX_EPOCH,
        };
        rec.slots[i].current = Some(super::super::state::Current {
            id: format!("id{i}"),
            attempt: 0,
            died: Default::default(),
            stop_signal: nodelet_runtime::Signal::SIGTERM,
            resources: None,
        });
    }

    #[test]
    fn order_targets_then_sources_regular_then_init() {
        let rule = serde_json::json!([{"action": "RestartAllContainers", "exitCodes": {"operator": "In", "values": [42]}}]);
        let mut rec = record(serde_json::json!({
            "restartPolicy": "Never",
            "initContainers": [
                {"name": "init", "image": "i"},
                {"name": "side", "image": "i", "restartPolicy": "Always"},
            ],
            "containers": [
                {"name": "source", "image": "i", "restartPolicy": "Never", "restartPolicyRules": rule},
                {"name": "regular", "image": "i"},
                {"name": "never-ran", "image": "i"},
            ],
        }));
        assert_eq!(plan(&rec, false), None, "nothing exited");
        rec.slots[0].phase = SlotPhase::Done {
            term: match exited(0) {
                SlotPhase::Exited { term: Some(t), .. } => t,
                _ => unreachable!(),
            },
        };
        alive(&mut rec, 1);
        alive(&mut rec, 3);
        rec.slots[2].phase = exited(1);
        assert_eq!(plan(&rec, false), None, "exit 1 matches no rule");
        rec.slots[2].phase = exited(42);
        let p = plan(&rec, false).expect("triggered");
        assert_eq!(p.kill, vec![3, 1]);
        assert_eq!(
            p.reset,
            vec![(3, false), (0, false), (1, false), (2, false)]
        );
        assert_eq!(plan(&rec, true), None, "a completed pod is not reset");
    }
}
