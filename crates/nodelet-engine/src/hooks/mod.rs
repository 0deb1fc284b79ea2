//! Lifecycle hook handlers (postStart / preStop), run as the kubelet runs
//! them (`pkg/kubelet/lifecycle/handlers.go`): dispatch in the order exec,
//! httpGet, sleep, anything else is an error at run time — there is no
//! tcpSocket branch, so a tcpSocket hook passes validation and then fails,
//! exactly like upstream. Failure messages are the kubelet's, byte for byte
//! ([`message`]), because they end up in pod status and events.
//!
//! The runner only delivers one handler and reports; deciding what a failure
//! means (kill the container, FailedPostStartHook...) and bounding preStop by
//! the grace period is the engine's job.
//!
//! Additive to the kubelet: each delivery also reports what it saw
//! ([`HookDetail`]: exit code or HTTP status, the first and last 4 KiB of
//! stdout/stderr or the response body) for its HookDelivery record, and
//! takes opt-in [`RunOptions`]: a timeout, the delivery id and attempt for
//! the receiver, a sink for the output as it is produced.

pub mod capture;
pub mod exec;
pub mod host_policy;
pub mod http;
pub mod message;
pub mod record;
pub mod sleep;
pub(crate) mod tls;

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Container, LifecycleHandler};
use nodelet_runtime::Runtime;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::events::EventType;

/// Which hook is being delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HookKind {
    PostStart,
    PreStop,
}

impl fmt::Display for HookKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HookKind::PostStart => "PostStart",
            HookKind::PreStop => "PreStop",
        })
    }
}

/// The container a hook is delivered to, and its pod.
#[derive(Debug, Clone, Copy)]
pub struct HookTarget<'a> {
    pub pod_name: &'a str,
    pub pod_namespace: &'a str,
    pub pod_uid: &'a str,
    /// For its name and its ports (named port lookup of httpGet).
    pub container: &'a Container,
    /// The runtime's id, for exec.
    pub container_id: &'a str,
    /// The pod's first IP: the default host of httpGet.
    pub pod_ip: Option<IpAddr>,
}

impl HookTarget<'_> {
    /// `format.Pod` of the target's pod.
    pub fn pod_desc(&self) -> String {
        message::pod_desc(self.pod_name, self.pod_namespace, self.pod_uid)
    }
}

/// An event the delivery asks the engine to record on the pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookEvent {
    pub event_type: EventType,
    pub reason: String,
    pub message: String,
}

/// How a delivery went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookResult {
    /// `Err` holds the kubelet-format failure message (what becomes the
    /// container's `PostStartHookError` message).
    pub outcome: Result<(), String>,
    /// Events to record, whatever the outcome (the HTTPS→HTTP fallback).
    pub events: Vec<HookEvent>,
    /// What the delivery saw, for its record.
    pub detail: HookDetail,
}

/// Which handler a hook has (`spec.handler.type` of its record).
pub fn handler_kind(handler: &LifecycleHandler) -> &'static str {
    if handler.exec.is_some() {
        "Exec"
    } else if handler.http_get.is_some() {
        "HTTPGet"
    } else if handler.sleep.is_some() {
        "Sleep"
    } else if handler.tcp_socket.is_some() {
        "TCPSocket"
    } else {
        "Invalid"
    }
}

/// What a delivery saw besides its outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HookDetail {
    pub exit_code: Option<i32>,
    pub http_status: Option<u16>,
    pub stdout: capture::Capture,
    pub stderr: capture::Capture,
    pub body: capture::Capture,
    /// Stopped by [`RunOptions::timeout`].
    pub timed_out: bool,
    /// The sleep handler ended early (kubelet counts these).
    pub sleep_terminated: bool,
}

/// The id and attempt a receiver is told (opt-in per pod).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryTag {
    pub id: String,
    pub attempt: u32,
}

/// Opt-in additions to a delivery; the default is the kubelet's.
#[derive(Clone, Default)]
pub struct RunOptions {
    /// Fail the hook when it runs longer (exec: its processes are killed).
    pub timeout: Option<std::time::Duration>,
    /// Sent as `X-Nodelet-Hook-Delivery-Id`/`-Attempt` headers (httpGet) or
    /// `NODELET_HOOK_DELIVERY_ID`/`_ATTEMPT` variables (exec).
    pub tag: Option<DeliveryTag>,
    /// Receives exec output as it is produced (and an HTTP body at the end).
    pub sink: Option<nodelet_runtime::OutputSink>,
}

/// Opt-in departures from kubelet behaviour; the default is kubelet's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HookOptions {
    /// Fail an httpGet hook whose answer is not 2xx/3xx. The kubelet accepts
    /// any HTTP answer (upstream issue #56963), so this is off by default.
    pub strict_http_status: bool,
    /// Which `host` httpGet hooks and probes may target (`any`, as the
    /// kubelet, unless `--hook-host-policy=pod-only`).
    pub host_policy: host_policy::HostPolicy,
}

/// Delivers lifecycle handlers. Cheap to share: hold it in an `Arc`.
pub struct HookRunner {
    runtime: Arc<dyn Runtime>,
    clock: Arc<dyn Clock>,
    /// Built once; an error (TLS setup) fails httpGet hooks, not the agent.
    http: Result<reqwest::Client, String>,
    options: HookOptions,
}

impl HookRunner {
    pub fn new(runtime: Arc<dyn Runtime>, clock: Arc<dyn Clock>) -> Self {
        Self::with_options(runtime, clock, HookOptions::default())
    }

    pub fn with_options(
        runtime: Arc<dyn Runtime>,
        clock: Arc<dyn Clock>,
        options: HookOptions,
    ) -> Self {
        HookRunner {
            runtime,
            clock,
            http: http::build_client(),
            options,
        }
    }

    /// Runs one handler with the kubelet's behaviour (no timeout, nothing
    /// told to the receiver).
    pub async fn run(
        &self,
        kind: HookKind,
        handler: &LifecycleHandler,
        target: &HookTarget<'_>,
        cancel: &CancellationToken,
    ) -> HookResult {
        self.run_with(kind, handler, target, cancel, &RunOptions::default())
            .await
    }

    /// Runs one handler. `cancel` fires when the container dies or the pod
    /// is being force-deleted: exec and sleep stop early (sleep fails with
    /// `container terminated before sleep hook finished`). httpGet is not
    /// cancelled, as in the kubelet; the caller may drop the future.
    pub async fn run_with(
        &self,
        kind: HookKind,
        handler: &LifecycleHandler,
        target: &HookTarget<'_>,
        cancel: &CancellationToken,
        opts: &RunOptions,
    ) -> HookResult {
        let container = target.container.name.as_str();
        let pod = target.pod_desc();
        let mut events = Vec::new();
        let mut detail = HookDetail::default();
        let limit = opts.timeout;
        let outcome = if let Some(exec_action) = &handler.exec {
            let command = exec_action.command.clone().unwrap_or_default();
            let r = exec::run(
                self.runtime.as_ref(),
                target.container_id,
                &command,
                cancel,
                opts,
                &mut detail,
            )
            .await;
            r.map_err(|f| message::exec_failed(&command, container, &pod, &f.error, &f.output))
        } else if let Some(action) = &handler.http_get {
            let path = action.path.as_deref().unwrap_or("");
            let allowed = host_policy::check(
                self.options.host_policy,
                action.host.as_deref(),
                target.pod_ip,
            );
            let result = match &self.http {
                _ if allowed.is_err() => allowed,
                Ok(client) => {
                    let run = http::run(
                        client,
                        action,
                        target.container,
                        target.pod_ip,
                        &pod,
                        self.options.strict_http_status,
                        opts.tag.as_ref(),
                    );
                    let out = match limit {
                        None => Some(run.await),
                        Some(t) => tokio::select! {
                            o = run => Some(o),
                            () = self.clock.sleep(t) => None,
                        },
                    };
                    match out {
                        Some(out) => {
                            if let Some(host) = out.fell_back_to_http {
                                events.push(HookEvent {
                                    event_type: EventType::Warning,
                                    reason: message::HTTP_FALLBACK_REASON.to_string(),
                                    message: message::http_fallback_event(&host),
                                });
                            }
                            detail.http_status = out.status;
                            detail.body = out.body;
                            if let (Some(sink), false) = (&opts.sink, detail.body.is_empty()) {
                                sink(
                                    nodelet_runtime::LogStream::Stdout,
                                    &detail.body.short(usize::MAX),
                                );
                            }
                            out.result
                        }
                        None => {
                            detail.timed_out = true;
                            Err(message::timed_out(limit.unwrap_or_default()))
                        }
                    }
                }
                Err(e) => Err(e.clone()),
            };
            result.map_err(|e| message::http_failed(path, container, &pod, &e))
        } else if let Some(action) = &handler.sleep {
            let run = sleep::run(self.clock.as_ref(), action.seconds, cancel);
            let r = match limit {
                None => run.await,
                Some(t) => tokio::select! {
                    r = run => r,
                    () = self.clock.sleep(t) => {
                        detail.timed_out = true;
                        Err(message::timed_out(t))
                    }
                },
            };
            if r.as_ref().is_err_and(|e| e == message::SLEEP_CANCELLED) {
                detail.sleep_terminated = true;
            }
            r.map_err(|e| message::sleep_failed(action.seconds, container, &pod, &e))
        } else {
            Err(message::invalid_handler(&message::describe_handler(
                handler,
            )))
        };
        if let Err(msg) = &outcome {
            tracing::debug!(hook = %kind, container, pod = %pod, "lifecycle hook failed: {msg}");
        }
        HookResult {
            outcome,
            events,
            detail,
        }
    }
}
