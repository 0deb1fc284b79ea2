//! Delivering one lifecycle hook with the journal around it: the intent is
//! recorded before delivery and the outcome after (each together with the
//! delivery's HookDelivery record, in one transaction), so an agent restart
//! in between knows the delivery may not have happened and sends it again
//! (at-least-once; see [`crate::recover`]). A re-sent delivery keeps its
//! id and counts its attempt.
//!
//! The pod's annotations may add, per [`nodelet_spec::annotations`]: a
//! timeout, the delivery id and attempt for the receiver, and where the
//! output goes (an excerpt in the failure event, or the container's log).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::LifecycleHandler;
use nodelet_runtime::{LogStream, OutputSink};
use nodelet_spec::annotations::{self, HookOutput};
use nodelet_store::{HookKey, HookOutcome, Intent, JournalChange, KillIntent};
use nodelet_timeline::{Mark, MarkKind};
use tokio_util::sync::CancellationToken;

use super::shared::Shared;
use crate::hooks::record::{self, Ended, Facts};
use crate::hooks::{DeliveryTag, HookKind, HookResult, HookTarget, RunOptions, handler_kind};

/// Most bytes of output an opt-in failure event carries.
pub const EVENT_EXCERPT: usize = 1024;

/// A delivery's result and what its failure event says.
pub struct Delivered {
    pub result: HookResult,
    /// `PostStartHook failed` / `PreStopHook failed` as the kubelet words
    /// it; with a nodelet timeout it says so, and with
    /// `hooks.nodelet.dev/output: events` an excerpt of the output follows.
    pub failure_event: String,
    pub attempt: u32,
}

/// Why the hook runs, for the journal: a preStop's kill (grace, start).
pub struct Journalled {
    pub kill: Option<KillIntent>,
}

fn hook_timeout(
    shared: &Shared,
    kind: HookKind,
    container: &str,
    pod: &k8s_openapi::api::core::v1::Pod,
) -> Option<Duration> {
    let s = annotations::settings(pod);
    let t = match kind {
        HookKind::PostStart => &s.post_start_timeout,
        HookKind::PreStop => &s.pre_stop_timeout,
    };
    t.for_container(container)
        .or(shared.ctx.config.hook_timeout_default)
}

/// Runs `handler` for slot `i`'s container `id` and records the hook's own
/// events (HTTPS fallback). The caller records failure events.
#[allow(clippy::too_many_arguments)]
pub async fn deliver(
    shared: &Arc<Shared>,
    kind: HookKind,
    handler: &LifecycleHandler,
    i: usize,
    id: &str,
    attempt: u32,
    cancel: &CancellationToken,
    why: Journalled,
) -> Delivered {
    let ctx = shared.ctx.clone();
    let (name, namespace, uid, container, pod_ip, pod) = {
        let rec = shared.lock();
        let container = rec.slots.get(i).map(|s| s.spec.clone()).unwrap_or_default();
        let pod_ip = rec.sandbox.as_ref().and_then(|s| s.ips.first().copied());
        (
            rec.key.name.clone(),
            rec.key.namespace.clone(),
            rec.uid.clone(),
            container,
            pod_ip,
            rec.pod.clone(),
        )
    };
    let settings = annotations::settings(&pod);
    let timeout = hook_timeout(shared, kind, &container.name, &pod);
    let key = HookKey::new(id, kind.to_string());
    let handler_type = handler_kind(handler);
    let previous = crate::store_io::durable(|| ctx.store.journal_get(&key))
        .ok()
        .flatten();
    let delivery_id = previous
        .as_ref()
        .map(|e| e.intent.delivery_id.clone())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let intent = Intent {
        delivery_id: delivery_id.clone(),
        pod_uid: uid.clone(),
        pod_namespace: namespace.clone(),
        pod_name: name.clone(),
        container_name: container.name.clone(),
        container_attempt: attempt,
        handler: handler_type.to_owned(),
        kill: why.kill.clone(),
    };
    // Earlier attempts as the record showed them (re-delivery).
    let record_name = record::name(&name, &container.name, &kind.to_string(), attempt);
    let earlier: Vec<serde_json::Value> = match &previous {
        Some(_) => ctx
            .store
            .get_object(record::KIND, &namespace, &record_name)
            .ok()
            .flatten()
            .and_then(|(v, _)| v["status"]["attempts"].as_array().cloned())
            .map(|a| {
                a.into_iter()
                    .map(|mut x| {
                        if x.get("result").is_none() {
                            x["result"] = serde_json::json!("Interrupted");
                        }
                        x
                    })
                    .collect()
            })
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let facts = Facts {
        container_id: id.to_owned(),
        handler: handler_type.to_owned(),
        handler_detail: record::handler_detail(handler, &container, pod_ip),
        timeout,
        earlier_attempts: earlier,
    };
    let started_at = ctx.clock.now();
    let started = ctx.clock.instant();
    let view_facts = facts.clone();
    let journalled = crate::store_io::durable(|| {
        ctx.store.journal_record(
            &key,
            JournalChange::Intent {
                intent: intent.clone(),
                at: started_at,
            },
            Some(Box::new(move |e| {
                Some(record::render(e, &view_facts, None))
            })),
        )
    });
    let entry = match journalled {
        Ok((e, _)) => Some(e),
        Err(e) => {
            tracing::warn!(hook = %key, error = %e, "could not journal hook intent");
            ctx.storage.failed(&ctx, &e);
            None
        }
    };
    let delivery_attempt = entry.as_ref().map_or(1, |e| e.attempt);
    if delivery_attempt > 1 {
        ctx.metrics
            .redeliveries
            .get_or_create(&crate::metrics::HookOnly {
                hook: kind.to_string(),
            })
            .inc();
    }
    let mut m = Mark::new(MarkKind::HookStarted, started_at);
    m.container_id = Some(id.to_owned());
    m.hook = Some(kind.to_string());
    m.handler = Some(handler_type.to_owned());
    m.attempt = Some(delivery_attempt);
    m.delivery_id = Some(delivery_id.clone());
    shared.mark(Some(i), m);
    crate::failpoints::point("hook-after-intent");

    let log_writer = (settings.hook_output == Some(HookOutput::Logs))
        .then(|| HookLogWriter::start(shared, id, kind));
    let opts = RunOptions {
        timeout,
        tag: settings.delivery_id.then(|| DeliveryTag {
            id: delivery_id.clone(),
            attempt: delivery_attempt,
        }),
        sink: log_writer.as_ref().map(|w| w.sink()),
    };
    let target = HookTarget {
        pod_name: &name,
        pod_namespace: &namespace,
        pod_uid: &uid,
        container: &container,
        container_id: id,
        pod_ip,
    };
    let result = ctx
        .hooks
        .run_with(kind, handler, &target, cancel, &opts)
        .await;
    // The log writer ends once every copy of its sink is gone.
    drop(opts);
    crate::failpoints::point("hook-before-outcome");
    for e in &result.events {
        shared.event(Some(i), e.event_type, &e.reason, &e.message);
        if e.reason == crate::hooks::message::HTTP_FALLBACK_REASON {
            ctx.metrics.http_fallbacks.inc();
        }
    }
    if result.detail.sleep_terminated {
        ctx.metrics.sleep_terminated.inc();
    }
    let outcome = match &result.outcome {
        Ok(()) => HookOutcome::Succeeded,
        Err(_) if cancel.is_cancelled() && !result.detail.timed_out => HookOutcome::Cancelled,
        Err(message) => HookOutcome::Failed {
            message: message.clone(),
        },
    };
    let ended_at = ctx.clock.now();
    let took = ctx.clock.instant().saturating_duration_since(started);
    let word = record::result_word(&outcome, &result.detail);
    if let Some(w) = log_writer {
        w.finish(&kind, word, &result, timeout).await;
    }
    if entry.is_some() {
        let ended = Ended {
            outcome: outcome.clone(),
            detail: result.detail.clone(),
            at: ended_at,
        };
        let written = crate::store_io::durable(|| {
            ctx.store.journal_record(
                &key,
                JournalChange::Outcome {
                    outcome: outcome.clone(),
                    at: ended_at,
                },
                Some(Box::new(move |e| {
                    Some(record::render(e, &facts, Some(&ended)))
                })),
            )
        });
        if let Err(e) = written {
            tracing::warn!(hook = %key, error = %e, "could not journal hook outcome");
            ctx.storage.failed(&ctx, &e);
        }
    }
    ctx.metrics
        .hook_delivered(&kind.to_string(), handler_type, word, took);
    let mut m = Mark::new(MarkKind::HookFinished, ended_at);
    m.container_id = Some(id.to_owned());
    m.hook = Some(kind.to_string());
    m.result = Some(word.to_owned());
    m.attempt = Some(delivery_attempt);
    if let Err(msg) = &result.outcome {
        m.message = Some(msg.clone());
    }
    shared.mark(Some(i), m);

    let base = match kind {
        HookKind::PostStart => "PostStartHook failed",
        HookKind::PreStop => "PreStopHook failed",
    };
    let mut failure_event = base.to_owned();
    if result.detail.timed_out {
        failure_event.push_str(&format!(
            ": timed out after {}",
            crate::godur::go_duration(timeout.unwrap_or_default())
        ));
    }
    if settings.hook_output == Some(HookOutput::Events) {
        let mut out = result.detail.stdout.short(EVENT_EXCERPT / 2);
        out.extend_from_slice(&result.detail.stderr.short(EVENT_EXCERPT / 2));
        if !result.detail.body.is_empty() {
            out.extend_from_slice(&result.detail.body.short(EVENT_EXCERPT));
        }
        if let Err(m) = &result.outcome
            && out.is_empty()
        {
            failure_event.push_str(&format!(": {m}"));
        } else {
            failure_event.push_str(&format!(
                ", output: {}",
                crate::hooks::message::go_quote(&out)
            ));
        }
    }
    Delivered {
        result,
        failure_event,
        attempt: delivery_attempt,
    }
}

/// Writes a hook's output into its container's log
/// (`hooks.nodelet.dev/output: logs`), line by line as it comes, prefixed
/// `[hook postStart] ` / `[hook preStop] `, through one task so lines keep
/// their order.
struct HookLogWriter {
    tx: tokio::sync::mpsc::UnboundedSender<(LogStream, Vec<u8>)>,
    pending: Arc<Mutex<(Vec<u8>, Vec<u8>)>>,
    prefix: String,
    done: tokio::task::JoinHandle<()>,
}

impl HookLogWriter {
    fn start(shared: &Arc<Shared>, id: &str, kind: HookKind) -> HookLogWriter {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(LogStream, Vec<u8>)>();
        let runtime = shared.ctx.runtime.clone();
        let id = id.to_owned();
        let done = tokio::spawn(async move {
            while let Some((stream, text)) = rx.recv().await {
                if let Err(e) = runtime.append_log(&id, stream, &text).await {
                    tracing::debug!(container = %id, error = %e, "hook output not logged");
                }
            }
        });
        let prefix = match kind {
            HookKind::PostStart => "[hook postStart] ",
            HookKind::PreStop => "[hook preStop] ",
        };
        HookLogWriter {
            tx,
            pending: Arc::new(Mutex::new((Vec::new(), Vec::new()))),
            prefix: prefix.to_owned(),
            done,
        }
    }

    fn sink(&self) -> OutputSink {
        let tx = self.tx.clone();
        let pending = self.pending.clone();
        let prefix = self.prefix.clone();
        Arc::new(move |stream, bytes: &[u8]| {
            let mut p = pending.lock().unwrap_or_else(|e| e.into_inner());
            let buf = match stream {
                LogStream::Stdout => &mut p.0,
                LogStream::Stderr => &mut p.1,
            };
            buf.extend_from_slice(bytes);
            if let Some(end) = buf.iter().rposition(|&b| b == b'\n') {
                let whole: Vec<u8> = buf.drain(..=end).collect();
                let mut out = Vec::with_capacity(whole.len() + 32);
                for line in whole[..whole.len() - 1].split(|&b| b == b'\n') {
                    out.extend_from_slice(prefix.as_bytes());
                    out.extend_from_slice(line);
                    out.push(b'\n');
                }
                let _ = tx.send((stream, out));
            }
        })
    }

    /// Flushes unterminated output and, for a failure, a line saying how
    /// it ended; waits until everything is handed to the runtime.
    async fn finish(
        self,
        kind: &HookKind,
        word: &str,
        result: &HookResult,
        timeout: Option<Duration>,
    ) {
        let (out, err) = {
            let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            (std::mem::take(&mut p.0), std::mem::take(&mut p.1))
        };
        for (stream, rest) in [(LogStream::Stdout, out), (LogStream::Stderr, err)] {
            if !rest.is_empty() {
                let mut line = self.prefix.clone().into_bytes();
                line.extend_from_slice(&rest);
                let _ = self.tx.send((stream, line));
            }
        }
        if result.outcome.is_err() {
            let how = if result.detail.timed_out {
                format!(
                    "timed out after {}",
                    crate::godur::go_duration(timeout.unwrap_or_default())
                )
            } else if let Some(c) = result.detail.exit_code {
                format!("exited with {c}")
            } else {
                word.to_lowercase()
            };
            let line = format!("{}{kind} hook failed: {how}", self.prefix);
            let _ = self.tx.send((LogStream::Stderr, line.into_bytes()));
        }
        drop(self.tx);
        let _ = self.done.await;
    }
}

/// A token cancelled when either input is (the container died, or the pod
/// is being deleted).
pub fn either(a: &CancellationToken, b: &CancellationToken) -> CancellationToken {
    let out = CancellationToken::new();
    let (a, b, o) = (a.clone(), b.clone(), out.clone());
    tokio::spawn(async move {
        tokio::select! {
            () = a.cancelled() => o.cancel(),
            () = b.cancelled() => o.cancel(),
            // Dropped by its user once the hook finished: stop watching.
            () = o.cancelled() => {}
        }
    });
    out
}
