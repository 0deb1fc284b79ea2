//! `activeDeadlineSeconds` (kubelet `active_deadline.go`): a pod active on
//! the node longer than its deadline, counted from `status.startTime`, is
//! ended by the agent — phase `Failed`, reason `DeadlineExceeded`, the
//! kubelet's message and Normal event — and its containers are killed with
//! the pod's grace (preStop included) and not restarted. The deadline may
//! be set or lowered on a running pod (`Engine::update_pod`); the worker
//! wakes exactly when it runs out (no polling).

use std::time::Duration;

use jiff::SignedDuration;
use nodelet_spec::grace;
use tokio::time::Instant;

use super::Worker;
use crate::events::EventType;
use crate::status;

pub const REASON: &str = "DeadlineExceeded";
pub const MESSAGE: &str = "Pod was active on the node longer than the specified deadline";

impl Worker {
    /// When the deadline runs out, on the engine's monotonic clock; `None`
    /// without one, before the pod started, or once it ended.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        let clock = &self.shared.ctx.clock;
        let rec = self.shared.lock();
        if rec.terminal.is_some() || status::is_terminal(status::phase(&rec)) {
            return None;
        }
        let secs = rec.pod.spec.as_ref()?.active_deadline_seconds?;
        let end = rec
            .start_time?
            .checked_add(SignedDuration::from_secs(secs))
            .ok()?;
        let left = Duration::try_from(end.duration_since(clock.now())).unwrap_or(Duration::ZERO);
        Some(clock.instant() + left)
    }

    /// Ends the pod if its deadline has passed (`shouldEvict`), killing
    /// what runs. Returns whether the pod is (now) ended by the agent.
    pub(crate) async fn enforce_deadline(&mut self) -> bool {
        if self.shared.lock().terminal.is_some() {
            return true;
        }
        let Some(at) = self.deadline() else {
            return false;
        };
        if at > self.shared.ctx.clock.instant() {
            return false;
        }
        let shared = self.shared.clone();
        let (alive, grace_secs) = {
            let mut rec = shared.lock();
            rec.terminal = Some((REASON.to_owned(), MESSAGE.to_owned()));
            let alive: Vec<usize> = (0..rec.slots.len())
                .filter(|&i| rec.slots[i].is_alive() && rec.slots[i].current.is_some())
                .collect();
            (
                alive,
                grace::kill_grace(rec.deletion_grace, None, rec.spec_grace()),
            )
        };
        shared.event(None, EventType::Normal, REASON, MESSAGE);
        shared.publish();
        if !alive.is_empty() {
            let deleting = shared.deleting.clone();
            tokio::select! {
                () = self.kill_slots(&alive, grace_secs, super::kill::KillFrom::Start("activeDeadline")) => {}
                // Deletion takes over with its own grace.
                () = deleting.cancelled() => {}
            }
        }
        self.completed = true;
        true
    }
}
