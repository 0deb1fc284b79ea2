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

pub mod exec;
pub mod http;
pub mod message;
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
}

/// Opt-in departures from kubelet behaviour; the default is kubelet's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HookOptions {
    /// Fail an httpGet hook whose answer is not 2xx/3xx. The kubelet accepts
    /// any HTTP answer (upstream issue #56963), so this is off by default.
    pub strict_http_status: bool,
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

    /// Runs one handler. `cancel` fires when the container dies or the pod
    /// is being force-deleted: exec and sleep stop early (sleep fails with
    /// `container terminated before sleep hook finished`). httpGet is not
    /// cancelled, as in the kubelet; the caller may drop the future.
    pub async fn run(
        &self,
        kind: HookKind,
        handler: &LifecycleHandler,
        target: &HookTarget<'_>,
        cancel: &CancellationToken,
    ) -> HookResult {
        let container = target.container.name.as_str();
        let pod = target.pod_desc();
        let mut events = Vec::new();
        let outcome = if let Some(exec_action) = &handler.exec {
            let command = exec_action.command.clone().unwrap_or_default();
            exec::run(self.runtime.as_ref(), target.container_id, &command, cancel)
                .await
                .map_err(|f| message::exec_failed(&command, container, &pod, &f.error, &f.output))
        } else if let Some(action) = &handler.http_get {
            let path = action.path.as_deref().unwrap_or("");
            let result = match &self.http {
                Ok(client) => {
                    let out = http::run(
                        client,
                        action,
                        target.container,
                        target.pod_ip,
                        &pod,
                        self.options.strict_http_status,
                    )
                    .await;
                    if let Some(host) = out.fell_back_to_http {
                        events.push(HookEvent {
                            event_type: EventType::Warning,
                            reason: message::HTTP_FALLBACK_REASON.to_string(),
                            message: message::http_fallback_event(&host),
                        });
                    }
                    out.result
                }
                Err(e) => Err(e.clone()),
            };
            result.map_err(|e| message::http_failed(path, container, &pod, &e))
        } else if let Some(action) = &handler.sleep {
            sleep::run(self.clock.as_ref(), action.seconds, cancel)
                .await
                .map_err(|e| message::sleep_failed(action.seconds, container, &pod, &e))
        } else {
            Err(message::invalid_handler(&message::describe_handler(
                handler,
            )))
        };
        if let Err(msg) = &outcome {
            tracing::debug!(hook = %kind, container, pod = %pod, "lifecycle hook failed: {msg}");
        }
        HookResult { outcome, events }
    }
}
