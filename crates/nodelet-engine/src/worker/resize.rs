//! In-place resize (KEP 1287 as the 1.35+ kubelet does it): a spec whose
//! container resources differ from what the node allocated is a resize
//! request.
//!
//! 1. **Allocation** (`handlePodResourcesResize`): the pod's new total
//!    requests must fit the node's allocatable (`Infeasible` otherwise,
//!    never retried) and what the other pods hold (`Deferred` otherwise,
//!    retried when an allocation shrinks or is released). Either sets the
//!    `PodResizePending` condition with a `ResizeInfeasible` /
//!    `ResizeDeferred` warning; acceptance sets `PodResizeInProgress` with
//!    a `ResizeStarted` event.
//! 2. **Actuation** (`computePodResizeAction`, `doPodResizeAction`): each
//!    running container whose cgroup differs from its allocation is
//!    updated in place (`Runtime::update_container_resources`), or killed
//!    (`Container <c> resize requires restart`, preStop included) and
//!    started again when a changed resource's `resizePolicy` is
//!    `RestartContainer`. A memory limit is not lowered below the current
//!    usage (best effort, as since 1.34): the resize stays in progress with
//!    reason `Error` and is retried.
//! 3. **Completion**: when every running container runs with its
//!    allocation, `PodResizeInProgress` goes away with `ResizeCompleted`.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{PodSpec, ResourceRequirements};
use nodelet_spec::env::Nanos;
use serde_json::{Value, json};

use super::Worker;
use super::state::{PodRecord, SlotKind};
use crate::allocations::Requests;
use crate::events::EventType;

/// How long a resize that could not be applied waits before it is tried
/// again (the kubelet's pod resync period).
pub const RETRY: Duration = Duration::from_secs(60);

/// The resize conditions of a pod.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResizeState {
    pub pending: Option<Pending>,
    pub in_progress: Option<InProgress>,
}

/// `PodResizePending`: `Deferred` or `Infeasible`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub reason: String,
    pub message: String,
    pub generation: Option<i64>,
    pub since: Timestamp,
}

/// `PodResizeInProgress`; `error` is the `Error` reason's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InProgress {
    pub generation: Option<i64>,
    pub since: Timestamp,
    pub error: Option<String>,
}

fn resizable(kind: SlotKind) -> bool {
    matches!(kind, SlotKind::Regular | SlotKind::Sidecar)
}

/// The pod spec as allocated: each container's resources are its
/// allocation (the kubelet's `UpdatePodFromAllocation`).
pub fn allocated_spec(rec: &PodRecord) -> PodSpec {
    let mut spec = rec.pod.spec.clone().unwrap_or_default();
    for c in spec
        .containers
        .iter_mut()
        .chain(spec.init_containers.iter_mut().flatten())
    {
        if let Some(slot) = rec.slots.iter().find(|s| s.spec.name == c.name) {
            c.resources.clone_from(&slot.allocated);
        }
    }
    spec
}

/// `makeResourceSummaryFromSpec`: the containers' resources of `spec` as
/// the kubelet's resize events print them.
fn summary(spec: &PodSpec, generation: Option<i64>, error: Option<&str>) -> String {
    let list = |cs: &[k8s_openapi::api::core::v1::Container]| -> Vec<Value> {
        cs.iter()
            .map(|c| {
                json!({"name": c.name,
                       "resources": serde_json::to_value(c.resources.clone().unwrap_or_default())
                           .unwrap_or_else(|_| json!({}))})
            })
            .collect()
    };
    // Written by hand: Go's field order (serde_json would sort the keys).
    let mut parts = Vec::new();
    let init = list(spec.init_containers.as_deref().unwrap_or(&[]));
    if !init.is_empty() {
        parts.push(format!("\"initContainers\":{}", Value::Array(init)));
    }
    let containers = list(&spec.containers);
    if !containers.is_empty() {
        parts.push(format!("\"containers\":{}", Value::Array(containers)));
    }
    parts.push(format!("\"generation\":{}", generation.unwrap_or(0)));
    if let Some(e) = error.filter(|e| !e.is_empty()) {
        parts.push(format!("\"error\":{}", Value::String(e.to_owned())));
    }
    format!("{{{}}}", parts.join(","))
}

fn quantity(r: Option<&ResourceRequirements>, limits: bool, name: &str) -> Option<Nanos> {
    let r = r?;
    let m = if limits {
        r.limits.as_ref()
    } else {
        r.requests.as_ref()
    }?;
    m.get(name).and_then(|q| Nanos::parse(&q.0).ok())
}

/// What differs between a container's cgroup (`actual`) and its
/// allocation: (memory limit, cpu limit, cpu request).
fn actuation(
    actual: Option<&ResourceRequirements>,
    allocated: Option<&ResourceRequirements>,
) -> (bool, bool, bool) {
    let differs = |limits: bool, name: &str| {
        quantity(actual, limits, name) != quantity(allocated, limits, name)
    };
    (
        differs(true, "memory"),
        differs(true, "cpu"),
        differs(false, "cpu"),
    )
}

impl Worker {
    /// Records the pod's allocation with the node (admission, recovery).
    pub(crate) fn register_allocation(&self) {
        let (uid, requests) = {
            let rec = self.shared.lock();
            (rec.uid.clone(), Requests::of(&allocated_spec(&rec)))
        };
        self.shared.ctx.allocations.set(&uid, requests);
    }

    /// One round of resize handling (allocation, actuation, completion).
    pub(crate) async fn resize(&mut self) {
        self.allocate_resize();
        self.actuate_resize().await;
        self.finish_resize();
    }

    fn allocate_resize(&mut self) {
        let shared = self.shared.clone();
        let ctx = shared.ctx.clone();
        let now = ctx.clock.now();
        let mut rec = shared.lock();
        let requested = rec
            .slots
            .iter()
            .any(|s| resizable(s.kind) && s.spec.resources != s.allocated);
        if !requested {
            rec.resize.pending = None;
            return;
        }
        let generation = rec.generation();
        let desired = rec.pod.spec.clone().unwrap_or_default();
        let want = Requests::of(&desired);
        let verdict = ctx.config.allocatable.and_then(|cap| {
            if want.memory_bytes > cap.memory_bytes {
                return Some(("Infeasible", format!(
                    "Node didn't have enough capacity: memory, requested: {}, capacity: {}",
                    want.memory_bytes, cap.memory_bytes
                )));
            }
            if want.cpu_millis > cap.cpu_millis {
                return Some(("Infeasible", format!(
                    "Node didn't have enough capacity: cpu, requested: {}, capacity: {}",
                    want.cpu_millis, cap.cpu_millis
                )));
            }
            let used = ctx.allocations.others(&rec.uid);
            if want.cpu_millis > cap.cpu_millis - used.cpu_millis {
                return Some(("Deferred", format!(
                    "Node didn't have enough resource: cpu, requested: {}, used: {}, capacity: {}",
                    want.cpu_millis, used.cpu_millis, cap.cpu_millis
                )));
            }
            if want.memory_bytes > cap.memory_bytes - used.memory_bytes {
                return Some(("Deferred", format!(
                    "Node didn't have enough resource: memory, requested: {}, used: {}, capacity: {}",
                    want.memory_bytes, used.memory_bytes, cap.memory_bytes
                )));
            }
            None
        });
        if let Some((reason, message)) = verdict {
            let changed = rec.resize.pending.as_ref().is_none_or(|p| {
                p.reason != reason || p.message != message || p.generation != generation
            });
            if changed {
                rec.resize.pending = Some(super::resize::Pending {
                    reason: reason.to_owned(),
                    message: message.clone(),
                    generation,
                    since: now,
                });
                let text = format!(
                    "Pod resize {reason}: {}",
                    summary(&desired, generation, Some(&message))
                );
                drop(rec);
                let event = if reason == "Infeasible" {
                    "ResizeInfeasible"
                } else {
                    "ResizeDeferred"
                };
                shared.event(None, EventType::Warning, event, &text);
            } else {
                drop(rec);
            }
            if reason == "Deferred" {
                self.retry_resize_when_room_frees();
            }
            return;
        }
        for s in rec.slots.iter_mut().filter(|s| resizable(s.kind)) {
            s.allocated.clone_from(&s.spec.resources);
        }
        rec.resize.pending = None;
        rec.resize.in_progress = Some(InProgress {
            generation,
            since: now,
            error: None,
        });
        let uid = rec.uid.clone();
        drop(rec);
        ctx.allocations.set(&uid, want);
        shared.event(
            None,
            EventType::Normal,
            "ResizeStarted",
            &format!(
                "Pod resize started: {}",
                summary(&desired, generation, None)
            ),
        );
    }

    async fn actuate_resize(&mut self) {
        let n = self.shared.lock().slots.len();
        for i in 0..n {
            let Some((name, id, actual, allocated, restart)) = ({
                let rec = self.shared.lock();
                let s = &rec.slots[i];
                match &s.current {
                    Some(c) if resizable(s.kind) && s.is_alive() => {
                        let (mem, cpu_lim, cpu_req) =
                            actuation(c.resources.as_ref(), s.allocated.as_ref());
                        let policy = |res: &str| {
                            s.spec.resize_policy.iter().flatten().any(|p| {
                                p.resource_name == res && p.restart_policy == "RestartContainer"
                            })
                        };
                        let restart =
                            (mem && policy("memory")) || ((cpu_lim || cpu_req) && policy("cpu"));
                        (mem || cpu_lim || cpu_req || c.resources != s.allocated).then(|| {
                            (
                                s.spec.name.clone(),
                                c.id.clone(),
                                c.resources.clone(),
                                s.allocated.clone(),
                                restart,
                            )
                        })
                    }
                    _ => None,
                }
            }) else {
                continue;
            };
            let (mem, cpu_lim, cpu_req) = actuation(actual.as_ref(), allocated.as_ref());
            if !(mem || cpu_lim || cpu_req) {
                // Only what the cgroup does not hold changed (the memory
                // request): nothing to apply.
                self.set_actual(i, &id, allocated);
                continue;
            }
            if restart {
                self.restart_container(i, format!("Container {name} resize requires restart"))
                    .await;
                continue;
            }
            let new_mem = quantity(allocated.as_ref(), true, "memory");
            let old_mem = quantity(actual.as_ref(), true, "memory");
            if let (Some(new), Some(old)) = (new_mem, old_mem)
                && new < old
            {
                let limit = new.value();
                match self.shared.ctx.runtime.stats(&id).await {
                    Ok(st) if i128::from(st.memory_usage_bytes) >= limit => {
                        self.resize_error(format!(
                            "attempting to set container \"{name}\" memory limit ({limit}) below current usage ({})",
                            st.memory_usage_bytes
                        ));
                        continue;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        self.resize_error(format!(
                            "missing container \"{name}\" memory usage: {e}"
                        ));
                        continue;
                    }
                }
            }
            let r = super::settings::resources_of(allocated.as_ref());
            match self
                .shared
                .ctx
                .runtime
                .update_container_resources(&id, &r)
                .await
            {
                Ok(()) => self.set_actual(i, &id, allocated),
                Err(e) => {
                    self.resize_error(format!("updating resources of container \"{name}\": {e}"))
                }
            }
        }
    }

    /// Records that container `id` of slot `i` now runs with `r`.
    fn set_actual(&self, i: usize, id: &str, r: Option<ResourceRequirements>) {
        let mut rec = self.shared.lock();
        if let Some(c) = rec.slots[i].current.as_mut().filter(|c| c.id == id) {
            c.resources = r;
        }
    }

    /// A resize that could not be applied: `PodResizeInProgress` with
    /// reason `Error`, tried again after [`RETRY`].
    fn resize_error(&mut self, message: String) {
        tracing::warn!(pod = %self.shared.pod_desc(), %message, "resize not applied");
        let now = self.shared.ctx.clock.now();
        {
            let mut rec = self.shared.lock();
            let generation = rec.generation();
            let ip = rec.resize.in_progress.get_or_insert(InProgress {
                generation,
                since: now,
                error: None,
            });
            ip.error = Some(message);
        }
        let shared = self.shared.clone();
        self.arm_resize_retry(async move {
            shared.ctx.clock.sleep(RETRY).await;
        });
    }

    fn retry_resize_when_room_frees(&mut self) {
        let mut rx = self.shared.ctx.allocations.subscribe();
        rx.mark_unchanged();
        self.arm_resize_retry(async move {
            let _ = rx.changed().await;
        });
    }

    /// Wakes the worker once `until` resolves (one retry armed at a time).
    fn arm_resize_retry(&mut self, until: impl std::future::Future<Output = ()> + Send + 'static) {
        if self.resize_retry.as_ref().is_some_and(|h| !h.is_finished()) {
            return;
        }
        let notify = self.shared.notify.clone();
        let handle = tokio::spawn(async move {
            until.await;
            let _ = notify.send(());
        });
        self.resize_retry = Some(handle.abort_handle());
        self.waiters.push(handle);
    }

    fn finish_resize(&mut self) {
        let mut rec = self.shared.lock();
        let Some(ip) = rec.resize.in_progress.clone() else {
            return;
        };
        // Containers not running start with their allocation anyway.
        let done = rec.slots.iter().all(|s| {
            !(resizable(s.kind) && s.is_alive())
                || s.current
                    .as_ref()
                    .is_none_or(|c| c.resources == s.allocated)
        });
        if !done {
            return;
        }
        rec.resize.in_progress = None;
        let text = format!(
            "Pod resize completed: {}",
            summary(&allocated_spec(&rec), ip.generation, None)
        );
        drop(rec);
        self.shared
            .event(None, EventType::Normal, "ResizeCompleted", &text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_is_the_kubelets_json() {
        let spec: PodSpec = serde_json::from_value(json!({"containers": [
            {"name": "c", "resources": {"limits": {"memory": "128Mi", "cpu": "1"},
                                        "requests": {"cpu": "500m"}}},
            {"name": "d"}]}))
        .unwrap();
        assert_eq!(
            summary(&spec, Some(2), None),
            r#"{"containers":[{"name":"c","resources":{"limits":{"cpu":"1","memory":"128Mi"},"requests":{"cpu":"500m"}}},{"name":"d","resources":{}}],"generation":2}"#
        );
        assert!(
            summary(&spec, Some(3), Some("no room"))
                .ends_with(r#""generation":3,"error":"no room"}"#)
        );
    }

    #[test]
    fn actuation_compares_what_the_cgroup_holds() {
        let r = |v: Value| -> Option<ResourceRequirements> { serde_json::from_value(v).ok() };
        let a = r(
            json!({"limits": {"memory": "64Mi", "cpu": "500m"}, "requests": {"cpu": "0.5", "memory": "32Mi"}}),
        );
        let b = r(
            json!({"limits": {"memory": "64Mi", "cpu": "500m"}, "requests": {"cpu": "500m", "memory": "48Mi"}}),
        );
        assert_eq!(actuation(a.as_ref(), b.as_ref()), (false, false, false));
        let c =
            r(json!({"limits": {"memory": "128Mi", "cpu": "500m"}, "requests": {"cpu": "500m"}}));
        assert_eq!(actuation(a.as_ref(), c.as_ref()), (true, false, false));
    }
}
