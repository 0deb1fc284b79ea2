//! One probe of one container (`prober/worker.go`): wait for the startup
//! probe (liveness/readiness), wait out `initialDelaySeconds` from the
//! container's start, then probe every `periodSeconds` (measured from the
//! start of the previous probe, as a ticker) until the container dies.
//! Liveness and startup stop when the pod is being deleted; readiness goes
//! on through preStop. A liveness/startup result of failure (past its
//! threshold) kills the container and ends the task: a new container gets
//! new tasks, as the kubelet's worker holds until it sees a new id.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Probe;
use nodelet_spec::grace;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::ProbeKind;
use super::run::probe_once;
use super::state::ProbeResults;
use super::threshold::Threshold;
use super::timing::Timing;
use crate::worker::hook::either;
use crate::worker::kill::{KillFrom, kill_container};
use crate::worker::shared::Shared;
use crate::worker::state::SlotKind;

pub struct ProbeTask {
    pub shared: Arc<Shared>,
    pub slot: usize,
    pub kind: ProbeKind,
    pub probe: Probe,
    pub container_id: String,
    /// Cancelled when the container's process exits.
    pub died: CancellationToken,
    /// When the container's process started (the initial delay's origin).
    pub started_at: Timestamp,
    /// True once the startup probe succeeded (or when there is none).
    pub gate: watch::Receiver<bool>,
    /// The startup task opens the gate.
    pub open_gate: Option<watch::Sender<bool>>,
}

impl ProbeTask {
    pub async fn run(self) {
        let stop = if self.kind.kills() {
            either(&self.died, &self.shared.deleting)
        } else {
            self.died.child_token()
        };
        let kill = tokio::select! {
            k = self.probe_loop() => k,
            () = stop.cancelled() => false,
        };
        // Only our own token: `died` itself belongs to the waiter.
        stop.cancel();
        if kill {
            self.kill().await;
        }
    }

    /// Probes until a kill is due (`true`) or there is nothing left to do.
    async fn probe_loop(&self) -> bool {
        let clock = self.shared.ctx.clock.clone();
        if self.kind != ProbeKind::Startup {
            let mut gate = self.gate.clone();
            if gate.wait_for(|open| *open).await.is_err() {
                // The startup probe ended without success (it killed).
                return false;
            }
        }
        let timing = Timing::of(&self.probe);
        let since_start = Duration::try_from(clock.now().duration_since(self.started_at))
            .unwrap_or(Duration::ZERO);
        clock
            .sleep(timing.initial_delay.saturating_sub(since_start))
            .await;
        let mut threshold = Threshold::new(timing.success_threshold, timing.failure_threshold);
        loop {
            let began = clock.instant();
            let outcome = probe_once(
                &self.shared,
                self.slot,
                self.kind,
                &self.probe,
                &self.container_id,
            )
            .await;
            let result = outcome.verdict().and_then(|ok| threshold.observe(ok));
            match (self.kind, result) {
                (ProbeKind::Startup, Some(true)) => {
                    self.record(|r, id| r.set_started(id, true));
                    if let Some(open) = &self.open_gate {
                        let _ = open.send(true);
                    }
                    // A started sidecar lets the next init container go.
                    let _ = self.shared.notify.send(());
                    return false;
                }
                (ProbeKind::Startup | ProbeKind::Liveness, Some(false)) => {
                    self.mark_failed();
                    return true;
                }
                (ProbeKind::Readiness, Some(ok)) => {
                    if !ok {
                        self.mark_failed();
                    }
                    self.record(|r, id| r.set_ready(id, ok))
                }
                _ => {}
            }
            let next = began + timing.period;
            clock
                .sleep(next.saturating_duration_since(clock.instant()))
                .await;
        }
    }

    /// A timeline mark: this probe crossed its failure threshold.
    fn mark_failed(&self) {
        let mut m = nodelet_timeline::Mark::new(
            nodelet_timeline::MarkKind::ProbeFailed,
            self.shared.ctx.clock.now(),
        );
        m.container_id = Some(self.container_id.clone());
        m.probe = Some(
            match self.kind {
                ProbeKind::Startup => "startup",
                ProbeKind::Liveness => "liveness",
                ProbeKind::Readiness => "readiness",
            }
            .to_owned(),
        );
        self.shared.mark(Some(self.slot), m);
    }

    /// Applies a result to the slot if it still runs our container, and
    /// publishes status when that changed anything.
    fn record(&self, set: impl FnOnce(&mut ProbeResults, &str) -> bool) {
        let changed = {
            let mut rec = self.shared.lock();
            match rec.slots.get_mut(self.slot) {
                Some(slot)
                    if slot
                        .current
                        .as_ref()
                        .is_some_and(|c| c.id == self.container_id) =>
                {
                    set(&mut slot.probes, &self.container_id)
                }
                _ => false,
            }
        };
        if changed {
            self.shared.publish();
        }
    }

    /// `Killing` with kubelet's probe message, then the kill with the
    /// probe's `terminationGracePeriodSeconds` when set (deletion grace
    /// first, else the spec's). The pod worker restarts it as for any exit.
    async fn kill(&self) {
        let (name, sidecar, restarts, deletion, spec_grace) = {
            let rec = self.shared.lock();
            let Some(slot) = rec.slots.get(self.slot) else {
                return;
            };
            if slot.current.as_ref().map(|c| c.id.as_str()) != Some(&self.container_id) {
                return;
            }
            // computePodActions: the pod's policy, overridden by the
            // container's own (rules are not read: nothing exited yet).
            let restarts = match slot.spec.restart_policy.as_deref() {
                Some(p) => p != "Never",
                None => rec.restart_policy() != "Never",
            };
            (
                slot.spec.name.clone(),
                slot.kind == SlotKind::Sidecar,
                restarts,
                rec.deletion_grace,
                rec.spec_grace(),
            )
        };
        if self.died.is_cancelled() {
            return;
        }
        let what = match self.kind {
            ProbeKind::Startup => "startup",
            _ => "liveness",
        };
        // A sidecar's kill comes from computeInitContainerActions, whose
        // message names an init container and always restarts it.
        let message = if sidecar {
            format!("Init container {name} failed {what} probe")
        } else if restarts {
            format!("Container {name} failed {what} probe, will be restarted")
        } else {
            format!("Container {name} failed {what} probe")
        };
        let grace_secs = grace::kill_grace(
            deletion,
            self.probe.termination_grace_period_seconds,
            spec_grace,
        );
        crate::failpoints::point("probe-kill-started");
        let cause = if self.kind == ProbeKind::Startup {
            "startup"
        } else {
            "liveness"
        };
        tokio::select! {
            _ = kill_container(self.shared.clone(), self.slot, grace_secs, message, None, KillFrom::Start(cause)) => {}
            // Deletion takes over with the pod's grace.
            () = self.shared.deleting.cancelled() => {}
        }
    }
}
