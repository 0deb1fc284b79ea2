//! The worker's reaction to a pod update (the part of the kubelet's
//! `SyncPod`/`computePodActions` that compares the running pod with its new
//! spec), run at the start of every sync:
//!
//! - `activeDeadlineSeconds` ran out → the pod ends (see [`super::deadline`]);
//! - a running container whose image is not the spec's any more (the
//!   kubelet's container hash covers name and image) → `Killing: Container
//!   <c> definition changed, will be restarted`, preStop within the grace,
//!   then started again at once with the new image, whatever the restart
//!   policy (restartCount + 1, postStart runs for the new container);
//! - container resources that differ from the allocation → in-place resize
//!   (see [`super::resize`]).
//!
//! Labels and annotations need no worker action: `Engine::update_pod`
//! records them and announces them on `Shared::metadata`.

use nodelet_spec::grace;

use super::Worker;
use super::kill::kill_container;
use super::state::{SlotKind, SlotPhase, TermInfo};

/// The back-off key of a container: a new image starts a new back-off, as
/// the kubelet's key includes the container's hash.
pub fn backoff_key(name: &str, image: Option<&str>) -> String {
    format!("{name}@{}", image.unwrap_or(""))
}

impl Worker {
    /// `false` when the pod was ended by the agent: nothing may start.
    pub(crate) async fn react_to_changes(&mut self) -> bool {
        if self.enforce_deadline().await {
            return false;
        }
        self.restart_changed_definitions().await;
        self.resize().await;
        true
    }

    async fn restart_changed_definitions(&mut self) {
        let n = self.shared.lock().slots.len();
        for i in 0..n {
            let changed = {
                let rec = self.shared.lock();
                let s = &rec.slots[i];
                (s.kind != SlotKind::Init
                    && s.is_alive()
                    && s.current.is_some()
                    && s.last_image.is_some()
                    && s.last_image != s.spec.image)
                    .then(|| s.spec.name.clone())
            };
            if let Some(name) = changed {
                self.restart_container(
                    i,
                    format!("Container {name} definition changed, will be restarted"),
                )
                .await;
            }
        }
    }

    /// Kills slot `i`'s container with the pod's grace (Killing event with
    /// `message`, preStop) and marks it to start again at once. A deletion
    /// meanwhile takes over (its own grace, no restart).
    pub(crate) async fn restart_container(&mut self, i: usize, message: String) {
        let shared = self.shared.clone();
        let (grace_secs, id) = {
            let rec = shared.lock();
            (
                grace::kill_grace(rec.deletion_grace, None, rec.spec_grace()),
                rec.slots[i].current.as_ref().map(|c| c.id.clone()),
            )
        };
        let Some(id) = id else { return };
        let deleting = shared.deleting.clone();
        let exit = tokio::select! {
            e = kill_container(shared.clone(), i, grace_secs, message, None, super::kill::KillFrom::Start("definitionChanged")) => e,
            () = deleting.cancelled() => return,
        };
        let finished = shared.ctx.clock.instant();
        let now = shared.ctx.clock.now();
        let mut rec = shared.lock();
        let slot = &mut rec.slots[i];
        let term = match (&exit, &slot.phase) {
            (Some(e), _) => Some(TermInfo::from_exit(e, &id)),
            (None, SlotPhase::Exited { term, .. }) => term.clone(),
            (None, _) => Some(TermInfo {
                exit_code: 137,
                signal: None,
                reason: "ContainerStatusUnknown".to_owned(),
                started_at: None,
                finished_at: now,
                container_id: id,
                message: None,
            }),
        };
        slot.phase = SlotPhase::Exited {
            term,
            finished,
            waiting: None,
            restart_at: None,
        };
        slot.restart_now = true;
    }
}
