//! Event deduplication as the kubelet's `EventCorrelator` does it: an
//! event identical to one already sent (same involved object incl. field
//! path, type, reason, message, source) is not a new object; the existing
//! one gets `count` + 1 and a new `lastTimestamp`.

use std::collections::{HashMap, VecDeque};

use k8s_openapi::api::core::v1::Event;

/// Upstream keeps an LRU of 4096 keys.
const MAX_KEYS: usize = 4096;

/// The dedup key (upstream `getEventKey`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventKey {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub field_path: String,
    pub type_: String,
    pub reason: String,
    pub message: String,
}

/// Remembers the latest version of each distinct event.
#[derive(Debug, Default)]
pub struct Aggregator {
    seen: HashMap<EventKey, Event>,
    order: VecDeque<EventKey>,
}

impl Aggregator {
    /// The stored event this key folds into, if any.
    pub fn existing(&self, key: &EventKey) -> Option<&Event> {
        self.seen.get(key)
    }

    /// Remembers `event` as the latest for `key`.
    pub fn remember(&mut self, key: EventKey, event: Event) {
        if self.seen.insert(key.clone(), event).is_none() {
            self.order.push_back(key);
            if self.order.len() > MAX_KEYS
                && let Some(old) = self.order.pop_front()
            {
                self.seen.remove(&old);
            }
        }
    }

    /// Forgets every event of one pod (after it is deleted, a new pod of
    /// the same name has a new uid anyway; this only frees memory).
    pub fn forget_uid(&mut self, uid: &str) {
        self.seen.retain(|k, _| k.uid != uid);
        self.order.retain(|k| k.uid != uid);
    }
}
