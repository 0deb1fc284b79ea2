//! Killing one container the kubelet's way (`killContainer`): Killing
//! event, preStop bounded by the grace period (its time is subtracted in
//! whole seconds), the sidecar ordering wait, then the stop signal with at
//! least 2 s before SIGKILL.

use std::sync::Arc;
use std::time::Duration;

use nodelet_runtime::{ExitStatus, Signal};
use nodelet_spec::grace;

use super::hook;
use super::ordering::TermOrdering;
use super::shared::Shared;
use crate::events::EventType;
use crate::hooks::HookKind;

/// Kills slot `i`'s current container with `grace` seconds, `message` as
/// the Killing event's message. Returns how it ended, if known.
pub async fn kill_container(
    shared: Arc<Shared>,
    i: usize,
    grace_secs: i64,
    message: String,
    ordering: Option<Arc<TermOrdering>>,
) -> Option<ExitStatus> {
    let (spec, current) = {
        let rec = shared.lock();
        let slot = rec.slots.get(i)?;
        (slot.spec.clone(), slot.current.clone()?)
    };
    let clock = shared.ctx.clock.clone();
    shared.event(Some(i), EventType::Normal, "Killing", &message);

    let mut grace_left = grace_secs;
    let pre_stop = spec.lifecycle.as_ref().and_then(|l| l.pre_stop.clone());
    if let Some(handler) = pre_stop {
        // Never for a container that already exited (e2e "ignore
        // terminated container").
        if grace::runs_pre_stop(true, grace_left) && !current.died.is_cancelled() {
            let start = clock.instant();
            let task_shared = shared.clone();
            let cur = current.clone();
            // The hook keeps running past the grace period if it hangs (as
            // upstream's goroutine does); the container's death stops it.
            let mut task = tokio::spawn(async move {
                let r = hook::deliver(
                    &task_shared,
                    HookKind::PreStop,
                    &handler,
                    i,
                    &cur.id,
                    cur.attempt,
                    &cur.died,
                )
                .await;
                if r.outcome.is_err() {
                    task_shared.event(
                        Some(i),
                        EventType::Warning,
                        "FailedPreStopHook",
                        "PreStopHook failed",
                    );
                }
            });
            tokio::select! {
                _ = &mut task => {}
                () = clock.sleep(grace::pre_stop_timeout(grace_left)) => {
                    tracing::info!(container = %spec.name, "preStop hook not completed in grace period");
                }
            }
            grace_left = grace::remaining_grace(
                grace_left,
                clock.instant().saturating_duration_since(start),
            );
        }
    }
    if let Some(ord) = &ordering
        && grace_left > 0
    {
        let waited = ord.wait_for_turn(&spec.name, grace_left).await;
        grace_left = grace::remaining_grace(grace_left, waited);
    }
    let stop_grace = grace::stop_grace(grace_left);
    let exit = stop(&shared, &current.id, current.stop_signal, stop_grace).await;
    if let Some(ord) = &ordering {
        ord.terminated(&spec.name);
    }
    exit
}

/// The runtime's StopContainer: stop signal, wait up to `grace` s, SIGKILL.
async fn stop(shared: &Shared, id: &str, signal: Signal, grace: i64) -> Option<ExitStatus> {
    let runtime = &shared.ctx.runtime;
    let clock = &shared.ctx.clock;
    if let Err(e) = runtime.signal(id, signal).await {
        tracing::debug!(container = id, error = %e, "stop signal not delivered");
    }
    let limit = Duration::from_secs(u64::try_from(grace).unwrap_or(0));
    let exited = tokio::select! {
        r = runtime.wait(id) => Some(r),
        () = clock.sleep(limit) => None,
    };
    let result = match exited {
        Some(r) => r,
        None => {
            if let Err(e) = runtime.signal(id, Signal::SIGKILL).await {
                tracing::debug!(container = id, error = %e, "SIGKILL not delivered");
            }
            runtime.wait(id).await
        }
    };
    match result {
        Ok(exit) => Some(exit),
        Err(e) => {
            tracing::warn!(container = id, error = %e, "could not observe container exit");
            None
        }
    }
}
