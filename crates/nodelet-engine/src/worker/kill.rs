//! Killing one container the kubelet's way (`killContainer`): Killing
//! event, preStop bounded by the grace period (its time is subtracted in
//! whole seconds), the sidecar ordering wait, then the stop signal with at
//! least 2 s before SIGKILL.
//!
//! Kills survive an agent restart: a kill that is not a pod deletion is
//! journalled (`Kill`: grace, start, message), and a preStop's intent and
//! outcome are; a restarted agent resumes the kill with the grace that
//! remains since it started, re-delivers a preStop that had not finished
//! and skips one that had (see [`crate::recover`]). A resumed deletion's
//! stop ends at the recorded deletion time plus its grace, so the
//! fractions of the whole seconds counted before and after the restart do
//! not add up past it.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use nodelet_runtime::{ExitStatus, Signal};
use nodelet_spec::grace;
use nodelet_store::{HookKey, JournalChange, KillIntent};
use nodelet_timeline::{Mark, MarkKind};

use super::hook;
use super::ordering::TermOrdering;
use super::shared::Shared;
use crate::events::EventType;
use crate::hooks::HookKind;

/// Why and since when a kill runs.
#[derive(Debug, Clone)]
pub enum KillFrom {
    /// The pod is being deleted (its deletion is in the store already).
    Deletion,
    /// A new kill for another reason (`liveness`, `startup`,
    /// `postStartFailed`, `sidecarStop`, `definitionChanged`,
    /// `activeDeadline`, `evicted`): journalled so it can be resumed.
    Start(&'static str),
    /// Resuming a kill begun before an agent restart at `started_at`.
    Resume { started_at: Timestamp },
}

/// Kills slot `i`'s current container with `grace` seconds, `message` as
/// the Killing event's message. Returns how it ended, if known.
pub async fn kill_container(
    shared: Arc<Shared>,
    i: usize,
    grace_secs: i64,
    message: String,
    ordering: Option<Arc<TermOrdering>>,
    from: KillFrom,
) -> Option<ExitStatus> {
    let (spec, current, pod_uid, namespace, pod_name) = {
        let rec = shared.lock();
        let slot = rec.slots.get(i)?;
        (
            slot.spec.clone(),
            slot.current.clone()?,
            rec.uid.clone(),
            rec.key.namespace.clone(),
            rec.key.name.clone(),
        )
    };
    let ctx = shared.ctx.clone();
    let clock = ctx.clock.clone();
    shared.event(Some(i), EventType::Normal, "Killing", &message);
    let now = clock.now();
    let mut grace_left = grace_secs;
    match &from {
        KillFrom::Start(cause) => {
            let intent = nodelet_store::Intent {
                delivery_id: String::new(),
                pod_uid,
                pod_namespace: namespace,
                pod_name,
                container_name: spec.name.clone(),
                container_attempt: current.attempt,
                handler: String::new(),
                kill: Some(KillIntent {
                    grace_secs,
                    started_at: now,
                    message: message.clone(),
                    cause: (*cause).to_owned(),
                }),
            };
            let key = HookKey::new(current.id.clone(), "Kill");
            if let Err(e) = crate::store_io::durable(|| {
                ctx.store
                    .journal_record(&key, JournalChange::Intent { intent, at: now }, None)
            }) {
                tracing::warn!(container = %current.id, error = %e, "could not journal the kill");
                ctx.storage.failed(&ctx, &e);
            }
        }
        KillFrom::Resume { started_at } => {
            let used = now.duration_since(*started_at).as_secs().max(0);
            grace_left = grace_secs.saturating_sub(used);
        }
        KillFrom::Deletion => {}
    }
    let mut m = Mark::new(MarkKind::Killing, now);
    m.message = Some(message.clone());
    m.grace_seconds = Some(grace_left);
    shared.mark(Some(i), m);
    crate::failpoints::point("kill-before-prestop");

    let pre_stop = spec.lifecycle.as_ref().and_then(|l| l.pre_stop.clone());
    // A preStop that finished before an agent restart is not run again.
    let pre_stop_done = crate::store_io::durable(|| {
        ctx.store
            .journal_get(&HookKey::new(current.id.clone(), "PreStop"))
    })
    .ok()
    .flatten()
    .is_some_and(|e| e.outcome.is_some());
    if let Some(handler) = pre_stop.filter(|_| !pre_stop_done) {
        // Never for a container that already exited (e2e "ignore
        // terminated container").
        if grace::runs_pre_stop(true, grace_left) && !current.died.is_cancelled() {
            let start = clock.instant();
            let task_shared = shared.clone();
            let cur = current.clone();
            let kill = KillIntent {
                grace_secs: grace_left,
                started_at: now,
                message: message.clone(),
                cause: String::new(),
            };
            // The hook keeps running past the grace period if it hangs (as
            // upstream's goroutine does); the container's death stops it.
            let mut task = tokio::spawn(async move {
                let d = hook::deliver(
                    &task_shared,
                    HookKind::PreStop,
                    &handler,
                    i,
                    &cur.id,
                    cur.attempt,
                    &cur.died,
                    hook::Journalled { kill: Some(kill) },
                )
                .await;
                if d.result.outcome.is_err() {
                    task_shared.event(
                        Some(i),
                        EventType::Warning,
                        "FailedPreStopHook",
                        &d.failure_event,
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
    let exit = stop(&shared, i, &current.id, current.stop_signal, stop_grace).await;
    if let Some(ord) = &ordering {
        ord.terminated(&spec.name);
    }
    exit
}

/// How long an exit may take to show after SIGKILL before the kill is
/// sent again.
const KILL_RETRY: Duration = Duration::from_secs(10);

/// The runtime's StopContainer: stop signal, wait up to `grace` s, SIGKILL
/// (again every [`KILL_RETRY`] until the exit is observed).
async fn stop(
    shared: &Shared,
    i: usize,
    id: &str,
    signal: Signal,
    grace: i64,
) -> Option<ExitStatus> {
    let runtime = &shared.ctx.runtime;
    let clock = &shared.ctx.clock;
    let mut m = Mark::new(MarkKind::StopSignal, clock.now());
    m.signal = Some(signal.to_string());
    m.grace_seconds = Some(grace);
    shared.mark(Some(i), m);
    if let Err(e) = runtime.signal(id, signal).await {
        tracing::debug!(container = id, error = %e, "stop signal not delivered");
    }
    shared.publish();
    crate::failpoints::point("kill-after-stop-signal");
    let mut limit = Duration::from_secs(u64::try_from(grace).unwrap_or(0));
    // A termination resumed after an agent restart ends when the deletion's
    // grace does: the seconds counted before the restart, the preStop's
    // and this wait's are each whole, and their fractions must not add up
    // to more than the grace (still never under the 2 s minimum).
    if let Some(deadline) = shared.lock().deletion_deadline {
        let left = deadline.saturating_duration_since(clock.instant());
        let floor =
            Duration::from_secs(u64::try_from(grace::MINIMUM_GRACE_PERIOD_SECONDS).unwrap_or(2));
        limit = limit.min(left.max(floor));
    }
    let exited = tokio::select! {
        r = runtime.wait(id) => Some(r),
        () = clock.sleep(limit) => None,
    };
    let result = match exited {
        Some(r) => r,
        None => {
            shared.ctx.metrics.grace_exceeded.inc();
            shared.mark(Some(i), Mark::new(MarkKind::Killed, clock.now()));
            if let Err(e) = runtime.signal(id, Signal::SIGKILL).await {
                tracing::debug!(container = id, error = %e, "SIGKILL not delivered");
            }
            // SIGKILL cannot be caught, so a process still there after
            // KILL_RETRY never got it: send it again rather than wait
            // forever on a deletion that can no longer finish (the kubelet
            // bounds StopContainer and retries on its next sync).
            loop {
                tokio::select! {
                    r = runtime.wait(id) => break r,
                    () = clock.sleep(KILL_RETRY) => {
                        tracing::warn!(container = id, "no exit {} s after SIGKILL: sending it again", KILL_RETRY.as_secs());
                        if let Err(e) = runtime.signal(id, Signal::SIGKILL).await {
                            tracing::debug!(container = id, error = %e, "SIGKILL not delivered");
                        }
                    }
                }
            }
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
