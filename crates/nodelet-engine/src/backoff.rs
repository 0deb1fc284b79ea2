//! CrashLoopBackOff timing, as the kubelet's `flowcontrol.Backoff` with
//! 10 s initial and 300 s maximum and no jitter.
//!
//! The first restart is immediate; every restart then doubles the back-off
//! (10, 20, 40 ... 300 s), counted from the container's finish time. An
//! entry not touched for twice the maximum (10 minutes) is forgotten, so a
//! container that ran 10 minutes restarts immediately again.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

pub const INITIAL: Duration = Duration::from_secs(10);
pub const MAX: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy)]
struct Entry {
    backoff: Duration,
    last_update: Instant,
}

/// Per-key back-off state (key: container name within one pod worker).
#[derive(Debug, Default)]
pub struct Backoff {
    entries: HashMap<String, Entry>,
}

fn expired(at: Instant, last_update: Instant) -> bool {
    at.saturating_duration_since(last_update) > 2 * MAX
}

impl Backoff {
    pub fn new() -> Self {
        Self::default()
    }

    /// The current back-off of `key` (zero when none).
    pub fn get(&self, key: &str) -> Duration {
        self.entries.get(key).map(|e| e.backoff).unwrap_or_default()
    }

    /// Upstream `IsInBackOffSince`: whether a restart of a container that
    /// finished at `finished` must still wait at `now`; returns when it may
    /// restart.
    pub fn blocked_until(&self, key: &str, finished: Instant, now: Instant) -> Option<Instant> {
        let e = self.entries.get(key)?;
        if expired(now, e.last_update) {
            return None;
        }
        let until = finished + e.backoff;
        (now < until).then_some(until)
    }

    /// Upstream `Next`: called when a restart happens; `finished` is the
    /// container's finish time, `now` the restart time.
    pub fn next(&mut self, key: &str, finished: Instant, now: Instant) {
        let backoff = match self.entries.get(key) {
            Some(e) if !expired(finished, e.last_update) => (e.backoff * 2).min(MAX),
            _ => INITIAL,
        };
        self.entries.insert(
            key.to_owned(),
            Entry {
                backoff,
                last_update: now,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn doubles_caps_and_resets() {
        let mut b = Backoff::new();
        let t0 = Instant::now();
        assert_eq!(b.blocked_until("c", t0, t0), None);
        b.next("c", t0, t0);
        assert_eq!(b.get("c"), Duration::from_secs(10));
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(b.blocked_until("c", t1, t1), Some(t1 + INITIAL));
        let mut last = t1 + INITIAL;
        b.next("c", t1, last);
        for _ in 0..6 {
            b.next("c", last, last);
            last += Duration::from_secs(1);
        }
        assert_eq!(b.get("c"), MAX);
        let late = last + Duration::from_secs(601);
        assert_eq!(b.blocked_until("c", late, late), None);
        b.next("c", late, late);
        assert_eq!(b.get("c"), INITIAL);
    }
}
