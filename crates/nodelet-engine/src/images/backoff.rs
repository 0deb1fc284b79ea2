//! The image pull back-off: client-go's `flowcontrol.Backoff` as the
//! kubelet's image manager uses it (`kubelet.go`: 10 s initial, 300 s
//! maximum, no jitter here), keyed by image within one pod (the kubelet's
//! key is `<pod uid>_<image>`).
//!
//! Unlike the container back-off (`crate::backoff`), the window counts
//! from the last failed pull (`IsInBackOffSinceUpdate`), and an entry not
//! updated for twice the maximum starts over at 10 s.

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

#[derive(Debug, Default)]
pub struct ImageBackoff {
    entries: HashMap<String, Entry>,
}

fn expired(now: Instant, last_update: Instant) -> bool {
    now.saturating_duration_since(last_update) > 2 * MAX
}

impl ImageBackoff {
    /// `IsInBackOffSinceUpdate`: a pull failed less than the current
    /// back-off ago.
    pub fn in_backoff(&self, key: &str, now: Instant) -> bool {
        match self.entries.get(key) {
            Some(e) if !expired(now, e.last_update) => {
                now.saturating_duration_since(e.last_update) < e.backoff
            }
            _ => false,
        }
    }

    /// `Next`: a pull failed at `now`; 10 s, then doubling to 300 s.
    pub fn next(&mut self, key: &str, now: Instant) {
        let backoff = match self.entries.get(key) {
            Some(e) if !expired(now, e.last_update) => (e.backoff * 2).min(MAX),
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

    /// `GC`: forgets entries not updated for twice the maximum.
    pub fn gc(&mut self, now: Instant) {
        self.entries.retain(|_, e| !expired(now, e.last_update));
    }

    /// The current back-off of `key` (zero when none).
    pub fn get(&self, key: &str) -> Duration {
        self.entries.get(key).map(|e| e.backoff).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn window_counts_from_the_last_failure_and_doubles() {
        let mut b = ImageBackoff::default();
        let t0 = Instant::now();
        assert!(!b.in_backoff("i", t0));
        b.next("i", t0);
        assert!(b.in_backoff("i", t0 + Duration::from_secs(9)));
        assert!(!b.in_backoff("i", t0 + INITIAL));
        let t1 = t0 + INITIAL;
        b.next("i", t1);
        assert_eq!(b.get("i"), Duration::from_secs(20));
        assert!(b.in_backoff("i", t1 + Duration::from_secs(19)));
        let mut t = t1;
        for _ in 0..10 {
            t += b.get("i");
            b.next("i", t);
        }
        assert_eq!(b.get("i"), MAX);
        let late = t + Duration::from_secs(601);
        assert!(!b.in_backoff("i", late));
        b.gc(late);
        assert_eq!(b.get("i"), Duration::ZERO);
    }
}
