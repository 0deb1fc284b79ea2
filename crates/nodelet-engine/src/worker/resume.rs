//! The first thing a pod worker does after an agent restart: finish what
//! the restart interrupted (see [`crate::recover`]), in container order,
//! before the usual sync starts anything new — so a re-delivered postStart
//! gates the next container exactly as a first delivery does.

use super::Worker;
use super::kill::{KillFrom, kill_container};
use crate::recover::Resume;

impl Worker {
    pub(crate) async fn resume_all(&mut self) {
        for action in std::mem::take(&mut self.resume) {
            if self.interrupted() {
                return;
            }
            match action {
                Resume::PostStart {
                    slot,
                    id,
                    attempt,
                    started_at,
                } => {
                    let died = match self
                        .shared
                        .lock()
                        .slots
                        .get(slot)
                        .and_then(|s| s.current.clone())
                    {
                        Some(c) if c.id == id => c.died,
                        _ => continue,
                    };
                    self.post_start_then_running(slot, &id, attempt, &died, started_at)
                        .await;
                }
                Resume::PostStartFailed {
                    slot,
                    id,
                    message,
                    kill_started,
                } => {
                    let (deletion, spec_grace) = {
                        let rec = self.shared.lock();
                        (rec.deletion_grace, rec.spec_grace())
                    };
                    let grace = nodelet_spec::grace::kill_grace(deletion, None, spec_grace);
                    let from = match kill_started {
                        Some(at) => KillFrom::Resume { started_at: at },
                        None => KillFrom::Start("postStartFailed"),
                    };
                    let exit = kill_container(
                        self.shared.clone(),
                        slot,
                        grace,
                        "FailedPostStartHook".to_owned(),
                        None,
                        from,
                    )
                    .await;
                    self.post_start_killed(slot, &id, message, exit);
                }
                Resume::Kill {
                    slot,
                    grace_secs,
                    started_at,
                    message,
                } => {
                    kill_container(
                        self.shared.clone(),
                        slot,
                        grace_secs,
                        message,
                        None,
                        KillFrom::Resume { started_at },
                    )
                    .await;
                }
            }
        }
    }
}
