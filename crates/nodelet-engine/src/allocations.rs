//! What the node has promised its pods: the cpu and memory requests each
//! active pod was admitted or resized with (the kubelet's allocation
//! manager's view of "allocated pods"). A resize compares the node's
//! allocatable capacity with these to decide between accepting it,
//! `Deferred` (room may free up) and `Infeasible` (never fits). A change
//! (a pod gone, finished or shrunk) wakes the deferred resizes, so they
//! are retried when room frees up rather than on a timer.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::watch;

/// cpu (millicores) and memory (bytes) requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Requests {
    pub cpu_millis: i64,
    pub memory_bytes: i64,
}

impl Requests {
    /// As resource quantities (`cpu` in millicores, `memory` in bytes),
    /// the shape of a Node's `status.allocatable`.
    pub fn as_quantities(&self) -> nodelet_spec::env::Allocatable {
        use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
        [
            ("cpu".to_owned(), Quantity(format!("{}m", self.cpu_millis))),
            ("memory".to_owned(), Quantity(self.memory_bytes.to_string())),
        ]
        .into_iter()
        .collect()
    }

    /// The pod-level requests of a spec (`PodRequests`).
    pub fn of(spec: &k8s_openapi::api::core::v1::PodSpec) -> Requests {
        let to_i64 = |n: i128| i64::try_from(n).unwrap_or(i64::MAX);
        Requests {
            cpu_millis: to_i64(nodelet_spec::resources::pod_request(spec, "cpu").milli_value()),
            memory_bytes: to_i64(nodelet_spec::resources::pod_request(spec, "memory").value()),
        }
    }
}

pub struct Allocations {
    pods: Mutex<HashMap<String, Requests>>,
    changed: watch::Sender<u64>,
}

impl Default for Allocations {
    fn default() -> Self {
        Allocations {
            pods: Mutex::new(HashMap::new()),
            changed: watch::channel(0).0,
        }
    }
}

impl Allocations {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Requests>> {
        self.pods.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records the allocation of pod `uid` (admission, accepted resize).
    /// A smaller one than before wakes deferred resizes.
    pub fn set(&self, uid: &str, r: Requests) {
        let before = self.lock().insert(uid.to_owned(), r);
        if before.is_some_and(|b| r.cpu_millis < b.cpu_millis || r.memory_bytes < b.memory_bytes) {
            self.changed.send_modify(|n| *n += 1);
        }
    }

    /// The pod finished or left the node: its requests are free again.
    pub fn release(&self, uid: &str) {
        if self.lock().remove(uid).is_some() {
            self.changed.send_modify(|n| *n += 1);
        }
    }

    /// The sum of every other active pod's allocation.
    pub fn others(&self, uid: &str) -> Requests {
        self.lock().iter().filter(|(k, _)| k.as_str() != uid).fold(
            Requests::default(),
            |a, (_, r)| Requests {
                cpu_millis: a.cpu_millis.saturating_add(r.cpu_millis),
                memory_bytes: a.memory_bytes.saturating_add(r.memory_bytes),
            },
        )
    }

    /// Bumped whenever an allocation is released or shrinks.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn others_and_wakeups() {
        let a = Allocations::default();
        let mut rx = a.subscribe();
        a.set(
            "p1",
            Requests {
                cpu_millis: 500,
                memory_bytes: 100,
            },
        );
        a.set(
            "p2",
            Requests {
                cpu_millis: 250,
                memory_bytes: 50,
            },
        );
        assert_eq!(
            a.others("p1"),
            Requests {
                cpu_millis: 250,
                memory_bytes: 50
            }
        );
        assert!(!rx.has_changed().unwrap());
        a.set(
            "p2",
            Requests {
                cpu_millis: 100,
                memory_bytes: 50,
            },
        );
        assert!(rx.has_changed().unwrap());
        rx.mark_unchanged();
        a.release("p1");
        assert!(rx.has_changed().unwrap());
        assert_eq!(
            a.others("x"),
            Requests {
                cpu_millis: 100,
                memory_bytes: 50
            }
        );
    }
}
