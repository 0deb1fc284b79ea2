//! Resuming after an agent restart (a clean stop or `kill -9`): pods come
//! back from the store, their containers from the runtime, and what was
//! in flight from the hook journal.
//!
//! - A container still running whose postStart had not finished (intent
//!   journalled without an outcome, or no intent yet) gets its postStart
//!   delivered again — same delivery id, next attempt — and stays out of
//!   Running until it completes, exactly as on first delivery. One whose
//!   postStart outcome is journalled is never re-run (succeeded: Running;
//!   failed: killed, Waiting PostStartHookError). The kubelet instead
//!   leaves an interrupted postStart undelivered (upstream #60053).
//! - A kill in progress resumes: a pod deletion with the grace that
//!   remains since the `deletionTimestamp` in the store (the kubelet
//!   restarts the full grace), another kill (probe, failed postStart) with
//!   what remains since its journalled start; a preStop that had not
//!   finished is delivered again, one that had is not.
//! - A container that exited while the agent was down is an ordinary exit
//!   with its real code and finish time; restart policy and back-off
//!   continue from the back-off recorded with the container.
//! - One left merely Created is removed and started afresh, reusing its
//!   attempt number. Nothing is created twice.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use nodelet_runtime::{ContainerRecord, ContainerState};
use nodelet_store::{HookOutcome, JournalEntry};
use tokio_util::sync::CancellationToken;

use crate::backoff;
use crate::error::Result;
use crate::podkey::PodKey;
use crate::worker::ctx::EngineCtx;
use crate::worker::start::stop_signal;
use crate::worker::state::{Current, PodRecord, SlotKind, SlotPhase, TermInfo};

/// Something a restart left half done, finished by the pod worker first.
#[derive(Debug, Clone)]
pub enum Resume {
    /// Deliver (again) the postStart of slot `slot`'s container, then
    /// Running.
    PostStart {
        slot: usize,
        id: String,
        attempt: u32,
        started_at: Timestamp,
    },
    /// Its postStart failed (journalled): kill it (resuming a kill already
    /// begun at `kill_started`), then Waiting PostStartHookError.
    PostStartFailed {
        slot: usize,
        id: String,
        message: String,
        kill_started: Option<Timestamp>,
    },
    /// A kill (not a deletion) begun at `started_at` with `grace_secs`.
    Kill {
        slot: usize,
        grace_secs: i64,
        started_at: Timestamp,
        message: String,
    },
}

/// What a pod worker takes over from before the restart.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Running containers: a waiter and their probes.
    pub adopted: Vec<usize>,
    /// Running containers with something to resume first: a waiter only.
    pub watch_only: Vec<usize>,
    pub actions: Vec<Resume>,
    /// Back-off per container name, as recorded with the last container.
    pub backoff: Vec<(String, backoff::Entry)>,
}

/// An instant `at` (wall time) corresponds to, on the engine's clock.
fn instant_of(ctx: &EngineCtx, at: Timestamp) -> tokio::time::Instant {
    let ago = ctx.clock.now().duration_since(at);
    let ago = Duration::try_from(ago).unwrap_or(Duration::ZERO);
    let now = ctx.clock.instant();
    now.checked_sub(ago).unwrap_or(now)
}

fn entry<'a>(entries: &'a [JournalEntry], hook: &str) -> Option<&'a JournalEntry> {
    entries.iter().find(|e| e.key.hook == hook)
}

/// What the runtime and the store know of containers, read once for
/// every pod being re-adopted.
pub struct Snapshot {
    containers: Vec<ContainerRecord>,
    sandboxes: Vec<nodelet_runtime::SandboxInfo>,
    records: std::collections::HashMap<String, serde_json::Value>,
}

/// The pods recorded in the store, as last written (status included): what
/// the API serves while they are being re-adopted.
pub fn stored_pods(ctx: &EngineCtx) -> Result<Vec<Pod>> {
    let mut out = Vec::new();
    for (value, rv) in ctx.store.list_objects("Pod", None)? {
        match serde_json::from_value::<Pod>(value) {
            Ok(mut p) => {
                p.metadata.resource_version = Some(rv.to_string());
                out.push(p);
            }
            Err(e) => tracing::warn!(error = %e, "skipping unreadable stored pod"),
        }
    }
    Ok(out)
}

/// Reads the runtime's containers and sandboxes and the stored container
/// records.
pub async fn snapshot(ctx: &EngineCtx) -> Result<Snapshot> {
    let containers = ctx.runtime.list_containers().await?;
    let sandboxes = ctx.runtime.list_sandboxes().await?;
    let records = ctx.store.list_containers()?.into_iter().collect();
    Ok(Snapshot {
        containers,
        sandboxes,
        records,
    })
}

/// One stored pod matched with its containers in `snap`: its record, what
/// to take over, and whether it was being deleted.
pub async fn recover_pod(
    ctx: &EngineCtx,
    snap: &Snapshot,
    pod: Pod,
) -> (PodRecord, Recovered, bool) {
    let key = PodKey::of(&pod);
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let start_time = pod
        .status
        .as_ref()
        .and_then(|s| s.start_time.as_ref())
        .map(|t| t.0);
    let deletion = pod.metadata.deletion_grace_period_seconds;
    let deleted_at = pod.metadata.deletion_timestamp.as_ref().map(|t| t.0);
    let deleting = deleted_at.is_some();
    let mut spec_pod = pod.clone();
    spec_pod.status = None;
    let mut rec = PodRecord::new(key, uid.clone(), spec_pod, ctx.config.host_ips.clone());
    rec.start_time = start_time;
    rec.deletion_grace = deletion;
    let now_wall = ctx.clock.now();
    // The timeline goes on where it was.
    if let Ok(Some((tl, _))) = ctx.store.get_object(
        nodelet_timeline::model::KIND,
        &rec.key.namespace,
        &rec.key.name,
    ) && let Ok(tl) = serde_json::from_value::<nodelet_timeline::PodTimeline>(tl)
        && tl.spec.pod_uid == uid
    {
        rec.timeline.marks = tl.marks;
    }
    if let Some(at) = deleted_at {
        // `deletionTimestamp` is kept in whole seconds; the timeline's
        // PodDeleted mark, within that second, is the instant itself.
        let at = rec
            .timeline
            .marks
            .iter()
            .filter(|m| m.kind == nodelet_timeline::MarkKind::PodDeleted)
            .map(|m| m.time)
            .find(|t| *t >= at && t.duration_since(at) < jiff::SignedDuration::from_secs(1))
            .unwrap_or(at);
        rec.deletion_grace_used = now_wall.duration_since(at).as_secs().max(0);
        let grace = Duration::from_secs(u64::try_from(deletion.unwrap_or(0)).unwrap_or(0));
        rec.deletion_deadline = Some(instant_of(ctx, at) + grace);
    }
    rec.mark(nodelet_timeline::Mark::new(
        nodelet_timeline::MarkKind::AgentRestarted,
        now_wall,
    ));
    // Conditions others wrote (readiness gates) survive a restart.
    if let Some(conds) = pod.status.as_ref().and_then(|s| s.conditions.as_deref()) {
        rec.external_conditions = crate::pod_conditions::external(conds);
    }
    // A pod the agent ended (activeDeadlineSeconds, eviction, `--max-pods`)
    // stays ended.
    if let Some(st) = pod.status.as_ref()
        && st.phase.as_deref() == Some("Failed")
        && let Some(reason) = st.reason.as_deref().filter(|r| {
            *r == crate::worker::deadline::REASON
                || *r == crate::worker::volumes::eviction::REASON
                || *r == nodelet_spec::capacity::REASON_OUT_OF_PODS
        })
    {
        rec.terminal = Some((reason.to_owned(), st.message.clone().unwrap_or_default()));
    }
    let statuses: Vec<k8s_openapi::api::core::v1::ContainerStatus> = pod
        .status
        .iter()
        .flat_map(|s| {
            s.container_statuses
                .iter()
                .flatten()
                .chain(s.init_container_statuses.iter().flatten())
        })
        .cloned()
        .collect();
    rec.sandbox = snap.sandboxes.iter().find(|s| s.pod_uid == uid).cloned();
    let mine: Vec<&ContainerRecord> = snap
        .containers
        .iter()
        .filter(|c| c.pod_uid == uid)
        .collect();
    rec.created_ids = mine.iter().map(|c| c.id.clone()).collect();
    let mut took = Recovered::default();
    for i in 0..rec.slots.len() {
        let Some(latest) = mine
            .iter()
            .filter(|c| c.name == rec.slots[i].spec.name)
            .max_by_key(|c| c.attempt)
        else {
            continue;
        };
        let name = rec.slots[i].spec.name.clone();
        if let Some(b) = snap.records.get(&latest.id).and_then(|r| r.get("backoff"))
            && let (Some(secs), Some(at)) = (
                b.get("seconds").and_then(|v| v.as_f64()),
                b.get("lastUpdate")
                    .and_then(|v| v.as_str())
                    .and_then(|s| s.parse::<Timestamp>().ok()),
            )
        {
            took.backoff.push((
                name.clone(),
                backoff::Entry {
                    backoff: Duration::from_secs_f64(secs.max(0.0)),
                    last_update: instant_of(ctx, at),
                },
            ));
        }
        let journal = ctx.store.journal_of(&latest.id).unwrap_or_default();
        let has_post_start = rec.slots[i]
            .spec
            .lifecycle
            .as_ref()
            .is_some_and(|l| l.post_start.is_some());
        let slot = &mut rec.slots[i];
        slot.attempts = latest.attempt + 1;
        slot.restart_count = i32::try_from(latest.attempt).unwrap_or(i32::MAX);
        slot.image_id = Some(latest.image_id.clone());
        let stored = statuses.iter().find(|s| s.name == slot.spec.name);
        // What the container was created from and runs with, as last
        // reported (a pending image change or resize is then acted on).
        slot.last_image = stored
            .map(|s| s.image.clone())
            .or_else(|| slot.spec.image.clone());
        if let Some(r) = stored
            .and_then(|s| s.resources.clone())
            .filter(|r| r.limits.is_some() || r.requests.is_some())
        {
            slot.allocated = Some(r);
        }
        let post_failed = entry(&journal, "PostStart").and_then(|e| match &e.outcome {
            Some(HookOutcome::Failed { message }) => Some(message.clone()),
            _ => None,
        });
        match &latest.state {
            ContainerState::Running { started_at, .. } => {
                slot.current = Some(Current {
                    id: latest.id.clone(),
                    attempt: latest.attempt,
                    died: CancellationToken::new(),
                    stop_signal: stop_signal(&slot.spec, None),
                    resources: slot.allocated.clone(),
                });
                let post = entry(&journal, "PostStart");
                let kill = entry(&journal, "Kill").and_then(|e| e.intent.kill.clone());
                let post_done =
                    post.is_some_and(|e| matches!(e.outcome, Some(HookOutcome::Succeeded)));
                let running = !has_post_start || post_done;
                slot.phase = if running {
                    SlotPhase::Running {
                        started_at: *started_at,
                    }
                } else {
                    SlotPhase::Starting {
                        started_at: *started_at,
                    }
                };
                slot.ever_running = running || slot.ever_running;
                if deleting {
                    // Termination resumes it (kill.rs consults the
                    // preStop journal).
                    took.adopted.push(i);
                } else if let Some(message) = post_failed {
                    took.watch_only.push(i);
                    took.actions.push(Resume::PostStartFailed {
                        slot: i,
                        id: latest.id.clone(),
                        message,
                        kill_started: kill.map(|k| k.started_at),
                    });
                } else if let Some(k) = kill {
                    took.watch_only.push(i);
                    took.actions.push(Resume::Kill {
                        slot: i,
                        grace_secs: k.grace_secs,
                        started_at: k.started_at,
                        message: k.message,
                    });
                } else if running {
                    took.adopted.push(i);
                } else {
                    // Interrupted (or never begun): deliver again.
                    took.watch_only.push(i);
                    took.actions.push(Resume::PostStart {
                        slot: i,
                        id: latest.id.clone(),
                        attempt: latest.attempt,
                        started_at: *started_at,
                    });
                }
            }
            ContainerState::Exited(exit) => {
                let term = TermInfo::from_exit(exit, &latest.id);
                let finished = instant_of(ctx, exit.finished_at);
                let mut m = nodelet_timeline::Mark::new(
                    nodelet_timeline::MarkKind::Exited,
                    exit.finished_at,
                );
                m.container = Some(name.clone());
                m.container_id = Some(latest.id.clone());
                m.exit_code = Some(exit.exit_code);
                m.reason = Some(term.reason.clone());
                let already = rec.timeline.marks.iter().any(|x| {
                    x.kind == nodelet_timeline::MarkKind::Exited
                        && x.container_id.as_deref() == Some(latest.id.as_str())
                });
                let slot = &mut rec.slots[i];
                slot.phase = if slot.kind == SlotKind::Init && term.exit_code == 0 {
                    SlotPhase::Done { term }
                } else {
                    SlotPhase::Exited {
                        term: Some(term),
                        finished,
                        waiting: post_failed.map(|msg| ("PostStartHookError".to_owned(), msg)),
                        restart_at: None,
                    }
                };
                if !already {
                    rec.mark(m);
                }
            }
            ContainerState::Created | ContainerState::Unknown => {
                // Never ran: the next start takes its attempt number.
                slot.attempts = latest.attempt;
                slot.restart_count =
                    i32::try_from(latest.attempt.saturating_sub(1)).unwrap_or(i32::MAX);
                if let Err(e) = ctx.runtime.remove_container(&latest.id).await {
                    tracing::warn!(container = %latest.id, error = %e, "could not remove half-created container");
                } else {
                    rec.created_ids.retain(|c| c != &latest.id);
                    let _ = ctx.store.delete_container(&latest.id);
                    let _ = ctx.store.journal_forget(&latest.id);
                }
            }
        }
    }
    (rec, took, deleting)
}
