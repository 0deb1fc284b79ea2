//! CrashLoopBackOff timing, as the kubelet's `flowcontrol.Backoff` with
//! 10 s initial and 300 s maximum and no jitter.
//!
//! The first restart is immediate; every restart then doubles the back-off
//! (10, 20, 40 ... 300 s), counted from the container's finish time. An
//! entry not touched for 10 minutes is forgotten, so a container that ran
//! 10 minutes restarts immediately again.
//!
//! The maximum is the node's `--crashloop-backoff-max` (kubelet's
//! `crashLoopBackOff.maxContainerRestartPeriod`, KEP-4603, 1 s–300 s; below
//! 10 s the initial back-off is the maximum too, as in the kubelet), and a
//! pod may lower it for itself (`nodelet.dev/crashloop-backoff-max`).
//! The reset after 10 minutes does not change with the maximum (kubelet's
//! `HasExpiredFunc` is a fixed 600 s).
//!
//! The state survives an agent restart: [`Backoff::entry`] is recorded with
//! each new container and [`Backoff::restore`] puts it back.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

pub const INITIAL: Duration = Duration::from_secs(10);
pub const MAX: Duration = Duration::from_secs(300);
/// Untouched this long, an entry starts over (kubelet: 600 s, fixed).
pub const RESET_AFTER: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub backoff: Duration,
    pub last_update: Instant,
}

/// Per-key back-off state (key: container name within one pod worker).
#[derive(Debug)]
pub struct Backoff {
    entries: HashMap<String, Entry>,
    max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::with_max(MAX)
    }
}

fn expired(at: Instant, last_update: Instant) -> bool {
    at.saturating_duration_since(last_update) > RESET_AFTER
}

impl Backoff {
    pub fn new() -> Self {
        Self::default()
    }

    /// A back-off capped at `max` (clamped to 1 s–300 s).
    pub fn with_max(max: Duration) -> Self {
        Backoff {
            entries: HashMap::new(),
            max: max.clamp(Duration::from_secs(1), MAX),
        }
    }

    pub fn max(&self) -> Duration {
        self.max
    }

    fn initial(&self) -> Duration {
        INITIAL.min(self.max)
    }

    /// The current back-off of `key` (zero when none).
    pub fn get(&self, key: &str) -> Duration {
        self.entries.get(key).map(|e| e.backoff).unwrap_or_default()
    }

    /// The raw entry (for persisting it).
    pub fn entry(&self, key: &str) -> Option<Entry> {
        self.entries.get(key).copied()
    }

    /// Puts back an entry recorded before an agent restart.
    pub fn restore(&mut self, key: &str, entry: Entry) {
        let mut e = entry;
        e.backoff = e.backoff.min(self.max);
        self.entries.insert(key.to_owned(), e);
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
            Some(e) if !expired(finished, e.last_update) => (e.backoff * 2).min(self.max),
            _ => self.initial(),
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

    #[tokio::test(start_paused = true)]
    async fn a_lower_maximum_caps_and_below_ten_seconds_is_also_the_initial() {
        let t = Instant::now();
        let mut b = Backoff::with_max(Duration::from_secs(25));
        let seq: Vec<u64> = (0..5)
            .map(|_| {
                b.next("c", t, t);
                b.get("c").as_secs()
            })
            .collect();
        assert_eq!(seq, [10, 20, 25, 25, 25]);
        let mut b = Backoff::with_max(Duration::from_secs(2));
        let seq: Vec<u64> = (0..3)
            .map(|_| {
                b.next("c", t, t);
                b.get("c").as_secs()
            })
            .collect();
        assert_eq!(seq, [2, 2, 2], "kubelet: base = max when max < 10s");
        // Clamped to the kubelet's range.
        assert_eq!(Backoff::with_max(Duration::from_secs(900)).max(), MAX);
        assert_eq!(
            Backoff::with_max(Duration::ZERO).max(),
            Duration::from_secs(1)
        );
    }
}
